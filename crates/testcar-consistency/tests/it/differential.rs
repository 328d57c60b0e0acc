//! Differential testing of the checker against a deliberately naive oracle: a depth-first
//! enumeration of every order of the operations that respects real time, replaying each
//! against a plain-map model. Random small concurrent histories (derived from a real
//! sequential execution, then sometimes perturbed) must get the same verdict from both, with
//! and without partitioning, and every violation report must be a real partial linearization.

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use testcar_consistency::{
    CheckOptions, History, Input, Linearizability, ModelKind, Op, Outcome, Output, Verdict, check,
};

// ------------------------------------------------------------------------ the oracle

/// How an operation constrains a linearization, written from the model's definition (not
/// from the checker): completed operations must be placed between call and return; a failed
/// cas is a compare that did not match; failed writes and reads with no value constrain
/// nothing; unknown writes may take effect at any time after their call, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Required,
    Optional,
    Ignored,
}

fn role(op: &Op) -> Role {
    match (&op.outcome, op.input.is_read(), &op.input) {
        (Outcome::Ok(_), _, _) => Role::Required,
        (Outcome::Fail, _, Input::Cas { .. }) => Role::Required,
        (Outcome::Fail | Outcome::Rejected, _, _) => Role::Ignored,
        (Outcome::Unknown, true, _) => Role::Ignored,
        (Outcome::Unknown, false, _) => Role::Optional,
    }
}

/// The abstract state of every model: key → value (register: absent = nil; kv: absent = "";
/// bank: account → balance as text).
type State = BTreeMap<Option<String>, String>;

fn step(model: ModelKind, s: &State, op: &Op) -> Option<State> {
    let key = op.key.clone();
    let mut n = s.clone();
    match (model, &op.input, &op.outcome) {
        (ModelKind::Register, Input::Read, Outcome::Ok(Output::Value(v))) => {
            (s.get(&key) == v.as_ref()).then_some(n)
        }
        (ModelKind::Register, Input::Write(v), _) => {
            n.insert(key, v.clone());
            Some(n)
        }
        (ModelKind::Register, Input::Cas { from, .. }, Outcome::Fail) => {
            (s.get(&key) != Some(from)).then_some(n)
        }
        (ModelKind::Register, Input::Cas { from, to }, _) => {
            if s.get(&key) != Some(from) {
                return None;
            }
            n.insert(key, to.clone());
            Some(n)
        }
        (ModelKind::Kv, Input::Get, Outcome::Ok(Output::Value(v))) => {
            let have = s.get(&key).map(String::as_str).unwrap_or("");
            (have == v.as_deref().unwrap_or("")).then_some(n)
        }
        (ModelKind::Kv, Input::Put(v), _) => {
            n.insert(key, v.clone());
            Some(n)
        }
        (ModelKind::Kv, Input::Append(v), _) => {
            n.entry(key).or_default().push_str(v);
            Some(n)
        }
        (ModelKind::Kv, Input::Delete, _) => {
            n.remove(&key);
            Some(n)
        }
        (ModelKind::Bank, Input::Transfer { from, to, amount }, _) => {
            let bal = |n: &State, a: &str| n[&Some(a.to_string())].parse::<i64>().unwrap();
            let f = bal(&n, from) - amount;
            n.insert(Some(from.clone()), f.to_string());
            let t = bal(&n, to) + amount;
            n.insert(Some(to.clone()), t.to_string());
            Some(n)
        }
        (ModelKind::Bank, Input::Balances, Outcome::Ok(Output::Balances(b))) => s
            .iter()
            .all(|(a, v)| {
                b.get(a.as_deref().unwrap()).copied().unwrap_or(0) == v.parse::<i64>().unwrap()
            })
            .then_some(n),
        other => panic!("oracle: unexpected operation {other:?}"),
    }
}

struct Oracle<'a> {
    model: ModelKind,
    ops: Vec<(&'a Op, Role)>,
    failed: HashSet<(u32, State)>,
}

