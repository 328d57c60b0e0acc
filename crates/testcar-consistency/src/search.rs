//! Wing & Gong's linearizability search with Lowe's memoization: walk the history's call and
//! return events as a linked list, linearize calls one by one, backtrack at a return whose
//! call is not yet linearized, and never revisit a (linearized set, model state) pair.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A sequential specification the search checks against.
pub(crate) trait Model {
    /// Model state; compared and hashed for the cache.
    type State: Clone + Eq + Hash;
    /// One operation, input and output together.
    type Step;
    /// The state before any operation.
    fn init(&self) -> Self::State;
    /// The state after `step`, or `None` if `step` cannot happen in `state` (e.g. a read
    /// that saw another value).
    fn apply(&self, state: &Self::State, step: &Self::Step) -> Option<Self::State>;
    /// The state for people.
    fn show(&self, state: &Self::State) -> String;
    /// Whether `step` never changes the state (reads, failed compare-and-sets).
    fn read_only(&self, step: &Self::Step) -> bool;
    /// Whether the read-only `step` can never become applicable from `state`, whatever
    /// of the operations not yet linearized (`linearized(i)` is false) come next. Lets the
    /// search abandon a branch early; the default never does.
    fn dead(
        &self,
        _state: &Self::State,
        _step: &Self::Step,
        _linearized: &dyn Fn(usize) -> bool,
    ) -> bool {
        false
    }
}

/// One operation as the search sees it.
#[derive(Debug)]
pub(crate) struct Candidate<S> {
    /// Index of the operation in the history.
    pub op: usize,
    pub call: u64,
    /// `None`: never returned (or outcome unknown); it may be linearized anywhere after its
    /// call, or not at all.
    pub ret: Option<u64>,
    pub step: S,
}

/// Why a search stopped early, or what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SearchResult {
    Linearizable,
    Illegal {
        /// Longest linearizable prefix found, as history operation indices.
        longest: Vec<usize>,
        /// The operation that had to be placed next (its return came) but could not be.
        stuck: Option<usize>,
        /// Operations that were candidates at that point and none of which fit.
        candidates: Vec<usize>,
        /// Model state after the longest prefix.
        state: String,
    },
    /// The deadline passed.
    Timeout,
    /// Another partition was found illegal first.
    Cancelled,
}

/// How much work a search did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Loop iterations (candidate tries, backtracks).
    pub steps: u64,
    /// Distinct (linearized set, state) pairs visited.
    pub states: usize,
}

/// Stop conditions shared by the partitions of one check.
#[derive(Debug)]
pub(crate) struct Control<'a> {
    pub deadline: Option<Instant>,
    pub stop: &'a AtomicBool,
}

/// FxHash: the cache is hit on every step, and its keys are not attacker-chosen.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// For maps keyed by a hash that is already well mixed.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// splitmix64: a fixed random word per operation for Zobrist hashing of the linearized set.
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Lowe's cache of visited (linearized set, state) pairs. Sets live in one flat arena and
/// are found by a Zobrist hash kept up to date as operations are linearized and undone, so
/// a lookup allocates nothing.
struct Cache<S> {
    heads: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    /// Per entry: the next entry with the same hash, and the state.
    entries: Vec<(u32, S)>,
    sets: Vec<u64>,
    words: usize,
}

impl<S: Eq> Cache<S> {
    fn new(words: usize) -> Self {
        Cache {
            heads: HashMap::default(),
            entries: Vec::new(),
            sets: Vec::new(),
            words,
        }
    }

    /// Record the pair; `false` if it was already there.
    #[inline]
    fn insert(&mut self, hash: u64, set: &[u64], state: &S) -> bool
    where
        S: Clone,
    {
        let new = self.entries.len() as u32;
        let w = self.words;
        match self.heads.entry(hash) {
            Entry::Occupied(mut head) => {
                let mut i = *head.get();
                while i != NONE {
                    let (next, s) = &self.entries[i as usize];
                    if s == state && &self.sets[i as usize * w..(i as usize + 1) * w] == set {
                        return false;
                    }
                    i = *next;
                }
                self.entries.push((*head.get(), state.clone()));
                head.insert(new);
            }
            Entry::Vacant(v) => {
                self.entries.push((NONE, state.clone()));
                v.insert(new);
            }
        }
        self.sets.extend_from_slice(set);
        true
    }
}

const NONE: u32 = u32::MAX;

/// The event list: node 0 is the head sentinel, then one node per call/return event.
struct Events {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Candidate index of each node.
    cand: Vec<u32>,
    is_call: Vec<bool>,
    /// For a call node, its return node (or NONE).
    matching: Vec<u32>,
}

