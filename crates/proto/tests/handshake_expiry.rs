//! A client must get in even when the server's half of its handshake
//! expired while the client was still retrying (a new client was sometimes
//! refused for good by a live server under 20 % loss: `tests/files`).
//!
//! The server answered the client's Initial, every answer was lost, and the
//! server forgot the unconfirmed connection after its idle timeout (3 s in
//! the integration tests). The client's next copies of the same Initial then
//! met the replay cache, which still held its ephemeral key: dropped as
//! replays, silently, until the client gave up.
//!
//! Each test is a script on explicit instants: both endpoints step in 10 ms
//! ticks, datagrams arrive within the tick they were sent, and a filter
//! decides which are lost.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use natter_proto::{
    ClientConfig, ConnectionHandle, Endpoint, EndpointConfig, Event, ServerEndpointConfig,
    StaticKeypair, TransportConfig, packet,
};

const CLIENT: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);
const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    7700,
);
const TICK: Duration = Duration::from_millis(10);

#[allow(clippy::disallowed_methods)]
fn start_instant() -> Instant {
    Instant::now()
}

/// Which way a datagram travels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

/// A client and a server (idle timeout 3 s, as `natter serve
/// --idle-timeout 3s`) joined by a link that loses what `lose` says.
struct Pair {
    start: Instant,
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    /// Every datagram the client sent, in order (for replays).
    client_sent: Vec<Vec<u8>>,
}

impl Pair {
    fn new() -> Self {
        let server_transport = TransportConfig {
            idle_timeout: Duration::from_secs(3),
            keepalive: Duration::from_secs(1),
            ..TransportConfig::default()
        };
        let keypair = StaticKeypair::generate([42; 32]);
        let mut server =
            EndpointConfig::server([2; 32], ServerEndpointConfig::new(keypair, [3; 32]));
        server.transport = server_transport;
        let start = start_instant();
        Self {
            start,
            now: start,
            client: Endpoint::new(EndpointConfig::client([1; 32])),
            server: Endpoint::new(server),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_sent: Vec::new(),
        }
    }

    fn connect(&mut self) -> ConnectionHandle {
        let h = self
            .client
            .connect(self.now, SERVER, ClientConfig::default());
        h.expect("connect")
    }

    /// Milliseconds since the start.
    fn ms(&self) -> u128 {
        (self.now - self.start).as_millis()
    }

    /// Runs tick by tick until `until` (ms since the start); `lose` gets
    /// the direction, the time (ms) and the datagram, true to drop it.
    fn run(&mut self, until: u128, lose: &mut dyn FnMut(Dir, u128, &[u8]) -> bool) {
        while self.ms() < until {
            self.now += TICK;
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.exchange(lose);
        }
    }

    /// Delivers datagrams both ways until neither side has more.
    fn exchange(&mut self, lose: &mut dyn FnMut(Dir, u128, &[u8]) -> bool) {
        let mut buf = Vec::new();
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
                moved = true;
                let mut data = buf[..t.size].to_vec();
                self.client_sent.push(data.clone());
                if !lose(Dir::ToServer, self.ms(), &data) {
                    self.server.handle(self.now, CLIENT, &mut data);
                }
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
                moved = true;
                let mut data = buf[..t.size].to_vec();
                if !lose(Dir::ToClient, self.ms(), &data) {
                    self.client.handle(self.now, SERVER, &mut data);
                }
            }
            self.client_events
                .extend(std::iter::from_fn(|| self.client.poll_event()).map(|(_, e)| e));
            self.server_events
                .extend(std::iter::from_fn(|| self.server.poll_event()).map(|(_, e)| e));
            if !moved {
                return;
            }
        }
    }

    fn connected(events: &[Event]) -> bool {
        events.iter().any(|e| matches!(e, Event::Connected { .. }))
    }
}

fn is_initial(data: &[u8]) -> bool {
    data.first() == Some(&packet::TYPE_INITIAL)
}