impl Oracle<'_> {
    /// Whether some order of the operations respects real time and the model.
    fn run(model: ModelKind, ops: &[Op], init: State) -> bool {
        let mut o = Oracle {
            model,
            ops: ops
                .iter()
                .map(|op| (op, role(op)))
                .filter(|(_, r)| *r != Role::Ignored)
                .collect(),
            failed: HashSet::new(),
        };
        assert!(o.ops.len() <= 32);
        o.dfs(0, init)
    }

    /// `j` must come before `i` if it is required and returned before `i` was called.
    fn must_precede(&self, j: usize, i: usize) -> bool {
        let (oj, rj) = self.ops[j];
        rj == Role::Required && oj.ret.is_some_and(|r| r < self.ops[i].0.call)
    }

    fn dfs(&mut self, placed: u32, state: State) -> bool {
        let open = |i: usize| placed & (1 << i) == 0;
        if (0..self.ops.len()).all(|i| !open(i) || self.ops[i].1 != Role::Required) {
            return true;
        }
        if self.failed.contains(&(placed, state.clone())) {
            return false;
        }
        for i in (0..self.ops.len()).filter(|&i| open(i)) {
            if (0..self.ops.len()).any(|j| j != i && open(j) && self.must_precede(j, i)) {
                continue;
            }
            if let Some(next) = step(self.model, &state, self.ops[i].0)
                && self.dfs(placed | (1 << i), next)
            {
                return true;
            }
        }
        self.failed.insert((placed, state));
        false
    }
}

fn initial_state(model: ModelKind, initial: Option<&BTreeMap<String, i64>>) -> State {
    match model {
        ModelKind::Bank => initial
            .unwrap()
            .iter()
            .map(|(a, v)| (Some(a.clone()), v.to_string()))
            .collect(),
        _ => State::new(),
    }
}

// ------------------------------------------------------------------------ generator

/// One operation as proptest draws it; [`build`] turns a list of them into a history.
#[derive(Debug, Clone)]
struct Raw {
    client: u8,
    gap: u8,
    dur: u8,
    kind: u8,
    key: u8,
    val: u8,
    val2: u8,
    /// Where between call and return it takes effect (of 255).
    at: u8,
    /// 0: never returns, took effect; 1: never returns, no effect; 2: timed out (returns,
    /// outcome unknown), took effect; 3: timed out, no effect; 4: fails (a cas: half the
    /// time rejected before comparing, else completes); else: completes.
    end: u8,
}

fn raw() -> impl Strategy<Value = Raw> {
    (
        (0u8..3, 0u8..3, 0u8..4, 0u8..6),
        (0u8..3, 0u8..5, 0u8..5, any::<u8>(), 0u8..14),
    )
        .prop_map(
            |((client, gap, dur, kind), (key, val, val2, at, end))| Raw {
                client,
                gap,
                dur,
                kind,
                key,
                val,
                val2,
                at,
                end,
            },
        )
}

/// A perturbation of one operation's recorded result: often turns a correct history into a
/// wrong one (or into another correct one).
#[derive(Debug, Clone)]
struct Perturb {
    op: u8,
    how: u8,
}

const REG_VALUES: [&str; 4] = ["1", "2", "3", "4"];
const PUT_VALUES: [&str; 5] = ["", "1", "12", "2", "21"];
const APPEND_VALUES: [&str; 5] = ["1", "2", "12", "", "1"];
/// What a perturbed get claims to have seen: prefixes and extensions of likely values.
const GET_VALUES: [&str; 8] = ["", "1", "12", "2", "21", "121", "11", "212"];
const ACCOUNTS: [&str; 3] = ["a", "b", "c"];

