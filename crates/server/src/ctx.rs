//! State shared by every session, the writer and the server handle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use natter_api as api;
use natter_store::{ConvId, ConvKind, Conversation, Store, StoreError, UserId};
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::convert;
use crate::error::CmdError;
use crate::hasher::HashGate;
use crate::hub::Hub;
use crate::limits::AddrCounter;
use crate::metrics::Metrics;
use crate::presence::handle::{Change, PresenceHandle};
use crate::push::SessionKey;
use crate::throttle::Throttle;
use crate::tracker::Tracker;
use crate::writer::job::WriterHandle;

/// Everything behind a [`crate::Server`] handle.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: ServerConfig,
    pub(crate) hub: Hub,
    pub(crate) throttle: Throttle,
    /// Bounds password hashing (concurrency and queue).
    pub(crate) hashes: HashGate,
    pub(crate) lobby: ConvId,
    /// Sessions; shutdown waits for them.
    pub(crate) tasks: Arc<Tracker>,
    /// Flips to `true` once at shutdown.
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) accepting: AtomicBool,
    /// The one way to the writer (closed at shutdown).
    pub(crate) writer: WriterHandle,
    /// Presence transitions towards the presence task (closed at shutdown).
    pub(crate) presence: PresenceHandle,
    /// Last ✓✓ watermark pushed per (conversation, member).
    pub(crate) receipts: Mutex<HashMap<(ConvId, UserId), u64>>,
    /// Open connections per address.
    pub(crate) addrs: Arc<AddrCounter>,
    /// Counters for `/metrics`.
    pub(crate) metrics: Metrics,
    /// File transfer: the store on disk and the upload claims.
    pub(crate) files: crate::files::FileService,
    next_session: AtomicU64,
    names: Mutex<HashMap<UserId, api::UserInfo>>,
    members: Mutex<MemberCache>,
    /// Muted users per group (see `access::muted`).
    pub(crate) mutes: crate::mutes::MuteCache,
    /// This node on the cluster bus (in-process on a single node).
    pub(crate) bus: Arc<crate::bus::Node>,
    /// `/healthz`'s last store probe (one per second at most).
    pub(crate) health: crate::bus::health::HealthCache,
    /// Orders token changes (password change, logout) with session
    /// revalidation on this node.
    pub(crate) tokens: crate::token_gate::TokenGate,
}

/// Current member lists of non-lobby conversations, sorted by user id.
#[derive(Default)]
struct MemberCache {
    lists: HashMap<ConvId, Arc<[UserId]>>,
    /// Whether a conversation is end-to-end encrypted (plain text is
    /// refused there); forgotten with the member list.
    e2e: HashMap<ConvId, bool>,
    /// Bumped by every [`Shared::forget_members`]: a list read from the
    /// store before a bump may be stale and is not cached.
    epoch: u64,
}

