//! Registry of authenticated sessions, for fan-out.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use natter_store::{ConvId, TokenHash, UserId};
use tokio::sync::mpsc;

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
    /// The session was ended elsewhere (password change): tell the client, close.
    End { reason: String },
}

#[derive(Debug)]
struct Entry {
    key: SessionKey,
    token: TokenHash,
    tx: mpsc::UnboundedSender<Push>,
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

    /// Starts delivering pushes for `user` to `tx`.
    pub(crate) fn register(
        &self,
        user: UserId,
        key: SessionKey,
        token: TokenHash,
        tx: mpsc::UnboundedSender<Push>,
    ) {
        self.lock()
            .entry(user)
            .or_default()
            .push(Entry { key, token, tx });
    }

    /// Stops delivering to session `key` of `user`.
    pub(crate) fn unregister(&self, user: UserId, key: SessionKey) {
        let mut users = self.lock();
        if let Some(entries) = users.get_mut(&user) {
            entries.retain(|e| e.key != key);
            if entries.is_empty() {
                users.remove(&user);
            }
        }
    }

    /// Pushes to every session of every user in `to`.
    pub(crate) fn push_to(&self, to: &[UserId], push: &Push) {
        let users = self.lock();
        for entry in to.iter().filter_map(|u| users.get(u)).flatten() {
            let _ = entry.tx.send(push.clone());
        }
    }

    /// Pushes to every online session.
    pub(crate) fn push_all(&self, push: &Push) {
        for entry in self.lock().values().flatten() {
            let _ = entry.tx.send(push.clone());
        }
    }

    /// Ends every session of `user` except the one holding token `keep`.
    pub(crate) fn end_sessions(&self, user: UserId, keep: Option<TokenHash>, reason: &str) {
        let mut users = self.lock();
        let Some(entries) = users.get_mut(&user) else {
            return;
        };
        entries.retain(|e| {
            let end = Some(e.token) != keep;
            if end {
                let _ = e.tx.send(Push::End {
                    reason: reason.to_owned(),
                });
            }
            !end
        });
    }

    /// Number of online sessions.
    pub(crate) fn session_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}