fn mk_input(model: ModelKind, r: &Raw) -> Input {
    let reg = |i: u8| REG_VALUES[i as usize % REG_VALUES.len()].to_string();
    match model {
        ModelKind::Register => match r.kind % 3 {
            0 => Input::Read,
            1 => Input::Write(reg(r.val)),
            _ => Input::Cas {
                from: reg(r.val),
                to: reg(r.val2),
            },
        },
        ModelKind::Kv => match r.kind {
            0 | 1 => Input::Get,
            2 => Input::Put(PUT_VALUES[r.val as usize % PUT_VALUES.len()].to_string()),
            3 | 4 => Input::Append(APPEND_VALUES[r.val as usize % APPEND_VALUES.len()].to_string()),
            _ => Input::Delete,
        },
        ModelKind::Bank => match r.kind % 3 {
            0 => Input::Balances,
            _ => Input::Transfer {
                from: ACCOUNTS[r.val as usize % 3].to_string(),
                to: ACCOUNTS[r.val2 as usize % 3].to_string(),
                amount: i64::from(r.val % 3) + 1,
            },
        },
    }
}

/// Run the operations for real: each takes effect at a point inside its interval, in that
/// order, on a plain sequential model; the recorded results are what that execution saw.
fn build(model: ModelKind, raws: &[Raw], keyed: bool, perturb: Option<&Perturb>) -> History {
    let initial: Option<BTreeMap<String, i64>> = (model == ModelKind::Bank).then(|| {
        [("a", 5), ("b", 5), ("c", 0)]
            .map(|(a, n)| (a.to_string(), n))
            .into()
    });
    // Per lane: its current client id (a new one after an operation that never returned,
    // as Jepsen does) and its clock.
    let mut lanes = [(0u64, 0u64); 3];
    for (i, l) in lanes.iter_mut().enumerate() {
        l.0 = i as u64;
    }
    struct Planned {
        op: Op,
        effect_at: Option<u64>,
    }
    let mut planned = Vec::new();
    for (i, r) in raws.iter().enumerate() {
        let lane = &mut lanes[r.client as usize];
        let call = lane.1 + u64::from(r.gap);
        let ret = call + u64::from(r.dur);
        let input = mk_input(model, r);
        let key = match model {
            ModelKind::Bank => None,
            _ if keyed => Some(["x", "y", "x"][r.key as usize].to_string()),
            _ => None,
        };
        // Fine-grained time: 256 ticks per unit, the index breaking ties.
        let point = |end: u64| (call * 256 + (end - call) * u64::from(r.at)) * 64 + i as u64;
        let (ret, effect_at, outcome) = match r.end {
            0 => (None, Some(point(ret + 3)), Outcome::Unknown),
            1 => (None, None, Outcome::Unknown),
            2 => (Some(ret), Some(point(ret + 3)), Outcome::Unknown),
            3 => (Some(ret), None, Outcome::Unknown),
            4 if !matches!(input, Input::Cas { .. }) => (Some(ret), None, Outcome::Fail),
            4 if r.at % 2 == 0 => (Some(ret), None, Outcome::Rejected),
            _ => (Some(ret), Some(point(ret)), Outcome::Ok(Output::None)),
        };
        match ret {
            Some(r) => lane.1 = r,
            None => {
                lane.0 += 3;
                lane.1 = call + 1;
            }
        }
        planned.push(Planned {
            op: Op {
                id: 0,
                client: lane.0,
                key,
                call,
                ret,
                input,
                outcome,
                line: 0,
                note: None,
            },
            effect_at,
        });
    }
    // The real execution.
    let mut order: Vec<usize> = (0..planned.len())
        .filter(|&i| planned[i].effect_at.is_some())
        .collect();
    order.sort_by_key(|&i| planned[i].effect_at);
    let mut state = initial_state(model, initial.as_ref());
    // Every state the execution went through: a stale read returns one of them.
    let mut past = vec![state.clone()];
    for i in order {
        let op = &mut planned[i].op;
        let completed = matches!(op.outcome, Outcome::Ok(_));
        match &op.input {
            Input::Read | Input::Get | Input::Balances => {
                if completed {
                    op.outcome = Outcome::Ok(observe(model, &state, &op.key));
                }
            }
            Input::Cas { from, to } => {
                if state.get(&op.key) == Some(from) {
                    state.insert(op.key.clone(), to.clone());
                } else if completed {
                    op.outcome = Outcome::Fail;
                }
            }
            _ => state = step(model, &state, op).unwrap(),
        }
        past.push(state.clone());
    }
    let mut ops: Vec<Op> = planned.into_iter().map(|p| p.op).collect();
    if let Some(p) = perturb {
        let how = usize::from(p.how);
        // Mostly a completed read (where anomalies show), else any operation.
        let reads: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].input.is_read() && matches!(ops[i].outcome, Outcome::Ok(_)))
            .collect();
        let target = if how % 4 != 0 && !reads.is_empty() {
            reads[p.op as usize % reads.len()]
        } else {
            p.op as usize % ops.len()
        };
        let op = &mut ops[target];
        let stale = observe(model, &past[(how / 4) % past.len()], &op.key);
        op.outcome = match (&op.input, &op.outcome) {
            (_, Outcome::Ok(seen @ (Output::Value(_) | Output::Balances(_))))
                if how % 3 != 0 && *seen != stale =>
            {
                Outcome::Ok(stale)
            }
            (Input::Read, Outcome::Ok(_)) => Outcome::Ok(Output::Value(
                (how % 5 > 0).then(|| REG_VALUES[how % 4].to_string()),
            )),
            (Input::Get, Outcome::Ok(_)) => Outcome::Ok(Output::Value(Some(
                GET_VALUES[how % GET_VALUES.len()].to_string(),
            ))),
            (Input::Balances, Outcome::Ok(Output::Balances(b))) => {
                let mut b = b.clone();
                let (from, to) = (ACCOUNTS[how % 3], ACCOUNTS[(how / 3) % 3]);
                *b.get_mut(from).unwrap() -= 1;
                if how % 7 != 0 {
                    *b.get_mut(to).unwrap() += 1;
                }
                Outcome::Ok(Output::Balances(b))
            }
            (Input::Cas { .. }, Outcome::Ok(_)) => Outcome::Fail,
            (Input::Cas { .. }, Outcome::Fail) => Outcome::Ok(Output::None),
            (i, o) if i.is_read() => o.clone(),
            // A write reported as failed that did happen, or the other way round.
            (_, Outcome::Fail) => Outcome::Ok(Output::None),
            (Input::Write(_) | Input::Put(_) | Input::Append(_), Outcome::Ok(_)) => Outcome::Fail,
            (_, o) => o.clone(),
        };
    }
    History::in_call_order(ops, true, initial)
}

