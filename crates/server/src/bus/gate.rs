//! The last seq delivered per conversation on this node (a leaf: plain
//! data, the async delivery around it is in `deliver`).
//!
//! Only conversations with local online members get an entry, and at most
//! [`MAX_CONVS`]: when full, the least recently used eighth is dropped (a
//! conversation without an entry gets one again on its next message,
//! after the few messages before it are read from the store: `deliver`;
//! the client's own de-duplication covers a repeat).
//!
//! A catch-up (after a loss) checks every tracked conversation against
//! the store, a bounded batch per run ([`SeqTable::next_batch`]): a
//! *round* goes once around the conversations in id order from wherever
//! the last round stopped, so a new loss during a round costs one more
//! round at most, never a restart from the top in a loop.
//!
//! Conversations with a gap still open (the store failed while filling
//! it) are kept apart, at most [`MAX_OPEN`], and checked first by the next
//! batch; only when that set is full does a gap cost a whole round.

use std::collections::{BTreeSet, HashMap};

use natter_store::ConvId;

/// Most conversations whose last delivered seq a node remembers.
pub(crate) const MAX_CONVS: usize = 100_000;

/// Most conversations kept as having an open gap (checked first).
const MAX_OPEN: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Slot {
    last: u64,
    used: u64,
}

/// Last delivered seq per conversation, bounded.
#[derive(Debug)]
pub(crate) struct SeqTable {
    slots: HashMap<ConvId, Slot>,
    clock: u64,
    max: usize,
    /// The catch-up round: the next conversation to check (cyclic, by id)
    /// and how many are left to check.
    cursor: ConvId,
    left: usize,
    /// Conversations with an open gap, checked before the round.
    open: BTreeSet<ConvId>,
}

impl Default for SeqTable {
    fn default() -> Self {
        Self::with_capacity(MAX_CONVS)
    }
}

impl SeqTable {
    /// A table holding at most `max` conversations.
    pub(crate) fn with_capacity(max: usize) -> Self {
        Self {
            slots: HashMap::new(),
            clock: 0,
            max: max.max(8),
            cursor: ConvId(i64::MIN),
            left: 0,
            open: BTreeSet::new(),
        }
    }

    /// The last seq delivered in `conv`, if tracked.
    pub(crate) fn last(&self, conv: ConvId) -> Option<u64> {
        self.slots.get(&conv).map(|s| s.last)
    }

    /// Records `seq` as delivered in `conv` (never lowers it).
    pub(crate) fn record(&mut self, conv: ConvId, seq: u64) {
        self.clock += 1;
        if !self.slots.contains_key(&conv) && self.slots.len() >= self.max {
            self.evict();
        }
        let slot = self.slots.entry(conv).or_insert(Slot { last: 0, used: 0 });
        slot.last = slot.last.max(seq);
        slot.used = self.clock;
    }

    /// Starts a catch-up round: every conversation tracked now is to be
    /// checked, from where the last round stopped.
    pub(crate) fn start_round(&mut self) {
        self.left = self.slots.len();
    }

    /// Marks the gaps of `convs` as open: the next batch checks them
    /// first. If the set is full, a round is started instead.
    pub(crate) fn reopen(&mut self, convs: impl IntoIterator<Item = ConvId>) {
        for conv in convs {
            if self.open.len() >= MAX_OPEN {
                return self.start_round();
            }
            self.open.insert(conv);
        }
    }

    /// The next at most `n` conversations to check and their last seqs:
    /// those with an open gap first, then the round's (empty: nothing
    /// left to check).
    pub(crate) fn next_batch(&mut self, n: usize) -> Vec<(ConvId, u64)> {
        let mut batch = Vec::new();
        while batch.len() < n
            && let Some(conv) = self.open.pop_first()
        {
            if let Some(slot) = self.slots.get(&conv) {
                batch.push((conv, slot.last));
            }
        }
        let mut convs: Vec<ConvId> = self.slots.keys().copied().collect();
        convs.sort_unstable();
        let start = convs.partition_point(|c| *c < self.cursor);
        let take = (n - batch.len()).min(self.left).min(convs.len());
        let round: Vec<ConvId> = convs
            .iter()
            .cycle()
            .skip(start)
            .take(take)
            .copied()
            .collect();
        self.left -= take;
        if let Some(last) = round.last() {
            self.cursor = ConvId(last.0.saturating_add(1));
        }
        batch.extend(round.into_iter().map(|c| (c, self.slots[&c].last)));
        batch
    }

