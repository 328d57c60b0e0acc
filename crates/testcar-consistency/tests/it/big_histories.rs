//! The big etcd register histories of tests/data/linearizability/etcd64 (8 to 64 clients ×
//! 150 operations, recorded from a real etcd): the recorded ones are linearizable, and the
//! mutated copies are refuted naming the changed operation. Speed is measured by the bench.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use testcar_consistency::{CheckOptions, Format, History, Linearizability, ModelKind, check};

fn load(name: &str) -> History {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/linearizability/etcd64")
        .join(format!("{name}.jsonl.gz"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .read_to_string(&mut text)
    .unwrap();
    testcar_consistency::format::parse(&text, name, Format::Jsonl, ModelKind::Register)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A generous budget: a debug build on a loaded machine; never the point of the test.
fn opts() -> CheckOptions {
    CheckOptions {
        timeout: Some(Duration::from_secs(600)),
        memory_limit: None,
        ..CheckOptions::default()
    }
}

#[test]
fn recorded_histories_are_linearizable() {
    for name in ["register-c8-s1", "register-c16-s1", "register-c64-s1"] {
        let h = load(name);
        let v = check(ModelKind::Register, &h, &opts()).unwrap();
        assert_eq!(
            v.result,
            Linearizability::Linearizable,
            "{name}: {}",
            v.explain(&h)
        );
    }
}

#[test]
fn phantom_read_in_64_clients_is_refuted_without_search() {
    let h = load("register-c64-s1-phantom");
    assert_eq!(h.ops.len(), 9600);
    let v = check(ModelKind::Register, &h, &opts()).unwrap();
    assert_eq!(v.result, Linearizability::NotLinearizable);
    let p = v.violation().unwrap();
    assert_eq!(p.refuted, Some("phantom value"));
    assert_eq!(p.steps, 0);
    let stuck = &h.ops[p.stuck.unwrap()];
    // The mutated read, on line 4803 of the file (see the README).
    assert_eq!(stuck.line, 4803);
    assert_eq!(
        stuck.describe(),
        "#4801 client 22 read \"r\" → \"9\" (line 4803)"
    );
}

#[test]
fn stale_read_is_refuted_naming_the_read_and_the_writes_of_its_value() {
    let h = load("register-c16-s1-stale");
    let v = check(ModelKind::Register, &h, &opts()).unwrap();
    assert_eq!(v.result, Linearizability::NotLinearizable);
    let p = v.violation().unwrap();
    assert_eq!(p.refuted, Some("stale value"));
    let stuck = &h.ops[p.stuck.unwrap()];
    assert_eq!(stuck.line, 1371);
    assert_eq!(
        stuck.describe(),
        "#1369 client 1 read \"r\" → \"1\" (line 1371)"
    );
    assert!(!p.candidates.is_empty());
    for w in &p.candidates {
        assert!(
            h.ops[*w].describe().contains("\"1\""),
            "writes of the value read: {}",
            h.ops[*w].describe()
        );
    }
}

#[test]
fn lost_write_is_found_by_the_search() {
    let h = load("register-c16-s1-lost-write");
    // The write added on line 1213: "9", acknowledged, seen by nobody.
    let added = &h.ops[1211];
    assert_eq!(added.line, 1213);
    assert_eq!(
        added.describe(),
        "#1211 client 1000000 write \"r\" \"9\" ok (line 1213)"
    );
    let v = check(ModelKind::Register, &h, &opts()).unwrap();
    assert_eq!(
        v.result,
        Linearizability::NotLinearizable,
        "{}",
        v.explain(&h)
    );
    let p = v.violation().unwrap();
    // The read right after it, which saw the old value, cannot be placed.
    assert_eq!(p.stuck, Some(1212), "{}", v.explain(&h));
    assert_eq!(h.ops[1212].line, 1214);
}
