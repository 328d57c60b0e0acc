//! Violations found without any search, in linear time, before it starts: a read of a value
//! nothing wrote, a read that returned before every write of its value was even called, a
//! cas that succeeded on such a value. A search would have to exhaust every interleaving to
//! say the same; these take milliseconds and name the operations all the same.

use std::collections::HashMap;

use crate::model::{KvStep, RegisterStep};
use crate::search::{Candidate, Model};

/// A violation proved without search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refutation {
    /// Which rule proved it (`phantom read`, `read from the future`, ...).
    pub rule: &'static str,
    /// The operation that cannot be placed (history index).
    pub stuck: usize,
    /// The operations that wrote its value, all too late (history indices).
    pub writers: Vec<usize>,
    /// Why, for people.
    pub why: String,
}

/// An operation that may set the value: `sure` if it surely took effect (it returned ok).
#[derive(Debug, Clone, Copy)]
struct Write {
    value: u32,
    call: u64,
    ret: Option<u64>,
    sure: bool,
    op: usize,
}

/// An operation that saw the value (a read, a successful cas).
#[derive(Debug, Clone, Copy)]
struct Observe<'a> {
    value: u32,
    call: u64,
    ret: u64,
    op: usize,
    what: &'a str,
}

/// For every write, the earliest time by which some other value surely replaced it: the
/// earliest return of a sure write of another value called after it returned.
fn overwritten_by(writes: &[Write]) -> Vec<Option<(u64, usize)>> {
    // Sure writes by call time, with suffix minima of their returns: the best one and the
    // best one of another value than the best, so any value but one can be answered.
    let mut sure: Vec<&Write> = writes
        .iter()
        .filter(|w| w.sure && w.ret.is_some())
        .collect();
    sure.sort_by_key(|w| w.call);
    type Best = Option<(u64, u32, usize)>;
    let mut suffix: Vec<(Best, Best)> = vec![(None, None); sure.len() + 1];
    for i in (0..sure.len()).rev() {
        let w = sure[i];
        let me = (w.ret.unwrap_or(u64::MAX), w.value, w.op);
        let (b1, b2) = suffix[i + 1];
        suffix[i] = match b1 {
            None => (Some(me), None),
            Some(x) if me.0 < x.0 => (Some(me), if x.1 != me.1 { Some(x) } else { b2 }),
            Some(x) => {
                let b2 = if me.1 != x.1 && b2.is_none_or(|y| me.0 < y.0) {
                    Some(me)
                } else {
                    b2
                };
                (Some(x), b2)
            }
        };
    }
    let first_after = |t: u64| sure.partition_point(|w| w.call <= t);
    let other = |i: usize, value: u32| {
        let (b1, b2) = suffix[i];
        match b1 {
            Some(x) if x.1 != value => Some((x.0, x.2)),
            _ => b2.map(|y| (y.0, y.2)),
        }
    };
    writes
        .iter()
        .map(|w| w.ret.and_then(|r| other(first_after(r), w.value)))
        .collect()
}

/// A write of one value: its call, its operation, and when (and by which operation) it was
/// surely replaced, if ever.
type ValueWrite = (u64, usize, Option<(u64, usize)>);

