//! Checking a whole history: split it into independent partitions (one per key, by
//! P-compositionality), search them in parallel, stop at the first illegal one, and report
//! the verdict with the longest partial linearization and the operations that did not fit.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::history::{History, Op};
use crate::memory::{proc_status_bytes, search_budget, show_bytes};
use crate::model::{Bank, Keyed, Kv, ModelError, ModelKind, Register};
use crate::refute::{self, Refutation};
use crate::search::{Control, MemoryBudget, Model, SearchResult, Stats, search_stats};

/// The three possible answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Linearizability {
    /// Some total order of the operations respects real time and the model.
    Linearizable,
    /// None does.
    NotLinearizable,
    /// The time or memory budget ran out first (or the partition was not checked because
    /// another one already failed).
    Unknown,
}

impl Linearizability {
    /// `linearizable`, `not linearizable`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Linearizability::Linearizable => "linearizable",
            Linearizability::NotLinearizable => "not linearizable",
            Linearizability::Unknown => "unknown",
        }
    }
}

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Time budget for the whole check; `None` = unlimited.
    pub timeout: Option<Duration>,
    /// Check each key on its own (sound for register and kv; ignored for bank).
    pub partition: bool,
    /// Worker threads; `None` = available parallelism.
    pub threads: Option<usize>,
    /// Memory limit of the whole process in bytes; the search stops with `unknown` before it
    /// would take the process past it. `None` = unlimited. Default: the container's cgroup
    /// limit, when there is one.
    pub memory_limit: Option<u64>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: Some(Duration::from_secs(60)),
            partition: true,
            threads: None,
            memory_limit: crate::memory::cgroup_limit(),
        }
    }
}

/// The verdict of one partition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionVerdict {
    /// The key (`None` for the whole history).
    pub key: Option<String>,
    /// Operations of the partition (history indices), in call order.
    pub ops: Vec<usize>,
    /// Its verdict.
    pub result: Linearizability,
    /// For a violation: the longest linearizable prefix, in linearization order.
    pub longest: Vec<usize>,
    /// For a violation: the operation whose return came before it could be placed.
    pub stuck: Option<usize>,
    /// For a violation: the operations that were open at that point, none of which fit.
    pub candidates: Vec<usize>,
    /// For a violation: the model state after the longest prefix.
    pub state: Option<String>,
    /// Why the result is unknown.
    pub reason: Option<String>,
    /// For a violation proved without search: the rule (`phantom value`, `value from the
    /// future`, `bank total`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refuted: Option<&'static str>,
    /// Search steps taken (candidate tries and backtracks).
    pub steps: u64,
    /// Distinct (linearized set, model state) pairs the search visited and cached.
    pub states: usize,
    /// The most operations the search had linearized at once.
    pub depth: usize,
    /// The most bytes the search's structures held at once.
    pub bytes: u64,
}

