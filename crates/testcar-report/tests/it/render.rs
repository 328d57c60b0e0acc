//! Rendering the documented example runs (and hostile or malformed inputs) to HTML and
//! checking the page's content and structure without a browser.

use crate::common;

use common::*;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::json;
use testcar_report::render_html;

/// Every `<svg>…</svg>` fragment of the page.
fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg")
        .map(|(start, _)| {
            let end = html[start..].find("</svg>").expect("svg is closed") + start + 6;
            &html[start..end]
        })
        .collect()
}

/// SVG is XML: a fragment that does not parse would not draw in a browser.
fn assert_well_formed_xml(fragment: &str) {
    let mut reader = Reader::from_str(fragment);
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("svg is not well-formed XML: {e}\n{fragment}"),
        }
    }
    assert_eq!(depth, 0, "unbalanced svg elements");
}

fn balanced(html: &str, tag: &str) {
    let open =
        html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count();
    let close = html.matches(&format!("</{tag}>")).count();
    assert_eq!(
        open, close,
        "<{tag}> opened {open} times, closed {close} times"
    );
}

#[test]
fn passed_example_shows_the_verdict_checks_and_output() {
    let html = render_html(&mk_run(PASSED), &[]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"id="verdict" data-status="passed"><h1>PASSED</h1>"#));
    assert!(html.contains("Suites: 2 passed, 0 failed, 0 error (of 2)"));
    assert!(html.contains("<dd>shop/orders-7c9f8d6b5-x2kqz</dd>"));
    assert!(html.contains("GET /healthz statusCode 200"));
    // exec suite: output tail and exit code.
    assert!(html.contains(r#"<pre class="output-tail">12 passing (3s)"#));
    assert!(html.contains("exit code 0"));
    // No Artillery report given: no charts over time, but a pointer to the file.
    assert!(html.contains("charts over time appear when the suite's Artillery report is given (this run wrote it to <code>smoke/report.json</code>)"));
    assert!(!html.contains("line-chart"));
    // Status codes from the result document.
    assert!(html.contains("bar-chart"));
    assert!(html.contains(r#"<td>HTTP 200</td><td class="num">10</td><td class="num">100%</td>"#));
    // Report files are linked relative to the results folder.
    assert!(html.contains(r#"<a href="api-contract/output.log">api-contract/output.log</a>"#));
}

#[test]
fn failed_example_with_artillery_periods_has_charts_and_endpoints() {
    let html = render_html(
        &mk_run(FAILED),
        &[("load".to_string(), mk_report(LOAD_REPORT))],
    );
    assert!(html.contains("<h1>FAILED</h1>"));
    // Checks with observed vs expected.
    assert!(html.contains(r#"<tr class="c-failed"><td>http.response_time.p99 &lt; 250</td><td>threshold</td><td><span class="badge b-failed">failed</span></td><td>412.7</td><td>&lt; 250</td>"#), "{html}");
    assert!(
        html.contains(
            r#"<td class="num">2950 / 50</td><td>50 of 3000 responses had status 500</td>"#
        )
    );
    // Two line charts over the six periods: 4 series × 6 points each.
    let charts: Vec<&str> = svgs(&html)
        .into_iter()
        .filter(|s| s.contains("line-chart"))
        .collect();
    assert_eq!(charts.len(), 2);
    for chart in &charts {
        assert_eq!(chart.matches("<circle").count(), 24, "{chart}");
        assert!(
            chart.contains("50 s</text>"),
            "x axis reaches the last period: {chart}"
        );
    }
    assert!(charts[0].contains("<title>requests/s at 0 s: 50 per second</title>"));
    assert!(charts[0].contains("<title>4xx/5xx/s at 30 s: 2 per second</title>"));
    assert!(charts[1].contains("<title>p99 at 30 s: 412 ms</title>"));
    // Latency table from the document, both response-time flavours.
    assert!(html.contains("response time from intended send"));
    assert!(html.contains(
        r#"<td class="num">412.7</td><td class="num">650.1</td><td class="num">690.2</td>"#
    ));
    // Endpoints from the report's metrics-by-endpoint aggregate (the document has none).
    assert!(html.contains(r#"<tr class="c-failed"><td><code>/orders</code></td><td class="num">2400</td><td>201: 2350, 500: 50</td>"#), "{html}");
    assert!(
        html.contains(r#"<tr><td><code>/v1.2/items?page=1</code></td><td class="num">600</td>"#)
    );
    // The consistency suite without a history file says so.
    assert!(html.contains("No history visualization was written for this suite."));
}

#[test]
fn error_example_explains_the_run_error() {
    let html = render_html(&mk_run(ERROR), &[]);
    assert!(html.contains(r#"data-status="error"><h1>ERROR</h1>"#));
    assert!(html.contains("<strong>Error:</strong> target never became ready: GET http://127.0.0.1:8080/ready did not answer 2xx within 2m (last: connection refused)"));
    assert!(html.contains("No suite ran."));
}

#[test]
fn every_page_is_balanced_and_its_svg_is_well_formed() {
    for (name, html) in pages() {
        for tag in ["section", "table", "tr", "svg", "main", "header", "ul"] {
            balanced(&html, tag);
        }
        for svg in svgs(&html) {
            assert_well_formed_xml(svg);
        }
        assert!(html.ends_with("</html>"), "{name}");
    }
}

#[test]
fn pages_are_self_contained() {
    for (name, html) in pages() {
        assert!(html.contains(r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">"#), "{name}");
        for fetch in [
            "<script",
            "<link",
            "<img",
            "<iframe",
            "src=\"http",
            "url(http",
            "@import",
        ] {
            assert!(!html.contains(fetch), "{name} contains {fetch}");
        }
    }
}

#[test]
fn hostile_text_is_escaped_everywhere() {
    let html = render_html(&mk_run(HOSTILE), &[]);
    for raw in [
        "<script",
        "<img",
        "<b>x</b>",
        "<i>1</i>",
        "<style>body",
        "href=\"javascript",
        "onmouseover=\"",
        "\u{1b}",
        "[31m",
    ] {
        assert!(!html.contains(raw), "unescaped {raw:?} in page");
    }
    assert!(html.contains("&lt;script&gt;document.title=&#39;pwned-suite&#39;&lt;/script&gt;"));
    assert!(html.contains("&lt;/pre&gt;&lt;script&gt;"));
    // Safe history paths are linked, ones leaving the results folder are not.
    assert!(html.contains(r#"<a class="history-link" href="bank/history.html">"#));
    assert!(!html.contains(r#"href="../../outside"#));
    assert!(html.contains("(not linked: the path leaves the results folder)"));
    assert!(html.contains(
        "<li>exec-log: <code>javascript:document.title=&#39;pwned-href&#39;</code></li>"
    ));
    // The suite's own error and the errored check are visible.
    assert!(html.contains("checker timed out &lt;after&gt; 5s"));
    assert!(html.contains(r#"<tr class="c-error">"#));
    assert!(html.contains("<td>–</td><td>linearizable</td>"), "{html}");
}

#[test]
fn hostile_artillery_report_keys_are_escaped() {
    let report = json!({
        "aggregate": {
            "counters": { "http.codes.<b>": 1, "errors.<script>x</script>": 2,
                          "plugins.metrics-by-endpoint./a<img src=x>.codes.200": 3 },
            "summaries": {}
        },
        "intermediate": [ { "period": 1, "counters": { "http.requests": 1 } } ]
    });
    let html = render_html(&mk_run(ERROR), &[("<svg onload=x>".to_string(), report)]);
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>"));
    assert!(!html.contains("<svg onload"));
    assert!(html.contains("&lt;svg onload=x&gt;"));
}

#[test]
fn reports_for_unknown_suites_are_still_shown() {
    let html = render_html(
        &mk_run(PASSED),
        &[("nightly".to_string(), mk_report(LOAD_REPORT))],
    );
    assert!(html.contains(r#"<section class="suite orphan""#));
    assert!(html.contains("Artillery report for a suite that is not in this result document."));
    assert_eq!(
        svgs(&html)
            .iter()
            .filter(|s| s.contains("line-chart"))
            .count(),
        2
    );
}

#[test]
fn malformed_report_parts_are_listed_and_the_rest_is_drawn() {
    let report = json!({
        "aggregate": { "counters": { "http.codes.200": 10, "http.requests": "ten" } },
        "intermediate": [
            { "period": 1000, "counters": { "http.requests": 10 }, "summaries": { "http.response_time": { "p50": 2, "p95": "slow" } } },
            42,
            { "period": 11000, "rates": { "http.request_rate": 2 } }
        ]
    });
    let html = render_html(&mk_run(FAILED), &[("load".to_string(), report)]);
    assert!(html.contains("Parts of the Artillery report were skipped:"));
    assert!(html.contains("<li>aggregate.counters.http.requests: expected a number</li>"));
    assert!(
        html.contains(
            "<li>intermediate[0].summaries.http.response_time.p95: expected a number</li>"
        )
    );
    assert!(html.contains(
        "<li>intermediate[1]: expected an object with counters, rates and summaries</li>"
    ));
    let charts: Vec<&str> = svgs(&html)
        .into_iter()
        .filter(|s| s.contains("line-chart"))
        .collect();
    assert_eq!(charts.len(), 2);
    assert!(
        charts[0].contains("<title>requests/s at 10 s: 2 per second</title>"),
        "{}",
        charts[0]
    );
}

#[test]
fn two_reports_for_one_suite_use_the_first_and_say_so() {
    let html = render_html(
        &mk_run(FAILED),
        &[
            ("load".to_string(), mk_report(LOAD_REPORT)),
            ("load".to_string(), json!({ "aggregate": {} })),
        ],
    );
    assert!(html.contains("2 Artillery reports were given for this suite; the first is shown."));
    assert_eq!(
        svgs(&html)
            .iter()
            .filter(|s| s.contains("line-chart"))
            .count(),
        2
    );
}

/// A short suite (one 10 s Artillery period, so every point sits at 0 s) gets a time axis of
/// distinct sub-second tick labels, not `0 s 0 s 0 s 1 s 1 s 1 s`.
#[test]
fn short_suite_time_axis_has_distinct_tick_labels() {
    let mut report = mk_report(LOAD_REPORT);
    let intermediate = report["intermediate"].as_array_mut().unwrap();
    intermediate.truncate(1);
    let mut run = mk_run(FAILED);
    run.suites[0].duration_ms = 3000;
    let html = render_html(&run, &[("load".to_string(), report)]);
    let charts: Vec<&str> = svgs(&html)
        .into_iter()
        .filter(|s| s.contains("line-chart"))
        .collect();
    assert_eq!(charts.len(), 2);
    for chart in charts {
        assert_well_formed_xml(chart);
        let ticks: Vec<&str> = chart
            .split(r#"<text class="x-tick""#)
            .skip(1)
            .map(|t| t.split('>').nth(1).unwrap().split('<').next().unwrap())
            .collect();
        assert!(ticks.len() >= 3, "{ticks:?}");
        let mut distinct = ticks.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            ticks.len(),
            "repeated tick labels: {ticks:?}"
        );
        assert_eq!(ticks[0], "0 s");
        assert!(
            ticks.contains(&"0.2 s") && ticks.contains(&"1 s"),
            "{ticks:?}"
        );
    }
}

#[test]
fn faults_are_listed_with_their_windows_and_escaped() {
    let mut run = mk_run(PASSED);
    let fault: testcar_contract::FaultRecord = serde_json::from_value(json!({
        "kind": "latency",
        "target": "127.0.0.1:8080<script>",
        "params": {"latency": "200ms"},
        "start": "2026-12-04T21:00:01.250Z",
        "end": "2026-12-04T21:00:06.500Z",
        "healedBy": "schedule"
    }))
    .unwrap();
    run.suites[0].faults.push(fault);
    let html = render_html(&run, &[]);
    assert!(html.contains("<h3>Faults</h3>"), "{html}");
    assert!(html.contains("<td>latency</td><td><code>127.0.0.1:8080&lt;script&gt;</code></td><td>latency=200ms</td><td>21:00:01.250</td><td>21:00:06.500</td><td>schedule</td>"), "{html}");
    balanced(&html, "table");
    // A suite without faults shows no faults table.
    assert_eq!(html.matches("<h3>Faults</h3>").count(), 1);
}
