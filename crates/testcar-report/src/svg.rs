//! Inline SVG charts (line charts over time, horizontal bar charts) drawn as plain markup,
//! so they read without JavaScript; each point and bar carries a `<title>` tooltip.

use std::fmt::Write as _;

use crate::escape::escape;
use crate::format::num;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 34.0;

/// One line of a line chart: `(x, y)` points, `None` where there was no data (a gap).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Stroke colour (CSS colour).
    pub color: &'static str,
    /// Points in x order.
    pub points: Vec<(f64, Option<f64>)>,
}

/// A line chart of series over time (x in seconds since the start).
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart<'a> {
    /// Title drawn above the plot and used as the accessible name.
    pub title: &'a str,
    /// Unit of the y values, e.g. `ms` or `req/s`.
    pub unit: &'a str,
    /// The lines.
    pub series: &'a [Series],
}

/// One bar of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label left of the bar.
    pub label: String,
    /// Length of the bar.
    pub value: f64,
    /// Fill colour.
    pub color: &'static str,
}

/// A tick step and the axis maximum it reaches: steps of 1, 2, 2.5 or 5 × 10ⁿ, about
/// `ticks` of them.
pub fn nice_axis(max: f64, ticks: usize) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0 / ticks.max(1) as f64, 1.0);
    }
    let raw = max / ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    } * mag;
    let top = (max / step).ceil() * step;
    (step, if top < max { top + step } else { top })
}

