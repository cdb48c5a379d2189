//! The server's gatekeeper for new connections: it decides, before any
//! Diffie-Hellman work, whether an Initial is answered, asked for a retry
//! token, or dropped.
//!
//! - An Initial must fill at least [`MIN_INITIAL_SIZE`] bytes, so the
//!   server's reply (far smaller) can never amplify a spoofed flood.
//! - Each source IP has a token bucket of handshakes.
//! - Under load (or always, by policy) the client must first echo a
//!   stateless retry token that proves it receives at its address.
//! - The client's ephemeral key is remembered for two token windows: a
//!   replayed Initial is ignored instead of costing another DH. Replays are
//!   recognised *before* the source's bucket is charged, so replaying a
//!   victim's Initial from the victim's address cannot use up its allowance.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::config::{RetryPolicy, ServerEndpointConfig};
use crate::crypto::{StaticKeypair, TokenKey};
use crate::packet::{ConnectionId, MIN_INITIAL_SIZE};

/// Most source addresses tracked by the rate limiter.
const MAX_SOURCES: usize = 65_536;
/// Most ephemeral keys remembered against replays.
const MAX_REPLAY_ENTRIES: usize = 262_144;

/// Why an Initial was dropped (each reason has its own counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Smaller than [`MIN_INITIAL_SIZE`]: answering could amplify a spoofed flood.
    TooSmall,
    /// The handshake message is too short to hold an ephemeral key.
    BadHandshake,
    /// The retry token does not validate for this address and connection ID.
    BadToken,
    /// The source address used up its handshake allowance.
    RateLimited,
    /// The server holds its maximum number of connections.
    Full,
    /// The client's ephemeral key was seen recently.
    Replayed,
}

/// What to do with an Initial that opens a new connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InitialVerdict {
    /// Ignore it (and count it under its reason).
    Drop(Refusal),
    /// Answer with a Retry carrying this token.
    Retry(Vec<u8>),
    /// Do the handshake; `validated` if a valid token proved the address.
    Accept { validated: bool },
}

pub(crate) struct Guard {
    config: ServerEndpointConfig,
    tokens: TokenKey,
    epoch: Option<Instant>,
    sources: HashMap<IpAddr, Bucket>,
    replay: ReplayCache,
}

impl Guard {
    pub(crate) fn new(config: ServerEndpointConfig) -> Self {
        Self {
            tokens: TokenKey::new(config.token_secret),
            config,
            epoch: None,
            sources: HashMap::new(),
            replay: ReplayCache::default(),
        }
    }

    pub(crate) fn keypair(&self) -> &StaticKeypair {
        &self.config.keypair
    }

    pub(crate) fn max_connections(&self) -> usize {
        self.config.max_connections
    }

    /// Decides the fate of an Initial for an unknown connection.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_initial(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        len: usize,
        dcid: ConnectionId,
        token: &[u8],
        msg1: &[u8],
        handshaking: usize,
        full: bool,
    ) -> InitialVerdict {
        if len < MIN_INITIAL_SIZE {
            return InitialVerdict::Drop(Refusal::TooSmall);
        }
        let Some(ephemeral) = msg1.first_chunk::<32>() else {
            return InitialVerdict::Drop(Refusal::BadHandshake);
        };
        if full {
            return InitialVerdict::Drop(Refusal::Full);
        }
        let window = self.window(now);
        let validated = !token.is_empty();
        if validated && !self.tokens.validate(window, &remote, &dcid, token) {
            return InitialVerdict::Drop(Refusal::BadToken);
        }
        if !validated && self.needs_token(handshaking) {
            return InitialVerdict::Retry(self.tokens.issue(window, &remote, &dcid));
        }
        // Replays first: they must not cost the source its allowance.
        if self.replay.contains(now, ephemeral) {
            return InitialVerdict::Drop(Refusal::Replayed);
        }
        if !self.allow_source(now, remote.ip()) {
            return InitialVerdict::Drop(Refusal::RateLimited);
        }
        self.replay
            .insert(now, *ephemeral, 2 * self.config.token_window);
        InitialVerdict::Accept { validated }
    }

    /// The connection of the client with this ephemeral key ended before
    /// the handshake was confirmed: a repeat of its Initial is answered
    /// again (see `Endpoint::leave_handshaking`).
    pub(crate) fn forget_ephemeral(&mut self, ephemeral: &[u8; 32]) {
        self.replay.remove(ephemeral);
    }

    fn needs_token(&self, handshaking: usize) -> bool {
        match self.config.retry_policy {
            RetryPolicy::Always => true,
            RetryPolicy::UnderLoad => handshaking >= self.config.load_threshold,
            RetryPolicy::Never => false,
        }
    }

    /// Index of the token window `now` falls in.
    fn window(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        let len = self.config.token_window.as_millis().max(1);
        // Start at window 1 so "the previous window" always exists.
        1 + (now.saturating_duration_since(epoch).as_millis() / len) as u64
    }

    fn allow_source(&mut self, now: Instant, ip: IpAddr) -> bool {
        let (rate, burst) = (
            self.config.handshakes_per_second,
            self.config.handshake_burst,
        );
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&ip) {
            self.sources.retain(|_, b| !b.is_full(now, rate, burst));
            if self.sources.len() >= MAX_SOURCES {
                return false;
            }
        }
        self.sources
            .entry(ip)
            .or_insert_with(|| Bucket::full(now, burst))
            .take(now, rate, burst)
    }
}