    /// Number of tracked conversations.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Drops the least recently used eighth of the entries.
    fn evict(&mut self) {
        let mut used: Vec<u64> = self.slots.values().map(|s| s.used).collect();
        let cut = (self.max / 8).max(1).min(used.len() - 1);
        let (_, &mut limit, _) = used.select_nth_unstable(cut);
        self.slots.retain(|_, s| s.used > limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_bounded_and_keeps_recent_conversations() {
        let mut table = SeqTable::with_capacity(64);
        for i in 0..10_000 {
            table.record(ConvId(i), 1);
            table.record(ConvId(0), i as u64 + 1);
        }
        assert!(table.len() <= 64, "{}", table.len());
        assert_eq!(table.last(ConvId(0)), Some(10_000), "the busy one stays");
        assert_eq!(table.last(ConvId(9_999)), Some(1));
        assert_eq!(table.last(ConvId(1)), None, "an old one went");
    }

    #[test]
    fn a_catch_up_round_goes_once_around_in_bounded_batches() {
        let mut table = SeqTable::default();
        for i in 0..10 {
            table.record(ConvId(i), 1);
        }
        let ids = |b: Vec<(ConvId, u64)>| b.iter().map(|(c, _)| c.0).collect::<Vec<_>>();
        assert!(table.next_batch(4).is_empty(), "no round started");
        table.start_round();
        assert_eq!(ids(table.next_batch(4)), [0, 1, 2, 3]);
        // A loss now: one more round, from where this one is.
        table.start_round();
        assert_eq!(ids(table.next_batch(4)), [4, 5, 6, 7]);
        assert_eq!(ids(table.next_batch(4)), [8, 9, 0, 1]);
        table.reopen([ConvId(0), ConvId(1)]); // 0 and 1 failed
        assert_eq!(
            ids(table.next_batch(4)),
            [0, 1, 2, 3],
            "retried, then the round's last"
        );
        assert!(table.next_batch(4).is_empty(), "every one checked since");
        // A flood of losses never makes a round longer than the table.
        for _ in 0..1000 {
            table.start_round();
        }
        let checked: usize = (0..10).map(|_| table.next_batch(3).len()).sum();
        assert_eq!(checked, 10);
    }

    #[test]
    fn an_open_gap_is_checked_first_and_the_set_is_bounded() {
        let mut table = SeqTable::default();
        for i in 0..5000 {
            table.record(ConvId(i), 1);
        }
        table.start_round();
        let ids = |b: Vec<(ConvId, u64)>| b.iter().map(|(c, _)| c.0).collect::<Vec<_>>();
        assert_eq!(ids(table.next_batch(2)), [0, 1]);
        table.reopen([ConvId(4321)]);
        assert_eq!(ids(table.next_batch(3)), [4321, 2, 3], "the gap first");
        // No round running: a reopened gap alone is checked, not all 5000.
        let mut table = SeqTable::default();
        for i in 0..5000 {
            table.record(ConvId(i), 1);
        }
        table.reopen([ConvId(4321)]);
        assert_eq!(ids(table.next_batch(1000)), [4321]);
        assert!(table.next_batch(1000).is_empty());
        // A flood of gaps: the set stays bounded, the rest is a round.
        table.reopen((0..5000).map(ConvId));
        let mut checked = 0;
        loop {
            let n = table.next_batch(1000).len();
            if n == 0 {
                break;
            }
            checked += n;
        }
        assert!((5000..=5000 + MAX_OPEN).contains(&checked), "{checked}");
    }

    #[test]
    fn a_seq_never_goes_back() {
        let mut table = SeqTable::default();
        table.record(ConvId(1), 5);
        table.record(ConvId(1), 3);
        assert_eq!(table.last(ConvId(1)), Some(5));
    }
}