/// What a read of `key` returns in `state`.
fn observe(model: ModelKind, state: &State, key: &Option<String>) -> Output {
    match model {
        ModelKind::Bank => Output::Balances(
            state
                .iter()
                .map(|(a, v)| (a.clone().unwrap(), v.parse().unwrap()))
                .collect(),
        ),
        ModelKind::Kv => Output::Value(Some(state.get(key).cloned().unwrap_or_default())),
        ModelKind::Register => Output::Value(state.get(key).cloned()),
    }
}

// ------------------------------------------------------------------------ the comparison

fn checker(model: ModelKind, h: &History, partition: bool, threads: Option<usize>) -> Verdict {
    check(
        model,
        h,
        &CheckOptions {
            timeout: None,
            partition,
            threads,
            memory_limit: None,
        },
    )
    .unwrap()
}

/// A violation report must describe a real attempt: the longest prefix replays on the model
/// in real-time order, and the operation that could not be placed is a required one outside it.
fn assert_report_is_sound(model: ModelKind, h: &History, v: &Verdict) -> Result<(), String> {
    let p = v
        .violation()
        .ok_or("not linearizable but no violating partition")?;
    let mut state = initial_state(model, h.initial.as_ref());
    for (pos, &i) in p.longest.iter().enumerate() {
        let op = &h.ops[i];
        if !p.ops.contains(&i) {
            return Err(format!("prefix op #{i} is not in the partition"));
        }
        state = step(model, &state, op)
            .ok_or_else(|| format!("prefix op #{i} does not apply after {pos} ops"))?;
        for &j in &p.ops {
            let before = &h.ops[j];
            if role(before) == Role::Required
                && before.ret.is_some_and(|r| r < op.call)
                && !p.longest[..pos].contains(&j)
            {
                return Err(format!(
                    "prefix op #{i} placed before #{j}, which returned first"
                ));
            }
        }
    }
    if let Some(s) = p.stuck {
        if p.longest.contains(&s) {
            return Err(format!("the stuck op #{s} is in the prefix"));
        }
        if role(&h.ops[s]) != Role::Required {
            return Err(format!("the stuck op #{s} did not have to take effect"));
        }
    }
    Ok(())
}

