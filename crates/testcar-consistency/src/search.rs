//! Wing & Gong's linearizability search with Lowe's memoization: walk the history's call and
//! return events as a linked list, linearize calls one by one, backtrack at a return whose
//! call is not yet linearized, and never revisit a (linearized set, model state) pair.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Steps with the same class have the same effect on every state (two writes of one
    /// value): among open operations of one class the search only tries the one that must
    /// return first, since exchanging them turns any linearization into one that does.
    /// `None`: no such twin. Classes must be exact, never merely likely.
    fn class(&self, _step: &Self::Step) -> Option<u64> {
        None
    }
    /// Heap bytes a state holds beyond its own size (for the memory budget).
    fn state_heap(&self, _state: &Self::State) -> usize {
        0
    }
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
    /// Going on would take more memory than the budget allows.
    OutOfMemory,
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
    /// The most operations linearized at once (how far the search got).
    pub depth: usize,
    /// The most bytes the search's own structures held at once.
    pub bytes: u64,
}

/// Stop conditions shared by the partitions of one check.
#[derive(Debug)]
pub(crate) struct Control<'a> {
    pub deadline: Option<Instant>,
    pub stop: &'a AtomicBool,
    /// Shared memory budget; `None`: unlimited.
    pub memory: Option<&'a MemoryBudget>,
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

/// splitmix64: a fixed random word per operation for Zobrist hashing of the linearized set.
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The linearized set as a bitset that also knows its first word that is not all ones
/// (`lo`) and the end of its last non-zero word (`end`): the cache keeps only the words in
/// between, a window about as wide as the history's concurrency, not the whole history.
struct Linearized {
    bits: Vec<u64>,
    lo: usize,
    end: usize,
}

impl Linearized {
    fn new(n: usize) -> Self {
        Linearized {
            bits: vec![0; n.div_ceil(64)],
            lo: 0,
            end: 0,
        }
    }

    #[inline]
    fn contains(&self, i: usize) -> bool {
        self.bits[i / 64] & (1u64 << (i % 64)) != 0
    }

    #[inline]
    fn set(&mut self, i: usize) {
        let w = i / 64;
        self.bits[w] |= 1u64 << (i % 64);
        self.end = self.end.max(w + 1);
        while self.lo < self.bits.len() && self.bits[self.lo] == u64::MAX {
            self.lo += 1;
        }
    }

    #[inline]
    fn clear(&mut self, i: usize) {
        let w = i / 64;
        self.bits[w] &= !(1u64 << (i % 64));
        self.lo = self.lo.min(w);
        while self.end > 0 && self.bits[self.end - 1] == 0 {
            self.end -= 1;
        }
    }

    #[inline]
    fn window(&self) -> &[u64] {
        &self.bits[self.lo..self.end.max(self.lo)]
    }
}

/// Memory shared by the searches of one check: what they hold, the most they held, and the
/// most they may hold (`u64::MAX`: no limit, only measured).
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
    peak: AtomicU64,
}