/// Phantom values, values from the future, and stale values, for one register-like object
/// (`init` is its initial value). Linear after sorting.
fn refute_register(
    writes: &[Write],
    observers: &[Observe<'_>],
    init: u32,
    show: &dyn Fn(u32) -> String,
) -> Option<Refutation> {
    let over = overwritten_by(writes);
    // The initial value, as a write before everything: replaced by any sure write of
    // another value.
    let init_over = writes
        .iter()
        .filter(|w| w.sure && w.value != init)
        .filter_map(|w| w.ret.map(|r| (r, w.op)))
        .min();
    // Per value: its writes by call time, and the running maximum of when they were
    // surely replaced (`None` = maybe never).
    let mut by_value: HashMap<u32, Vec<ValueWrite>> = HashMap::new();
    for (w, o) in writes.iter().zip(&over) {
        by_value
            .entry(w.value)
            .or_default()
            .push((w.call, w.op, *o));
    }
    let mut latest: HashMap<u32, Vec<Option<(u64, usize)>>> = HashMap::new();
    for (v, ws) in by_value.iter_mut() {
        ws.sort_by_key(|w| w.0);
        let mut run: Option<(u64, usize)> = Some((0, usize::MAX));
        latest.insert(
            *v,
            ws.iter()
                .map(|w| {
                    run = match (run, w.2) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                    run
                })
                .collect(),
        );
    }
    for r in observers {
        let ws = by_value.get(&r.value).map(Vec::as_slice).unwrap_or(&[]);
        // Writes that may come before the observer: called before it returned (at the same
        // instant counts as overlapping).
        let k = ws.partition_point(|w| w.0 <= r.ret);
        let shown = show(r.value);
        if r.value != init {
            if ws.is_empty() {
                return Some(Refutation {
                    rule: "phantom value",
                    stuck: r.op,
                    writers: Vec::new(),
                    why: format!(
                        "{} {shown}, a value no operation ever wrote (and not the initial value)",
                        r.what
                    ),
                });
            }
            if k == 0 {
                return Some(Refutation {
                    rule: "value from the future",
                    stuck: r.op,
                    writers: ws.iter().map(|w| w.1).collect(),
                    why: format!(
                        "{} {shown}, but every operation that wrote it was called after it returned",
                        r.what
                    ),
                });
            }
        }
        // Stale: every write of the value that may come first (and the initial value, if
        // it is that) was surely replaced by another value before the observer was called.
        let writes_gone = if k == 0 {
            Some((0, usize::MAX))
        } else {
            latest[&r.value][k - 1]
        };
        let init_gone = if r.value == init {
            init_over
        } else {
            Some((0, usize::MAX))
        };
        if let (Some(a), Some(b)) = (writes_gone, init_gone) {
            let (when, by) = a.max(b);
            if when < r.call {
                return Some(Refutation {
                    rule: "stale value",
                    stuck: r.op,
                    writers: ws[..k].iter().map(|w| w.1).collect(),
                    why: format!(
                        "{} {shown}, but every write of it that could come first was replaced by \
                         another value before it was called (the last replacement, operation {by}, \
                         returned at {when}, before its call at {})",
                        r.what, r.call
                    ),
                });
            }
        }
    }
    None
}

/// A register (one key): phantom, future and stale reads, and successful cas from such
/// values.
pub(crate) fn register<M: Model<Step = RegisterStep, State = u32>>(
    model: &M,
    cands: &[Candidate<RegisterStep>],
) -> Option<Refutation> {
    let mut writes = Vec::new();
    let mut observers = Vec::new();
    for c in cands {
        match c.step {
            RegisterStep::Write(v) => writes.push(Write {
                value: v,
                call: c.call,
                ret: c.ret,
                sure: c.ret.is_some(),
                op: c.op,
            }),
            RegisterStep::Cas {
                from, to, applied, ..
            } if applied != Some(false) => {
                writes.push(Write {
                    value: to,
                    call: c.call,
                    ret: c.ret,
                    sure: applied == Some(true) && c.ret.is_some(),
                    op: c.op,
                });
                if let (Some(true), Some(ret)) = (applied, c.ret) {
                    observers.push(Observe {
                        value: from,
                        call: c.call,
                        ret,
                        op: c.op,
                        what: "cas succeeded on",
                    });
                }
            }
            RegisterStep::Read(v) => {
                if let Some(ret) = c.ret {
                    observers.push(Observe {
                        value: v,
                        call: c.call,
                        ret,
                        op: c.op,
                        what: "read",
                    });
                }
            }
            RegisterStep::Cas { .. } => {}
        }
    }
    refute_register(&writes, &observers, model.init(), &|v| model.show(&v))
}

/// A kv key without appends behaves as a register of puts and deletes: the same rules.
/// With appends a value may be built from pieces, and only the search decides.
pub(crate) fn kv<M: Model<Step = KvStep, State = u32>>(
    model: &M,
    cands: &[Candidate<KvStep>],
) -> Option<Refutation> {
    if cands.iter().any(|c| matches!(c.step, KvStep::Append(_))) {
        return None;
    }
    let mut writes = Vec::new();
    let mut observers = Vec::new();
    for c in cands {
        match c.step {
            KvStep::Put(v) | KvStep::Append(v) => writes.push(Write {
                value: v,
                call: c.call,
                ret: c.ret,
                sure: c.ret.is_some(),
                op: c.op,
            }),
            KvStep::Delete => writes.push(Write {
                value: 0,
                call: c.call,
                ret: c.ret,
                sure: c.ret.is_some(),
                op: c.op,
            }),
            KvStep::Get(v, _) => {
                if let Some(ret) = c.ret {
                    observers.push(Observe {
                        value: v,
                        call: c.call,
                        ret,
                        op: c.op,
                        what: "get",
                    });
                }
            }
        }
    }
    refute_register(&writes, &observers, model.init(), &|v| model.show(&v))
}
