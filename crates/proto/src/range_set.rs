//! A compact set of `u64` values stored as sorted, disjoint, half-open ranges.
//!
//! Used for received packet numbers (ACK ranges), the received byte ranges of
//! a message being reassembled, the acknowledged byte ranges of a sent message
//! and the flow-control ranges claimed by messages.
//!
//! Invariant: the ranges are non-empty, sorted ascending, and neither overlap
//! nor touch (adjacent ranges are merged). Small sets dominate, so the ranges
//! live in a `Vec` searched by binary search. An empty set holds no heap
//! allocation: the vector is released whenever the set becomes empty.

use std::ops::Range;

/// A set of `u64` values stored as sorted, disjoint, non-adjacent half-open ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<Range<u64>>,
}

impl RangeSet {
    /// Creates an empty set (no allocation).
    pub const fn new() -> Self {
        Self { ranges: Vec::new() }
    }

    /// Adds every value of `range`, merging with overlapping or adjacent ranges.
    ///
    /// Returns `true` if at least one value was not in the set before.
    /// An empty `range` adds nothing and returns `false`.
    pub fn insert(&mut self, range: Range<u64>) -> bool {
        if range.is_empty() || self.covers(range.clone()) {
            return false;
        }
        if self.extend_last(&range) {
            return true;
        }
        // `lo..hi` are the ranges that overlap or touch `range`.
        let lo = self.ranges.partition_point(|r| r.end < range.start);
        let hi = self.ranges.partition_point(|r| r.start <= range.end);
        let mut merged = range;
        if lo < hi {
            merged.start = merged.start.min(self.ranges[lo].start);
            merged.end = merged.end.max(self.ranges[hi - 1].end);
        }
        self.ranges.splice(lo..hi, std::iter::once(merged));
        true
    }

    /// The common case of packet numbers and acknowledgements, without a
    /// splice: `range` starts after the last range (a new last range) or
    /// within or right after it (the last range grows). Only the last range
    /// can touch such a `range`: earlier ones end before it starts.
    fn extend_last(&mut self, range: &Range<u64>) -> bool {
        match self.ranges.last_mut() {
            None => self.ranges.push(range.clone()),
            Some(last) if range.start > last.end => self.ranges.push(range.clone()),
            Some(last) if range.start >= last.start => last.end = last.end.max(range.end),
            Some(_) => return false,
        }
        true
    }