impl Events {
    fn build<S>(cands: &[Candidate<S>]) -> Events {
        let mut evs: Vec<(u64, bool, u32)> = Vec::with_capacity(cands.len() * 2);
        for (i, c) in cands.iter().enumerate() {
            evs.push((c.call, true, i as u32));
            if let Some(r) = c.ret {
                evs.push((r, false, i as u32));
            }
        }
        // Calls before returns at equal times: simultaneous events count as overlapping.
        evs.sort_by_key(|&(t, call, i)| (t, !call, i));
        let n = evs.len() + 1;
        let mut e = Events {
            next: vec![NONE; n],
            prev: vec![NONE; n],
            cand: vec![NONE; n],
            is_call: vec![false; n],
            matching: vec![NONE; n],
        };
        let mut call_node = vec![NONE; cands.len()];
        for (k, &(_, call, i)) in evs.iter().enumerate() {
            let node = k + 1;
            e.cand[node] = i;
            e.is_call[node] = call;
            if call {
                call_node[i as usize] = node as u32;
            } else {
                e.matching[call_node[i as usize] as usize] = node as u32;
            }
        }
        for node in 0..n {
            e.next[node] = if node + 1 < n {
                (node + 1) as u32
            } else {
                NONE
            };
            e.prev[node] = if node > 0 { (node - 1) as u32 } else { NONE };
        }
        e
    }

    #[inline]
    fn unlink(&mut self, n: u32) {
        let (p, x) = (self.prev[n as usize], self.next[n as usize]);
        self.next[p as usize] = x;
        if x != NONE {
            self.prev[x as usize] = p;
        }
    }

    #[inline]
    fn relink(&mut self, n: u32) {
        let (p, x) = (self.prev[n as usize], self.next[n as usize]);
        self.next[p as usize] = n;
        if x != NONE {
            self.prev[x as usize] = n;
        }
    }

    /// Take a call (and its return) out of the list: it is linearized.
    #[inline]
    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let r = self.matching[call as usize];
        if r != NONE {
            self.unlink(r);
        }
    }

    /// Undo [`Events::lift`] (dancing links: strictly in reverse order).
    #[inline]
    fn unlift(&mut self, call: u32) {
        let r = self.matching[call as usize];
        if r != NONE {
            self.relink(r);
        }
        self.relink(call);
    }
}

#[cfg(test)]
/// Run the search over one partition.
///
/// On top of Wing & Gong and Lowe: when a read-only operation (a read, a failed cas) can be
/// linearized next, it is, and no alternative is tried at that point. Moving such an
/// operation earlier in any valid linearization keeps it valid (it changes no state, and
/// nothing still open had to precede it), so if that branch fails the configuration fails.
pub(crate) fn search<M: Model>(
    model: &M,
    cands: &[Candidate<M::Step>],
    ctl: &Control<'_>,
) -> SearchResult {
    search_stats(model, cands, ctl).0
}

/// [`search`], also saying how much work it took.
pub(crate) fn search_stats<M: Model>(
    model: &M,
    cands: &[Candidate<M::Step>],
    ctl: &Control<'_>,
) -> (SearchResult, Stats) {
    let mut stats = Stats::default();
    let r = search_inner(model, cands, ctl, &mut stats);
    (r, stats)
}

