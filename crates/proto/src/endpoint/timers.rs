//! The endpoint's timers: one deadline per connection in a binary heap
//! keyed by deadline, so firing timers touches only the connections whose
//! deadline has passed (an idle server with 100 000 connections fires about
//! one in a thousand per millisecond; a scan would visit all of them).
//!
//! A connection that fired is not re-armed until the endpoint has polled it
//! for transmit: its handshake and probe timers stay due until
//! `poll_transmit` acts on them, and a driver that fires timers in slices,
//! sending in between, would otherwise fire them again (inflating the
//! backoff) before the first firing had any effect.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use rustc_hash::{FxHashMap, FxHashSet};

use super::ConnectionHandle;

/// Deadlines of the connections of one endpoint.
#[derive(Default)]
pub(super) struct TimerQueue {
    /// May hold stale entries (a deadline that moved): only the one equal
    /// to `scheduled` counts. Compacted when stale ones dominate.
    heap: BinaryHeap<Reverse<(Instant, ConnectionHandle)>>,
    scheduled: FxHashMap<ConnectionHandle, Instant>,
    /// Fired, not yet polled for transmit: not re-armed until then.
    fired: FxHashSet<ConnectionHandle>,
}

impl TimerQueue {
    /// Sets (or, with `None`, clears) the deadline of `h`, unless `h` fired
    /// and waits for [`Self::polled`].
    pub(super) fn set(&mut self, h: ConnectionHandle, at: Option<Instant>) {
        if self.fired.contains(&h) {
            return;
        }
        let Some(at) = at else {
            self.scheduled.remove(&h);
            return;
        };
        if self.scheduled.insert(h, at) != Some(at) {
            self.heap.push(Reverse((at, h)));
        }
        if self.heap.len() > 2 * self.scheduled.len() + 64 {
            self.compact();
        }
    }

    /// `h` was polled for transmit: its next [`Self::set`] arms it again.
    pub(super) fn polled(&mut self, h: ConnectionHandle) {
        self.fired.remove(&h);
    }

    /// Forgets `h` (the connection is gone).
    pub(super) fn remove(&mut self, h: ConnectionHandle) {
        self.scheduled.remove(&h);
        self.fired.remove(&h);
    }

    /// Moves at most `max` connections whose deadline is at or before
    /// `now` into `due`, earliest first, and marks them fired. True when
    /// more are due.
    pub(super) fn pop_due(
        &mut self,
        now: Instant,
        max: usize,
        due: &mut Vec<ConnectionHandle>,
    ) -> bool {
        let mut taken = 0;
        while taken < max {
            let Some(&Reverse((at, h))) = self.heap.peek() else {
                return false;
            };
            if at > now {
                return false;
            }
            self.heap.pop();
            if self.scheduled.get(&h) == Some(&at) {
                self.scheduled.remove(&h);
                self.fired.insert(h);
                due.push(h);
                taken += 1;
            }
        }
        self.next().is_some_and(|at| at <= now)
    }

    /// The earliest deadline.
    pub(super) fn next(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, h))) = self.heap.peek() {
            if self.scheduled.get(&h) == Some(&at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Drops stale heap entries so the heap stays proportional to the
    /// number of connections.
    fn compact(&mut self) {
        self.heap = self
            .scheduled
            .iter()
            .map(|(&h, &at)| Reverse((at, h)))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    /// 10 000 connections, 10 of them due: a pop visits those 10 only,
    /// and the slice bound holds.
    #[test]
    fn only_due_connections_are_visited_and_a_slice_is_bounded() {
        let base = crate::recovery::test_instant();
        let mut q = TimerQueue::default();
        for i in 0..10_000u64 {
            let ms = if i % 1000 == 0 { i / 1000 } else { 60_000 + i };
            q.set(ConnectionHandle(i), Some(at(base, ms)));
        }
        let mut due = Vec::new();
        assert!(q.pop_due(at(base, 100), 4, &mut due), "six more are due");
        assert_eq!(due, [0, 1000, 2000, 3000].map(ConnectionHandle));
        due.clear();
        assert!(!q.pop_due(at(base, 100), 100, &mut due));
        assert_eq!(
            due,
            [4000, 5000, 6000, 7000, 8000, 9000].map(ConnectionHandle)
        );
        assert_eq!(q.next(), Some(at(base, 60_001)));
    }

    #[test]
    fn a_fired_connection_is_rearmed_only_after_it_was_polled() {
        let base = crate::recovery::test_instant();
        let (mut q, h) = (TimerQueue::default(), ConnectionHandle(7));
        q.set(h, Some(base));
        let mut due = Vec::new();
        assert!(!q.pop_due(base, 10, &mut due));
        // Still due (a handshake resend waits for poll_transmit): not re-armed.
        q.set(h, Some(base));
        due.clear();
        assert!(!q.pop_due(at(base, 5), 10, &mut due));
        assert!(due.is_empty());
        q.polled(h);
        q.set(h, Some(base));
        assert!(!q.pop_due(at(base, 5), 10, &mut due));
        assert_eq!(due, [h]);
    }

    #[test]
    fn moved_deadlines_leave_no_stale_firing_and_the_heap_stays_small() {
        let base = crate::recovery::test_instant();
        let (mut q, h) = (TimerQueue::default(), ConnectionHandle(1));
        for ms in (0..10_000).rev() {
            q.set(h, Some(at(base, 1000 + ms)));
        }
        assert!(q.heap.len() <= 2 * q.scheduled.len() + 64 + 1);
        let mut due = Vec::new();
        assert!(!q.pop_due(at(base, 1000), 10, &mut due));
        assert_eq!(due, [h], "fired once, at its last deadline");
        q.remove(h);
        assert_eq!(q.next(), None);
    }
}