    /// Removes every value of `range`. Returns `true` if anything was removed.
    pub fn remove(&mut self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return false;
        }
        // `lo..hi` are the ranges that overlap `range`.
        let lo = self.ranges.partition_point(|r| r.end <= range.start);
        let hi = self.ranges.partition_point(|r| r.start < range.end);
        if lo >= hi {
            return false;
        }
        let left = self.ranges[lo].start..range.start;
        let right = range.end..self.ranges[hi - 1].end;
        let kept = [left, right].into_iter().filter(|r| !r.is_empty());
        self.ranges.splice(lo..hi, kept);
        self.release_if_empty();
        true
    }

    /// Removes every value below `bound` (pruning old state).
    pub fn remove_below(&mut self, bound: u64) {
        self.remove(0..bound);
    }

    /// Removes everything and releases the allocation.
    pub fn clear(&mut self) {
        self.ranges = Vec::new();
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: u64) -> bool {
        self.range_at(value).is_some()
    }

    /// Whether every value of `range` is in the set (always true for an empty range).
    pub fn covers(&self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return true;
        }
        self.range_at(range.start)
            .is_some_and(|r| r.end >= range.end)
    }

    /// Whether at least one value of `range` is in the set.
    pub fn intersects(&self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return false;
        }
        let idx = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges.get(idx).is_some_and(|r| r.start < range.end)
    }

    /// The smallest value `>= start` that is not in the set.
    pub fn first_gap_after(&self, start: u64) -> u64 {
        self.range_at(start).map_or(start, |r| r.end)
    }

    /// The first maximal sub-range of `range` that is not in the set, if any.
    pub fn first_gap_in(&self, range: Range<u64>) -> Option<Range<u64>> {
        let start = self.first_gap_after(range.start);
        if start >= range.end {
            return None;
        }
        let idx = self.ranges.partition_point(|r| r.end <= start);
        let end = self
            .ranges
            .get(idx)
            .map_or(range.end, |r| r.start.min(range.end));
        Some(start..end)
    }

    /// The ranges in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Range<u64>> + '_ {
        self.ranges.iter().cloned()
    }

    /// The ranges in descending order (the order ACK frames are encoded in).
    pub fn iter_desc(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.iter().rev()
    }

    /// The number of disjoint ranges (not the number of values).
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The smallest value in the set.
    pub fn min(&self) -> Option<u64> {
        self.ranges.first().map(|r| r.start)
    }

    /// The largest value in the set.
    pub fn max(&self) -> Option<u64> {
        self.ranges.last().map(|r| r.end - 1)
    }

    /// The range that contains `value`, if any.
    fn range_at(&self, value: u64) -> Option<&Range<u64>> {
        let idx = self.ranges.partition_point(|r| r.end <= value);
        self.ranges.get(idx).filter(|r| r.start <= value)
    }

    fn release_if_empty(&mut self) {
        if self.ranges.is_empty() {
            self.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn set(ranges: &[Range<u64>]) -> RangeSet {
        let mut s = RangeSet::new();
        for r in ranges {
            s.insert(r.clone());
        }
        s
    }

    fn ranges(s: &RangeSet) -> Vec<Range<u64>> {
        s.iter().collect()
    }

    #[test]
    fn inserts_at_the_end_grow_or_append_the_last_range() {
        let mut s = set(&[0..2, 5..7]);
        assert!(s.insert(7..8), "adjacent: the last range grows");
        assert!(s.insert(6..10), "overlapping the last range");
        assert!(s.insert(12..13), "past the end: a new last range");
        assert!(!s.insert(12..13), "already there");
        assert_eq!(ranges(&s), vec![0..2, 5..10, 12..13]);
        assert!(s.insert(4..12), "reaching back: the general path merges");
        assert_eq!(ranges(&s), vec![0..2, 4..13]);
    }

    #[test]
    fn insert_merges_overlapping_and_adjacent() {
        let mut s = set(&[0..2, 5..7, 10..12]);
        assert_eq!(ranges(&s), vec![0..2, 5..7, 10..12]);
        assert!(s.insert(2..5), "filling a gap adds values");
        assert_eq!(ranges(&s), vec![0..7, 10..12]);
        assert!(s.insert(6..11));
        assert_eq!(ranges(&s), vec![0..12]);
        assert!(!s.insert(3..9), "already covered");
        assert!(!s.insert(4..4), "empty range");
        assert!(s.insert(20..21));
        assert_eq!((s.min(), s.max(), s.len()), (Some(0), Some(20), 2));
    }

    #[test]
    fn insert_spanning_many_ranges() {
        let mut s = set(&[1..2, 3..4, 5..6, 7..8]);
        assert!(s.insert(0..10));
        assert_eq!(ranges(&s), vec![0..10]);
    }

    #[test]
    fn contains_covers_intersects() {
        let s = set(&[2..4, 8..10]);
        let members: Vec<u64> = (0..12).filter(|&v| s.contains(v)).collect();
        assert_eq!(members, vec![2, 3, 8, 9]);
        assert!(s.covers(2..4) && s.covers(8..9) && s.covers(5..5));
        assert!(!s.covers(2..5) && !s.covers(3..9));
        assert!(s.intersects(0..3) && s.intersects(9..20));
        assert!(!s.intersects(4..8) && !s.intersects(3..3));
    }

    #[test]
    fn gaps() {
        let s = set(&[2..4, 8..10]);
        assert_eq!(s.first_gap_after(0), 0);
        assert_eq!(s.first_gap_after(2), 4);
        assert_eq!(s.first_gap_after(9), 10);
        assert_eq!(s.first_gap_in(2..12), Some(4..8));
        assert_eq!(s.first_gap_in(0..3), Some(0..2));
        assert_eq!(s.first_gap_in(8..10), None);
        assert_eq!(s.first_gap_in(5..6), Some(5..6));
    }

    #[test]
    fn remove_splits_and_prunes() {
        let mut s = set(&[0..10, 20..30]);
        assert!(s.remove(3..5));
        assert_eq!(ranges(&s), vec![0..3, 5..10, 20..30]);
        assert!(!s.remove(10..20));
        s.remove_below(22);
        assert_eq!(ranges(&s), vec![22..30]);
        s.remove_below(100);
        assert!(s.is_empty());
        assert_eq!(s.ranges.capacity(), 0, "an empty set holds no allocation");
        assert_eq!((s.min(), s.max()), (None, None));
    }

    #[test]
    fn descending_iteration() {
        let s = set(&[1..2, 4..6, 9..10]);
        assert_eq!(s.iter_desc().collect::<Vec<_>>(), vec![9..10, 4..6, 1..2]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        Remove(u64, u64),
        RemoveBelow(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..200, 0u64..20).prop_map(|(s, l)| Op::Insert(s, l)),
            2 => (0u64..200, 0u64..30).prop_map(|(s, l)| Op::Remove(s, l)),
            1 => (0u64..120).prop_map(Op::RemoveBelow),
        ]
    }

    fn check_invariants(s: &RangeSet) {
        let rs = ranges(s);
        assert!(rs.iter().all(|r| !r.is_empty()));
        assert!(rs.windows(2).all(|w| w[0].end < w[1].start));
    }

    fn apply(s: &mut RangeSet, model: &mut BTreeSet<u64>, op: &Op) {
        match *op {
            Op::Insert(start, len) => {
                let added = (start..start + len).filter(|v| model.insert(*v)).count();
                assert_eq!(s.insert(start..start + len), added > 0);
            }
            Op::Remove(start, len) => {
                let removed = (start..start + len).filter(|v| model.remove(v)).count();
                assert_eq!(s.remove(start..start + len), removed > 0);
            }
            Op::RemoveBelow(bound) => {
                model.retain(|v| *v >= bound);
                s.remove_below(bound);
            }
        }
    }

    fn check_queries(s: &RangeSet, model: &BTreeSet<u64>, probe: Range<u64>) {
        for v in 0..230 {
            assert_eq!(s.contains(v), model.contains(&v), "contains({v})");
        }
        let in_model = |v: &u64| model.contains(v);
        assert_eq!(s.covers(probe.clone()), probe.clone().all(|v| in_model(&v)));
        assert_eq!(
            s.intersects(probe.clone()),
            probe.clone().any(|v| in_model(&v))
        );
        let gap_start = (probe.start..).find(|v| !in_model(v)).unwrap();
        assert_eq!(s.first_gap_after(probe.start), gap_start);
        let expected_gap = (gap_start < probe.end).then(|| {
            let end = (gap_start..probe.end).find(in_model).unwrap_or(probe.end);
            gap_start..end
        });
        assert_eq!(s.first_gap_in(probe), expected_gap);
        assert_eq!(s.min(), model.first().copied());
        assert_eq!(s.max(), model.last().copied());
    }

    proptest! {
        #[test]
        fn matches_btreeset_model(
            ops in proptest::collection::vec(op(), 0..60),
            probe_start in 0u64..220,
            probe_len in 0u64..30,
        ) {
            let mut s = RangeSet::new();
            let mut model = BTreeSet::new();
            for op in &ops {
                apply(&mut s, &mut model, op);
                check_invariants(&s);
            }
            check_queries(&s, &model, probe_start..probe_start + probe_len);
        }
    }
}
