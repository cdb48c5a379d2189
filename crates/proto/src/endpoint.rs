//! The endpoint: one UDP socket's worth of connections.
//!
//! # Contract
//!
//! The driver (natter-net, or a test's simulated network) owns the socket and
//! the clock. Whenever something happens it calls one `handle_*` method, and
//! then drains the endpoint:
//!
//! 1. [`Endpoint::handle`] for every received datagram, [`Endpoint::handle_timeout`]
//!    when the instant from [`Endpoint::poll_timeout`] has passed, or an
//!    application call ([`Endpoint::connect`], [`Endpoint::send`], [`Endpoint::close`]);
//! 2. [`Endpoint::poll_transmit`] until it returns `None`, sending each datagram;
//! 3. [`Endpoint::poll_event`] until `None`, delivering each event;
//! 4. [`Endpoint::poll_timeout`] to learn when to wake up next.
//!
//! The endpoint never reads a clock or an OS RNG: `now` is passed in, and
//! all randomness comes from the seed in [`EndpointConfig`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::config::{ClientConfig, EndpointConfig, TransportConfig};
use crate::connection::{Connection, ConnectionInit, ConnectionStats, Event, Side, Transmit};
use crate::crypto::{self, ClientHandshake, CryptoError};
use crate::guard::{Guard, InitialVerdict, Refusal};
use crate::packet::{self, ConnectionId, Packet};
pub use crate::stats::EndpointStats;
use crate::stats::add_counters;
use crate::streams::SendError;

mod timers;

use timers::TimerQueue;

/// Names one connection of an endpoint. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);

// Maps keyed by handle use FxHash: handles are counted up by the endpoint,
// never chosen by a peer, so a fast unkeyed hash cannot be steered into
// collisions, and these maps are looked up several times per message
// (SipHash was a fifth of the endpoint's instructions under fan-out).
// `routes` is keyed by connection IDs a client picks and keeps SipHash.

/// An endpoint: routes datagrams to connections and owns them.
pub struct Endpoint {
    transport: Arc<TransportConfig>,
    guard: Option<Guard>,
    rng: ChaCha20Rng,
    /// Boxed: the map's spare capacity then costs a pointer per slot, not
    /// a whole connection.
    conns: FxHashMap<ConnectionHandle, Box<Connection>>,
    routes: HashMap<ConnectionId, ConnectionHandle>,
    next_handle: u64,
    dirty: VecDeque<ConnectionHandle>,
    dirty_set: FxHashSet<ConnectionHandle>,
    /// Server connections whose client has not confirmed the handshake
    /// yet, with the client's ephemeral key (see [`Self::leave_handshaking`]).
    handshaking: FxHashMap<ConnectionHandle, [u8; 32]>,
    timers: TimerQueue,
    stateless: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<(ConnectionHandle, Event)>,
    stats: EndpointStats,
    /// Counters of every connection already forgotten, summed when each
    /// was removed: with the live ones, [`Self::total_stats`].
    retired: ConnectionStats,
}

impl Endpoint {
    /// A new endpoint. It accepts connections if `config.server` is set.
    pub fn new(config: EndpointConfig) -> Self {
        Self {
            transport: Arc::new(config.transport),
            guard: config.server.map(Guard::new),
            rng: ChaCha20Rng::from_seed(config.seed),
            conns: FxHashMap::default(),
            routes: HashMap::new(),
            next_handle: 0,
            dirty: VecDeque::new(),
            dirty_set: FxHashSet::default(),
            handshaking: FxHashMap::default(),
            timers: TimerQueue::default(),
            stateless: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
            retired: ConnectionStats::default(),
        }
    }

