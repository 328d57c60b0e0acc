//! Checker benchmark for `make bench`: all Jepsen etcd histories together and porcupine's kv
//! histories (per key), median of several runs, plus peak memory. Porcupine's times are the
//! reference figures from the test data's README (Go is not installed here to re-measure).
//!
//! Usage: consistency-bench <testdata/linearizability> [runs]

use std::path::Path;
use std::time::{Duration, Instant};

use testcar_consistency::{CheckOptions, Format, History, ModelKind, check, format};

fn load(path: &Path, fmt: Format, model: ModelKind) -> History {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format::parse(&text, &path.display().to_string(), fmt, model).unwrap_or_else(|e| panic!("{e}"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn time_all(
    histories: &[History],
    model: ModelKind,
    partition: bool,
    runs: usize,
) -> (Duration, String) {
    let opts = CheckOptions {
        timeout: None,
        partition,
        threads: None,
        memory_limit: None,
    };
    let mut times = Vec::new();
    let mut verdicts = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut linearizable = 0;
        for h in histories {
            let v = check(model, h, &opts).expect("fits the model");
            if v.result == testcar_consistency::Linearizability::Linearizable {
                linearizable += 1;
            }
        }
        times.push(t.elapsed());
        verdicts = format!("{linearizable} linearizable of {}", histories.len());
    }
    (median(times), verdicts)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: consistency-bench <testdata/linearizability> [runs]");
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let dir = Path::new(&dir);
    let etcd: Vec<History> = (0..=102)
        .filter(|n| *n != 95)
        .map(|n| {
            load(
                &dir.join(format!("jepsen/etcd_{n:03}.log")),
                Format::Jepsen,
                ModelKind::Register,
            )
        })
        .collect();
    println!("testcar-consistency checker, median of {runs} runs, release build");
    println!(
        "{:<34} {:>10} {:>22} {:>8}  verdicts",
        "history", "testcar", "porcupine (README)", "ratio"
    );
    let row = |name: &str, t: Duration, peer_lo: f64, peer_hi: f64, verdicts: &str| {
        let ms = t.as_secs_f64() * 1000.0;
        let mid = (peer_lo + peer_hi) / 2.0;
        println!(
            "{name:<34} {ms:>8.1}ms {:>14.0}–{:<5.0}ms {:>7.1}x  {verdicts}",
            peer_lo,
            peer_hi,
            mid / ms.max(0.001)
        );
    };
    let (t, v) = time_all(&etcd, ModelKind::Register, true, runs);
    row("etcd: all 102 together", t, 650.0, 760.0, &v);
    let (t, v) = time_all(&etcd[2..3], ModelKind::Register, true, runs);
    row("etcd_002 (porcupine's slowest)", t, 250.0, 370.0, &v);
    let (t, v) = time_all(&etcd[7..8], ModelKind::Register, true, runs);
    row("etcd_007", t, 170.0, 170.0, &v);
    for (file, lo, hi) in [
        ("c10-ok", 1.0, 1.0),
        ("c50-ok", 200.0, 250.0),
        ("c50-bad", 20.0, 46.0),
    ] {
        let h = load(
            &dir.join(format!("kv/{file}.txt")),
            Format::Edn,
            ModelKind::Kv,
        );
        let (t, v) = time_all(std::slice::from_ref(&h), ModelKind::Kv, true, runs);
        row(&format!("kv {file} (per key)"), t, lo, hi, &v);
    }
    for (file, lo, hi) in [("c10-ok", 2500.0, 6000.0), ("c10-bad", 2500.0, 6000.0)] {
        let h = load(
            &dir.join(format!("kv/{file}.txt")),
            Format::Edn,
            ModelKind::Kv,
        );
        let (t, v) = time_all(std::slice::from_ref(&h), ModelKind::Kv, false, 1);
        row(
            &format!("kv {file} (NOT partitioned, 1 run)"),
            t,
            lo,
            hi,
            &v,
        );
    }
    println!(
        "peak memory (RSS) of this process: {:.1} MB (porcupine, kv c10 unpartitioned: ~600 MB per README)",
        peak_rss_mb()
    );
    println!(
        "goals: etcd all ≤ 300 ms, kv c50-ok ≤ 100 ms; ratio = porcupine (README midpoint) / testcar"
    );
}
