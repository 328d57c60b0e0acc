//! The oracle: every recorded history in tests/data/linearizability (Jepsen etcd logs and
//! porcupine's kv histories) gets the verdict its README gives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use testcar_consistency::{CheckOptions, Format, Linearizability, ModelKind, check, format};

/// Linearizable etcd histories per the README; every other one (but the empty 095) is not.
const ETCD_LINEARIZABLE: &[u32] = &[
    2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102,
];

/// `tests/data/linearizability` of this repository (see its README for origin and licence).
/// Missing data is a failure, never a skip.
fn testdata() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/linearizability"
    ));
    assert!(
        dir.join("README.md").is_file(),
        "oracle histories missing: expected {} (tests/data/linearizability of the repository)",
        dir.display()
    );
    dir.to_path_buf()
}

fn verdict_of(
    path: &Path,
    fmt: Format,
    model: ModelKind,
) -> (Linearizability, testcar_consistency::Verdict) {
    let text = std::fs::read_to_string(path).unwrap();
    let history = format::parse(&text, &path.display().to_string(), fmt, model).unwrap();
    let opts = CheckOptions {
        timeout: Some(Duration::from_secs(120)),
        ..CheckOptions::default()
    };
    let v = check(model, &history, &opts).unwrap();
    (v.result, v)
}

#[test]
fn every_etcd_history_gets_its_expected_verdict() {
    let dir = testdata().join("jepsen");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for n in 0..=102u32 {
        if n == 95 {
            continue; // the cluster failed to start: an empty log
        }
        let path = dir.join(format!("etcd_{n:03}.log"));
        let expected = if ETCD_LINEARIZABLE.contains(&n) {
            Linearizability::Linearizable
        } else {
            Linearizability::NotLinearizable
        };
        let (got, v) = verdict_of(&path, Format::Jepsen, ModelKind::Register);
        if got != expected {
            wrong.push(format!("etcd_{n:03}: expected {expected:?}, got {got:?}"));
        }
        if got == Linearizability::NotLinearizable {
            let p = v.violation().unwrap();
            assert!(
                p.stuck.is_some(),
                "etcd_{n:03}: a violation names the operation that could not be placed"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 102);
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

#[test]
fn every_kv_history_gets_its_expected_verdict() {
    let dir = testdata().join("kv");
    for clients in ["c01", "c10", "c50"] {
        for (suffix, expected) in [
            ("ok", Linearizability::Linearizable),
            ("bad", Linearizability::NotLinearizable),
        ] {
            let path = dir.join(format!("{clients}-{suffix}.txt"));
            let (got, v) = verdict_of(&path, Format::Edn, ModelKind::Kv);
            assert_eq!(got, expected, "{}", path.display());
            assert!(v.partitions.len() > 1, "kv histories are checked per key");
        }
    }
}

#[test]
fn empty_etcd_log_is_trivially_linearizable() {
    let path = testdata().join("jepsen/etcd_095.log");
    let (got, v) = verdict_of(&path, Format::Jepsen, ModelKind::Register);
    assert_eq!(v.operations, 0);
    assert_eq!(got, Linearizability::Linearizable);
}

#[test]
fn kv_unpartitioned_agrees_with_partitioned() {
    // Without P-compositionality the small kv histories must still get the same answers.
    for (file, expected) in [
        ("c01-ok", Linearizability::Linearizable),
        ("c01-bad", Linearizability::NotLinearizable),
    ] {
        let text = std::fs::read_to_string(testdata().join(format!("kv/{file}.txt"))).unwrap();
        let h = format::parse(&text, file, Format::Edn, ModelKind::Kv).unwrap();
        let whole = check(
            ModelKind::Kv,
            &h,
            &CheckOptions {
                partition: false,
                ..CheckOptions::default()
            },
        )
        .unwrap();
        assert_eq!(whole.partitions.len(), 1);
        assert_eq!(whole.result, expected, "{file} as one partition");
    }
}
