//! Server configuration; every field has a documented default.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Tunables of a [`crate::Server`]. `ServerConfig::default()` is production-ready;
/// deserializing fills missing fields with the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest message body in bytes; larger → `too_large`. Default 16 KiB.
    pub max_body: usize,
    /// Largest history page; requests asking more are capped. Default 500 (also the maximum).
    pub history_limit: u32,
    /// Login and registration limits: failed-login throttling and attempt
    /// rates per address (see [`ThrottleConfig`]).
    pub throttle: ThrottleConfig,
    /// Password hashing cost.
    pub argon2: Argon2Config,
    /// Password hashes (argon2, for register, login and password change)
    /// computed at the same time; 0 = the number of cores. Memory for
    /// hashing is at most this × `argon2.memory_kib`. Default 0.
    pub hash_concurrency: usize,
    /// Hash requests that may wait for a free slot; one that finds the
    /// queue full is answered `too_many_attempts` at once, without
    /// hashing. 0 = 4 × the concurrency. Default 0.
    pub hash_queue: usize,
    /// Most messages committed in one store transaction. Default 256.
    pub commit_batch: usize,
    /// How long the writer waits for more messages before committing a batch
    /// that is not full, in microseconds. Default 0: commit whatever is queued
    /// as soon as the previous commit is done (batches grow under load anyway).
    pub commit_delay_us: u64,
    /// Frames queued towards one connection before the session waits. Default 1024.
    pub link_buffer: usize,
    /// Per-connection rate limit on writes (send, create/join/leave group, invite).
    pub rate: RateConfig,
    /// Per-connection rate limit on every other request (history, users,
    /// conversations, members, presence, receipt, groups, ping, login…),
    /// logged in or not; delivery acks are not limited. Default 100/s, burst 200.
    pub read_rate: RateConfig,
    /// Slow consumers: most frames the server holds for one session between
    /// the fan-out and the client (its inbox, its link channel and, over UDP,
    /// the transport's unacknowledged queue). A live push that would exceed
    /// this or [`Self::max_queued_bytes`] marks the session *behind*: its
    /// queued pushes are dropped (messages are durable), one
    /// `Event::Behind` is sent, and nothing live follows on that connection;
    /// the client re-syncs by resuming on a new one. A session still open
    /// [`Self::slow_consumer_grace_ms`] after it was marked is disconnected.
    /// An idle session holds nothing. Default 2048.
    pub max_queued_frames: usize,
    /// Slow consumers: most bytes of pushed frames held for one session (see
    /// [`Self::max_queued_frames`]). Default 1 MiB.
    pub max_queued_bytes: usize,
    /// Slow consumers: how long (ms) a session marked behind may stay
    /// connected. A connection whose socket (WebSocket) or transport (UDP)
    /// takes no frame for twice this long is closed too, behind or not.
    /// Default 15000.
    pub slow_consumer_grace_ms: u64,
    /// Most bytes one UDP connection's transport holds queued or
    /// unacknowledged before the session's frames wait (backpressure).
    /// Default 256 KiB.
    pub transport_queue_bytes: usize,
    /// Most groups one user may be a current member of; creating or joining
    /// more → `limit_reached`. Default 100.
    pub max_groups_per_user: usize,
    /// Most current members of one group; adding more → `limit_reached`. Default 1000.
    pub max_group_members: usize,
    /// Most entries of one group's ban list; banning more → `limit_reached`
    /// (unban someone first). Default 1000.
    pub max_bans_per_group: usize,
    /// Entries per page of the conversation list: the sync after login sends
    /// the list in parts of this size, and `conversations_page` answers at
    /// most this many. Capped at 500 (`natter_api::MAX_CONVERSATION_PAGE`),
    /// which keeps every page far below the 1 MiB message limit. Default 200.
    pub conversation_page: u32,
    /// Most simultaneous connections from one IP address; further ones get a
    /// `limit_reached` error frame and are closed. Default 64.
    pub max_connections_per_addr: usize,
    /// Presence changes are coalesced for this long (ms) before they are
    /// pushed, one event per receiver per window. Default 250.
    pub presence_batch_ms: u64,
    /// Limits of the HTTP front door (the `[server.http]` table):
    /// header-read and WebSocket idle timeouts, connection caps per address
    /// and in total. See [`crate::http::HttpConfig`].
    pub http: crate::http::HttpConfig,
    /// A login session idle (no login or resume with its token) for longer
    /// than this many seconds expires: its token no longer resumes. Default
    /// 2 592 000 (30 days).
    pub session_idle_secs: u64,
    /// Most login sessions one user may have; a login beyond it ends the
    /// least recently used one. Default 100.
    pub max_sessions_per_user: usize,
    /// How long after sending (seconds) a message may still be edited;
    /// later edits are refused with `edit_window_closed`. `None` (the
    /// default): no limit. Deleting has no time limit.
    pub edit_window_secs: Option<u64>,
    /// Server admins: account names (any case) that may send operator
    /// requests (`natter admin …`: list users, disable, reset passwords,
    /// delete a user's messages, statistics) and moderate every group.
    /// Default: none.
    pub admins: Vec<String>,
    /// File transfer limits (the `[server.files]` table): size, quota,
    /// expiry, unfinished uploads per user. See [`crate::files::FilesConfig`].
    pub files: crate::files::FilesConfig,
    /// Cluster mode (issue 11): the shared store, `postgres://…`; `None`
    /// (the default): the embedded SQLite file in the data directory.
    /// Read by `natter serve` (`--store`), not by the server itself.
    pub store: Option<String>,
    /// Cluster mode: the bus between nodes, `nats://host:port`; `None`
    /// (the default): in-process, a single node (`--bus`).
    pub bus: Option<String>,
    /// Cluster mode: how often a node tells the others it is alive, in
    /// ms; a node silent for 3 heartbeats is presumed dead and its users
    /// offline. Default 2000.
    pub bus_heartbeat_ms: u64,
}

