//! Fuzz properties: hostile `*.consistency.yaml` suites and history files (Jepsen log,
//! EDN, JSONL) load to `Ok` or a typed error that names the file, never a panic, a stack
//! overflow or a hang. `PROPTEST_CASES` sets the budget.

#[path = "../../../../tests/fuzz/hostile.rs"]
mod fuzz;

use proptest::prelude::*;
use testcar_consistency::format::{self, Format};
use testcar_consistency::{ModelKind, load_suite};

const SUITES: &[&str] = &[
    include_str!("../../test_data/kv-http.consistency.yaml"),
    include_str!("../../test_data/bank-http.consistency.yaml"),
    include_str!("../../test_data/etcd-register.consistency.yaml"),
];

const SUITE_KEYS: &[&str] = &[
    "name",
    "model",
    "target",
    "clients",
    "operations",
    "duration",
    "keys",
    "initial",
    "ops",
    "request",
    "method",
    "url",
    "path",
    "body",
    "headers",
    "response",
    "status",
    "value",
    "timeout",
    "rate",
    "weight",
    "accounts",
    "nemesis",
    "read",
    "write",
    "cas",
    "get",
    "put",
    "append",
    "delete",
    "transfer",
    "balances",
    "<<",
];

const HISTORIES: &[(&str, Format)] = &[
    (
        include_str!("../../test_data/register-ok.jsonl"),
        Format::Jsonl,
    ),
    (
        include_str!("../../test_data/jepsen-events.jsonl"),
        Format::Edn,
    ),
    (
        include_str!("../../test_data/jepsen-vector.edn"),
        Format::Edn,
    ),
    (
        include_str!("../../test_data/jepsen-independent.edn"),
        Format::Edn,
    ),
    (include_str!("../../test_data/history.txt"), Format::Edn),
    (
        include_str!("../../test_data/jepsen-logback.log"),
        Format::Jepsen,
    ),
];

/// A hostile line for a history: a JSON/YAML-flow tree, EDN nesting of every bracket kind,
/// tags and discards stacked deep, big numbers.
fn hostile_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => fuzz::hostile_tree(&["index", "time", "type", "process", "f", "key", "value",
            "client", "op", "call", "return", "status", "output", "history", "model", ":type",
            ":f", ":value", ":process", "invoke", "ok", "fail", "info"])
            .prop_map(|t| { let mut s = String::new(); t.flow(&mut s); s }),
        2 => (proptest::sample::select(vec![("[", "]"), ("(", ")"), ("{", "}"), ("#{", "}"),
            ("#_", ""), ("#t ", ""), ("{:value ", "}"), ("[:invoke ", "]")]), 1usize..100_000, any::<bool>())
            .prop_map(|((open, close), n, closed)| {
                format!("{}{}", open.repeat(n), if closed { close.repeat(n) } else { String::new() })
            }),
        1 => fuzz::hostile_scalar(),
        1 => "[0-9:a-z \\t\\[\\]{}()#_\"\\\\,.-]{0,80}",
    ]
}

fn history() -> impl Strategy<Value = (Vec<u8>, Format, ModelKind)> {
    (
        proptest::sample::select(HISTORIES),
        proptest::collection::vec((any::<usize>(), hostile_line()), 0..4),
        proptest::sample::select(vec![Format::Jsonl, Format::Edn, Format::Jepsen]),
        any::<bool>(),
        proptest::sample::select(vec![ModelKind::Register, ModelKind::Kv, ModelKind::Bank]),
        fuzz::damage(),
    )
        .prop_map(|((seed, seed_format), lines, other, keep, model, damage)| {
            let mut all: Vec<String> = seed.lines().map(str::to_string).collect();
            for (at, line) in lines {
                let i = at % (all.len() + 1);
                all.insert(i, line);
            }
            let text = all.join("\n");
            (
                damage.apply_to(text.into_bytes()),
                if keep { seed_format } else { other },
                model,
            )
        })
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn hostile_suites_load_or_name_the_file(bytes in fuzz::document(SUITES, SUITE_KEYS)) {
        let (_dir, path) = fuzz::write_case("hostile.consistency.yaml", &bytes);
        let loading = path.clone();
        let result = fuzz::within("load_suite", move || {
            load_suite(&loading).map(|_| ()).map_err(|e| e.to_string())
        });
        if let Err(message) = result {
            fuzz::check_error(&message, &path)?;
        }
    }

    #[test]
    fn hostile_histories_parse_or_name_the_file((bytes, format, model) in history()) {
        let file = "/histories/hostile.history".to_string();
        // The CLI reads the file as text; invalid UTF-8 is refused there, by name.
        let Ok(text) = String::from_utf8(bytes) else { return Ok(()); };
        let name = file.clone();
        let result = fuzz::within("format::parse", move || {
            format::parse(&text, &name, format, model).map(|_| ()).map_err(|e| e.to_string())
        });
        if let Err(message) = result {
            fuzz::check_error(&message, std::path::Path::new(&file))?;
        }
    }
}

/// Regression (found by the property above): deep flow nesting took minutes in libyaml.
#[test]
fn hostile_deep_flow_nesting_is_refused_quickly() {
    let text = include_str!("../../test_data/deep-flow-nesting.consistency.yaml");
    let err = fuzz::within("deep flow nesting", move || {
        testcar_consistency::suite::parse_suite(text, std::path::Path::new("/x/s.consistency.yaml"))
            .map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("/x/s.consistency.yaml:3:"), "{err}");
    assert!(err.contains("nests deeper than 256 levels"), "{err}");
}

#[test]
fn hostile_alias_bomb_is_refused() {
    let (_dir, path) =
        fuzz::write_case("bomb.consistency.yaml", fuzz::alias_bomb(10, 10).as_bytes());
    let loading = path.clone();
    let err = fuzz::within("alias bomb", move || load_suite(&loading).map(|_| ()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
}
