//! Unit tests of the search: a small register model, partitions, budgets and the cache.
use super::*;

/// A register of small integers, enough to test the search itself.
struct Reg;
enum RStep {
    Read(u8),
    Write(u8),
}
impl Model for Reg {
    type State = u8;
    type Step = RStep;
    fn init(&self) -> u8 {
        0
    }
    fn apply(&self, s: &u8, step: &RStep) -> Option<u8> {
        match step {
            RStep::Read(v) => (v == s).then_some(*s),
            RStep::Write(v) => Some(*v),
        }
    }
    fn show(&self, s: &u8) -> String {
        s.to_string()
    }
    fn read_only(&self, step: &RStep) -> bool {
        matches!(step, RStep::Read(_))
    }
}

fn mk(op: usize, call: u64, ret: Option<u64>, step: RStep) -> Candidate<RStep> {
    Candidate {
        op,
        call,
        ret,
        step,
    }
}

fn run(c: &[Candidate<RStep>]) -> SearchResult {
    let stop = AtomicBool::new(false);
    search(
        &Reg,
        c,
        &Control {
            deadline: None,
            stop: &stop,
            memory: None,
        },
    )
}

#[test]
fn overlapping_write_and_read_is_linearizable() {
    let h = [
        mk(0, 0, Some(10), RStep::Write(1)),
        mk(1, 1, Some(5), RStep::Read(1)),
    ];
    assert_eq!(run(&h), SearchResult::Linearizable);
}

#[test]
fn stale_read_after_write_is_not() {
    let h = [
        mk(0, 0, Some(1), RStep::Write(1)),
        mk(1, 2, Some(3), RStep::Read(0)),
    ];
    match run(&h) {
        SearchResult::Illegal { longest, stuck, .. } => {
            assert_eq!(longest, vec![0]);
            assert_eq!(stuck, Some(1));
        }
        other => panic!("expected illegal, got {other:?}"),
    }
}

#[test]
fn pending_write_may_or_may_not_take_effect() {
    let took = [
        mk(0, 0, None, RStep::Write(1)),
        mk(1, 2, Some(3), RStep::Read(1)),
    ];
    assert_eq!(run(&took), SearchResult::Linearizable);
    let did_not = [
        mk(0, 0, None, RStep::Write(1)),
        mk(1, 2, Some(3), RStep::Read(0)),
    ];
    assert_eq!(run(&did_not), SearchResult::Linearizable);
    // ... but not before it was called.
    let early = [
        mk(0, 5, None, RStep::Write(1)),
        mk(1, 2, Some(3), RStep::Read(1)),
    ];
    assert!(matches!(run(&early), SearchResult::Illegal { .. }));
}

/// 20 concurrent writes then a read of a value nobody wrote: the search must visit
/// many subsets before giving up, so it polls its stop conditions.
fn hopeless() -> Vec<Candidate<RStep>> {
    let mut h: Vec<_> = (0..20)
        .map(|i| mk(i, i as u64, Some(100), RStep::Write(i as u8 + 1)))
        .collect();
    h.push(mk(20, 200, Some(201), RStep::Read(99)));
    h
}

#[test]
fn stop_flag_cancels_and_deadline_times_out() {
    let stop = AtomicBool::new(true);
    let r = search(
        &Reg,
        &hopeless(),
        &Control {
            deadline: None,
            stop: &stop,
            memory: None,
        },
    );
    assert_eq!(r, SearchResult::Cancelled);
    let go = AtomicBool::new(false);
    let r = search(
        &Reg,
        &hopeless(),
        &Control {
            deadline: Some(Instant::now()),
            stop: &go,
            memory: None,
        },
    );
    assert_eq!(r, SearchResult::Timeout);
}

#[test]
fn memory_budget_stops_the_search_and_is_given_back() {
    let stop = AtomicBool::new(false);
    let budget = MemoryBudget::new(Some(64 << 10));
    let (r, stats) = search_stats(
        &Reg,
        &hopeless(),
        &Control {
            deadline: None,
            stop: &stop,
            memory: Some(&budget),
        },
    );
    assert_eq!(r, SearchResult::OutOfMemory);
    assert!(stats.bytes <= 64 << 10, "{stats:?}");
    assert!(budget.peak() <= 64 << 10);
    assert_eq!(budget.used.load(Ordering::Relaxed), 0, "all given back");
    // Unlimited, the same search decides and says how much it held.
    let unlimited = MemoryBudget::new(None);
    let (r, stats) = search_stats(
        &Reg,
        &hopeless(),
        &Control {
            deadline: None,
            stop: &stop,
            memory: Some(&unlimited),
        },
    );
    assert!(matches!(r, SearchResult::Illegal { .. }), "{r:?}");
    assert!(stats.bytes > 64 << 10 && stats.states > 1000, "{stats:?}");
}

#[test]
fn set_window_tracks_the_full_prefix_and_the_last_word() {
    let mut s = Linearized::new(200);
    for i in 0..70 {
        s.set(i);
    }
    s.set(150);
    assert_eq!((s.lo, s.end), (1, 3));
    assert_eq!(s.window().len(), 2);
    s.clear(150);
    assert_eq!((s.lo, s.end), (1, 2));
    s.clear(3);
    assert_eq!((s.lo, s.end), (0, 2));
}