impl Shared {
    #[cfg(test)]
    pub(crate) fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        Self::with_node(store, config, Arc::default())
    }

    /// Shared state of a node on the cluster bus `bus`.
    pub(crate) fn with_node(
        store: Arc<dyn Store>,
        config: ServerConfig,
        bus: Arc<crate::bus::Node>,
    ) -> Self {
        let metrics = Metrics::default();
        Self {
            lobby: store.lobby(),
            throttle: Throttle::new(config.throttle.clone()),
            hashes: HashGate::new(&config, metrics.hashes_in_flight.clone()),
            files: crate::files::FileService::new(&config.files),
            store,
            config,
            hub: Hub::with_relay(bus.clone()),
            bus,
            tasks: Arc::default(),
            shutdown: watch::Sender::new(false),
            accepting: AtomicBool::new(true),
            writer: WriterHandle::default(),
            presence: PresenceHandle::default(),
            receipts: Mutex::default(),
            addrs: Arc::default(),
            metrics,
            next_session: AtomicU64::new(1),
            names: Mutex::default(),
            members: Mutex::default(),
            mutes: crate::mutes::MuteCache::default(),
            health: crate::bus::health::HealthCache::default(),
            tokens: crate::token_gate::TokenGate::default(),
        }
    }

    /// A process-unique key for a new session.
    pub(crate) fn new_session_key(&self) -> SessionKey {
        SessionKey(self.next_session.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs a (synchronous, possibly slow) store call off the async threads.
    pub(crate) async fn db<T, F>(&self, f: F) -> Result<T, CmdError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || f(&*store)).await??)
    }

    /// The public face of user `id` (cached: names never change).
    pub(crate) async fn user_info(&self, id: UserId) -> Result<api::UserInfo, CmdError> {
        if let Some(info) = self.names_lock().get(&id) {
            return Ok(info.clone());
        }
        let user = self.db(move |s| s.user(id)).await?;
        let user = user.ok_or(StoreError::NotFound)?;
        let info = convert::user_info(&user);
        self.names_lock().insert(id, info.clone());
        Ok(info)
    }

    /// The API form of a stored message.
    pub(crate) async fn message(&self, m: natter_store::Message) -> Result<api::Message, CmdError> {
        let sender = match m.sender {
            Some(id) => Some(self.user_info(id).await?),
            None => None,
        };
        // A deleted message shows nothing, an edit or delete entry is no message.
        let plain = m.deleted || m.action.is_some();
        let e2e = crate::e2e::key_of(&m).filter(|_| !plain);
        let target = match m.action {
            Some(action) => {
                let (conv, seq) = (m.conv, action.target());
                self.db(move |s| s.message(conv, seq)).await?
            }
            None => None,
        };
        let offer = crate::files::offer_in(self, &m).await?;
        let mut message = convert::message(m, sender);
        message.file = offer;
        if let Some(target) = target {
            convert::fold_target(&mut message, &target);
        }
        if let Some(key) = e2e {
            let body = self.db(move |s| s.encrypted(key)).await?;
            message.e2e = body.map(crate::e2e::api_encrypted);
        }
        Ok(message)
    }

    /// Current members of a non-lobby conversation (cached; directs never change.
    /// Whoever changes a group's membership must call [`Self::forget_members`]).
    /// A list is cached only if non-empty and read within one cache epoch, so
    /// a direct's creation needs no forgetting: before it the id has no list.
    pub(crate) async fn members(&self, conv: ConvId) -> Result<Arc<[UserId]>, CmdError> {
        let epoch = {
            let cache = self.members_lock();
            if let Some(m) = cache.lists.get(&conv) {
                return Ok(m.clone());
            }
            cache.epoch
        };
        let members = self.db(move |s| s.members(conv)).await?;
        let ids: Arc<[UserId]> = members.iter().map(|m| m.user).collect();
        let mut cache = self.members_lock();
        // An empty list may be a conversation not created yet: not cached.
        if cache.epoch == epoch && !ids.is_empty() {
            cache.lists.insert(conv, ids.clone());
        }
        Ok(ids)
    }

    /// Whether `conv` is an end-to-end encrypted direct (cached like the
    /// member lists: whoever marks one encrypted calls
    /// [`Self::forget_members`]). The lobby never is. Only for a
    /// conversation the caller passed an access check in: each one asked
    /// about takes an entry. A cluster node caches only "encrypted" (a
    /// direct never goes back): another node may mark one encrypted, and
    /// its `Forget` can be lost on the bus, which would leave "plain"
    /// cached here and let plain text in.
    pub(crate) async fn is_e2e(&self, conv: ConvId) -> Result<bool, CmdError> {
        if conv == self.lobby {
            return Ok(false);
        }
        let epoch = {
            let cache = self.members_lock();
            if let Some(&e2e) = cache.e2e.get(&conv) {
                return Ok(e2e);
            }
            cache.epoch
        };
        let e2e = self.db(move |s| s.is_e2e(conv)).await?;
        let mut cache = self.members_lock();
        if cache.epoch == epoch && (e2e || self.bus.is_local()) {
            cache.e2e.insert(conv, e2e);
        }
        Ok(e2e)
    }

    /// How many conversations [`Self::is_e2e`] holds an answer for.
    #[cfg(test)]
    pub(crate) fn e2e_cached(&self) -> usize {
        self.members_lock().e2e.len()
    }

    /// Reports that `user` came online or went offline on this node (and
    /// tells the other nodes); nothing changes for contacts while the user
    /// is online on another node.
    pub(crate) fn presence_changed(&self, user: UserId, online: bool) {
        self.bus.publish_presence(user, online);
        if self.bus.online_elsewhere(user) {
            return;
        }
        self.report_presence(user, online);
    }

    /// Queues a presence transition of `user` for this node's contacts.
    pub(crate) fn report_presence(&self, user: UserId, online: bool) {
        let at_ms = now_ms();
        self.presence.report(Change {
            user,
            online,
            at_ms,
        });
    }

    /// Drops the cached member list (and encryption flag, [`Self::is_e2e`])
    /// of `conv` here and on every node. Only the writer changes group
    /// membership (and only it fans out), so its view is always current.
    ///
    /// The one membership write outside the writer is a direct's creation
    /// (`cmd::send::direct_with` → `Conversations::direct`, on the first
    /// message to a user): the conversation and its two fixed members in
    /// one store transaction, never changed afterwards (a join looks up a
    /// group by name; leave, invite and kick resolve their conversation with
    /// `groups::by_id`, which accepts only groups). That is safe: `direct` is
    /// idempotent under races (SQLite: one write connection, look-up and
    /// insert in one transaction; PostgreSQL: a SERIALIZABLE transaction under
    /// the unique index `direct_pairs`, a racing creator gets a serialization
    /// failure and its retry finds the committed direct; memory: one lock);
    /// no cache can hold a stale list (an empty list is never cached, and a
    /// direct has no other); and the message that created it is handed to
    /// the writer only after the commit, so its fan-out reads both members.
    pub(crate) fn forget_members(&self, conv: ConvId) {
        self.bus.publish(crate::bus::Body::Forget { conv });
        self.forget_here(conv);
    }

    /// Drops this node's cached member and mute lists of `conv` (another
    /// node changed them).
    pub(crate) fn forget_here(&self, conv: ConvId) {
        let mut cache = self.members_lock();
        cache.lists.remove(&conv);
        cache.e2e.remove(&conv);
        cache.epoch += 1;
        drop(cache);
        self.mutes.forget(conv);
    }

    /// Drops every cached member and mute list of this node (envelopes
    /// from another node, `Forget`s among them, may have been lost).
    pub(crate) fn forget_all_caches(&self) {
        let mut cache = self.members_lock();
        cache.lists.clear();
        cache.e2e.clear();
        cache.epoch += 1;
        drop(cache);
        self.mutes.forget_all();
    }

    /// Whether `user` is online on this node or another one.
    pub(crate) fn online_anywhere(&self, user: UserId) -> bool {
        self.hub.is_online(user) || self.bus.online_elsewhere(user)
    }

    /// The conversation `conv` as listed to `me`, with its newest message
    /// `last` (`None`: empty) read for the whole list at once
    /// ([`natter_store::LastMessages`]).
    pub(crate) async fn conversation_info(
        &self,
        conv: Conversation,
        me: UserId,
        (delivered, read): (u64, u64),
        last: Option<natter_store::LastMessage>,
    ) -> Result<api::ConversationInfo, CmdError> {
        let id = conv.id;
        let (last_seq, last_ts_ms) = last.map_or((0, 0), |m| (m.seq, m.ts_ms.max(0) as u64));
        let e2e = conv.kind == ConvKind::Direct && self.is_e2e(id).await?;
        let kind = match conv.kind {
            ConvKind::Direct => {
                let peer = self.members(id).await?.iter().copied().find(|u| *u != me);
                let peer = peer.ok_or(StoreError::Corrupt("direct without peer".into()))?;
                api::ConversationKind::Direct {
                    peer: self.user_info(peer).await?,
                }
            }
            ConvKind::Group => api::ConversationKind::Group {
                name: conv.name.unwrap_or_default(),
                public: conv.public,
            },
            ConvKind::Lobby => api::ConversationKind::Lobby,
        };
        Ok(api::ConversationInfo {
            id: convert::api_conv(id),
            kind,
            last_seq,
            delivered,
            read,
            last_ts_ms,
            e2e,
        })
    }

    fn names_lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, api::UserInfo>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn members_lock(&self) -> std::sync::MutexGuard<'_, MemberCache> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as i64)
}
