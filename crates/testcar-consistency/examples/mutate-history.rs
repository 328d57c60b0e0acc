//! Make a register history not linearizable on purpose, the way real bugs do, to test that
//! the checker refutes it: how the mutated copies in tests/data/linearizability/etcd64 were
//! made. Deterministic: it starts from the middle of the history and takes the first fit.
//!
//! Usage: mutate-history <in.jsonl> phantom|stale|lost-write <out.jsonl>
//!
//! - phantom: a read returns "9", a value nobody wrote;
//! - stale: a read returns a value that was already replaced when it was called;
//! - lost-write: a write of "9" that returned ok just before a read, which does not see it.
//!
//! Prints the source line (in the output file) of the operation that was changed or added.

use std::time::Duration;

use testcar_consistency::format::jsonl;
use testcar_consistency::{
    CheckOptions, History, Input, Linearizability, ModelKind, Op, Outcome, Output, check,
};

/// Not linearizable, decided within a second (a mutation the search would struggle with is
/// skipped for the next candidate).
fn refuted(h: &History) -> bool {
    let opts = CheckOptions {
        timeout: Some(Duration::from_secs(1)),
        memory_limit: None,
        ..CheckOptions::default()
    };
    check(ModelKind::Register, h, &opts)
        .expect("a register history")
        .result
        == Linearizability::NotLinearizable
}

fn read_value(op: &Op) -> Option<Option<&str>> {
    match (&op.input, &op.outcome) {
        (Input::Read, Outcome::Ok(Output::Value(v))) => Some(v.as_deref()),
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: mutate-history <in.jsonl> phantom|stale|lost-write <out.jsonl>");
        std::process::exit(2);
    }
    let text = std::fs::read_to_string(&args[1]).expect("read the history");
    let base = testcar_consistency::format::parse(
        &text,
        &args[1],
        testcar_consistency::Format::Jsonl,
        ModelKind::Register,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let n = base.ops.len();
    let reads: Vec<usize> = (n / 2..n)
        .chain(0..n / 2)
        .filter(|&i| read_value(&base.ops[i]).is_some())
        .collect();
    let mut found: Option<(History, usize)> = None;
    'search: for &i in &reads {
        match args[2].as_str() {
            "phantom" => {
                let mut h = base.clone();
                h.ops[i].outcome = Outcome::Ok(Output::Value(Some("9".into())));
                found = Some((h, i));
                break 'search;
            }
            "stale" => {
                let seen = read_value(&base.ops[i]).flatten().map(str::to_string);
                // Values written by writes that returned before the read was called, latest
                // first: the ones a lagging replica would still serve.
                let mut before: Vec<&Op> = base
                    .ops
                    .iter()
                    .filter(|o| {
                        matches!(o.input, Input::Write(_))
                            && o.ret.is_some_and(|t| t < base.ops[i].call)
                    })
                    .collect();
                before.sort_by_key(|o| std::cmp::Reverse(o.ret));
                let mut values: Vec<String> = Vec::new();
                for o in before {
                    if let Input::Write(v) = &o.input {
                        if !values.contains(v) {
                            values.push(v.clone());
                        }
                    }
                }
                for v in &values {
                    if Some(v) == seen.as_ref() {
                        continue;
                    }
                    let mut h = base.clone();
                    h.ops[i].outcome = Outcome::Ok(Output::Value(Some(v.clone())));
                    if refuted(&h) {
                        found = Some((h, i));
                        break 'search;
                    }
                }
            }
            "lost-write" => {
                let r = &base.ops[i];
                let mut ops = base.ops.clone();
                ops.push(Op {
                    id: 0,
                    client: 1_000_000,
                    key: r.key.clone(),
                    call: r.call.saturating_sub(2),
                    ret: Some(r.call.saturating_sub(1)),
                    input: Input::Write("9".into()),
                    outcome: Outcome::Ok(Output::None),
                    line: 0,
                    note: Some(
                        "added by mutate-history: a write the next read does not see".into(),
                    ),
                });
                let h = History::in_call_order(ops, base.timed, None);
                let added = h
                    .ops
                    .iter()
                    .position(|o| o.client == 1_000_000)
                    .expect("added");
                if refuted(&h) {
                    found = Some((h, added));
                    break 'search;
                }
            }
            other => {
                eprintln!("unknown mutation {other:?}: phantom, stale or lost-write");
                std::process::exit(2);
            }
        }
    }
    let Some((h, changed)) = found else {
        eprintln!("no read in the history could be mutated that way");
        std::process::exit(1);
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[3]).expect("create"));
    jsonl::write(&h, ModelKind::Register, &mut out).expect("write");
    // Line 1 is the header; operations follow in call order.
    println!(
        "{}: {} on line {} ({})",
        args[3],
        args[2],
        changed + 2,
        h.ops[changed].describe()
    );
}
