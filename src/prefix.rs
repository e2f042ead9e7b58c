//! The prefix cache: what a backend keeps of the windows it has run, so that a window sharing its
//! first tokens with one already run computes only the positions after the shared prefix.
//!
//! A window's positions restart at 0 (see [`crate::score`]), so the keys and values of its first n
//! positions depend only on its first n tokens: two windows that agree on `tokens[..n]` have the same
//! K/V there, whatever text or window they came from. The key of an entry is therefore the window's
//! token sequence (BOS included, when the policy prepends one), and reuse needs nothing else.
//!
//! - [`shared_prefix`] is the one definition of "shared prefix" (the longest common run of tokens
//!   from position 0).
//! - [`PrefixCache::plan`] decides, for a window and the rows asked of it, which cached entry to
//!   read, how many positions of its K/V to take (`past`), and which rows' statistics come from it:
//!   row p (the distribution after position p, scoring `window[p + 1]`) is reusable when the entry
//!   computed it and its target is inside the shared prefix, or when it is the end row of an
//!   identical window.
//! - [`PrefixCache::insert`] keeps the new entry within a byte budget, evicting the least recently
//!   used entries first; an entry larger than the whole budget is not kept.
//!
//! The payload `P` is the backend's: the CPU keeps per-layer K/V in host memory.

use crate::metrics::RowStats;

/// The default budget: 256 MiB, the K/V of about 5,800 positions of SmolLM2-135M (30 layers × 2 ×
/// 3 KV heads × 64 dims × 4 bytes = 45 KiB per position).
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// The length of the longest common prefix of two token sequences: the one definition of
/// "shared prefix".
pub fn shared_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Positions a backend was asked for and positions it ran through the network, since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReuseCounts {
    /// Positions of all windows asked of the backend (a full pass computes all of them).
    pub positions: u64,
    /// Positions computed; the rest came from the prefix cache.
    pub computed: u64,
    /// Bytes the cache holds now.
    pub bytes: usize,
    /// The cache's budget in bytes (0: no cache).
    pub budget: usize,
}

/// One window run before: its tokens, the statistics of the rows it computed, and the backend's K/V.
pub struct Entry<P> {
    /// The window's tokens (the key).
    pub tokens: Vec<u32>,
    /// `rows[p]`: the statistics of row p (target `tokens[p + 1]`, or the end row at p = len − 1),
    /// where this window computed it.
    pub rows: Vec<Option<RowStats>>,
    /// The backend's keys and values of every position.
    pub payload: P,
    bytes: usize,
    used: u64,
}

/// What to take from the cache for one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The entry to read (an index into the cache), when one shares a prefix.
    pub source: Option<usize>,
    /// Tokens shared with that entry.
    pub shared: usize,
    /// Positions whose K/V come from the entry; the backend computes `past..len`.
    /// `past == len` when every row asked is cached (nothing to compute).
    pub past: usize,
    /// The statistics of rows `score_from − 1 .. score_from − 1 + cached.len()`, from the entry.
    pub cached: Vec<RowStats>,
}

/// Entries of windows run before, within a byte budget, least recently used evicted first.
pub struct PrefixCache<P> {
    entries: Vec<Entry<P>>,
    budget: usize,
    clock: u64,
    counts: ReuseCounts,
}

impl<P> PrefixCache<P> {
    /// An empty cache holding at most `budget` bytes (0 keeps nothing).
    pub fn new(budget: usize) -> Self {
        PrefixCache { entries: Vec::new(), budget, clock: 0, counts: ReuseCounts { budget, ..Default::default() } }
    }

