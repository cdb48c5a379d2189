//! Who is online on the other nodes (a leaf: plain data).
//!
//! Each node announces its users' transitions and, on joining or on a
//! `Hello`, a snapshot of all of them; every envelope counts as a sign of
//! life, and its number tells whether one before it was lost ([`Heard`]).
//! A node not heard from for a few heartbeats is presumed dead and its
//! users are forgotten. Bounded: at most [`MAX_NODES`] other nodes
//! and [`MAX_USERS_PER_NODE`] users each (more is ignored and counted).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use natter_store::UserId;

/// Most other nodes tracked.
pub(crate) const MAX_NODES: usize = 64;
/// Most online users tracked per other node (above the UDP endpoint's
/// 200 000 connections).
pub(crate) const MAX_USERS_PER_NODE: usize = 250_000;

/// What an envelope's number says about what came from its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// The next one from a known node.
    Next,
    /// A node unknown until now (new, or back after being presumed dead);
    /// `lost`: it had published before (number above 1), unheard here.
    New { lost: bool },
    /// A known node's number jumped (or went back: a restart or a
    /// misbehaving node): something from it was lost.
    Hole,
    /// Unknown, and no room to track it.
    Untracked,
}

#[derive(Debug)]
struct NodeView {
    heard: Instant,
    /// The number of its last envelope heard.
    number: u64,
    users: HashSet<UserId>,
    /// A snapshot being received: its epoch and the users so far.
    pending: Option<(u64, HashSet<UserId>)>,
}

/// Online users of the other nodes.
#[derive(Debug, Default)]
pub(crate) struct ClusterPresence {
    nodes: HashMap<u64, NodeView>,
    /// Announcements ignored because a bound was reached.
    pub(crate) refused: u64,
}

impl ClusterPresence {
    /// Records envelope `number` of `node` as heard at `now`.
    pub(crate) fn heard(&mut self, node: u64, number: u64, now: Instant) -> Heard {
        if let Some(view) = self.nodes.get_mut(&node) {
            view.heard = now;
            let next = view.number.checked_add(1) == Some(number);
            view.number = number;
            return if next { Heard::Next } else { Heard::Hole };
        }
        if self.nodes.len() >= MAX_NODES {
            self.refused += 1;
            return Heard::Untracked;
        }
        let view = NodeView {
            heard: now,
            number,
            users: HashSet::new(),
            pending: None,
        };
        self.nodes.insert(node, view);
        Heard::New { lost: number > 1 }
    }

    /// Whether `user` is online on some other node.
    pub(crate) fn online(&self, user: UserId) -> bool {
        self.nodes.values().any(|n| n.users.contains(&user))
    }

    /// Records `user` online or not on `node` (a known node).
    pub(crate) fn set(&mut self, node: u64, user: UserId, online: bool) {
        let Some(view) = self.nodes.get_mut(&node) else {
            return;
        };
        if !online {
            view.users.remove(&user);
        } else if view.users.len() < MAX_USERS_PER_NODE {
            view.users.insert(user);
        } else {
            self.refused += 1;
        }
    }

    /// Adds part of `node`'s snapshot `epoch`; on the last part (`done`)
    /// it replaces what was known and the users whose state changed there
    /// are returned.
    pub(crate) fn snapshot(
        &mut self,
        node: u64,
        epoch: u64,
        users: &[UserId],
        done: bool,
    ) -> Vec<UserId> {
        let Some(view) = self.nodes.get_mut(&node) else {
            return Vec::new();
        };
        let pending = match &mut view.pending {
            Some((e, set)) if *e == epoch => set,
            slot => &mut slot.insert((epoch, HashSet::new())).1,
        };
        let room = MAX_USERS_PER_NODE.saturating_sub(pending.len());
        if users.len() > room {
            self.refused += 1;
        }
        pending.extend(users.iter().take(room).copied());
        if !done {
            return Vec::new();
        }
        let (_, fresh) = view.pending.take().unwrap_or_default();
        let changed = fresh.symmetric_difference(&view.users).copied().collect();
        view.users = fresh;
        changed
    }

