//! The memory limit holds for the real process: `check-history --memory-limit` on a history
//! whose search would grow without bound ends with `unknown` and exit 2, and the peak RSS the
//! kernel measured for the child (getrusage, not the checker's own accounting) is within it.
//! Alone in its test binary, so the children's peak is this child's.

use std::path::PathBuf;
use std::process::Command;

use nix::sys::resource::{UsageWho, getrusage};

/// The `check-history` example, which `cargo test` builds next to the test binaries.
fn check_history_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("examples").join("check-history");
    assert!(
        bin.is_file(),
        "{} not built: run `cargo test -p testcar-consistency` (it builds the examples)",
        bin.display()
    );
    bin
}

/// 40 concurrent writes of distinct values, then reads of two of them one after the other:
/// not linearizable, no refutation applies (both values were written in time and never
/// surely replaced), and the search would visit every subset of the writes.
fn endless_history() -> String {
    let mut s = String::from("{\"history\":\"testcar.io/history/v1\",\"model\":\"register\"}\n");
    for c in 0..40 {
        s.push_str(&format!(
            "{{\"client\":{c},\"op\":\"write\",\"key\":\"x\",\"value\":\"{c}\",\"call\":{c},\"return\":100,\"status\":\"ok\"}}\n"
        ));
    }
    s.push_str("{\"client\":99,\"op\":\"read\",\"key\":\"x\",\"call\":200,\"return\":201,\"status\":\"ok\",\"output\":\"0\"}\n");
    s.push_str("{\"client\":99,\"op\":\"read\",\"key\":\"x\",\"call\":202,\"return\":203,\"status\":\"ok\",\"output\":\"1\"}\n");
    s
}

#[test]
fn search_over_the_memory_limit_is_unknown_and_the_process_stays_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("endless.jsonl");
    std::fs::write(&file, endless_history()).unwrap();
    let limit: u64 = 48 << 20;
    let out = Command::new(check_history_bin())
        .args([
            "--model",
            "register",
            "--timeout",
            "10m",
            "--memory-limit",
            "48MiB",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("unknown:"), "{stdout}");
    assert!(
        stdout.contains("the memory budget ran out before this partition was decided"),
        "{stdout}"
    );
    assert!(stdout.contains("of a 48.0 MiB limit"), "{stdout}");
    // How far it got: states and steps are named.
    assert!(
        stdout.contains(" states after ") && stdout.contains(" steps"),
        "{stdout}"
    );
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    let peak = usage.max_rss() as u64 * 1024; // kilobytes on Linux
    assert!(
        peak > 0 && peak <= limit,
        "peak RSS {peak} B over the {limit} B limit"
    );
    // It did use most of what it was given (the budget is a ceiling, not a guess).
    assert!(
        peak > limit / 4,
        "peak RSS {peak} B: the search stopped far too early"
    );
}
