//! The rendered pages opened in headless Chromium (Debian `chromium`): no console messages
//! (no script errors, no blocked fetches), the verdict and the charts in the rendered DOM, no
//! script injected by hostile text, and a screenshot per page in `target/test-output/`.
//!
//! With `TESTCAR_REQUIRE_TOOLS=1` a missing Chromium fails; otherwise these tests skip.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TESTCAR_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn require_chromium(test: &str) -> Option<PathBuf> {
    match chromium() {
        Some(p) => Some(p),
        None if std::env::var("TESTCAR_REQUIRE_TOOLS").as_deref() == Ok("1") => {
            panic!("{test}: chromium not found (install it with scripts/setup.d/70-chromium.sh)")
        }
        None => {
            eprintln!("skipped: {test}: chromium not found (scripts/setup.d/70-chromium.sh)");
            None
        }
    }
}

struct Rendered {
    dom: String,
    console: Vec<String>,
    screenshot: PathBuf,
}

/// Open `page` from disk, dump the DOM after load and take a screenshot.
fn open(chromium: &Path, page: &Path) -> Rendered {
    let profile = tempfile::tempdir().expect("profile dir");
    let screenshot = page.with_extension("png");
    let _ = std::fs::remove_file(&screenshot);
    let url = format!("file://{}", page.display());
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1100,2600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}\n{stderr}",
        out.status
    );
    // Chromium logs every console message (errors, uncaught exceptions, CSP refusals) as
    // `INFO:CONSOLE`; the pages have no scripts, so any such line is a failure.
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught") || l.contains("Refused to"))
        .map(str::to_string)
        .collect();
    Rendered {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console,
        screenshot,
    }
}

fn write_page(name: &str, html: &str) -> PathBuf {
    let path = output_dir().join(format!("{name}.html"));
    std::fs::write(&path, html).expect("write page");
    path
}

fn title(dom: &str) -> &str {
    let start = dom.find("<title>").expect("title") + 7;
    let end = dom[start..].find("</title>").expect("title end") + start;
    &dom[start..end]
}

#[test]
fn console_detection_catches_a_bad_page() {
    // Guards the other tests: if Chromium stopped logging console messages to stderr, a page
    // with errors would look clean.
    let Some(chromium) = require_chromium("console_detection_catches_a_bad_page") else {
        return;
    };
    let page = write_page(
        "self-check-bad-page",
        "<!DOCTYPE html><html><head><title>bad</title></head><body><script>console.error('boom'); missingFunction();</script></body></html>",
    );
    let r = open(&chromium, &page);
    assert!(
        r.console.iter().any(|l| l.contains("boom")),
        "{:?}",
        r.console
    );
    assert!(
        r.console
            .iter()
            .any(|l| l.contains("Uncaught ReferenceError")),
        "{:?}",
        r.console
    );
}

#[test]
fn example_pages_render_cleanly_in_chromium() {
    let Some(chromium) = require_chromium("example_pages_render_cleanly_in_chromium") else {
        return;
    };
    for (name, html) in pages() {
        let page = write_page(name, &html);
        let r = open(&chromium, &page);
        assert!(
            r.console.is_empty(),
            "{name}: console output {:?}",
            r.console
        );
        let verdict = match name {
            "passed" => "PASSED",
            "failed" => "FAILED",
            _ => "ERROR",
        };
        assert!(
            r.dom.contains(&format!("<h1>{verdict}</h1>")),
            "{name}: verdict missing from the DOM"
        );
        assert!(
            title(&r.dom).starts_with("Testcar run "),
            "{name}: title {}",
            title(&r.dom)
        );
        // No element was injected by document text.
        assert!(
            !r.dom.contains("<script"),
            "{name}: script element in the DOM"
        );
        assert!(!r.dom.contains("<img"), "{name}: img element in the DOM");
        let svg_count = r.dom.matches("<svg").count();
        match name {
            // Two line charts over time and the status-code bars.
            "failed" => {
                assert_eq!(svg_count, 3, "{name}");
                assert_eq!(r.dom.matches(r#"class="series""#).count(), 8, "{name}");
            }
            "passed" => assert_eq!(svg_count, 1, "{name}"),
            _ => assert_eq!(svg_count, 0, "{name}"),
        }
        let png = std::fs::read(&r.screenshot).expect("screenshot written");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{name}: screenshot"
        );
    }
}

#[test]
fn hostile_text_does_not_run_in_chromium() {
    let Some(chromium) = require_chromium("hostile_text_does_not_run_in_chromium") else {
        return;
    };
    let html = testcar_report::render_html(&mk_run(HOSTILE), &[]);
    let page = write_page("hostile-check", &html);
    let r = open(&chromium, &page);
    assert!(r.console.is_empty(), "console output {:?}", r.console);
    // Every payload would replace document.title with `pwned-…`; the title must still be ours.
    assert!(
        title(&r.dom).starts_with("Testcar run error — shop\"&gt;&lt;script&gt;"),
        "title {}",
        title(&r.dom)
    );
    assert!(
        r.dom
            .contains("&lt;script&gt;document.title='pwned-suite'&lt;/script&gt;")
    );
    assert!(
        r.dom
            .contains(r#"<a class="history-link" href="bank/history.html">"#)
    );
}