/// The verdict of a history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Overall result: not linearizable if one partition is not; unknown if one is unknown.
    pub result: Linearizability,
    /// The model checked.
    pub model: ModelKind,
    /// Number of operations in the history.
    pub operations: usize,
    /// Per partition, in key order.
    pub partitions: Vec<PartitionVerdict>,
    /// Time spent checking.
    #[serde(serialize_with = "ser_ms")]
    pub elapsed: Duration,
    /// The process memory limit the check honoured, in bytes (`None`: unlimited).
    pub memory_limit: Option<u64>,
    /// The most bytes the searches' structures held at once (all partitions together).
    pub memory_peak: u64,
    /// The process's peak resident memory when the check ended, in bytes (Linux only).
    pub rss_peak: Option<u64>,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl Verdict {
    /// The first partition that is not linearizable.
    pub fn violation(&self) -> Option<&PartitionVerdict> {
        self.partitions
            .iter()
            .find(|p| p.result == Linearizability::NotLinearizable)
    }

    /// A multi-line explanation for people.
    pub fn explain(&self, history: &History) -> String {
        let mut out = format!(
            "{}: {} operations, {} model, {} partition{}, checked in {:.1} ms ({} search steps, {} states, search memory peak {}{})",
            self.result.as_str(),
            self.operations,
            self.model.name(),
            self.partitions.len(),
            if self.partitions.len() == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64() * 1000.0,
            self.partitions.iter().map(|p| p.steps).sum::<u64>(),
            self.partitions.iter().map(|p| p.states).sum::<usize>(),
            show_bytes(self.memory_peak),
            self.memory_limit
                .map(|l| format!(" of a {} limit", show_bytes(l)))
                .unwrap_or_default(),
        );
        if let Some(p) = self.violation() {
            let key = p
                .key
                .as_deref()
                .map(|k| format!("key {k:?}"))
                .unwrap_or_else(|| "the history".into());
            if let Some(rule) = p.refuted {
                out.push_str(&format!(
                    "\n{key}: refuted without search ({rule}): {}",
                    p.state.as_deref().unwrap_or("?")
                ));
            } else {
                out.push_str(&format!(
                    "\n{key}: longest linearizable prefix has {} of {} operations; state after it: {}",
                    p.longest.len(),
                    p.ops.len(),
                    p.state.as_deref().unwrap_or("?")
                ));
            }
            if let Some(s) = p.stuck {
                out.push_str(&format!("\ncould not place: {}", history.ops[s].describe()));
            }
            let others: Vec<_> = p
                .candidates
                .iter()
                .filter(|c| Some(**c) != p.stuck)
                .collect();
            if !others.is_empty() {
                out.push_str(if p.refuted.is_some() {
                    "\nthe operations that wrote that value, all too late:"
                } else {
                    "\nnone of the open operations fits either:"
                });
                for c in others.iter().take(10) {
                    out.push_str(&format!("\n  {}", history.ops[**c].describe()));
                }
                if others.len() > 10 {
                    out.push_str(&format!("\n  ... and {} more", others.len() - 10));
                }
            }
            if !p.longest.is_empty() {
                out.push_str("\nlast operations of the longest prefix:");
                let start = p.longest.len().saturating_sub(5);
                for o in &p.longest[start..] {
                    out.push_str(&format!("\n  {}", history.ops[*o].describe()));
                }
            }
        } else if self.result == Linearizability::Unknown {
            if let Some(r) = self.partitions.iter().find_map(|p| p.reason.as_deref()) {
                out.push_str(&format!("\n{r}"));
            }
        }
        out
    }
}

/// Split the history into independent partitions.
fn partitions(
    model: ModelKind,
    history: &History,
    by_key: bool,
) -> Vec<(Option<String>, Vec<&Op>)> {
    if !(by_key && model.partitions_by_key()) {
        return vec![(None, history.ops.iter().collect())];
    }
    let mut map: BTreeMap<Option<&str>, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        map.entry(op.key.as_deref()).or_default().push(op);
    }
    map.into_iter()
        .map(|(k, v)| (k.map(str::to_string), v))
        .collect()
}

fn run_search<M: Model>(
    model: &M,
    cands: &[crate::search::Candidate<M::Step>],
    ctl: &Control<'_>,
) -> PartitionRun {
    let (r, stats) = search_stats(model, cands, ctl);
    (r, stats, None)
}

/// A violation proved without search, as the search would report it.
fn refuted(r: Refutation) -> PartitionRun {
    (
        SearchResult::Illegal {
            longest: Vec::new(),
            stuck: Some(r.stuck),
            candidates: r.writers,
            state: r.why,
        },
        Stats::default(),
        Some(r.rule),
    )
}