/// Token bucket per connection: `per_second` tokens are added each second up
/// to `burst`; each write takes one. An empty bucket answers `rate_limited`
/// with the time until the next token, and the connection stays up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Sustained writes per second. Default 20.
    pub per_second: f64,
    /// Bucket size (writes allowed at once). Default 50.
    pub burst: f64,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            per_second: 20.0,
            burst: 50.0,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body: 16 * 1024,
            history_limit: natter_api::MAX_HISTORY_LIMIT,
            throttle: ThrottleConfig::default(),
            argon2: Argon2Config::default(),
            hash_concurrency: 0,
            hash_queue: 0,
            commit_batch: 256,
            commit_delay_us: 0,
            link_buffer: 1024,
            rate: RateConfig::default(),
            read_rate: RateConfig {
                per_second: 100.0,
                burst: 200.0,
            },
            max_queued_frames: 2048,
            max_queued_bytes: 1024 * 1024,
            slow_consumer_grace_ms: 15_000,
            transport_queue_bytes: 256 * 1024,
            max_groups_per_user: 100,
            max_group_members: 1000,
            max_bans_per_group: 1000,
            conversation_page: 200,
            max_connections_per_addr: 64,
            presence_batch_ms: 250,
            http: crate::http::HttpConfig::default(),
            session_idle_secs: 30 * 24 * 60 * 60,
            max_sessions_per_user: 100,
            edit_window_secs: None,
            admins: Vec::new(),
            files: crate::files::FilesConfig::default(),
            store: None,
            bus: None,
            bus_heartbeat_ms: 2000,
        }
    }
}

