//! Violations proved without search: each rule on a small history, naming the operation
//! that cannot be placed and the writes of its value, and the near misses that must not be
//! refuted (the value was written in time, or a replacement may not have happened yet).

use testcar_consistency::{
    CheckOptions, History, Input, Linearizability, ModelKind, Op, Outcome, Output, Verdict, check,
};

fn op(client: u64, (call, ret): (u64, u64), input: Input, outcome: Outcome) -> Op {
    Op {
        id: 0,
        client,
        key: Some("x".into()),
        call,
        ret: Some(ret),
        input,
        outcome,
        line: 0,
        note: None,
    }
}

fn w(client: u64, t: (u64, u64), v: &str) -> Op {
    op(client, t, Input::Write(v.into()), Outcome::Ok(Output::None))
}

fn r(client: u64, t: (u64, u64), v: Option<&str>) -> Op {
    op(
        client,
        t,
        Input::Read,
        Outcome::Ok(Output::Value(v.map(str::to_string))),
    )
}

fn run(model: ModelKind, ops: Vec<Op>) -> (History, Verdict) {
    let h = History::in_call_order(ops, true, None);
    let v = check(model, &h, &CheckOptions::default()).unwrap();
    (h, v)
}

/// The rule, the stuck operation and the writers named, as descriptions.
fn refuted(model: ModelKind, ops: Vec<Op>) -> (&'static str, String, Vec<String>) {
    let (h, v) = run(model, ops);
    assert_eq!(
        v.result,
        Linearizability::NotLinearizable,
        "{}",
        v.explain(&h)
    );
    let p = v.violation().unwrap();
    assert_eq!(p.steps, 0, "no search was needed");
    (
        p.refuted.expect("refuted without search"),
        h.ops[p.stuck.unwrap()].describe(),
        p.candidates.iter().map(|c| h.ops[*c].describe()).collect(),
    )
}

#[test]
fn phantom_read_names_the_read() {
    let (rule, stuck, writers) = refuted(
        ModelKind::Register,
        vec![
            w(0, (0, 10), "1"),
            r(1, (20, 30), Some("9")),
            w(0, (40, 50), "2"),
        ],
    );
    assert_eq!(rule, "phantom value");
    assert_eq!(stuck, "#1 client 1 read \"x\" → \"9\"");
    assert!(writers.is_empty());
}

#[test]
fn read_before_every_write_of_its_value_names_the_writes() {
    let (rule, stuck, writers) = refuted(
        ModelKind::Register,
        vec![
            r(1, (0, 10), Some("1")),
            w(0, (20, 30), "1"),
            w(2, (25, 35), "1"),
        ],
    );
    assert_eq!(rule, "value from the future");
    assert_eq!(stuck, "#0 client 1 read \"x\" → \"1\"");
    assert_eq!(
        writers,
        [
            "#1 client 0 write \"x\" \"1\" ok",
            "#2 client 2 write \"x\" \"1\" ok"
        ]
    );
}

#[test]
fn cas_that_succeeded_on_a_value_never_current() {
    let cas = |c, t, from: &str, to: &str| {
        op(
            c,
            t,
            Input::Cas {
                from: from.into(),
                to: to.into(),
            },
            Outcome::Ok(Output::None),
        )
    };
    let (rule, stuck, _) = refuted(
        ModelKind::Register,
        vec![w(0, (0, 10), "1"), cas(1, (20, 30), "7", "2")],
    );
    assert_eq!(rule, "phantom value");
    assert_eq!(stuck, "#1 client 1 cas \"x\" \"7\"→\"2\" ok");
    // Stale: 1 was replaced by 3 before the cas was called.
    let (rule, stuck, writers) = refuted(
        ModelKind::Register,
        vec![
            w(0, (0, 10), "1"),
            w(0, (20, 30), "3"),
            cas(1, (40, 50), "1", "2"),
        ],
    );
    assert_eq!(rule, "stale value");
    assert_eq!(stuck, "#2 client 1 cas \"x\" \"1\"→\"2\" ok");
    assert_eq!(writers, ["#0 client 0 write \"x\" \"1\" ok"]);
}

#[test]
fn stale_initial_value() {
    let (rule, stuck, writers) = refuted(
        ModelKind::Register,
        vec![w(0, (0, 10), "1"), r(1, (20, 30), None)],
    );
    assert_eq!(rule, "stale value");
    assert_eq!(stuck, "#1 client 1 read \"x\" → nil");
    assert!(writers.is_empty());
}

#[test]
fn kv_keys_without_appends_follow_the_register_rules() {
    let put = |c, t, v: &str| op(c, t, Input::Put(v.into()), Outcome::Ok(Output::None));
    let get = |c, t, v: &str| {
        op(
            c,
            t,
            Input::Get,
            Outcome::Ok(Output::Value(Some(v.to_string()))),
        )
    };
    let (rule, stuck, writers) = refuted(
        ModelKind::Kv,
        vec![
            put(0, (0, 10), "a"),
            put(0, (20, 30), "b"),
            get(1, (40, 50), "a"),
        ],
    );
    assert_eq!(rule, "stale value");
    assert_eq!(stuck, "#2 client 1 get \"x\" → \"a\"");
    assert_eq!(writers, ["#0 client 0 put \"x\" \"a\" ok"]);
    let (rule, _, _) = refuted(
        ModelKind::Kv,
        vec![put(0, (0, 10), "a"), get(1, (20, 30), "z")],
    );
    assert_eq!(rule, "phantom value");
}

#[test]
fn near_misses_are_left_to_the_search() {
    // The replacing write overlaps the read: it may come after it.
    let (h, v) = run(
        ModelKind::Register,
        vec![
            w(0, (0, 10), "1"),
            w(2, (20, 45), "2"),
            r(1, (40, 50), Some("1")),
        ],
    );
    assert_eq!(v.result, Linearizability::Linearizable, "{}", v.explain(&h));
    // A second write of the value, concurrent with the read, may be the one it saw.
    let (h, v) = run(
        ModelKind::Register,
        vec![
            w(0, (0, 10), "1"),
            w(0, (20, 30), "2"),
            w(2, (35, 60), "1"),
            r(1, (40, 50), Some("1")),
        ],
    );
    assert_eq!(v.result, Linearizability::Linearizable, "{}", v.explain(&h));
    // A write whose outcome is unknown may have happened at any time after its call.
    let mut lost = w(0, (0, 10), "1");
    lost.ret = None;
    lost.outcome = Outcome::Unknown;
    let (h, v) = run(ModelKind::Register, vec![lost, r(1, (20, 30), Some("1"))]);
    assert_eq!(v.result, Linearizability::Linearizable, "{}", v.explain(&h));
}