    /// Starts a connection to `remote`. Its Initial is ready in `poll_transmit`.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        config: ClientConfig,
    ) -> Result<ConnectionHandle, CryptoError> {
        let params = Connection::local_params(&self.transport);
        let (hs, msg1) = ClientHandshake::new(self.seed(), &params)?;
        let local_cid = self.fresh_cid();
        let remote_cid = self.random_cid();
        let init = self.init(Side::Client, local_cid, remote_cid, remote_cid, remote, now);
        let conn = Connection::client(init, hs, msg1, config.server_key);
        Ok(self.insert(conn))
    }

    /// Feeds one received datagram. Bad input is dropped and counted.
    pub fn handle(&mut self, now: Instant, remote: SocketAddr, datagram: &mut [u8]) {
        let Ok(packet) = packet::decode(datagram) else {
            if datagram.first() == Some(&packet::TYPE_INITIAL)
                && datagram.len() < packet::MIN_INITIAL_SIZE
            {
                // Refused before parsing: an answer could amplify.
                self.refused(remote, Refusal::TooSmall);
            } else {
                self.stats.malformed += 1;
            }
            return;
        };
        match packet {
            Packet::Data {
                dcid,
                pn,
                header_len,
                ..
            } => self.handle_data(now, remote, dcid, pn, header_len, datagram),
            Packet::Initial {
                dcid,
                scid,
                token,
                payload,
                ..
            } => {
                let (token, payload) = (token.to_vec(), payload.to_vec());
                let len = datagram.len();
                self.handle_initial(now, remote, len, dcid, scid, &token, &payload);
            }
            Packet::UnsupportedVersion { dcid, scid, .. } => {
                self.negotiate_version(remote, datagram.len(), dcid, scid);
            }
            Packet::Handshake {
                dcid,
                scid,
                payload,
                ..
            } => {
                let payload = payload.to_vec();
                self.with_conn(dcid, |c, _| c.handle_handshake(now, scid, &payload));
            }
            Packet::Retry { dcid, token, .. } => {
                let token = token.to_vec();
                self.with_conn(dcid, |c, _| c.handle_retry(now, &token));
            }
            Packet::VersionNegotiation { dcid, versions, .. } => {
                self.with_conn(dcid, |c, _| c.handle_version_negotiation(versions));
            }
        }
    }

    fn handle_data(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        dcid: ConnectionId,
        pn: u64,
        header_len: usize,
        datagram: &mut [u8],
    ) {
        let (header, ciphertext) = datagram.split_at_mut(header_len);
        let found = self.with_conn(dcid, |c, rng| {
            c.handle_data(now, remote, header, pn, ciphertext, rng);
        });
        if !found {
            self.stats.unknown_connection += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_initial(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        len: usize,
        dcid: ConnectionId,
        scid: ConnectionId,
        token: &[u8],
        payload: &[u8],
    ) {
        let mut repeated = None;
        self.with_conn(dcid, |c, _| {
            repeated = Some(c.handle_repeated_initial(now, remote, len))
        });
        if let Some(useful) = repeated {
            // A replay, or a copy from another address: nothing to do.
            if !useful {
                self.refused(remote, Refusal::Replayed);
            }
            return;
        }
        let Some(guard) = &mut self.guard else {
            return;
        };
        let full = self.conns.len() >= guard.max_connections();
        let verdict = guard.check_initial(
            now,
            remote,
            len,
            dcid,
            token,
            payload,
            self.handshaking.len(),
            full,
        );
        match verdict {
            InitialVerdict::Drop(why) => self.refused(remote, why),
            InitialVerdict::Retry(token) => self.send_retry(remote, scid, token),
            InitialVerdict::Accept { validated } => {
                self.accept(now, remote, len, dcid, scid, payload, validated);
            }
        }
    }

    /// Counts one dropped Initial under its reason (and says so at debug
    /// level: a client that cannot get in shows up in the log).
    fn refused(&mut self, remote: SocketAddr, why: Refusal) {
        tracing::debug!(%remote, reason = ?why, "initial dropped");
        self.stats.refused(why);
    }

    fn send_retry(&mut self, remote: SocketAddr, client_cid: ConnectionId, token: Vec<u8>) {
        let mut out = Vec::new();
        let scid = self.random_cid();
        packet::encode_retry(&mut out, client_cid, scid, &token);
        self.stats.retries += 1;
        self.stateless.push_back((remote, out));
    }

    #[allow(clippy::too_many_arguments)]
    fn accept(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        len: usize,
        dcid: ConnectionId,
        scid: ConnectionId,
        msg1: &[u8],
        validated: bool,
    ) {
        let params = Connection::local_params(&self.transport);
        let seed = self.seed();
        let Some(guard) = &self.guard else { return };
        let Some(&ephemeral) = msg1.first_chunk::<32>() else {
            return; // the guard refuses these
        };
        let Ok((msg2, out)) = crypto::server_respond(guard.keypair(), seed, msg1, &params) else {
            self.refused(remote, Refusal::BadHandshake);
            return;
        };
        self.stats.handshakes += 1;
        let local_cid = self.fresh_cid();
        let mut datagram = Vec::new();
        packet::encode_handshake(&mut datagram, scid, local_cid, &msg2);
        let init = self.init(Side::Server, local_cid, scid, dcid, remote, now);
        let conn = Connection::server(init, out.keys, out.remote_params, datagram, len, validated);
        let h = self.insert(conn);
        self.routes.entry(dcid).or_insert(h);
        self.handshaking.insert(h, ephemeral);
    }

    /// Answers an Initial of another version with the versions we speak,
    /// but only for a full-size Initial (no amplification).
    fn negotiate_version(
        &mut self,
        remote: SocketAddr,
        len: usize,
        dcid: ConnectionId,
        scid: ConnectionId,
    ) {
        if self.guard.is_none() {
            self.stats.initials_dropped += 1;
            return;
        }
        if len < packet::MIN_INITIAL_SIZE {
            self.refused(remote, Refusal::TooSmall);
            return;
        }
        let mut out = Vec::new();
        packet::encode_version_negotiation(&mut out, scid, dcid, &[packet::VERSION]);
        self.stats.version_negotiations += 1;
        self.stateless.push_back((remote, out));
    }

    /// Fires every due timer (see [`Self::handle_timeout_limited`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.handle_timeout_limited(now, usize::MAX);
    }

    /// Fires the timers of at most `max` connections whose deadline is at
    /// or before `now`, earliest first; true when more are due. Only due
    /// connections are visited (their deadlines are kept in a heap), so a
    /// driver can bound each round's work and read its socket in between.
    ///
    /// A connection that fired is not fired again until `poll_transmit`
    /// has visited it: a timer that stays due (the handshake resend and the
    /// probe wait for `poll_transmit`) must not spin or back off twice.
    pub fn handle_timeout_limited(&mut self, now: Instant, max: usize) -> bool {
        let mut due = Vec::new();
        let more = self.timers.pop_due(now, max, &mut due);
        for h in due {
            if let Some(c) = self.conns.get_mut(&h) {
                c.handle_timeout(now);
            }
            self.after_op(h);
        }
        more
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.timers.next()
    }

    /// Writes the next datagram to send into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((destination, data)) = self.stateless.pop_front() {
            buf.clear();
            buf.extend_from_slice(&data);
            return Some(Transmit {
                destination,
                size: data.len(),
            });
        }
        while let Some(&h) = self.dirty.front() {
            let sent = self
                .conns
                .get_mut(&h)
                .and_then(|c| c.poll_transmit(now, buf));
            self.dirty.pop_front();
            if let Some(t) = sent {
                self.dirty.push_back(h); // round robin across connections
                self.after_send(h);
                return Some(t);
            }
            self.dirty_set.remove(&h);
            self.after_send(h);
        }
        None
    }

    /// Next application event.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        self.events.pop_front()
    }

    /// True when [`Self::poll_transmit`] or [`Self::poll_event`] may have
    /// something (a driver that skips polling otherwise misses nothing:
    /// timers aside, which [`Self::poll_timeout`] reports).
    pub fn wants_poll(&self) -> bool {
        !self.dirty.is_empty() || !self.events.is_empty() || !self.stateless.is_empty()
    }

    /// Queues a message; it is acknowledged with [`Event::Acked`].
    pub fn send(
        &mut self,
        h: ConnectionHandle,
        stream: u64,
        data: Bytes,
    ) -> Result<u64, SendError> {
        let c = self.conns.get_mut(&h).ok_or(SendError::Closed)?;
        let id = c.send(stream, data)?;
        // Queueing moves no deadline and raises no event: mark the
        // connection for `poll_transmit`, which re-arms its timer after
        // sending (a fan-out queues many messages per packet).
        self.mark_dirty(h);
        Ok(id)
    }

    /// The next complete message of a connection (see [`Event::Readable`]).
    pub fn recv(&mut self, h: ConnectionHandle) -> Option<(u64, Bytes)> {
        let c = self.conns.get_mut(&h)?;
        let msg = c.recv();
        if c.is_drained() {
            if msg.is_none() {
                self.forget(h); // the last unread message was read
                return None;
            }
            self.after_op(h); // forgets it once nothing is left unread
            return msg;
        }
        // Reading moves no deadline; it may free receive credit to announce.
        if c.has_control_pending() {
            self.mark_dirty(h);
        }
        msg
    }

    /// Closes one connection with an application code and reason.
    pub fn close(&mut self, now: Instant, h: ConnectionHandle, code: u64, reason: &str) {
        if let Some(c) = self.conns.get_mut(&h) {
            c.close(now, code, reason);
            self.after_op(h);
        }
    }

    /// Closes every connection (server shutdown).
    pub fn close_all(&mut self, now: Instant, code: u64, reason: &str) {
        let handles: Vec<_> = self.conns.keys().copied().collect();
        for h in handles {
            self.close(now, h, code, reason);
        }
    }

    /// A connection, to read its address, key, state or stats.
    pub fn connection(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.conns.get(&h).map(|c| &**c)
    }

    /// Statistics of one connection.
    pub fn stats(&self, h: ConnectionHandle) -> Option<ConnectionStats> {
        self.conns.get(&h).map(|c| c.stats())
    }

    /// Endpoint-wide counters.
    pub fn endpoint_stats(&self) -> EndpointStats {
        self.stats
    }

    /// Counters summed over every connection this endpoint ever had: the
    /// live ones and those already forgotten (RTT, window and bytes in
    /// flight are left at zero).
    pub fn total_stats(&self) -> ConnectionStats {
        let mut sum = self.retired;
        for c in self.conns.values() {
            add_counters(&mut sum, &c.stats());
        }
        sum
    }

    /// Forgets connection `h`, keeping its counters in [`Self::retired`].
    fn forget(&mut self, h: ConnectionHandle) {
        if let Some(c) = self.conns.remove(&h) {
            add_counters(&mut self.retired, &c.stats());
        }
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The fingerprint of this endpoint's static key, if it is a server.
    pub fn fingerprint(&self) -> Option<String> {
        self.guard
            .as_ref()
            .map(|g| crypto::fingerprint(&g.keypair().public))
    }

    fn with_conn(
        &mut self,
        dcid: ConnectionId,
        f: impl FnOnce(&mut Connection, &mut dyn RngCore),
    ) -> bool {
        let Some(&h) = self.routes.get(&dcid) else {
            return false;
        };
        let Some(c) = self.conns.get_mut(&h) else {
            return false;
        };
        f(c, &mut self.rng);
        self.after_op(h);
        true
    }

    fn init(
        &self,
        side: Side,
        local_cid: ConnectionId,
        remote_cid: ConnectionId,
        initial_dcid: ConnectionId,
        remote: SocketAddr,
        now: Instant,
    ) -> ConnectionInit {
        ConnectionInit {
            side,
            config: self.transport.clone(),
            local_cid,
            remote_cid,
            initial_dcid,
            remote,
            now,
        }
    }

    fn insert(&mut self, conn: Connection) -> ConnectionHandle {
        let h = ConnectionHandle(self.next_handle);
        self.next_handle += 1;
        self.routes.insert(conn.local_cid(), h);
        self.conns.insert(h, Box::new(conn));
        self.after_op(h);
        h
    }

    /// After anything touched a connection: collect its events, forget it
    /// if it is gone, else mark it for sending and re-arm its timer.
    fn after_op(&mut self, h: ConnectionHandle) {
        self.collect_events(h);
        if self.remove_if_drained(h) {
            return;
        }
        self.mark_dirty(h);
        self.reschedule(h);
    }

    /// Queues `h` for `poll_transmit` (once).
    fn mark_dirty(&mut self, h: ConnectionHandle) {
        if self.dirty_set.insert(h) {
            self.dirty.push_back(h);
        }
    }

    fn after_send(&mut self, h: ConnectionHandle) {
        self.timers.polled(h);
        self.collect_events(h);
        if !self.remove_if_drained(h) {
            self.reschedule(h);
        }
    }

    fn collect_events(&mut self, h: ConnectionHandle) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        while let Some(e) = c.poll_event() {
            self.events.push_back((h, e));
        }
        if !c.is_handshaking() {
            let confirmed = c.is_confirmed();
            self.leave_handshaking(h, confirmed);
        }
    }

    /// `h` is no longer handshaking: `confirmed` by its client, or ended
    /// before that. In the latter case the guard forgets the client's
    /// ephemeral key: the connection that absorbed the client's repeated
    /// Initials is gone, and a client still retrying (its Handshake replies
    /// were lost) must be answered again rather than be refused as a replay
    /// until its own timeout. A replay of that Initial by someone else costs
    /// one handshake, charged to the source's allowance, per lifetime of an
    /// unconfirmed connection (repeats go to the new connection).
    fn leave_handshaking(&mut self, h: ConnectionHandle, confirmed: bool) {
        let Some(ephemeral) = self.handshaking.remove(&h) else {
            return;
        };
        if !confirmed && let Some(guard) = &mut self.guard {
            guard.forget_ephemeral(&ephemeral);
        }
    }

    fn remove_if_drained(&mut self, h: ConnectionHandle) -> bool {
        let Some(c) = self.conns.get(&h) else {
            return true;
        };
        if !c.is_drained() {
            return false;
        }
        let (unread, confirmed) = (c.has_unread(), c.is_confirmed());
        for cid in [c.local_cid(), c.initial_dcid()] {
            if self.routes.get(&cid) == Some(&h) {
                self.routes.remove(&cid);
            }
        }
        if !unread {
            self.forget(h);
        }
        // Otherwise the connection stays (unreachable by the network, without
        // timers) until `recv` hands out what it received: messages the peer
        // saw acknowledged must reach the application.
        self.timers.remove(h);
        self.leave_handshaking(h, confirmed);
        // Its entry in `dirty`, if any, stays: `poll_transmit` skips it.
        // Removing it here scanned the whole queue for every connection
        // that ended (quadratic when many time out together).
        self.dirty_set.remove(&h);
        true
    }

    fn reschedule(&mut self, h: ConnectionHandle) {
        let at = self.conns.get(&h).and_then(|c| c.poll_timeout());
        self.timers.set(h, at);
    }

    fn seed(&mut self) -> [u8; 32] {
        let mut seed = [0; 32];
        self.rng.fill_bytes(&mut seed);
        seed
    }

    fn random_cid(&mut self) -> ConnectionId {
        let mut id = [0; 8];
        self.rng.fill_bytes(&mut id);
        ConnectionId(id)
    }

    fn fresh_cid(&mut self) -> ConnectionId {
        loop {
            let cid = self.random_cid();
            if !self.routes.contains_key(&cid) {
                return cid;
            }
        }
    }
}
