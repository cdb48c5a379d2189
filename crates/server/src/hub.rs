//! Registry of authenticated sessions, for fan-out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use natter_store::{TokenHash, UserId};

use crate::bus::{Body, Node};
use crate::inbox::Inbox;
use crate::push::{Push, SessionKey};

#[derive(Debug)]
struct Entry {
    key: SessionKey,
    token: TokenHash,
    inbox: Arc<Inbox>,
}

/// Online sessions by user. Delivery is best effort: a session whose task is
/// gone is skipped (it unregisters itself on exit).
///
/// In a cluster, frames, re-syncs and session ends pushed here are also
/// published on the bus (`relay`) for the other nodes' sessions; messages
/// go through `bus::deliver` instead, presence is computed on each node
/// (`push_local`).
#[derive(Debug, Default)]
pub(crate) struct Hub {
    users: Mutex<HashMap<UserId, Vec<Entry>>>,
    relay: Option<Arc<Node>>,
}

impl Hub {
    /// A hub that also publishes what it pushes to `node`'s bus.
    pub(crate) fn with_relay(node: Arc<Node>) -> Self {
        let relay = (!node.is_local()).then_some(node);
        Self {
            users: Mutex::default(),
            relay,
        }
    }

    /// Publishes `body` for the other nodes (nothing on one node).
    fn relay(&self, body: impl FnOnce() -> Body) {
        if let Some(node) = &self.relay {
            node.publish(body());
        }
    }

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

    /// Pushes to every session of every user in `to`, on every node (frames
    /// and re-syncs are relayed); returns how many sessions here.
    pub(crate) fn push_to(&self, to: &[UserId], push: &Push) -> usize {
        match push {
            Push::Frame(frame) => self.relay(|| Body::Frame {
                to: to.to_vec(),
                frame: frame.to_vec(),
            }),
            Push::Sync { conv, from } => self.relay(|| Body::Sync {
                to: to.to_vec(),
                conv: *conv,
                from: *from,
            }),
            _ => {}
        }
        self.push_local(to, push)
    }

    /// Pushes to the sessions of `to` on this node only; returns how many.
    pub(crate) fn push_local(&self, to: &[UserId], push: &Push) -> usize {
        let users = self.lock();
        send_each(to.iter().filter_map(|u| users.get(u)).flatten(), push)
    }

    /// Pushes to the one session `key` of `user` (a reply to its request);
    /// false if that session is no longer registered.
    pub(crate) fn push_to_session(&self, user: UserId, key: SessionKey, push: Push) -> bool {
        let users = self.lock();
        let entry = users
            .get(&user)
            .into_iter()
            .flatten()
            .find(|e| e.key == key);
        entry.map(|e| e.inbox.push(push)).is_some()
    }

    /// Pushes to every online session of this node; returns how many.
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
        self.relay(|| Body::End {
            user,
            token: None,
            reason: reason.to_owned(),
        });
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
        self.relay(|| Body::End {
            user,
            token: Some(token),
            reason: reason.to_owned(),
        });
        self.end_where(user, reason, |e| e.token == token && Some(e.key) != keep)
    }

    /// Ends this node's connections of `user` (those using `token`, or
    /// all) as another node asked; true if the user went offline here.
    pub(crate) fn end_relayed(&self, user: UserId, token: Option<TokenHash>, reason: &str) -> bool {
        self.end_where(user, reason, |e| token.is_none_or(|t| e.token == t))
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

    /// Every session on this node as (user, token hash) (for re-checking
    /// the tokens against the store, `bus::revalidate`).
    pub(crate) fn local_sessions(&self) -> Vec<(UserId, TokenHash)> {
        let users = self.lock();
        let mut all = Vec::new();
        for (user, entries) in users.iter() {
            all.extend(entries.iter().map(|e| (*user, e.token)));
        }
        all
    }

    /// The users with a session on this node.
    pub(crate) fn online_users(&self) -> Vec<UserId> {
        self.lock().keys().copied().collect()
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use natter_store::ConvId;

    use super::*;
    use crate::inbox::{Budget, InboxStats};

    fn message(seq: u64) -> Push {
        Push::Message {
            conv: ConvId(1),
            seq,
            frame: Bytes::from(vec![0; 10]),
            e2e: false,
        }
    }

    #[tokio::test]
    async fn a_reply_reaches_its_session_past_a_full_inbox() {
        let hub = Hub::default();
        let budget = Budget {
            frames: 4,
            bytes: 1 << 20,
        };
        let inbox = Arc::new(Inbox::new(budget, InboxStats::default()));
        let (alice, key) = (UserId(1), SessionKey(7));
        assert!(hub.register(alice, key, [0; 32], inbox.clone()));
        for seq in 1..=100 {
            hub.push_to(&[alice], &message(seq));
        }
        let reply = Push::Reply(Bytes::from_static(b"sent"));
        assert!(hub.push_to_session(alice, key, reply.clone()));
        assert!(!hub.push_to_session(alice, SessionKey(8), reply.clone()));
        assert!(!hub.push_to_session(UserId(2), key, reply));
        hub.push_to(&[alice], &message(101));
        // The reply goes ahead of the queue; the marker follows.
        match inbox.pop().await {
            Push::Reply(frame) => assert_eq!(&frame[..], b"sent"),
            other => panic!("the reply was dropped: {other:?}"),
        }
        let behind = inbox.pop().await;
        assert!(matches!(behind, Push::Behind { .. }), "{behind:?}");
    }
}