/// The server's answers are lost for 4 s, longer than its idle timeout;
/// the client's copies of its Initial all arrive. The client gets in with
/// the first answer that arrives, on the connection the server opened for
/// its first Initial (one handshake's work, no copy refused).
#[test]
fn a_client_whose_answers_are_lost_past_the_servers_idle_timeout_gets_in() {
    let mut p = Pair::new();
    p.connect();
    let mut lose = |dir, ms, _: &[u8]| dir == Dir::ToClient && ms < 4_000;
    p.run(8_000, &mut lose);
    let stats = p.server.endpoint_stats();
    assert!(
        Pair::connected(&p.client_events),
        "client: {:?}",
        p.client_events
    );
    assert!(
        Pair::connected(&p.server_events),
        "server: {:?}",
        p.server_events
    );
    assert_eq!(stats.initials_dropped, 0, "{stats:?}");
    assert_eq!(stats.handshakes, 1, "{stats:?}");
    assert_eq!(p.server.connection_count(), 1);
}

/// Both ways are cut from 50 ms to 5 s: the server hears nothing from the
/// client for longer than its idle timeout and forgets the unconfirmed
/// connection. The client's next copy of its Initial is answered again
/// (a second handshake), not refused as a replay.
#[test]
fn a_client_still_retrying_after_the_server_forgot_its_handshake_gets_in() {
    let mut p = Pair::new();
    p.connect();
    let mut lose = |dir, ms, _: &[u8]| match dir {
        Dir::ToClient => ms < 5_000,
        Dir::ToServer => (50..5_000).contains(&ms),
    };
    p.run(10_000, &mut lose);
    let stats = p.server.endpoint_stats();
    assert!(
        Pair::connected(&p.client_events),
        "client: {:?}",
        p.client_events
    );
    assert!(
        Pair::connected(&p.server_events),
        "server: {:?}",
        p.server_events
    );
    assert_eq!(stats.initials_replayed, 0, "{stats:?}");
    assert_eq!(
        stats.handshakes, 2,
        "the first expired unconfirmed: {stats:?}"
    );
    assert_eq!(p.server.connection_count(), 1);
}

/// What the fix must keep: once a client confirmed its handshake, its
/// Initial replayed (from its own address) costs the server no handshake,
/// during the connection and after it ended.
#[test]
fn a_confirmed_clients_initial_replayed_is_still_refused_after_its_connection_ended() {
    let mut p = Pair::new();
    let c = p.connect();
    p.run(1_000, &mut |_, _, _| false);
    assert!(Pair::connected(&p.server_events));
    let initial = p.client_sent.iter().find(|d| is_initial(d)).cloned();
    let initial = initial.expect("the client sent an Initial");
    let replay = |p: &mut Pair| p.server.handle(p.now, CLIENT, &mut initial.clone());

    replay(&mut p);
    p.client.close(p.now, c, 0, "bye");
    p.run(3_000, &mut |_, _, _| false);
    assert_eq!(p.server.connection_count(), 0, "the connection ended");
    replay(&mut p);
    p.exchange(&mut |_, _, _| false);

    let stats = p.server.endpoint_stats();
    assert_eq!(stats.handshakes, 1, "{stats:?}");
    assert_eq!(stats.initials_replayed, 2, "{stats:?}");
    assert_eq!(p.server.connection_count(), 0);
}

/// The other side of letting a repeated Initial keep an unconfirmed
/// connection alive: someone replaying a client's Initial from its address
/// (every 500 ms, the server's answers never reach anyone) holds the
/// connection 20 s at most. Then it is gone, and the next copy costs a new
/// handshake, charged to that source like any other.
#[test]
fn repeated_initials_hold_an_unconfirmed_connection_for_20_s_at_most() {
    let mut p = Pair::new();
    p.connect();
    let mut lose = |dir, _, _: &[u8]| dir == Dir::ToClient;
    p.run(100, &mut lose);
    let initial = p.client_sent.iter().find(|d| is_initial(d)).cloned();
    let initial = initial.expect("the client sent an Initial");
    let mut replay_until = |p: &mut Pair, until: u128| {
        while p.ms() < until {
            p.run(p.ms() + 500, &mut lose);
            p.server.handle(p.now, CLIENT, &mut initial.clone());
            p.exchange(&mut lose);
        }
    };

    replay_until(&mut p, 19_500); // the last copy at 19.6 s
    let stats = p.server.endpoint_stats();
    assert_eq!(stats.handshakes, 1, "kept alive by the copies: {stats:?}");
    assert_eq!(p.server.connection_count(), 1);

    replay_until(&mut p, 21_000);
    let stats = p.server.endpoint_stats();
    assert_eq!(
        stats.handshakes, 2,
        "the first expired at 20 s, a copy opened another: {stats:?}"
    );
    assert!(!Pair::connected(&p.server_events));
}
