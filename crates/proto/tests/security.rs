//! Security properties over the simulated network: key pinning, replayed
//! handshakes, the retry cookie, the amplification bound, version
//! negotiation and the per-source handshake limit.

mod sim;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use natter_proto::crypto::Fingerprint;
use natter_proto::packet::{self, Packet, TYPE_INITIAL};
use natter_proto::{
    ClientConfig, CloseReason, Endpoint, EndpointConfig, RetryPolicy, ServerEndpointConfig,
    StaticKeypair, VERSION,
};
use sim::{SERVER, Sim, packet_type, server_keypair, transport};

fn spoofed() -> SocketAddr {
    "192.0.2.66:6666".parse().expect("addr")
}

fn sim_with_server(seed: u64, config: impl FnOnce(&mut ServerEndpointConfig)) -> Sim {
    let mut server = ServerEndpointConfig::new(server_keypair(), [3; 32]);
    config(&mut server);
    Sim::with_configs(seed, transport(), server)
}

/// Initial datagrams from a separate client endpoint (never delivered).
fn foreign_initials(seed: u8, n: usize) -> Vec<Vec<u8>> {
    let mut ep = Endpoint::new(EndpointConfig::client([seed; 32]));
    let now = sim::start_instant();
    let mut out = Vec::new();
    for _ in 0..n {
        ep.connect(now, SERVER, ClientConfig::default())
            .expect("connect");
        let mut buf = Vec::new();
        while let Some(t) = ep.poll_transmit(now, &mut buf) {
            out.push(buf[..t.size].to_vec());
        }
    }
    out
}

#[test]
fn wrong_pinned_key_is_refused() {
    let mut sim = Sim::new(20);
    let other = StaticKeypair::generate([99; 32]);
    let c = sim.connect_with(ClientConfig {
        server_key: Some(Fingerprint::of(&other.public)),
    });
    sim.run_until(Duration::from_secs(5), |s| s.client_closed(c).is_some());
    let presented = server_keypair().public;
    assert_eq!(
        sim.client_closed(c),
        Some(CloseReason::KeyMismatch { presented })
    );
    assert!(!sim.client_connected(c));
}

#[test]
fn right_pinned_key_connects() {
    let mut sim = Sim::new(21);
    let pin = Fingerprint::of(&server_keypair().public);
    let c = sim.connect_with(ClientConfig {
        server_key: Some(pin),
    });
    assert!(sim.run_until(Duration::from_secs(5), |s| s.client_connected(c)));
}

#[test]
fn replayed_initial_is_ignored() {
    let mut sim = Sim::new(22);
    let first: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let tap = first.clone();
    sim.client_tap = Some(Box::new(move |d: &[u8]| {
        tap.borrow_mut().get_or_insert_with(|| d.to_vec());
    }));
    let (c, _) = sim.establish();
    let initial = first.borrow().clone().expect("captured");
    assert_eq!(packet_type(&initial), TYPE_INITIAL);
    // While the connection lives: from the same and from another address.
    let before = sim.server.endpoint_stats();
    sim.inject(sim::CLIENT, SERVER, initial.clone());
    sim.inject(spoofed(), SERVER, initial.clone());
    sim.advance(Duration::from_millis(100));
    let during = sim.server.endpoint_stats();
    assert_eq!(sim.server.connection_count(), 1);
    assert_eq!(during.handshakes, before.handshakes, "no second handshake");
    assert!(
        during.initials_dropped >= before.initials_dropped + 2,
        "{during:?}"
    );
    // After the connection is gone, the replay cache still refuses it.
    let now = sim.now;
    sim.client.close(now, c, 0, "done");
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.server.connection_count(), 0);
    sim.inject(spoofed(), SERVER, initial);
    sim.advance(Duration::from_millis(100));
    let after = sim.server.endpoint_stats();
    assert_eq!(sim.server.connection_count(), 0, "no second connection");
    assert_eq!(after.handshakes, before.handshakes);
    assert_eq!(after.initials_dropped, during.initials_dropped + 1);
}

#[test]
fn retry_cookie_path_works_end_to_end() {
    let mut sim = sim_with_server(23, |s| s.retry_policy = RetryPolicy::Always);
    let (c, s) = sim.establish();
    let stats = sim.server.endpoint_stats();
    assert_eq!(stats.retries, 1, "{stats:?}");
    assert_eq!(stats.handshakes, 1, "{stats:?}");
    sim.client
        .send(c, 0, "through the cookie".into())
        .expect("send");
    let ok = sim.run_until(Duration::from_secs(2), |sim| {
        !sim.server_recv_all(s).is_empty()
    });
    assert!(ok);
}

#[test]
fn retry_token_from_another_address_is_refused() {
    let mut sim = sim_with_server(24, |s| s.retry_policy = RetryPolicy::Always);
    let c = sim.connect();
    // Let the Retry arrive and the client answer with its token…
    let initials: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let tap = initials.clone();
    sim.client_tap = Some(Box::new(move |d: &[u8]| tap.borrow_mut().push(d.to_vec())));
    assert!(sim.run_until(Duration::from_secs(5), |s| s.client_connected(c)));
    let with_token = initials
        .borrow()
        .iter()
        .find(|d| packet_type(d) == TYPE_INITIAL)
        .cloned();
    let with_token = with_token.expect("the Initial carrying the token");
    // …then replay that token-carrying Initial from elsewhere.
    let before = sim.server.endpoint_stats();
    sim.inject(spoofed(), SERVER, with_token);
    sim.advance(Duration::from_millis(100));
    let after = sim.server.endpoint_stats();
    assert_eq!(after.handshakes, before.handshakes);
    assert!(
        sim.server_sent.iter().all(|(to, _)| *to != spoofed()),
        "nothing sent to the spoofed source"
    );
}

