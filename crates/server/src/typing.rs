//! Typing indicators: which `typing` requests of one connection are relayed.
//!
//! Per conversation a connection gets at most one relayed start per
//! [`TYPING_INTERVAL_MS`] and one stop after each relayed start; faster
//! ones are dropped (the client still gets `done`). The state is one small
//! entry per conversation, at most [`MAX_TRACKED`] per connection: when the
//! table is full, entries older than the interval make room, and a start
//! that still does not fit is dropped. A leaf module (no server imports).
//!
//! The table is a plain vector searched linearly: at most [`MAX_TRACKED`]
//! small entries, and an empty one is 24 bytes in every session (a hash
//! map with its hasher is twice that).

use std::time::Duration;

use natter_api::TYPING_INTERVAL_MS;
use natter_store::ConvId;
use tokio::time::Instant;

/// Most conversations one connection is tracked as typing in at once.
pub(crate) const MAX_TRACKED: usize = 64;

/// The last relayed start per conversation, and whether a stop may follow.
#[derive(Debug, Clone, Copy)]
struct Entry {
    started: Instant,
    active: bool,
}

/// One connection's typing gate.
#[derive(Debug, Default)]
pub(crate) struct TypingGate {
    entries: Vec<(ConvId, Entry)>,
}

impl TypingGate {
    /// Whether a `typing` (start) or stop in `conv` at `now` is relayed;
    /// records it if so.
    pub(crate) fn admit(&mut self, conv: ConvId, typing: bool, now: Instant) -> bool {
        if typing {
            self.start(conv, now)
        } else {
            self.stop(conv)
        }
    }

    /// Number of conversations tracked (for tests of the bound).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.entries.len()
    }

    fn start(&mut self, conv: ConvId, now: Instant) -> bool {
        if let Some(e) = self.get_mut(conv) {
            if now.saturating_duration_since(e.started) < interval() {
                return false;
            }
            *e = Entry::started(now);
            return true;
        }
        if !self.make_room(now) {
            return false;
        }
        self.entries.push((conv, Entry::started(now)));
        true
    }

    fn stop(&mut self, conv: ConvId) -> bool {
        match self.get_mut(conv) {
            Some(e) if e.active => {
                e.active = false;
                true
            }
            _ => false,
        }
    }

    fn get_mut(&mut self, conv: ConvId) -> Option<&mut Entry> {
        let found = self.entries.iter_mut().find(|(c, _)| *c == conv);
        found.map(|(_, e)| e)
    }

    /// Drops entries older than the interval when full; true if one more fits.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.entries.len() >= MAX_TRACKED {
            self.entries
                .retain(|(_, e)| now.saturating_duration_since(e.started) < interval());
        }
        self.entries.len() < MAX_TRACKED
    }
}

impl Entry {
    fn started(now: Instant) -> Self {
        Self {
            started: now,
            active: true,
        }
    }
}

fn interval() -> Duration {
    Duration::from_millis(TYPING_INTERVAL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_start_per_interval_and_one_stop_per_start() {
        let mut gate = TypingGate::default();
        let (t0, c) = (Instant::now(), ConvId(5));
        assert!(gate.admit(c, true, t0));
        let flood = (0..1000).filter(|i| {
            let at = t0 + Duration::from_millis(*i);
            gate.admit(c, true, at) || gate.admit(c, false, at)
        });
        assert_eq!(flood.count(), 1, "only the first stop passes");
        assert!(!gate.admit(c, false, t0), "no second stop");
        assert!(gate.admit(c, true, t0 + interval()));
        assert!(!gate.admit(ConvId(6), false, t0), "a stop without a start");
    }

    #[test]
    fn the_table_is_bounded_and_old_entries_make_room() {
        let mut gate = TypingGate::default();
        let t0 = Instant::now();
        let admitted = (0..10_000).filter(|i| gate.admit(ConvId(*i), true, t0));
        assert_eq!(admitted.count(), MAX_TRACKED);
        assert_eq!(gate.tracked(), MAX_TRACKED);
        let later = t0 + interval();
        assert!(gate.admit(ConvId(20_000), true, later));
        assert_eq!(gate.tracked(), 1, "the stale entries were dropped");
    }
}