/// The search's answer, its work, and the refutation rule if no search was needed.
type PartitionRun = (SearchResult, Stats, Option<&'static str>);

/// What checking one partition gave.
type PartitionOutcome = Result<PartitionRun, ModelError>;

fn check_partition(
    model: ModelKind,
    history: &History,
    ops: &[&Op],
    ctl: &Control<'_>,
) -> PartitionOutcome {
    let many_keys = ops.iter().any(|o| o.key != ops[0].key);
    if many_keys && model != ModelKind::Bank {
        // Refute key by key first: a violation on one key is one for the whole.
        let mut by_key: BTreeMap<Option<&str>, Vec<&Op>> = BTreeMap::new();
        for op in ops {
            by_key.entry(op.key.as_deref()).or_default().push(op);
        }
        for key_ops in by_key.values() {
            let found = match model {
                ModelKind::Register => {
                    let (m, c) = Register::compile(key_ops)?;
                    refute::register(&m, &c)
                }
                _ => {
                    let (m, c) = Kv::compile(key_ops)?;
                    refute::kv(&m, &c)
                }
            };
            if let Some(r) = found {
                return Ok(refuted(r));
            }
        }
    }
    Ok(match model {
        ModelKind::Register if many_keys => {
            let (m, c) = Keyed::compile(ops, Register::compile)?;
            run_search(&m, &c, ctl)
        }
        ModelKind::Register => {
            let (m, c) = Register::compile(ops)?;
            match refute::register(&m, &c) {
                Some(r) => refuted(r),
                None => run_search(&m, &c, ctl),
            }
        }
        ModelKind::Kv if many_keys => {
            let (m, c) = Keyed::compile(ops, Kv::compile)?;
            run_search(&m, &c, ctl)
        }
        ModelKind::Kv => {
            let (m, c) = Kv::compile(ops)?;
            match refute::kv(&m, &c) {
                Some(r) => refuted(r),
                None => run_search(&m, &c, ctl),
            }
        }
        ModelKind::Bank => {
            let (m, c) = Bank::compile(ops, history.initial.as_ref())?;
            // A read whose balances do not add up to the total is wrong in any order.
            if let Some(bad) = ops.iter().find_map(|o| match &o.outcome {
                crate::history::Outcome::Ok(crate::history::Output::Balances(b))
                    if b.values().sum::<i64>() != m.total() =>
                {
                    Some((o.id, b.values().sum::<i64>()))
                }
                _ => None,
            }) {
                return Ok(refuted(Refutation {
                    rule: "bank total",
                    stuck: bad.0,
                    writers: Vec::new(),
                    why: format!("the total is {} but this read sums to {}", m.total(), bad.1),
                }));
            }
            run_search(&m, &c, ctl)
        }
    })
}

/// Check `history` against `model`.
pub fn check(
    model: ModelKind,
    history: &History,
    opts: &CheckOptions,
) -> Result<Verdict, ModelError> {
    let started = Instant::now();
    let deadline = opts.timeout.map(|t| started + t);
    let budget = MemoryBudget::new(
        opts.memory_limit
            .map(|l| search_budget(l, proc_status_bytes("VmRSS").unwrap_or(0))),
    );
    let parts = partitions(model, history, opts.partition);
    // Biggest first, so that one long partition does not start last.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(parts[i].1.len()));
    let stop = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<PartitionOutcome>>> = Mutex::new(vec![None; parts.len()]);
    let threads = opts
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, parts.len().max(1));
    let worker = || {
        let ctl = Control {
            deadline,
            stop: &stop,
            memory: Some(&budget),
        };
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(k) else { break };
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let r = check_partition(model, history, &parts[i].1, &ctl);
            if matches!(r, Err(_) | Ok((SearchResult::Illegal { .. }, _, _))) {
                stop.store(true, Ordering::Relaxed);
            }
            results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
        }
    };
    if threads == 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(worker);
            }
        });
    }
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut verdicts = Vec::with_capacity(parts.len());
    for ((key, ops), r) in parts.into_iter().zip(results) {
        let mut v = PartitionVerdict {
            key,
            ops: ops.iter().map(|o| o.id).collect(),
            result: Linearizability::Unknown,
            longest: Vec::new(),
            stuck: None,
            candidates: Vec::new(),
            state: None,
            reason: None,
            refuted: None,
            steps: 0,
            states: 0,
            depth: 0,
            bytes: 0,
        };
        let r = r.transpose()?;
        let mut total = 0;
        if let Some((_, stats, rule)) = &r {
            v.steps = stats.steps;
            v.states = stats.states;
            v.depth = stats.depth;
            v.bytes = stats.bytes;
            v.refuted = *rule;
            total = stats.depth;
        }
        match r.map(|(r, _, _)| r) {
            Some(SearchResult::Linearizable) => v.result = Linearizability::Linearizable,
            Some(SearchResult::Illegal {
                longest,
                stuck,
                candidates,
                state,
            }) => {
                v.result = Linearizability::NotLinearizable;
                v.longest = longest;
                v.stuck = stuck;
                v.candidates = candidates;
                v.state = Some(state);
            }
            Some(SearchResult::Timeout) => {
                v.reason = Some(format!(
                    "the time budget of {} ran out before this partition was decided",
                    humantime::format_duration(opts.timeout.unwrap_or_default())
                ))
            }
            Some(SearchResult::OutOfMemory) => {
                v.reason = Some(format!(
                    "the memory budget ran out before this partition was decided: the process \
                     may use {} ({} of it for the search, the rest is the process itself and a \
                     margin); the search held {} in {} states after {} steps, with at most {} of \
                     its {} operations linearized at once",
                    opts.memory_limit.map(show_bytes).unwrap_or_default(),
                    show_bytes(budget.limit()),
                    show_bytes(v.bytes),
                    v.states,
                    v.steps,
                    total,
                    v.ops.len()
                ))
            }
            Some(SearchResult::Cancelled) | None => {
                v.reason =
                    Some("not checked: another partition was already found not linearizable".into())
            }
        }
        verdicts.push(v);
    }
    let result = if verdicts
        .iter()
        .any(|p| p.result == Linearizability::NotLinearizable)
    {
        Linearizability::NotLinearizable
    } else if verdicts
        .iter()
        .any(|p| p.result == Linearizability::Unknown)
    {
        Linearizability::Unknown
    } else {
        Linearizability::Linearizable
    };
    Ok(Verdict {
        result,
        model,
        operations: history.ops.len(),
        partitions: verdicts,
        elapsed: started.elapsed(),
        memory_limit: opts.memory_limit,
        memory_peak: budget.peak(),
        rss_peak: proc_status_bytes("VmHWM"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Input, Outcome, Output};

    fn mk_op(
        client: u64,
        key: &str,
        (call, ret): (u64, u64),
        input: Input,
        outcome: Outcome,
    ) -> Op {
        Op {
            id: 0,
            client,
            key: Some(key.to_string()),
            call,
            ret: Some(ret),
            input,
            outcome,
            line: 0,
            note: None,
        }
    }

    fn mk_history(ops: Vec<Op>) -> History {
        History::in_call_order(ops, true, None)
    }

    fn read(v: &str) -> Outcome {
        Outcome::Ok(Output::Value(Some(v.to_string())))
    }

    const OK: Outcome = Outcome::Ok(Output::None);

    /// 24 concurrent writes, then reads of two different values one after the other:
    /// illegal, but only after trying every subset of the writes (every value read was
    /// written in time, so no refutation applies).
    fn hopeless(key: &str, client0: u64) -> Vec<Op> {
        let mut ops: Vec<Op> = (0..24)
            .map(|c| mk_op(client0 + c, key, (c, 100), Input::Write(c.to_string()), OK))
            .collect();
        ops.push(mk_op(client0 + 99, key, (200, 201), Input::Read, read("0")));
        ops.push(mk_op(client0 + 99, key, (202, 203), Input::Read, read("1")));
        ops
    }

    fn stale_read(key: &str) -> Vec<Op> {
        vec![
            mk_op(0, key, (0, 10), Input::Write("1".into()), OK),
            mk_op(1, key, (20, 30), Input::Write("2".into()), OK),
            mk_op(2, key, (40, 50), Input::Read, read("1")),
            mk_op(0, key, (35, 60), Input::Read, read("2")),
        ]
    }

    #[test]
    fn stale_read_is_refuted_without_search_and_the_search_agrees() {
        let h = mk_history(stale_read("x"));
        let v = check(ModelKind::Register, &h, &CheckOptions::default()).unwrap();
        assert_eq!(v.result, Linearizability::NotLinearizable);
        let p = v.violation().unwrap();
        // The read of 1 was called after write 2 replaced write 1: refuted without search,
        // naming the read and the write of its value.
        assert_eq!(h.ops[3].describe(), "#3 client 2 read \"x\" → \"1\"");
        assert_eq!(p.refuted, Some("stale value"));
        assert_eq!(p.stuck, Some(3));
        assert_eq!(p.candidates, vec![0]);
        assert_eq!(p.steps, 0, "no search");
        let text = v.explain(&h);
        assert!(
            text.contains("key \"x\": refuted without search (stale value): read \"1\""),
            "{text}"
        );
        assert!(
            text.contains("could not place: #3 client 2 read \"x\" → \"1\""),
            "{text}"
        );
        assert!(
            text.contains("the operations that wrote that value, all too late:\n  #0 client 0 write \"x\" \"1\""),
            "{text}"
        );
        // The search alone says the same, with the longest prefix: write 1, write 2, the
        // overlapping read of 2; then the read of 1 has nowhere to go.
        let stop = AtomicBool::new(false);
        let ops: Vec<&Op> = h.ops.iter().collect();
        let (m, c) = Register::compile(&ops).unwrap();
        let ctl = Control {
            deadline: None,
            stop: &stop,
            memory: None,
        };
        match search_stats(&m, &c, &ctl).0 {
            SearchResult::Illegal { longest, stuck, .. } => {
                assert_eq!(longest, vec![0, 1, 2]);
                assert_eq!(stuck, Some(3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn violation_report_lists_the_open_operations_that_did_not_fit_either() {
        // Two overlapping reads of different values after the writes: whichever write goes
        // last, one of them cannot fit (and no rule refutes it without search: both values
        // were written in time and never surely replaced).
        let h = mk_history(vec![
            mk_op(0, "x", (0, 12), Input::Write("5".into()), OK),
            mk_op(1, "x", (1, 12), Input::Write("6".into()), OK),
            mk_op(2, "x", (20, 40), Input::Read, read("5")),
            mk_op(3, "x", (25, 30), Input::Read, read("6")),
        ]);
        let v = check(ModelKind::Register, &h, &CheckOptions::default()).unwrap();
        let p = v.violation().unwrap();
        assert_eq!(p.refuted, None);
        // Both writes and one read fit; the other read cannot be placed.
        assert_eq!(p.longest.len(), 3, "{p:?}");
        let stuck = p.stuck.unwrap();
        assert!(stuck == 2 || stuck == 3, "{p:?}");
        assert!(
            !p.longest.contains(&stuck) && p.candidates.contains(&stuck),
            "{p:?}"
        );
        let text = v.explain(&h);
        assert!(
            text.contains(&format!("could not place: {}", h.ops[stuck].describe())),
            "{text}"
        );
    }

    #[test]
    fn spent_time_budget_is_unknown_and_says_so() {
        let mut ops = hopeless("slow", 100);
        ops.push(mk_op(0, "fine", (0, 1), Input::Write("1".into()), OK));
        ops.push(mk_op(1, "fine", (2, 3), Input::Read, read("1")));
        let h = mk_history(ops);
        let v = check(
            ModelKind::Register,
            &h,
            &CheckOptions {
                timeout: Some(Duration::from_millis(1)),
                threads: Some(1),
                ..CheckOptions::default()
            },
        )
        .unwrap();
        assert_eq!(v.result, Linearizability::Unknown);
        assert!(v.violation().is_none());
        let slow = &v.partitions[1];
        assert_eq!(slow.key.as_deref(), Some("slow"));
        assert_eq!(slow.result, Linearizability::Unknown);
        assert!(slow.steps > 0);
        let text = v.explain(&h);
        assert!(text.starts_with("unknown: 28 operations"), "{text}");
        assert!(
            text.contains("the time budget of 1ms ran out before this partition was decided"),
            "{text}"
        );
    }
}