    /// The budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Changes the budget, evicting down to it.
    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
        self.counts.budget = budget;
        self.evict_to(budget, &mut None);
    }

    /// Drops every entry (e.g. when the rows' boundary set or top-k changes).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.counts.bytes = 0;
    }

    /// Bytes held now (never above the budget after [`PrefixCache::insert`]).
    pub fn bytes(&self) -> usize {
        self.counts.bytes
    }

    /// Counts since the cache was made.
    pub fn counts(&self) -> ReuseCounts {
        self.counts
    }

    /// Records one window: `positions` asked, `computed` run.
    pub fn count(&mut self, positions: usize, computed: usize) {
        self.counts.positions += positions as u64;
        self.counts.computed += computed as u64;
    }

    /// The entry at `index` (from a [`Plan`]).
    pub fn entry(&self, index: usize) -> &Entry<P> {
        &self.entries[index]
    }

    /// Which entry to read for `window`, how many positions to take from it, and the cached rows of
    /// `score_from − 1 .. len − 1 + end_row` it holds (see the module doc for when a row is reusable).
    pub fn plan(&mut self, window: &[u32], score_from: usize, end_row: bool) -> Plan {
        self.plan_among(window, score_from, end_row, |_| true)
    }

    /// [`PrefixCache::plan`] among the entries `eligible` accepts (the GPU keeps the K/V of one
    /// entry only: the others can give rows, not keys and values).
    pub fn plan_among(
        &mut self,
        window: &[u32],
        score_from: usize,
        end_row: bool,
        eligible: impl Fn(&Entry<P>) -> bool,
    ) -> Plan {
        let len = window.len();
        let best = (0..self.entries.len())
            .filter(|&i| eligible(&self.entries[i]))
            .map(|i| (i, shared_prefix(&self.entries[i].tokens, window)))
            .filter(|&(_, n)| n > 0)
            .max_by_key(|&(i, n)| (n, self.entries[i].used));
        let Some((source, shared)) = best else {
            return Plan { source: None, shared: 0, past: 0, cached: Vec::new() };
        };
        self.clock += 1;
        self.entries[source].used = self.clock;
        let entry = &self.entries[source];
        let same_window = shared == len && entry.tokens.len() == len;
        let reusable = |p: usize| entry.rows[p].is_some() && (p + 1 < shared || (same_window && p + 1 == len));
        let rows_end = len - 1 + end_row as usize;
        let first_missing = (score_from - 1..rows_end).find(|&p| !reusable(p));
        // K/V exist for the shared positions; everything from the first row not cached is computed.
        let past = first_missing.map_or(len, |p| p.min(shared));
        let cached = (score_from - 1..past.min(rows_end)).map(|p| entry.rows[p].clone().unwrap()).collect();
        Plan { source: Some(source), shared, past, cached }
    }

    /// Makes room for an entry of `bytes` next to the entry `keep` (the one being read; its index is
    /// updated as entries move), evicting least recently used entries. Returns whether an entry of
    /// that size fits the budget at all.
    pub fn make_room(&mut self, bytes: usize, keep: &mut Option<usize>) -> bool {
        if bytes > self.budget {
            return false;
        }
        self.evict_to(self.budget - bytes, keep);
        true
    }

    /// Keeps a window's entry (rows as computed, `bytes` its payload's size), replacing the entry
    /// `supersedes` (read for it, and now a prefix of it), then evicts down to the budget.
    pub fn insert(
        &mut self,
        tokens: Vec<u32>,
        rows: Vec<Option<RowStats>>,
        payload: P,
        bytes: usize,
        supersedes: Option<usize>,
    ) {
        let row_bytes: usize = rows.iter().flatten().map(|r| std::mem::size_of::<RowStats>() + r.top.len() * 16).sum();
        let bytes = bytes + tokens.len() * 4 + rows.len() * std::mem::size_of::<Option<RowStats>>() + row_bytes;
        if let Some(i) = supersedes {
            let old = self.entries.swap_remove(i);
            self.counts.bytes -= old.bytes;
        }
        if bytes > self.budget {
            return;
        }
        self.evict_to(self.budget - bytes, &mut None);
        self.clock += 1;
        self.entries.push(Entry { tokens, rows, payload, bytes, used: self.clock });
        self.counts.bytes += bytes;
    }

    /// Evicts least recently used entries (never `keep`) until at most `limit` bytes are held.
    fn evict_to(&mut self, limit: usize, keep: &mut Option<usize>) {
        while self.counts.bytes > limit {
            let victim = (0..self.entries.len()).filter(|&i| Some(i) != *keep).min_by_key(|&i| self.entries[i].used);
            let Some(i) = victim else { return };
            let old = self.entries.swap_remove(i);
            self.counts.bytes -= old.bytes;
            // swap_remove moved the last entry into slot i.
            if *keep == Some(self.entries.len()) {
                *keep = Some(i);
            }
        }
    }
}
