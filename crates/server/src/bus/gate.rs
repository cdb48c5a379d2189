//! The last seq delivered per conversation on this node (a leaf: plain
//! data, the async delivery around it is in `deliver`).
//!
//! Only conversations with local online members get an entry, and at most
//! [`MAX_CONVS`]: when full, the least recently used eighth is dropped (a
//! conversation without an entry delivers its next message as is, and the
//! client's own de-duplication covers a repeat).

use std::collections::HashMap;

use natter_store::ConvId;

/// Most conversations whose last delivered seq a node remembers.
pub(crate) const MAX_CONVS: usize = 100_000;

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

    /// Every tracked conversation and its last seq (for a catch-up).
    pub(crate) fn entries(&self) -> Vec<(ConvId, u64)> {
        self.slots.iter().map(|(c, s)| (*c, s.last)).collect()
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
    fn a_seq_never_goes_back() {
        let mut table = SeqTable::default();
        table.record(ConvId(1), 5);
        table.record(ConvId(1), 3);
        assert_eq!(table.last(ConvId(1)), Some(5));
    }
}