/// A token bucket of handshakes for one source address.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(now: Instant, burst: f64) -> Self {
        Self {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant, rate: f64, burst: f64) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
    }

    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        self.refill(now, rate, burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn is_full(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        self.refill(now, rate, burst);
        self.tokens >= burst
    }
}

/// Client ephemeral keys seen recently, oldest first.
#[derive(Default)]
struct ReplayCache {
    seen: HashMap<[u8; 32], Instant>,
    order: VecDeque<([u8; 32], Instant)>,
}

impl ReplayCache {
    /// Whether `key` was seen and has not expired at `now`.
    fn contains(&mut self, now: Instant, key: &[u8; 32]) -> bool {
        self.expire(now);
        self.seen.contains_key(key)
    }

    /// Remembers `key` (not already there, see [`Self::contains`]) until
    /// `now + ttl`.
    fn insert(&mut self, now: Instant, key: [u8; 32], ttl: Duration) {
        self.expire(now);
        if self.order.len() >= MAX_REPLAY_ENTRIES
            && let Some(oldest) = self.order.pop_front()
        {
            self.unlink(oldest);
        }
        self.seen.insert(key, now + ttl);
        self.order.push_back((key, now + ttl));
    }

    /// Forgets `key` at once. Its entry in `order` stays until it expires
    /// (bounded like the rest); [`Self::unlink`] then leaves a newer entry
    /// of the same key alone.
    fn remove(&mut self, key: &[u8; 32]) {
        self.seen.remove(key);
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(key, until)) = self.order.front() {
            if until > now {
                break;
            }
            self.order.pop_front();
            self.unlink((key, until));
        }
    }

    /// Drops `seen`'s entry for an entry leaving `order`, unless the key
    /// was removed and inserted again since (a later expiry).
    fn unlink(&mut self, (key, until): ([u8; 32], Instant)) {
        if self.seen.get(&key) == Some(&until) {
            self.seen.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(policy: RetryPolicy) -> Guard {
        let kp = StaticKeypair::generate([7; 32]);
        let mut cfg = ServerEndpointConfig::new(kp, [9; 32]);
        cfg.retry_policy = policy;
        cfg.handshake_burst = 3.0;
        cfg.handshakes_per_second = 1.0;
        Guard::new(cfg)
    }

    #[allow(clippy::disallowed_methods)]
    fn start() -> Instant {
        Instant::now()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn msg1(n: u8) -> Vec<u8> {
        vec![n; 48]
    }

    const DCID: ConnectionId = ConnectionId([1; 8]);

    #[test]
    fn small_initial_is_dropped() {
        let mut g = guard(RetryPolicy::Never);
        let v = g.check_initial(start(), addr(1), 1199, DCID, &[], &msg1(1), 0, false);
        assert_eq!(v, InitialVerdict::Drop(Refusal::TooSmall));
    }

    #[test]
    fn replayed_ephemeral_is_dropped() {
        let mut g = guard(RetryPolicy::Never);
        let t = start();
        let first = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(1), 0, false);
        assert_eq!(first, InitialVerdict::Accept { validated: false });
        let again = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(1), 0, false);
        assert_eq!(again, InitialVerdict::Drop(Refusal::Replayed));
    }

    #[test]
    fn retry_token_round_trip_and_address_binding() {
        let mut g = guard(RetryPolicy::Always);
        let t = start();
        let InitialVerdict::Retry(token) =
            g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(1), 0, false)
        else {
            panic!("expected a retry")
        };
        let other = g.check_initial(t, addr(2), 1200, DCID, &token, &msg1(1), 0, false);
        assert_eq!(
            other,
            InitialVerdict::Drop(Refusal::BadToken),
            "token bound to the address"
        );
        let ok = g.check_initial(t, addr(1), 1200, DCID, &token, &msg1(1), 0, false);
        assert_eq!(ok, InitialVerdict::Accept { validated: true });
    }

    #[test]
    fn token_expires_after_two_windows() {
        let mut g = guard(RetryPolicy::Always);
        let t = start();
        let InitialVerdict::Retry(token) =
            g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(1), 0, false)
        else {
            panic!("expected a retry")
        };
        let late = t + 2 * g.config.token_window + Duration::from_millis(1);
        let v = g.check_initial(late, addr(1), 1200, DCID, &token, &msg1(1), 0, false);
        assert_eq!(v, InitialVerdict::Drop(Refusal::BadToken));
    }

    #[test]
    fn under_load_asks_for_tokens_only_under_load() {
        let mut g = guard(RetryPolicy::UnderLoad);
        let t = start();
        let calm = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(1), 0, false);
        assert_eq!(calm, InitialVerdict::Accept { validated: false });
        let busy = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(2), 10_000, false);
        assert!(matches!(busy, InitialVerdict::Retry(_)));
    }

    #[test]
    fn per_source_rate_limit() {
        let mut g = guard(RetryPolicy::Never);
        let t = start();
        let verdicts: Vec<_> = (0..5)
            .map(|i| g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(i), 0, false))
            .collect();
        let accepted = verdicts
            .iter()
            .filter(|v| matches!(v, InitialVerdict::Accept { .. }));
        assert_eq!(accepted.count(), 3, "burst of 3");
        let later = t + Duration::from_secs(1);
        let v = g.check_initial(later, addr(1), 1200, DCID, &[], &msg1(9), 0, false);
        assert_eq!(v, InitialVerdict::Accept { validated: false }, "refilled");
        let elsewhere = SocketAddr::from(([127, 0, 0, 2], 1));
        let other = g.check_initial(t, elsewhere, 1200, DCID, &[], &msg1(8), 0, false);
        assert!(matches!(other, InitialVerdict::Accept { .. }));
    }

    #[test]
    fn replays_do_not_charge_the_sources_bucket() {
        let mut g = guard(RetryPolicy::Never);
        let t = start();
        let first = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(1), 0, false);
        assert_eq!(first, InitialVerdict::Accept { validated: false });
        for _ in 0..100 {
            let v = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(1), 0, false);
            assert_eq!(v, InitialVerdict::Drop(Refusal::Replayed));
        }
        // The burst of 3 still has 2 handshakes left for fresh keys.
        for n in 2..4 {
            let v = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(n), 0, false);
            assert_eq!(v, InitialVerdict::Accept { validated: false });
        }
        let v = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(4), 0, false);
        assert_eq!(v, InitialVerdict::Drop(Refusal::RateLimited));
    }

    #[test]
    fn a_forgotten_ephemeral_is_accepted_again_and_remembered_for_a_full_ttl() {
        let mut g = guard(RetryPolicy::Never);
        let t = start();
        let first = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(1), 0, false);
        assert_eq!(first, InitialVerdict::Accept { validated: false });
        g.forget_ephemeral(&[1; 32]);
        let half = t + g.config.token_window;
        let again = g.check_initial(half, addr(1), 1200, DCID, &[], &msg1(1), 0, false);
        assert_eq!(again, InitialVerdict::Accept { validated: false });
        // The first entry's expiry must not end the second one early.
        let after_first = t + 2 * g.config.token_window + Duration::from_millis(1);
        let replay = g.check_initial(after_first, addr(1), 1200, DCID, &[], &msg1(1), 0, false);
        assert_eq!(replay, InitialVerdict::Drop(Refusal::Replayed));
    }

    #[test]
    fn a_rate_limited_initial_may_be_sent_again_later() {
        let mut g = guard(RetryPolicy::Never);
        let t = start();
        for n in 0..3 {
            g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(n), 0, false);
        }
        let refused = g.check_initial(t, addr(1), 1200, DCID, &[], &msg1(9), 0, false);
        assert_eq!(refused, InitialVerdict::Drop(Refusal::RateLimited));
        // Not remembered as seen: the client's retransmission is answered.
        let later = t + Duration::from_secs(1);
        let v = g.check_initial(later, addr(1), 1200, DCID, &[], &msg1(9), 0, false);
        assert_eq!(v, InitialVerdict::Accept { validated: false });
    }
}
