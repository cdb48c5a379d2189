//! A simulated network with a virtual clock for natter-proto tests.
//!
//! Two endpoints (a client and a server) exchange datagrams through a link
//! that can delay, jitter, drop, duplicate, reorder, cut by size (MTU) and
//! partition. Everything is driven by a seeded RNG: a failing seed replays
//! exactly.
// Each integration-test binary uses a different subset of the harness, and
// the items are `pub` for those binaries, not for a library's users.
#![allow(dead_code, unreachable_pub)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_proto::{
    ClientConfig, ConnectionHandle, Endpoint, EndpointConfig, Event, ServerEndpointConfig,
    StaticKeypair, TransportConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Sees each datagram an endpoint sends.
pub type Tap = Box<dyn FnMut(&[u8])>;
/// Decides, per datagram an endpoint sends, whether it is lost (true).
pub type Filter = Box<dyn FnMut(&[u8]) -> bool>;

/// Faults of one direction of the link.
#[derive(Debug, Clone, Default)]
pub struct LinkConfig {
    pub latency: Duration,
    pub jitter: Duration,
    pub loss: f64,
    pub duplicate: f64,
    /// Datagrams larger than this are dropped (0 = no limit).
    pub mtu: usize,
}

/// A datagram on the wire.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: SocketAddr,
    from: SocketAddr,
    data: Vec<u8>,
}

pub const CLIENT: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);
pub const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    7700,
);

/// Two endpoints and the network between them.
pub struct Sim {
    pub now: Instant,
    pub client: Endpoint,
    pub server: Endpoint,
    /// Address the client sends from (change it to simulate NAT rebinding).
    pub client_addr: SocketAddr,
    pub to_server: LinkConfig,
    pub to_client: LinkConfig,
    /// While set, every datagram is lost (a partition).
    pub partitioned: bool,
    rng: ChaCha8Rng,
    wire: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    pub client_events: Vec<(ConnectionHandle, Event)>,
    pub server_events: Vec<(ConnectionHandle, Event)>,
    /// Every datagram the server sent, by destination: (to, len).
    pub server_sent: Vec<(SocketAddr, usize)>,
    pub client_sent: Vec<(SocketAddr, usize)>,
    /// Observer run on each datagram the client sends (before faults).
    pub client_tap: Option<Tap>,
    /// Drops a datagram the client sends when it returns true (before faults).
    pub client_filter: Option<Filter>,
    /// Drops a datagram the server sends when it returns true (before faults).
    pub server_filter: Option<Filter>,
    /// Time windows during which every datagram put on the wire is lost.
    pub partitions: Vec<(Instant, Instant)>,
    /// Steps taken without virtual time moving (livelock detector).
    stalled: u32,
    /// A rate-limited queue on the client → server direction, if any.
    pub bottleneck: Option<Bottleneck>,
}

/// A bottleneck link: a FIFO queue of `queue_bytes` drained at `rate` bytes per
/// second, with tail drop. Datagrams leave it, then take the link's latency.
#[derive(Debug, Clone)]
pub struct Bottleneck {
    pub rate: u64,
    pub queue_bytes: usize,
    /// When the datagram last queued leaves the queue.
    busy_until: Option<Instant>,
    /// Datagrams dropped because the queue was full.
    pub dropped: u64,
    /// Datagrams that went through.
    pub forwarded: u64,
    /// Largest number of bytes queued (the one just added included).
    pub max_queued: usize,
}

impl Bottleneck {
    pub fn new(rate: u64, queue_bytes: usize) -> Self {
        Self {
            rate,
            queue_bytes,
            busy_until: None,
            dropped: 0,
            forwarded: 0,
            max_queued: 0,
        }
    }

    /// Queues `len` bytes at `now`: the instant they leave, or `None` if dropped.
    fn enqueue(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let start = self.busy_until.map_or(now, |b| b.max(now));
        let backlog = (start - now).as_nanos() * u128::from(self.rate) / 1_000_000_000;
        let queued = backlog as usize + len;
        if queued > self.queue_bytes {
            self.dropped += 1;
            return None;
        }
        self.forwarded += 1;
        self.max_queued = self.max_queued.max(queued);
        let nanos = (len as u128 * 1_000_000_000).div_ceil(u128::from(self.rate));
        let done = start + Duration::from_nanos(nanos as u64);
        self.busy_until = Some(done);
        Some(done)
    }
}