    /// Forgets the nodes not heard from since `now - dead_after`; returns
    /// their ids and users.
    pub(crate) fn sweep(&mut self, now: Instant, dead_after: Duration) -> Vec<(u64, Vec<UserId>)> {
        let dead: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(_, v)| now.saturating_duration_since(v.heard) > dead_after)
            .map(|(id, _)| *id)
            .collect();
        let take = |id: u64| self.nodes.remove(&id).map(|v| (id, v.users));
        let gone: Vec<_> = dead.into_iter().filter_map(take).collect();
        gone.into_iter()
            .map(|(id, users)| (id, users.into_iter().collect()))
            .collect()
    }

    /// Number of other nodes known alive.
    pub(crate) fn nodes(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_online_while_their_node_lives() {
        let mut c = ClusterPresence::default();
        let t0 = Instant::now();
        assert_eq!(c.heard(1, 1, t0), Heard::New { lost: false });
        c.set(1, UserId(5), true);
        assert!(c.online(UserId(5)));
        let beat = Duration::from_millis(100);
        assert!(c.sweep(t0 + beat, beat * 3).is_empty());
        let gone = c.sweep(t0 + beat * 4, beat * 3);
        assert_eq!(gone, vec![(1, vec![UserId(5)])]);
        assert!(!c.online(UserId(5)));
    }

    #[test]
    fn a_jump_or_a_step_back_in_the_numbers_is_a_hole() {
        let mut c = ClusterPresence::default();
        let now = Instant::now();
        assert_eq!(c.heard(1, 1, now), Heard::New { lost: false });
        assert_eq!(c.heard(1, 2, now), Heard::Next);
        assert_eq!(c.heard(1, 4, now), Heard::Hole, "3 was lost");
        assert_eq!(c.heard(1, 5, now), Heard::Next);
        assert_eq!(c.heard(1, 2, now), Heard::Hole, "back: a restart");
        assert_eq!(c.heard(1, 3, now), Heard::Next);
        assert_eq!(c.heard(1, u64::MAX, now), Heard::Hole);
        assert_eq!(c.heard(1, 0, now), Heard::Hole, "no overflow");
        assert_eq!(c.heard(2, 40, now), Heard::New { lost: true });
        // Presumed dead, then heard again: what it said meanwhile is lost.
        c.sweep(now + Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(c.heard(2, 41, now), Heard::New { lost: true });
    }

    #[test]
    fn a_snapshot_replaces_and_reports_the_differences() {
        let mut c = ClusterPresence::default();
        c.heard(2, 1, Instant::now());
        c.set(2, UserId(1), true);
        c.set(2, UserId(2), true);
        assert!(c.snapshot(2, 9, &[UserId(2)], false).is_empty());
        let mut changed = c.snapshot(2, 9, &[UserId(3)], true);
        changed.sort();
        assert_eq!(changed, vec![UserId(1), UserId(3)]);
        assert!(!c.online(UserId(1)) && c.online(UserId(2)) && c.online(UserId(3)));
    }

    #[test]
    fn a_flood_of_nodes_and_users_is_bounded() {
        let mut c = ClusterPresence::default();
        let now = Instant::now();
        let tracked = |h: Heard| h != Heard::Untracked;
        let admitted = (0..1000u64)
            .filter(|n| tracked(c.heard(*n, 1, now)))
            .count();
        assert_eq!(admitted, MAX_NODES);
        for u in 0..(MAX_USERS_PER_NODE as i64 + 1000) {
            c.set(0, UserId(u), true);
        }
        let flood: Vec<UserId> = (0..MAX_USERS_PER_NODE as i64 + 10).map(UserId).collect();
        c.snapshot(1, 1, &flood, true);
        assert!(c.online(UserId(0)));
        assert!(!c.online(UserId(MAX_USERS_PER_NODE as i64 + 5)));
        assert!(c.refused >= 1000);
        assert_eq!(c.nodes(), MAX_NODES);
    }
}
