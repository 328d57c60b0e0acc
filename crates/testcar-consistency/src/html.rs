//! A self-contained HTML view of a checked history: one lane per client, one section per
//! partition, the longest linearization numbered and the operation that could not be placed
//! marked. Inline SVG and CSS only, so it opens from a results folder with no network.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use crate::check::{Linearizability, PartitionVerdict, Verdict};
use crate::history::{History, Input, Op, Outcome, Output};

const LANE: f64 = 26.0;
const LEFT: f64 = 90.0;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn label(op: &Op) -> String {
    let short = |s: &str| {
        if s.chars().count() > 12 {
            format!("{}…", s.chars().take(11).collect::<String>())
        } else {
            s.to_string()
        }
    };
    let out = match &op.outcome {
        Outcome::Ok(Output::Value(Some(v))) => format!("→{}", short(v)),
        Outcome::Ok(Output::Value(None)) => "→nil".into(),
        Outcome::Ok(Output::Balances(b)) => format!("→Σ{}", b.values().sum::<i64>()),
        Outcome::Fail | Outcome::Rejected => " ✗".into(),
        Outcome::Unknown => " ?".into(),
        Outcome::Ok(Output::None) => String::new(),
    };
    match &op.input {
        Input::Read | Input::Get | Input::Balances => format!("{}{out}", &op.input.name()[..1]),
        Input::Write(v) | Input::Put(v) => format!("{} {}{out}", &op.input.name()[..1], short(v)),
        Input::Append(v) => format!("a {}{out}", short(v)),
        Input::Delete => format!("del{out}"),
        Input::Cas { from, to } => format!("cas {}→{}{out}", short(from), short(to)),
        Input::Transfer { from, to, amount } => format!("{amount} {from}→{to}{out}"),
    }
}