fn compare(model: ModelKind, h: &History) -> Result<(), TestCaseError> {
    // The oracle checks the history whole: that also tests P-compositionality.
    let expected = Oracle::run(model, &h.ops, initial_state(model, h.initial.as_ref()));
    let expected = if expected {
        Linearizability::Linearizable
    } else {
        Linearizability::NotLinearizable
    };
    for (partition, threads) in [(true, Some(1)), (false, Some(1)), (true, None)] {
        let v = checker(model, h, partition, threads);
        prop_assert_eq!(
            v.result,
            expected,
            "partition {} threads {:?}; history:\n{}",
            partition,
            threads,
            h.ops
                .iter()
                .map(|o| format!("  [{}, {:?}] {}", o.call, o.ret, o.describe()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        if v.result == Linearizability::NotLinearizable {
            assert_report_is_sound(model, h, &v).map_err(TestCaseError::fail)?;
        }
    }
    Ok(())
}

/// `DIFFERENTIAL_CASES` raises the case count for a longer hunt than `make test` affords.
fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("DIFFERENTIAL_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// At most 8 operations by default; `DIFFERENTIAL_OPS` allows longer histories in a hunt.
fn max_ops() -> usize {
    std::env::var("DIFFERENTIAL_OPS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(8)
}

fn history(model: ModelKind) -> impl Strategy<Value = History> {
    (
        prop::collection::vec(raw(), 1..=max_ops()),
        any::<bool>(),
        prop::option::weighted(
            0.75,
            (any::<u8>(), any::<u8>()).prop_map(|(op, how)| Perturb { op, how }),
        ),
    )
        .prop_map(move |(raws, keyed, p)| build(model, &raws, keyed, p.as_ref()))
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn register_agrees_with_the_oracle(h in history(ModelKind::Register)) {
        compare(ModelKind::Register, &h)?;
    }

    #[test]
    fn kv_agrees_with_the_oracle(h in history(ModelKind::Kv)) {
        compare(ModelKind::Kv, &h)?;
    }

    #[test]
    fn bank_agrees_with_the_oracle(h in history(ModelKind::Bank)) {
        compare(ModelKind::Bank, &h)?;
    }
}

/// What suites record and `check-history` reads back must be the same history.
fn round_trip(model: ModelKind, h: &History) -> Result<(), TestCaseError> {
    let mut buf = Vec::new();
    testcar_consistency::format::jsonl::write(h, model, &mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let mut back = testcar_consistency::format::parse(
        &text,
        "h.jsonl",
        testcar_consistency::Format::Jsonl,
        model,
    )
    .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    for o in &mut back.ops {
        o.line = 0;
    }
    prop_assert_eq!(&back, h);
    Ok(())
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn histories_round_trip_through_jsonl(
        (model, h) in prop_oneof![Just(ModelKind::Register), Just(ModelKind::Kv), Just(ModelKind::Bank)]
            .prop_flat_map(|m| history(m).prop_map(move |h| (m, h)))
    ) {
        round_trip(model, &h)?;
    }
}

/// The generator must produce both verdicts in useful proportions, or the comparison above
/// proves little.
#[test]
fn generated_histories_cover_both_verdicts() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    for model in [ModelKind::Register, ModelKind::Kv, ModelKind::Bank] {
        let mut runner = TestRunner::deterministic();
        let strategy = history(model);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..400 {
            let h = strategy.new_tree(&mut runner).unwrap().current();
            if Oracle::run(model, &h.ops, initial_state(model, h.initial.as_ref())) {
                yes += 1;
            } else {
                no += 1;
            }
        }
        eprintln!("{model:?}: {yes} linearizable, {no} not");
        assert!(
            yes >= 80 && no >= 80,
            "{model:?}: {yes} linearizable, {no} not"
        );
    }
}
