//! Server configuration; every field has a documented default.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Tunables of a [`crate::Server`]. `ServerConfig::default()` is production-ready;
/// deserializing fills missing fields with the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Largest message body in bytes; larger → `too_large`. Default 16 KiB.
    pub max_body: usize,
    /// Largest history page; requests asking more are capped. Default 500 (also the maximum).
    pub history_limit: u32,
    /// Failed-login throttling.
    pub throttle: ThrottleConfig,
    /// Password hashing cost.
    pub argon2: Argon2Config,
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
    /// Most groups one user may be a current member of; creating or joining
    /// more → `limit_reached`. Default 100.
    pub max_groups_per_user: usize,
    /// Most current members of one group; adding more → `limit_reached`. Default 1000.
    pub max_group_members: usize,
    /// Most simultaneous connections from one IP address; further ones get a
    /// `limit_reached` error frame and are closed. Default 64.
    pub max_connections_per_addr: usize,
    /// Presence changes are coalesced for this long (ms) before they are
    /// pushed, one event per receiver per window. Default 250.
    pub presence_batch_ms: u64,
}

/// Token bucket per connection: `per_second` tokens are added each second up
/// to `burst`; each write takes one. An empty bucket answers `rate_limited`
/// with the time until the next token, and the connection stays up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
            commit_batch: 256,
            commit_delay_us: 0,
            link_buffer: 1024,
            rate: RateConfig::default(),
            max_groups_per_user: 100,
            max_group_members: 1000,
            max_connections_per_addr: 64,
            presence_batch_ms: 250,
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

    /// [`Self::presence_batch_ms`] as a duration.
    pub fn presence_batch(&self) -> Duration {
        Duration::from_millis(self.presence_batch_ms)
    }

    /// [`Self::commit_delay_us`] as a duration.
    pub fn commit_delay(&self) -> Duration {
        Duration::from_micros(self.commit_delay_us)
    }
}

/// Failed-login throttling, applied separately per account and per source address.
///
/// Within any sliding minute, `failures_per_minute` failures are free; each
/// further failure blocks the key for `backoff_base_ms · 2^(n-1)` (n = failures
/// over the allowance, capped at `backoff_max_ms`), counted from that failure.
/// A successful login clears the account's record (not the address's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleConfig {
    /// Free failures per sliding minute. Default 5.
    pub failures_per_minute: u32,
    /// First block after the allowance, ms. Default 1000.
    pub backoff_base_ms: u64,
    /// Longest block, ms. Default 15 minutes.
    pub backoff_max_ms: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            failures_per_minute: 5,
            backoff_base_ms: 1000,
            backoff_max_ms: 15 * 60 * 1000,
        }
    }
}

/// argon2id cost. Defaults follow OWASP: 19 MiB, 2 iterations, 1 lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