/// Render the page.
pub fn render(title: &str, history: &History, verdict: &Verdict) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{t} — {r}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:1.5em;color:#222}}
h1{{font-size:1.3em}} h2{{font-size:1.05em;margin:0}}
.v-linearizable{{color:#1a7f37}} .v-not-linearizable{{color:#c62828}} .v-unknown{{color:#9a6700}}
section{{border:1px solid #ddd;border-radius:6px;padding:.6em;margin:.8em 0}}
summary{{cursor:pointer}} .scroll{{overflow-x:auto}}
svg text{{font:11px ui-monospace,monospace;pointer-events:none}}
rect.op{{stroke:#555;stroke-width:.6;fill:#cfe2ff}}
rect.fail{{fill:#e0e0e0}} rect.unknown{{fill:#ffe8b3;stroke-dasharray:3 2}}
rect.lin{{fill:#b7ebc6}} rect.cand{{fill:#ffd8a8;stroke:#c77700}} rect.stuck{{fill:#ff9b9b;stroke:#c62828;stroke-width:1.6}}
line.fail-at{{stroke:#c62828;stroke-dasharray:5 3;stroke-width:1.5}}
.legend span{{display:inline-block;padding:0 .5em;margin-right:.4em;border:1px solid #888;border-radius:3px}}
pre{{background:#f6f8fa;padding:.6em;overflow-x:auto}}
</style></head><body>
<h1>{t}: <span class="v-{rc}">{r}</span></h1>
<p>{n} operations · model <b>{m}</b> · {np} partition(s) · {c} client(s) · checked in {ms:.1} ms · time axis: {axis}</p>
<p class="legend"><span style="background:#cfe2ff">completed</span><span style="background:#b7ebc6">in the longest linearization (numbered)</span><span style="background:#ff9b9b">could not be placed</span><span style="background:#ffd8a8">open, did not fit either</span><span style="background:#e0e0e0">failed (no effect)</span><span style="background:#ffe8b3">unknown / never returned</span></p>
"#,
        t = esc(title),
        r = verdict.result.as_str(),
        rc = verdict.result.as_str().replace(' ', "-"),
        n = verdict.operations,
        m = verdict.model.name(),
        np = verdict.partitions.len(),
        c = history.clients(),
        ms = verdict.elapsed.as_secs_f64() * 1000.0,
        axis = if history.timed {
            "real time"
        } else {
            "event order"
        },
    );
    let _ = writeln!(page, "<pre>{}</pre>", esc(&verdict.explain(history)));
    // Violations first; then the rest in key order.
    let mut parts: Vec<&PartitionVerdict> = verdict.partitions.iter().collect();
    parts.sort_by_key(|p| p.result != Linearizability::NotLinearizable);
    for p in parts {
        partition(&mut page, history, p);
    }
    page.push_str("</body></html>\n");
    page
}

fn partition(page: &mut String, history: &History, p: &PartitionVerdict) {
    let ops: Vec<&Op> = p.ops.iter().map(|&i| &history.ops[i]).collect();
    let clients: BTreeSet<u64> = ops.iter().map(|o| o.client).collect();
    let lane: HashMap<u64, usize> = clients.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let t0 = ops.iter().map(|o| o.call).min().unwrap_or(0);
    let t1 = ops
        .iter()
        .map(|o| o.ret.unwrap_or(o.call))
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    let width = (ops.len() as f64 * 14.0).clamp(900.0, 12000.0);
    let end_x = LEFT + width + 20.0;
    let x = |t: u64| LEFT + (t.saturating_sub(t0)) as f64 / (t1 - t0) as f64 * width;
    let height = clients.len() as f64 * LANE + 30.0;
    let order: HashMap<usize, usize> = p
        .longest
        .iter()
        .enumerate()
        .map(|(i, o)| (*o, i + 1))
        .collect();
    let key = p
        .key
        .as_deref()
        .map(|k| format!("key {}", esc(k)))
        .unwrap_or_else(|| "whole history".into());
    let open = if p.result == Linearizability::NotLinearizable {
        " open"
    } else {
        ""
    };
    let _ = write!(
        page,
        "<section><details{open}><summary><h2 style=\"display:inline\">{key}: <span class=\"v-{}\">{}</span> · {} operations</h2></summary>",
        p.result.as_str().replace(' ', "-"),
        p.result.as_str(),
        ops.len()
    );
    if let Some(r) = &p.reason {
        let _ = write!(page, "<p>{}</p>", esc(r));
    }
    if let Some(s) = &p.state {
        let _ = write!(
            page,
            "<p>model state after the longest linearization ({} operations): <code>{}</code></p>",
            p.longest.len(),
            esc(s)
        );
    }
    let _ = write!(
        page,
        "<div class=\"scroll\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{height:.0}\">",
        end_x + 10.0
    );
    for (c, i) in &lane {
        let y = *i as f64 * LANE + 20.0;
        let _ = write!(
            page,
            "<text x=\"4\" y=\"{:.1}\">client {c}</text><line x1=\"{LEFT}\" x2=\"{end_x:.0}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            y + 13.0,
            y + 9.0,
            y + 9.0
        );
    }
    for op in &ops {
        let y = lane[&op.client] as f64 * LANE + 20.0;
        let x0 = x(op.call);
        let x1 = op.ret.map(x).unwrap_or(end_x).max(x0 + 3.0);
        let class = if p.stuck == Some(op.id) {
            "op stuck"
        } else if order.contains_key(&op.id) {
            "op lin"
        } else if p.candidates.contains(&op.id) {
            "op cand"
        } else {
            match op.outcome {
                Outcome::Fail | Outcome::Rejected => "op fail",
                Outcome::Unknown => "op unknown",
                Outcome::Ok(_) => "op",
            }
        };
        let _ = write!(
            page,
            "<g><title>{}</title><rect class=\"{class}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"18\" rx=\"3\"/>",
            esc(&op.describe()),
            x1 - x0
        );
        let mut text = label(op);
        if let Some(n) = order.get(&op.id) {
            text = format!("{n}. {text}");
        }
        let room = ((x1 - x0) / 6.7) as usize;
        if room >= 3 {
            let shown: String = if text.chars().count() > room {
                format!(
                    "{}…",
                    text.chars()
                        .take(room.saturating_sub(1))
                        .collect::<String>()
                )
            } else {
                text
            };
            let _ = write!(
                page,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x0 + 3.0,
                y + 13.0,
                esc(&shown)
            );
        }
        page.push_str("</g>");
    }
    if let Some(s) = p.stuck {
        if let Some(r) = history.ops[s].ret {
            let xr = x(r);
            let _ = write!(
                page,
                "<g><title>linearization failed here: {} returned before it could be placed</title><line class=\"fail-at\" x1=\"{xr:.1}\" x2=\"{xr:.1}\" y1=\"5\" y2=\"{:.0}\"/></g>",
                esc(&history.ops[s].describe()),
                height
            );
        }
    }
    page.push_str("</svg></div></details></section>\n");
}
