//! Registry of authenticated sessions, for fan-out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::inbox::Inbox;
use bytes::Bytes;
use natter_store::{ConvId, TokenHash, UserId};

/// Identifies one connection's session inside this server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey(pub(crate) u64);

/// Something pushed to a session from outside its task.
#[derive(Debug, Clone)]
pub(crate) enum Push {
    /// A committed message, already encoded as a `ServerFrame::Event`.
    Message {
        conv: ConvId,
        seq: u64,
        frame: Bytes,
    },
    /// The session was ended elsewhere (logout, revocation, password change,
    /// eviction): tell the client, close.
    End { reason: String },
    /// An encoded `ServerFrame` to forward as is (receipts, presence, read).
    Frame(Bytes),
    /// The user's membership of `conv` changed: sync it from `from` (when
    /// joined) and send the conversation list.
    Sync { conv: ConvId, from: Option<u64> },
    /// Queued by the session's [`Inbox`] itself when it went over its
    /// budget: `dropped` pushes were discarded; tell the client to re-sync.
    Behind { dropped: u64 },
}

impl Push {
    /// Pushes a slow consumer may lose: messages are durable and re-synced,
    /// receipts, read cursors and membership changes come again with the
    /// sync, presence with the next change.
    pub(crate) fn is_droppable(&self) -> bool {
        matches!(
            self,
            Self::Message { .. } | Self::Frame(_) | Self::Sync { .. }
        )
    }
}

#[derive(Debug)]
struct Entry {
    key: SessionKey,
    token: TokenHash,
    inbox: Arc<Inbox>,
}

/// Online sessions by user. Delivery is best effort: a session whose task is
/// gone is skipped (it unregisters itself on exit).
#[derive(Debug, Default)]
pub(crate) struct Hub {
    users: Mutex<HashMap<UserId, Vec<Entry>>>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Vec<Entry>>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts delivering pushes for `user` to `inbox`; true if this is the
    /// user's first session (they just came online).
    pub(crate) fn register(
        &self,
        user: UserId,
        key: SessionKey,
        token: TokenHash,
        inbox: Arc<Inbox>,
    ) -> bool {
        let mut users = self.lock();
        let entries = users.entry(user).or_default();
        entries.push(Entry { key, token, inbox });
        entries.len() == 1
    }

    /// Stops delivering to session `key` of `user`; true if that was the
    /// user's last session (they just went offline).
    pub(crate) fn unregister(&self, user: UserId, key: SessionKey) -> bool {
        let mut users = self.lock();
        let Some(entries) = users.get_mut(&user) else {
            return false;
        };
        let before = entries.len();
        entries.retain(|e| e.key != key);
        let last = entries.is_empty() && before > 0;
        if entries.is_empty() {
            users.remove(&user);
        }
        last
    }

    /// True while `user` has at least one session.
    pub(crate) fn is_online(&self, user: UserId) -> bool {
        self.lock().contains_key(&user)
    }

    /// Pushes to every session of every user in `to`; returns how many sessions.
    pub(crate) fn push_to(&self, to: &[UserId], push: &Push) -> usize {
        let users = self.lock();
        send_each(to.iter().filter_map(|u| users.get(u)).flatten(), push)
    }

    /// Pushes to every online session; returns how many.
    pub(crate) fn push_all(&self, push: &Push) -> usize {
        let users = self.lock();
        send_each(users.values().flatten(), push)
    }

    /// Ends every connection of `user` except `keep` (password change):
    /// each gets [`Push::End`] and is unregistered. Returns true if the user
    /// has no connection left (went offline).
    pub(crate) fn end_sessions(
        &self,
        user: UserId,
        keep: Option<SessionKey>,
        reason: &str,
    ) -> bool {
        self.end_where(user, reason, |e| Some(e.key) != keep)
    }

    /// Ends every connection of `user` that logged in or resumed with
    /// `token`, except `keep` (logout, revocation, eviction), like
    /// [`Hub::end_sessions`]. Returns true if the user went offline.
    pub(crate) fn end_token(
        &self,
        user: UserId,
        token: TokenHash,
        keep: Option<SessionKey>,
        reason: &str,
    ) -> bool {
        self.end_where(user, reason, |e| e.token == token && Some(e.key) != keep)
    }

    /// Records that connection `key` of `user` now holds `token` (its
    /// session got a fresh token).
    pub(crate) fn set_token(&self, user: UserId, key: SessionKey, token: TokenHash) {
        let mut users = self.lock();
        let entries = users.get_mut(&user).into_iter().flatten();
        for entry in entries.filter(|e| e.key == key) {
            entry.token = token;
        }
    }

    /// Pushes [`Push::End`] to, and unregisters, the connections of `user`
    /// matching `end`; true if none is left.
    fn end_where(&self, user: UserId, reason: &str, end: impl Fn(&Entry) -> bool) -> bool {
        let mut users = self.lock();
        let Some(entries) = users.get_mut(&user) else {
            return false;
        };
        let before = entries.len();
        entries.retain(|e| {
            if end(e) {
                e.inbox.push(Push::End {
                    reason: reason.to_owned(),
                });
                return false;
            }
            true
        });
        if entries.is_empty() {
            users.remove(&user);
            return before > 0;
        }
        false
    }

    /// Number of online sessions.
    pub(crate) fn session_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

/// Sends `push` to every entry; returns how many.
fn send_each<'a>(entries: impl Iterator<Item = &'a Entry>, push: &Push) -> usize {
    let mut n = 0;
    for entry in entries {
        entry.inbox.push(push.clone());
        n += 1;
    }
    n
}