impl MemoryBudget {
    pub(crate) fn new(limit: Option<u64>) -> Self {
        MemoryBudget {
            limit: limit.unwrap_or(u64::MAX),
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    /// The most the searches may hold.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// The most bytes held at once so far.
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: u64) -> bool {
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.limit {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        self.peak.fetch_max(before + bytes, Ordering::Relaxed);
        true
    }

    fn give(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// One search's account with the shared budget: it reserves in chunks so that the shared
/// counter is touched rarely, and gives everything back when the search ends.
struct Meter<'a> {
    budget: &'a MemoryBudget,
    reserved: u64,
    used: u64,
    peak: u64,
}

const CHUNK: u64 = 1 << 20;

impl<'a> Meter<'a> {
    fn new(budget: &'a MemoryBudget) -> Self {
        Meter {
            budget,
            reserved: 0,
            used: 0,
            peak: 0,
        }
    }

    /// Account for `bytes` more; `false` (and nothing accounted) if over the budget.
    #[inline]
    fn need(&mut self, bytes: usize) -> bool {
        let want = self.used + bytes as u64;
        if want > self.reserved {
            let more = (want - self.reserved).max(CHUNK);
            if !self.budget.take(more) {
                // Maybe the last whole chunk does not fit but the bytes do.
                if !self.budget.take(want - self.reserved) {
                    return false;
                }
                self.reserved = want;
            } else {
                self.reserved += more;
            }
        }
        self.used = want;
        self.peak = self.peak.max(want);
        true
    }

    #[inline]
    fn free(&mut self, bytes: usize) {
        self.used -= bytes as u64;
    }
}

impl Drop for Meter<'_> {
    fn drop(&mut self) {
        self.budget.give(self.reserved);
    }
}

/// A cached pair: the hash, the window of the linearized set (`off`/`len` in the arena,
/// starting at word `lo`), and the state.
struct Entry<S> {
    hash: u64,
    lo: u32,
    off: u32,
    len: u32,
    state: S,
}

/// Lowe's cache of visited (linearized set, state) pairs: an open-addressing table of entry
/// indices over entries whose set windows live in one flat arena. Every allocation is
/// accounted with the [`Meter`] before it is made, so the search stops before it would
/// exceed its memory budget instead of being killed.
struct Cache<S> {
    table: Vec<u32>,
    entries: Vec<Entry<S>>,
    sets: Vec<u64>,
}

/// The cache would need more memory than the budget allows.
struct OutOfMemory;

/// Make room for `extra` more elements in `v`, accounting the new allocation first (the old
/// one is still held while the new one is filled).
fn reserve<T>(v: &mut Vec<T>, extra: usize, meter: &mut Meter<'_>) -> Result<(), OutOfMemory> {
    if v.len() + extra <= v.capacity() {
        return Ok(());
    }
    let old = v.capacity();
    let new = (old * 2).max(v.len() + extra).max(1024);
    let size = std::mem::size_of::<T>();
    if !meter.need(new * size) {
        return Err(OutOfMemory);
    }
    v.reserve_exact(new - v.len());
    meter.free(old * size);
    // reserve_exact may round up; account what was really allocated.
    let got = v.capacity();
    if got > new && !meter.need((got - new) * size) {
        return Err(OutOfMemory);
    }
    Ok(())
}

impl<S: Eq> Cache<S> {
    fn new() -> Self {
        Cache {
            table: Vec::new(),
            entries: Vec::new(),
            sets: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Record the pair; `Ok(false)` if it was already there.
    #[inline]
    fn insert(
        &mut self,
        hash: u64,
        set: &Linearized,
        state: &S,
        state_heap: usize,
        meter: &mut Meter<'_>,
    ) -> Result<bool, OutOfMemory>
    where
        S: Clone,
    {
        let window = set.window();
        if self.table.is_empty() {
            self.grow_table(meter)?;
        }
        let mask = self.table.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let e = self.table[i];
            if e == NONE {
                break;
            }
            let x = &self.entries[e as usize];
            if x.hash == hash
                && x.lo as usize == set.lo
                && x.len as usize == window.len()
                && x.state == *state
                && &self.sets[x.off as usize..x.off as usize + window.len()] == window
            {
                return Ok(false);
            }
            i = (i + 1) & mask;
        }
        reserve(&mut self.entries, 1, meter)?;
        reserve(&mut self.sets, window.len(), meter)?;
        if state_heap > 0 && !meter.need(state_heap) {
            return Err(OutOfMemory);
        }
        let idx = self.entries.len() as u32;
        self.entries.push(Entry {
            hash,
            lo: set.lo as u32,
            off: self.sets.len() as u32,
            len: window.len() as u32,
            state: state.clone(),
        });
        self.sets.extend_from_slice(window);
        self.table[i] = idx;
        if self.entries.len() * 2 > self.table.len() {
            self.grow_table(meter)?;
        }
        Ok(true)
    }

    /// Double the table (at most half full) and re-place every entry.
    fn grow_table(&mut self, meter: &mut Meter<'_>) -> Result<(), OutOfMemory> {
        let old = self.table.len();
        let new = (old * 2).max(4096);
        if !meter.need(new * 4) {
            return Err(OutOfMemory);
        }
        let mut table = vec![NONE; new];
        let mask = new - 1;
        for (k, e) in self.entries.iter().enumerate() {
            let mut i = e.hash as usize & mask;
            while table[i] != NONE {
                i = (i + 1) & mask;
            }
            table[i] = k as u32;
        }
        self.table = table;
        meter.free(old * 4);
        Ok(())
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
pub(crate) fn search<M: Model>(
    model: &M,
    cands: &[Candidate<M::Step>],
    ctl: &Control<'_>,
) -> SearchResult {
    search_stats(model, cands, ctl).0
}

/// Run the search over one partition, also saying how much work it took.
///
/// On top of Wing & Gong and Lowe: when a read-only operation (a read, a failed cas) can be
/// linearized next, it is, and no alternative is tried at that point. Moving such an
/// operation earlier in any valid linearization keeps it valid (it changes no state, and
/// nothing still open had to precede it), so if that branch fails the configuration fails.
pub(crate) fn search_stats<M: Model>(
    model: &M,
    cands: &[Candidate<M::Step>],
    ctl: &Control<'_>,
) -> (SearchResult, Stats) {
    let mut stats = Stats::default();
    let unlimited = MemoryBudget::new(None);
    let mut meter = Meter::new(ctl.memory.unwrap_or(&unlimited));
    let r = search_inner(model, cands, ctl, &mut stats, &mut meter);
    stats.bytes = meter.peak;
    (r, stats)
}

fn search_inner<M: Model>(
    model: &M,
    cands: &[Candidate<M::Step>],
    ctl: &Control<'_>,
    stats: &mut Stats,
    meter: &mut Meter<'_>,
) -> SearchResult {
    let required = cands.iter().filter(|c| c.ret.is_some()).count();
    if required == 0 {
        return SearchResult::Linearizable;
    }
    // The fixed structures: events, bitset, Zobrist words, the stack at its deepest.
    let fixed = cands.len() * (2 * 17 + 8 + 8 + 4)
        + cands.len() * std::mem::size_of::<(u32, M::State, bool)>();
    if !meter.need(fixed) {
        return SearchResult::OutOfMemory;
    }
    let mut ev = Events::build(cands);
    // Bit positions: operations that returned in call order, then the pending ones, so that
    // the set's all-ones prefix is not held back by an operation that may never be placed.
    let mut pos = vec![0usize; cands.len()];
    {
        let mut k = 0;
        for (i, c) in cands.iter().enumerate() {
            if c.ret.is_some() {
                pos[i] = k;
                k += 1;
            }
        }
        for (i, c) in cands.iter().enumerate() {
            if c.ret.is_none() {
                pos[i] = k;
                k += 1;
            }
        }
    }
    let mut set = Linearized::new(cands.len());
    let mut cache: Cache<M::State> = Cache::new();
    let zob: Vec<u64> = (0..cands.len()).map(zobrist).collect();
    let mut set_hash = 0u64;
    let mut state = model.init();
    // (call node, state before it, whether it was forced)
    let mut stack: Vec<(u32, M::State, bool)> = Vec::with_capacity(cands.len());
    let mut done = 0usize;
    let mut best: Option<(usize, SearchResult)> = None;
    let mut fresh = true;
    let mut iterations: u64 = 0;
    let key_of = |set_hash: u64, state: &M::State| {
        let mut h = FxHasher::default();
        state.hash(&mut h);
        set_hash ^ h.finish().rotate_left(17)
    };
    // Record a pair in the cache: Some(true) new, Some(false) seen, None out of memory.
    macro_rules! visit {
        ($ci:expr, $next:expr) => {{
            let heap = model.state_heap(&$next);
            match cache.insert(
                key_of(set_hash ^ zob[$ci], &$next),
                &set,
                &$next,
                heap,
                meter,
            ) {
                Ok(new) => new,
                Err(OutOfMemory) => {
                    stats.states = cache.len();
                    return SearchResult::OutOfMemory;
                }
            }
        }};
    }
    // Configurations where the search branches: the range of their alternatives in `alts`,
    // the next one to try, and the return node that bounds them.
    let mut alts: Vec<u32> = Vec::new();
    let mut levels: Vec<(usize, usize, u32)> = Vec::new();
    let mut backtrack = false;
    loop {
        iterations += 1;
        stats.steps = iterations;
        stats.depth = stats.depth.max(stack.len());
        if iterations & 0x3ff == 0 {
            stats.states = cache.len();
            if ctl.stop.load(Ordering::Relaxed) {
                return SearchResult::Cancelled;
            }
            if ctl.deadline.is_some_and(|d| Instant::now() >= d) {
                return SearchResult::Timeout;
            }
        }
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
                        && model.dead(&state, &cands[ci].step, &|i| set.contains(pos[i]))
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
                set.set(pos[ci]);
                if visit!(ci, next_state) {
                    set_hash ^= zob[ci];
                    let prev_state = std::mem::replace(&mut state, next_state);
                    stack.push((n, prev_state, true));
                    ev.lift(n);
                    if cands[ci].ret.is_some() {
                        done += 1;
                        if done == required {
                            stats.states = cache.len();
                            return SearchResult::Linearizable;
                        }
                    }
                    fresh = true;
                    continue;
                }
                set.clear(pos[ci]);
                backtrack = true;
            } else {
                // Branch over the operations that change the state and may go next (called
                // before the first pending return), earliest return first: the order a
                // linearizable history most likely took, so it is found with few detours.
                let start = alts.len();
                let mut n = ev.next[0];
                while n != NONE && ev.is_call[n as usize] {
                    let ci = ev.cand[n as usize] as usize;
                    if !model.read_only(&cands[ci].step) {
                        if alts.len() == alts.capacity() && reserve(&mut alts, 1, meter).is_err() {
                            stats.states = cache.len();
                            return SearchResult::OutOfMemory;
                        }
                        alts.push(n);
                    }
                    n = ev.next[n as usize];
                }
                let deadline = |n: u32| {
                    let ci = ev.cand[n as usize] as usize;
                    (cands[ci].ret.unwrap_or(u64::MAX), ci)
                };
                // Of each class of twins keep the one that must return first.
                alts[start..].sort_unstable_by_key(|&n| {
                    let ci = ev.cand[n as usize] as usize;
                    (
                        model
                            .class(&cands[ci].step)
                            .map_or((1, ci as u64), |c| (0, c)),
                        deadline(n),
                    )
                });
                let mut keep = start;
                for k in start..alts.len() {
                    let n = alts[k];
                    let class = model.class(&cands[ev.cand[n as usize] as usize].step);
                    let twin = keep > start && class.is_some() && {
                        let prev = alts[keep - 1];
                        model.class(&cands[ev.cand[prev as usize] as usize].step) == class
                    };
                    if !twin {
                        alts[keep] = n;
                        keep += 1;
                    }
                }
                alts.truncate(keep);
                alts[start..].sort_unstable_by_key(|&n| deadline(n));
                levels.push((start, start, n));
            }
        }
        if !backtrack {
            let Some(level) = levels.last_mut() else {
                unreachable!("a fresh configuration either forces, fails or branches")
            };
            let mut advanced = false;
            while level.1 < alts.len() {
                let n = alts[level.1];
                level.1 += 1;
                let ci = ev.cand[n as usize] as usize;
                let Some(next_state) = model.apply(&state, &cands[ci].step) else {
                    continue;
                };
                set.set(pos[ci]);
                if visit!(ci, next_state) {
                    set_hash ^= zob[ci];
                    let prev_state = std::mem::replace(&mut state, next_state);
                    stack.push((n, prev_state, false));
                    ev.lift(n);
                    if cands[ci].ret.is_some() {
                        done += 1;
                        if done == required {
                            stats.states = cache.len();
                            return SearchResult::Linearizable;
                        }
                    }
                    fresh = true;
                    advanced = true;
                    break;
                }
                set.clear(pos[ci]);
            }
            if advanced {
                continue;
            }
            // Every alternative failed. If a return bounds them, that operation must have
            // taken effect by now and could not be placed.
            let (start, _, ret_node) = *level;
            levels.pop();
            alts.truncate(start);
            if ret_node != NONE && best.as_ref().is_none_or(|(depth, _)| stack.len() > *depth) {
                let mut candidates = Vec::new();
                let mut n = ev.next[0];
                while n != NONE && n != ret_node {
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
                        stuck: Some(cands[ev.cand[ret_node as usize] as usize].op),
                        candidates,
                        state: model.show(&state),
                    },
                ));
            }
            backtrack = true;
        }
        while backtrack {
            let Some((node, prev_state, forced)) = stack.pop() else {
                stats.states = cache.len();
                return best.map(|(_, r)| r).unwrap_or(SearchResult::Illegal {
                    longest: Vec::new(),
                    stuck: None,
                    candidates: Vec::new(),
                    state: model.show(&model.init()),
                });
            };
            let ci = ev.cand[node as usize] as usize;
            set.clear(pos[ci]);
            set_hash ^= zob[ci];
            if cands[ci].ret.is_some() {
                done -= 1;
            }
            state = prev_state;
            ev.unlift(node);
            // A forced read failed: so does the configuration it was forced in. Otherwise
            // the configuration it was chosen in tries its next alternative.
            backtrack = forced;
        }
    }
}

#[cfg(test)]
mod tests;