fn search_inner<M: Model>(
    model: &M,
    cands: &[Candidate<M::Step>],
    ctl: &Control<'_>,
    stats: &mut Stats,
) -> SearchResult {
    let required = cands.iter().filter(|c| c.ret.is_some()).count();
    if required == 0 {
        return SearchResult::Linearizable;
    }
    let mut ev = Events::build(cands);
    let words = cands.len().div_ceil(64);
    let mut bits = vec![0u64; words];
    let mut cache: Cache<M::State> = Cache::new(words);
    let zob: Vec<u64> = (0..cands.len()).map(zobrist).collect();
    let mut set_hash = 0u64;
    let mut state = model.init();
    // (call node, state before it, whether it was forced)
    let mut stack: Vec<(u32, M::State, bool)> = Vec::new();
    let mut done = 0usize;
    let mut best: Option<(usize, SearchResult)> = None;
    let mut cur = ev.next[0];
    let mut fresh = true;
    let mut iterations: u64 = 0;
    let key_of = |set_hash: u64, state: &M::State| {
        let mut h = FxHasher::default();
        state.hash(&mut h);
        set_hash ^ h.finish().rotate_left(17)
    };
    loop {
        iterations += 1;
        stats.steps = iterations;
        stats.states = cache.entries.len();
        if iterations & 0x3ff == 0 {
            if ctl.stop.load(Ordering::Relaxed) {
                return SearchResult::Cancelled;
            }
            if ctl.deadline.is_some_and(|d| Instant::now() >= d) {
                return SearchResult::Timeout;
            }
        }
        let mut backtrack = false;
        if fresh {
            fresh = false;
            let mut n = ev.next[0];
            let mut forced = None;
            let mut doomed = false;
            while n != NONE && ev.is_call[n as usize] {
                let ci = ev.cand[n as usize] as usize;
                if model.read_only(&cands[ci].step) {
                    if let Some(next_state) = model.apply(&state, &cands[ci].step) {
                        forced = Some((n, ci, next_state));
                        break;
                    }
                    if cands[ci].ret.is_some()
                        && model.dead(&state, &cands[ci].step, &|i| {
                            bits[i / 64] & (1u64 << (i % 64)) != 0
                        })
                    {
                        doomed = true;
                        break;
                    }
                }
                n = ev.next[n as usize];
            }
            if doomed {
                backtrack = true;
            } else if let Some((n, ci, next_state)) = forced {
                bits[ci / 64] |= 1u64 << (ci % 64);
                if cache.insert(key_of(set_hash ^ zob[ci], &next_state), &bits, &next_state) {
                    set_hash ^= zob[ci];
                    let prev_state = std::mem::replace(&mut state, next_state);
                    stack.push((n, prev_state, true));
                    ev.lift(n);
                    if cands[ci].ret.is_some() {
                        done += 1;
                        if done == required {
                            return SearchResult::Linearizable;
                        }
                    }
                    fresh = true;
                    continue;
                }
                bits[ci / 64] &= !(1u64 << (ci % 64));
                backtrack = true;
            } else {
                cur = ev.next[0];
            }
        }
        if backtrack {
            // handled below
        } else if cur == NONE {
            backtrack = true;
        } else if ev.is_call[cur as usize] {
            let ci = ev.cand[cur as usize] as usize;
            let mut advanced = false;
            if let Some(next_state) = model.apply(&state, &cands[ci].step) {
                let (w, b) = (ci / 64, 1u64 << (ci % 64));
                bits[w] |= b;
                if cache.insert(key_of(set_hash ^ zob[ci], &next_state), &bits, &next_state) {
                    set_hash ^= zob[ci];
                    let prev_state = std::mem::replace(&mut state, next_state);
                    stack.push((cur, prev_state, false));
                    ev.lift(cur);
                    if cands[ci].ret.is_some() {
                        done += 1;
                        if done == required {
                            return SearchResult::Linearizable;
                        }
                    }
                    fresh = true;
                    advanced = true;
                } else {
                    bits[w] &= !b;
                }
            }
            if !advanced {
                cur = ev.next[cur as usize];
            }
        } else {
            // A return whose call is still in the list: that operation must have taken
            // effect by now and could not be placed.
            if best.as_ref().is_none_or(|(depth, _)| stack.len() > *depth) {
                let mut candidates = Vec::new();
                let mut n = ev.next[0];
                while n != NONE && n != cur {
                    if ev.is_call[n as usize] {
                        candidates.push(cands[ev.cand[n as usize] as usize].op);
                    }
                    n = ev.next[n as usize];
                }
                best = Some((
                    stack.len(),
                    SearchResult::Illegal {
                        longest: stack
                            .iter()
                            .map(|(n, _, _)| cands[ev.cand[*n as usize] as usize].op)
                            .collect(),
                        stuck: Some(cands[ev.cand[cur as usize] as usize].op),
                        candidates,
                        state: model.show(&state),
                    },
                ));
            }
            backtrack = true;
        }
        while backtrack {
            let Some((node, prev_state, forced)) = stack.pop() else {
                return best.map(|(_, r)| r).unwrap_or(SearchResult::Illegal {
                    longest: Vec::new(),
                    stuck: None,
                    candidates: Vec::new(),
                    state: model.show(&model.init()),
                });
            };
            let ci = ev.cand[node as usize] as usize;
            bits[ci / 64] &= !(1u64 << (ci % 64));
            set_hash ^= zob[ci];
            if cands[ci].ret.is_some() {
                done -= 1;
            }
            state = prev_state;
            ev.unlift(node);
            // A forced read failed: so does the configuration it was forced in.
            backtrack = forced;
            cur = ev.next[node as usize];
        }
    }
}

#[cfg(test)]
mod tests {
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
            },
        );
        assert_eq!(r, SearchResult::Timeout);
    }
}