impl ServerConfig {
    /// Cheap hashing and unchanged limits: for tests only.
    pub fn for_tests() -> Self {
        Self {
            argon2: Argon2Config {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            ..Self::default()
        }
    }

    /// Whether the account named `name` is a server admin (see
    /// [`Self::admins`]; names compare case-insensitively).
    pub fn is_server_admin(&self, name: &str) -> bool {
        let key = natter_store::name_key(name);
        self.admins.iter().any(|a| natter_store::name_key(a) == key)
    }

    /// [`Self::session_idle_secs`] in milliseconds (as the store takes it).
    pub fn session_idle_ms(&self) -> i64 {
        i64::try_from(self.session_idle_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// [`Self::conversation_page`] clamped to 1–500.
    pub fn conversation_page(&self) -> usize {
        self.conversation_page
            .clamp(1, natter_api::MAX_CONVERSATION_PAGE) as usize
    }

    /// [`Self::presence_batch_ms`] as a duration.
    pub fn presence_batch(&self) -> Duration {
        Duration::from_millis(self.presence_batch_ms)
    }

    /// [`Self::slow_consumer_grace_ms`] as a duration.
    pub fn slow_consumer_grace(&self) -> Duration {
        Duration::from_millis(self.slow_consumer_grace_ms)
    }

    /// How long a gateway waits for its socket or transport to take one
    /// frame before closing the connection: twice the slow-consumer grace,
    /// so a session marked behind is ended by its own rule first.
    pub fn write_stall(&self) -> Duration {
        self.slow_consumer_grace().saturating_mul(2)
    }

    /// [`Self::commit_delay_us`] as a duration.
    pub fn commit_delay(&self) -> Duration {
        Duration::from_micros(self.commit_delay_us)
    }
}

/// Login and registration limits. Refusals are `too_many_attempts` with
/// `retry_after_ms` and cost no password hash.
///
/// Failed logins are counted per (address, account) pair and per address,
/// never per account alone, so guessing from one address cannot lock the
/// owner out from another. Within any sliding minute a key has its free
/// failures (`failures_per_minute` for a pair, `addr_failures_per_minute`
/// for an address over all accounts); each further failure blocks that key
/// for `backoff_base_ms · 2^(n-1)` (n = failures over the allowance, capped
/// at `backoff_max_ms`), counted from that failure. A successful login
/// clears its pair's record (not the address's).
///
/// Against guessing spread over many addresses, an account that collected
/// more than `account_failures_per_minute` failures in the last minute is
/// *guarded*: only addresses with no failure of their own in that minute may
/// try it. An address without failures is never refused by this rule, so the
/// owner can always log in from a clean address.
///
/// Every login attempt (success or failure) also takes a token from its
/// address's bucket (`login_per_minute`, `login_burst`), and every
/// registration from another (`register_per_minute`, `register_burst`).
/// IPv6 addresses are counted by /64 prefix. Each table remembers at most
/// `max_tracked` keys; beyond that the least recently used is forgotten.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Free failures per (address, account) pair per sliding minute. Default 5.
    pub failures_per_minute: u32,
    /// Free failures per address (all accounts) per sliding minute. Default 20.
    pub addr_failures_per_minute: u32,
    /// Failures of one account (all addresses) per sliding minute above which
    /// only addresses without failures may try it. Default 20.
    pub account_failures_per_minute: u32,
    /// First block after the allowance, ms. Default 1000.
    pub backoff_base_ms: u64,
    /// Longest block, ms. Default 15 minutes.
    pub backoff_max_ms: u64,
    /// Login attempts per address per minute, sustained. Default 30.
    pub login_per_minute: f64,
    /// Login attempts per address at once. Default 30.
    pub login_burst: f64,
    /// Registrations per address per minute, sustained. Default 5.
    pub register_per_minute: f64,
    /// Registrations per address at once. Default 10.
    pub register_burst: f64,
    /// Most keys (addresses, pairs, accounts) each table remembers. Default 65536.
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            failures_per_minute: 5,
            addr_failures_per_minute: 20,
            account_failures_per_minute: 20,
            backoff_base_ms: 1000,
            backoff_max_ms: 15 * 60 * 1000,
            login_per_minute: 30.0,
            login_burst: 30.0,
            register_per_minute: 5.0,
            register_burst: 10.0,
            max_tracked: 65_536,
        }
    }
}

/// argon2id cost. Defaults follow OWASP: 19 MiB, 2 iterations, 1 lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    /// Memory cost in KiB. Default 19456.
    pub memory_kib: u32,
    /// Iterations. Default 2.
    pub iterations: u32,
    /// Lanes. Default 1.
    pub parallelism: u32,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}