/// Render a line chart. Returns an `<svg>` element.
pub fn line_chart(chart: &LineChart<'_>) -> String {
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite());
    let x_max = xs.fold(0.0f64, f64::max).max(1.0);
    let y_max = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold(0.0f64, f64::max);
    let (x_step, x_top) = nice_axis(x_max, 6);
    let (y_step, y_top) = nice_axis(y_max, 4);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / x_top * plot_w;
    let py = |y: f64| TOP + plot_h - y / y_top * plot_h;

    let mut s = String::new();
    let title = escape(chart.title);
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart line-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" font-family="system-ui, sans-serif" font-size="11"><title>{title}</title>"##
    );
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="16" font-size="13" font-weight="600" fill="#222">{title}</text>"##
    );
    // Horizontal grid with y labels.
    let mut y = 0.0;
    while y <= y_top + y_step / 2.0 {
        let yy = py(y);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e3e3"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            num(y)
        );
        y += y_step;
    }
    let _ = write!(
        s,
        r##"<text x="12" y="{:.1}" transform="rotate(-90 12 {:.1})" text-anchor="middle" fill="#555">{}</text>"##,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(chart.unit)
    );
    // X ticks.
    let (mut i, mut x) = (0u32, 0.0);
    while x <= x_top + x_step / 2.0 {
        let xx = px(x);
        let _ = write!(
            s,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{:.1}" y2="{:.1}" stroke="#999"/><text class="x-tick" x="{xx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 4.0,
            TOP + plot_h + 16.0,
            elapsed_at(x, x_step)
        );
        // Ticks are multiples of the step, not a running sum: no drift in 0.1 + 0.2.
        i += 1;
        x = i as f64 * x_step;
    }
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#999"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">time since start</text>"##,
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h,
        LEFT + plot_w / 2.0,
        HEIGHT - 4.0
    );
    // Legend, left to right under the title.
    let mut lx = LEFT;
    for series in chart.series {
        let name = escape(&series.name);
        let _ = write!(
            s,
            r##"<rect x="{lx:.1}" y="24" width="12" height="4" fill="{}"/><text x="{:.1}" y="30" fill="#333">{name}</text>"##,
            series.color,
            lx + 16.0
        );
        lx += 28.0 + 6.5 * series.name.chars().count() as f64;
    }
    // Lines, broken at gaps, then points with tooltips.
    for series in chart.series {
        let mut d = String::new();
        let mut pen_down = false;
        for &(x, y) in &series.points {
            match y.filter(|y| y.is_finite() && x.is_finite()) {
                Some(y) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        px(x),
                        py(y)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let name = escape(&series.name);
        if !d.is_empty() {
            let _ = write!(
                s,
                r##"<path class="series" data-series="{name}" d="{}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round"/>"##,
                d.trim_end(),
                series.color
            );
        }
        for &(x, y) in &series.points {
            if let Some(y) = y.filter(|y| y.is_finite() && x.is_finite()) {
                let _ = write!(
                    s,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"><title>{name} at {}: {} {}</title></circle>"##,
                    px(x),
                    py(y),
                    series.color,
                    elapsed_at(x, x_step),
                    num(y),
                    escape(chart.unit)
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// Render a horizontal bar chart (one bar per label). Returns an `<svg>` element.
pub fn bar_chart(title: &str, unit: &str, bars: &[Bar]) -> String {
    const LABEL_W: f64 = 130.0;
    const ROW: f64 = 22.0;
    let height = 30.0 + ROW * bars.len() as f64 + 6.0;
    let max = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let bar_w = WIDTH - LABEL_W - 90.0;
    let title = escape(title);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart bar-chart" viewBox="0 0 {WIDTH} {height}" role="img" font-family="system-ui, sans-serif" font-size="11"><title>{title}</title><text x="4" y="16" font-size="13" font-weight="600" fill="#222">{title}</text>"##
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = 30.0 + ROW * i as f64;
        let w = if max > 0.0 && bar.value.is_finite() {
            (bar.value / max * bar_w).max(1.0)
        } else {
            1.0
        };
        let label = escape(&truncate(&bar.label, 22));
        let full = escape(&bar.label);
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{label}</text><rect x="{LABEL_W}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"><title>{full}: {} {}</title></rect><text x="{:.1}" y="{:.1}" fill="#333">{}</text>"##,
            LABEL_W - 6.0,
            y + 14.0,
            y + 3.0,
            ROW - 6.0,
            bar.color,
            num(bar.value),
            escape(unit),
            LABEL_W + w + 6.0,
            y + 14.0,
            num(bar.value)
        );
    }
    s.push_str("</svg>");
    s
}

/// An axis label for `seconds` on an axis whose ticks are `step` apart: whole seconds
/// ([`elapsed`]) when the step is whole, else seconds with as many decimals as the step needs
/// (`0.2 s`, `0.25 s`, `1.5 s`), so that neighbouring ticks never share a label.
fn elapsed_at(seconds: f64, step: f64) -> String {
    let decimals = (0..=3)
        .find(|&d| {
            let scaled = step * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(3);
    if decimals == 0 || !step.is_finite() || step <= 0.0 {
        return elapsed(seconds);
    }
    let text = format!("{seconds:.*}", decimals as usize);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

/// `75 s`, `2 min`, `1 min 30 s` for axis labels.
fn elapsed(seconds: f64) -> String {
    let s = seconds.round() as i64;
    if s < 120 {
        format!("{s} s")
    } else if s % 60 == 0 {
        format!("{} min", s / 60)
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_series(name: &str, points: &[(f64, Option<f64>)]) -> Series {
        Series {
            name: name.into(),
            color: "#1f77b4",
            points: points.to_vec(),
        }
    }

    #[test]
    fn nice_axes() {
        assert_eq!(nice_axis(412.7, 4), (200.0, 600.0));
        assert_eq!(nice_axis(100.0, 4), (25.0, 100.0));
        assert_eq!(nice_axis(50.0, 6), (10.0, 50.0));
        assert_eq!(nice_axis(0.0, 4), (0.25, 1.0));
        assert_eq!(nice_axis(f64::NAN, 4), (0.25, 1.0));
        let (step, top) = nice_axis(0.37, 4);
        assert!((step - 0.1).abs() < 1e-12 && (top - 0.4).abs() < 1e-9);
    }

    #[test]
    fn gaps_break_the_line_and_points_get_tooltips() {
        let series = [mk_series(
            "p95",
            &[
                (0.0, Some(5.0)),
                (10.0, None),
                (20.0, Some(7.0)),
                (30.0, Some(6.0)),
            ],
        )];
        let svg = line_chart(&LineChart {
            title: "Latency",
            unit: "ms",
            series: &series,
        });
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("<title>p95 at 20 s: 7 ms</title>"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn chart_text_is_escaped() {
        let series = [mk_series("<b>x</b>", &[(0.0, Some(1.0))])];
        let svg = line_chart(&LineChart {
            title: "a<script>",
            unit: "&",
            series: &series,
        });
        assert!(!svg.contains("<script>") && !svg.contains("<b>"));
        assert!(svg.contains("a&lt;script&gt;"));
        let bars = bar_chart(
            "codes",
            "responses",
            &[Bar {
                label: "<img src=x>".into(),
                value: 3.0,
                color: "red",
            }],
        );
        assert!(!bars.contains("<img"));
    }

    #[test]
    fn bars_scale_to_the_largest() {
        let svg = bar_chart(
            "codes",
            "responses",
            &[
                Bar {
                    label: "200".into(),
                    value: 2950.0,
                    color: "green",
                },
                Bar {
                    label: "500".into(),
                    value: 50.0,
                    color: "red",
                },
            ],
        );
        assert!(svg.contains(r#"width="420.0""#), "{svg}");
        assert!(svg.contains(r#"width="7.1""#), "{svg}");
    }

    /// The `x-tick` labels of a rendered chart, left to right.
    fn x_ticks(svg: &str) -> Vec<String> {
        svg.split(r#"<text class="x-tick""#)
            .skip(1)
            .map(|t| {
                t.split('>')
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    fn assert_distinct(ticks: &[String], what: &str) {
        let mut seen = std::collections::BTreeSet::new();
        for t in ticks {
            assert!(
                seen.insert(t),
                "{what}: tick label {t:?} repeats in {ticks:?}"
            );
        }
    }

    /// A short suite (one Artillery period, or a couple of seconds of samples) used to label
    /// its time axis `0 s 0 s 0 s 1 s 1 s 1 s`; every tick label is distinct now.
    #[test]
    fn short_suites_get_distinct_sub_second_tick_labels() {
        // One period: every point at 0 s.
        let one = [mk_series("p95", &[(0.0, Some(5.0))])];
        let svg = line_chart(&LineChart {
            title: "Latency",
            unit: "ms",
            series: &one,
        });
        let ticks = x_ticks(&svg);
        assert_eq!(ticks, ["0 s", "0.2 s", "0.4 s", "0.6 s", "0.8 s", "1 s"]);
        // Spans of a fraction of a second to a few minutes: distinct labels, first `0 s`.
        for span in [
            0.3, 0.9, 1.0, 1.7, 2.5, 3.0, 4.2, 7.0, 9.9, 12.0, 15.0, 25.0, 61.0, 119.0, 150.0,
            600.0, 3700.0,
        ] {
            let points: Vec<(f64, Option<f64>)> = (0..=10)
                .map(|i| (span * i as f64 / 10.0, Some(i as f64)))
                .collect();
            let series = [mk_series("p95", &points)];
            let svg = line_chart(&LineChart {
                title: "Latency",
                unit: "ms",
                series: &series,
            });
            let ticks = x_ticks(&svg);
            assert!(ticks.len() >= 3, "span {span}: {ticks:?}");
            assert_eq!(ticks[0], "0 s", "span {span}");
            assert_distinct(&ticks, &format!("span {span}"));
        }
        // Three seconds: half-second ticks.
        let points = [(0.0, Some(1.0)), (3.0, Some(2.0))];
        let svg = line_chart(&LineChart {
            title: "Latency",
            unit: "ms",
            series: &[mk_series("p95", &points)],
        });
        assert_eq!(
            x_ticks(&svg),
            ["0 s", "0.5 s", "1 s", "1.5 s", "2 s", "2.5 s", "3 s"]
        );
    }

    #[test]
    fn tick_labels_follow_the_step() {
        assert_eq!(elapsed_at(0.4, 0.2), "0.4 s");
        assert_eq!(elapsed_at(0.75, 0.25), "0.75 s");
        assert_eq!(elapsed_at(1.0, 0.5), "1 s");
        assert_eq!(elapsed_at(7.5, 2.5), "7.5 s");
        assert_eq!(elapsed_at(0.6000000000000001, 0.2), "0.6 s");
        assert_eq!(elapsed_at(20.0, 10.0), "20 s");
        assert_eq!(elapsed_at(150.0, 25.0), "2 min 30 s");
    }

    #[test]
    fn elapsed_labels() {
        assert_eq!(elapsed(0.0), "0 s");
        assert_eq!(elapsed(90.0), "90 s");
        assert_eq!(elapsed(120.0), "2 min");
        assert_eq!(elapsed(150.0), "2 min 30 s");
    }
}