#[allow(clippy::disallowed_methods)]
pub fn start_instant() -> Instant {
    Instant::now()
}

pub fn server_keypair() -> StaticKeypair {
    StaticKeypair::generate([42; 32])
}

pub fn transport() -> TransportConfig {
    TransportConfig::default()
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        Self::with_configs(
            seed,
            transport(),
            ServerEndpointConfig::new(server_keypair(), [3; 32]),
        )
    }

    pub fn with_configs(
        seed: u64,
        transport: TransportConfig,
        server: ServerEndpointConfig,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut cseed = [0u8; 32];
        let mut sseed = [0u8; 32];
        rng.fill(&mut cseed);
        rng.fill(&mut sseed);
        let mut ccfg = EndpointConfig::client(cseed);
        ccfg.transport = transport.clone();
        let mut scfg = EndpointConfig::server(sseed, server);
        scfg.transport = transport;
        let link = LinkConfig {
            latency: Duration::from_millis(10),
            ..LinkConfig::default()
        };
        Self {
            now: start_instant(),
            client: Endpoint::new(ccfg),
            server: Endpoint::new(scfg),
            client_addr: CLIENT,
            to_server: link.clone(),
            to_client: link,
            partitioned: false,
            rng,
            wire: BinaryHeap::new(),
            seq: 0,
            client_events: Vec::new(),
            server_events: Vec::new(),
            server_sent: Vec::new(),
            client_sent: Vec::new(),
            client_tap: None,
            client_filter: None,
            server_filter: None,
            partitions: Vec::new(),
            stalled: 0,
            bottleneck: None,
        }
    }

    pub fn connect(&mut self) -> ConnectionHandle {
        self.connect_with(ClientConfig::default())
    }

    pub fn connect_with(&mut self, config: ClientConfig) -> ConnectionHandle {
        let h = self
            .client
            .connect(self.now, SERVER, config)
            .expect("connect");
        self.flush();
        h
    }

    /// Sends everything both endpoints want to send onto the wire.
    pub fn flush(&mut self) {
        let mut buf = Vec::new();
        while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
            let data = buf[..t.size].to_vec();
            if let Some(tap) = &mut self.client_tap {
                tap(&data);
            }
            self.client_sent.push((t.destination, t.size));
            if self.client_filter.as_mut().is_some_and(|f| f(&data)) {
                continue;
            }
            let from = self.client_addr;
            let link = self.to_server.clone();
            self.put_on_wire(&link, from, t.destination, data);
        }
        while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
            self.server_sent.push((t.destination, t.size));
            let data = buf[..t.size].to_vec();
            if self.server_filter.as_mut().is_some_and(|f| f(&data)) {
                continue;
            }
            let link = self.to_client.clone();
            self.put_on_wire(&link, SERVER, t.destination, data);
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    fn put_on_wire(&mut self, link: &LinkConfig, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        let now = self.now;
        let cut = self.partitions.iter().any(|&(a, b)| a <= now && now < b);
        if self.partitioned || cut || self.rng.random_bool(link.loss) {
            return;
        }
        if link.mtu > 0 && data.len() > link.mtu {
            return;
        }
        let mut departs = self.now;
        if let Some(b) = self.bottleneck.as_mut().filter(|_| to == SERVER) {
            match b.enqueue(self.now, data.len()) {
                Some(at) => departs = at,
                None => return,
            }
        }
        let copies = 1 + self.rng.random_bool(link.duplicate) as usize;
        for _ in 0..copies {
            let jitter = link.jitter.mul_f64(self.rng.random::<f64>());
            self.seq += 1;
            let at = departs + link.latency + jitter;
            self.wire.push(Reverse(InFlight {
                at,
                seq: self.seq,
                to,
                from,
                data: data.clone(),
            }));
        }
    }

    /// Injects a raw datagram as if `from` had sent it to `to`.
    pub fn inject(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        self.seq += 1;
        self.wire.push(Reverse(InFlight {
            at: self.now,
            seq: self.seq,
            to,
            from,
            data,
        }));
    }

    /// The next instant something happens, if anything.
    fn next_event_time(&mut self) -> Option<Instant> {
        let wire = self.wire.peek().map(|Reverse(d)| d.at);
        [wire, self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advances to the next event and processes it. False if nothing is left.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(at) = self.next_event_time() else {
            return false;
        };
        if at <= self.now {
            self.stalled += 1;
            assert!(
                self.stalled < 100_000,
                "livelock at {:?}: client timeout {:?}, server timeout {:?}, {} datagrams on the wire",
                self.now,
                self.client.poll_timeout(),
                self.server.poll_timeout(),
                self.wire.len(),
            );
        } else {
            self.stalled = 0;
        }
        self.now = self.now.max(at);
        while self.wire.peek().is_some_and(|Reverse(d)| d.at <= self.now) {
            let Reverse(mut d) = self.wire.pop().expect("peeked");
            if std::env::var("SIM_TRACE").is_ok() {
                eprintln!("{:?} {} -> {} {} bytes", d.at, d.from, d.to, d.data.len());
            }
            if d.to == SERVER {
                self.server.handle(self.now, d.from, &mut d.data);
            } else if d.to == self.client_addr {
                self.client.handle(self.now, d.from, &mut d.data);
            }
        }
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.flush();
        true
    }

    /// Steps until `done` holds or `limit` of virtual time passes; returns
    /// whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let end = self.now + limit;
        while self.now <= end {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    /// Advances virtual time by `d`, processing everything on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.flush(); // what the application queued since the last step
        while let Some(at) = self.next_event_time() {
            if at > end {
                break;
            }
            self.step();
        }
        self.now = end;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.flush();
    }

    pub fn server_handle(&self) -> Option<ConnectionHandle> {
        self.server_events
            .iter()
            .find_map(|(h, e)| matches!(e, Event::Connected { .. }).then_some(*h))
    }

    pub fn client_connected(&self, h: ConnectionHandle) -> bool {
        self.client_events
            .iter()
            .any(|(ch, e)| *ch == h && matches!(e, Event::Connected { .. }))
    }

    /// Runs the handshake to completion on both sides.
    pub fn establish(&mut self) -> (ConnectionHandle, ConnectionHandle) {
        let c = self.connect();
        // The client sends a PING right after the handshake, which
        // confirms it to the server.
        let ok = self.run_until(Duration::from_secs(30), |s| {
            s.client_connected(c) && s.server_handle().is_some()
        });
        assert!(ok, "handshake did not complete");
        (c, self.server_handle().expect("server side"))
    }

    /// Reads every message the server received on `h`.
    pub fn server_recv_all(&mut self, h: ConnectionHandle) -> Vec<(u64, Bytes)> {
        let mut out = Vec::new();
        while let Some(m) = self.server.recv(h) {
            out.push(m);
        }
        out
    }

    pub fn client_recv_all(&mut self, h: ConnectionHandle) -> Vec<(u64, Bytes)> {
        let mut out = Vec::new();
        while let Some(m) = self.client.recv(h) {
            out.push(m);
        }
        out
    }

    pub fn client_closed(&self, h: ConnectionHandle) -> Option<natter_proto::CloseReason> {
        self.client_events.iter().find_map(|(ch, e)| match e {
            Event::Closed(r) if *ch == h => Some(r.clone()),
            _ => None,
        })
    }

    pub fn server_closed(&self, h: ConnectionHandle) -> Option<natter_proto::CloseReason> {
        self.server_events.iter().find_map(|(ch, e)| match e {
            Event::Closed(r) if *ch == h => Some(r.clone()),
            _ => None,
        })
    }
}

/// The packet type byte of a datagram (see `natter_proto::packet::TYPE_*`).
pub fn packet_type(datagram: &[u8]) -> u8 {
    datagram.first().copied().unwrap_or(0)
}

/// True for a Data (short-header) packet.
pub fn is_data(datagram: &[u8]) -> bool {
    packet_type(datagram) == natter_proto::packet::TYPE_DATA
}

/// A filter that drops the datagrams whose 0-based index among those
/// matching `select` is in `which`.
pub fn drop_nth(
    select: impl Fn(&[u8]) -> bool + 'static,
    which: &'static [usize],
) -> Option<Filter> {
    let mut seen = 0;
    Some(Box::new(move |d: &[u8]| {
        if !select(d) {
            return false;
        }
        seen += 1;
        which.contains(&(seen - 1))
    }))
}