#[test]
fn amplification_is_bounded_for_a_spoofed_source() {
    for policy in [
        RetryPolicy::Never,
        RetryPolicy::UnderLoad,
        RetryPolicy::Always,
    ] {
        let mut sim = sim_with_server(25, |s| s.retry_policy = policy);
        let mut received = 0;
        for (i, initial) in foreign_initials(7, 4).into_iter().enumerate() {
            // Each Initial repeated: repeats ask for the Handshake again.
            for _ in 0..=i {
                received += initial.len();
                sim.inject(spoofed(), SERVER, initial.clone());
                sim.advance(Duration::from_millis(300));
            }
        }
        sim.advance(Duration::from_secs(20));
        let sent: usize = sim
            .server_sent
            .iter()
            .filter(|(to, _)| *to == spoofed())
            .map(|(_, n)| n)
            .sum();
        assert!(sent > 0, "{policy:?}: the server answered something");
        assert!(
            sent <= 3 * received,
            "{policy:?}: sent {sent} bytes for {received} received"
        );
        assert_eq!(
            sim.server.connection_count(),
            0,
            "{policy:?}: unconfirmed handshakes expire"
        );
    }
}

#[test]
fn short_initial_gets_no_answer() {
    let mut sim = Sim::new(26);
    let mut initial = foreign_initials(8, 1).remove(0);
    initial.truncate(600);
    sim.inject(spoofed(), SERVER, initial);
    sim.advance(Duration::from_secs(1));
    assert!(sim.server_sent.is_empty());
    let stats = sim.server.endpoint_stats();
    assert_eq!(stats.handshakes, 0);
    assert_eq!(stats.initials_too_small, 1, "counted by reason: {stats:?}");
}

#[test]
fn unknown_version_gets_version_negotiation() {
    let mut sim = Sim::new(27);
    let replies: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let log = replies.clone();
    sim.server_filter = Some(Box::new(move |d: &[u8]| {
        log.borrow_mut().push(d.to_vec());
        false
    }));
    let mut initial = foreign_initials(9, 1).remove(0);
    let Ok(Packet::Initial { dcid, scid, .. }) = packet::decode(&initial) else {
        panic!("not an Initial")
    };
    initial[1..5].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
    sim.inject(spoofed(), SERVER, initial);
    sim.advance(Duration::from_millis(50));
    let stats = sim.server.endpoint_stats();
    assert_eq!((stats.version_negotiations, stats.handshakes), (1, 0));
    assert_eq!(sim.server_sent[0].0, spoofed());
    let replies = replies.borrow();
    let Ok(Packet::VersionNegotiation {
        dcid: to,
        scid: from,
        versions,
    }) = packet::decode(&replies[0])
    else {
        panic!("not a VersionNegotiation")
    };
    assert_eq!((to, from, versions), (scid, dcid, vec![VERSION]));
}

#[test]
fn client_gives_up_on_version_mismatch() {
    let mut sim = Sim::new(28);
    let first: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let tap = first.clone();
    sim.client_tap = Some(Box::new(move |d: &[u8]| {
        tap.borrow_mut().get_or_insert_with(|| d.to_vec());
    }));
    // The server is unreachable; a VersionNegotiation arrives instead.
    sim.partitioned = true;
    let c = sim.connect();
    let initial = first.borrow().clone().expect("captured");
    let Ok(Packet::Initial { dcid, scid, .. }) = packet::decode(&initial) else {
        panic!("not an Initial")
    };
    let mut vn = Vec::new();
    packet::encode_version_negotiation(&mut vn, scid, dcid, &[0x0bad_0001]);
    sim.inject(SERVER, sim::CLIENT, vn);
    sim.advance(Duration::from_millis(10));
    let offered = vec![0x0bad_0001];
    assert_eq!(
        sim.client_closed(c),
        Some(CloseReason::VersionMismatch { offered })
    );
}

#[test]
fn per_source_handshake_limit() {
    let mut sim = sim_with_server(29, |s| {
        s.retry_policy = RetryPolicy::Never;
        s.handshake_burst = 3.0;
        s.handshakes_per_second = 1.0;
    });
    let initials = foreign_initials(10, 6);
    for initial in &initials {
        sim.inject(spoofed(), SERVER, initial.clone());
    }
    let other: SocketAddr = "198.51.100.1:1".parse().expect("addr");
    sim.inject(other, SERVER, foreign_initials(11, 1).remove(0));
    sim.advance(Duration::from_millis(5));
    let stats = sim.server.endpoint_stats();
    assert_eq!(
        stats.handshakes, 4,
        "3 from the burst source, 1 from another: {stats:?}"
    );
    assert_eq!(stats.initials_dropped, 3, "{stats:?}");
}
