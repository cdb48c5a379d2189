//! Script-style tests of the transport's edge cases over the simulated
//! network: "at time T do X, expect Y".

mod sim;

use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_proto::packet::{TYPE_HANDSHAKE, TYPE_INITIAL};
use natter_proto::{
    CloseReason, ConnectionHandle, Event, SendError, ServerEndpointConfig, TransportConfig,
};
use sim::{Filter, Sim, drop_nth, is_data, packet_type, server_keypair};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Lets the handshake's packets and acks settle so the link is quiet.
fn quiet(sim: &mut Sim) {
    sim.advance(ms(500));
}

/// Runs until the server has received `n` messages on `s`; returns them
/// and the instant the last one arrived.
fn server_receives(
    sim: &mut Sim,
    s: ConnectionHandle,
    n: usize,
    limit: Duration,
) -> (Vec<(u64, Bytes)>, Instant) {
    let mut got = Vec::new();
    let ok = sim.run_until(limit, |sim| {
        got.extend(sim.server_recv_all(s));
        got.len() >= n
    });
    assert!(ok, "server received {} of {n} messages", got.len());
    (got, sim.now)
}

fn client_acked(sim: &Sim, c: ConnectionHandle, msg_id: u64) -> bool {
    sim.client_events
        .iter()
        .any(|(h, e)| *h == c && *e == Event::Acked { stream: 0, msg_id })
}

#[test]
fn lone_lost_message_is_recovered_by_one_probe() {
    let mut sim = Sim::new(2);
    let (c, s) = sim.establish();
    quiet(&mut sim);
    let rtt = sim.client.stats(c).expect("stats").rtt;
    // The next Data packet from the client carries the message: lose it.
    sim.client_filter = drop_nth(is_data, &[0]);
    let sent_at = sim.now;
    sim.client
        .send(c, 0, Bytes::from_static(b"lonely"))
        .expect("send");
    let (got, at) = server_receives(&mut sim, s, 1, Duration::from_secs(5));
    assert_eq!(got, vec![(0, Bytes::from_static(b"lonely"))]);
    // PTO = srtt + max(4·rttvar, 15 ms) + max_ack_delay (10 ms); rttvar has
    // settled near zero on this jitter-free link, so 2 × PTO ≈ 2 × (rtt + 25 ms),
    // with the one-way latency of the probe on top.
    let bound = 2 * (rtt + ms(25)) + rtt / 2;
    assert!(
        at - sent_at < bound,
        "delivered after {:?}, bound {bound:?} (rtt {rtt:?})",
        at - sent_at
    );
    let acked = sim.run_until(rtt * 2, |sim| client_acked(sim, c, 0));
    assert!(acked, "the probe's ack did not arrive");
    let stats = sim.client.stats(c).expect("stats");
    assert_eq!(stats.ptos, 1, "{stats:?}");
    assert!(stats.retransmits >= 1, "{stats:?}");
}

#[test]
fn lost_acks_do_not_duplicate_messages() {
    let mut sim = Sim::new(3);
    let (c, s) = sim.establish();
    quiet(&mut sim);
    // The server's next three Data packets (its ACKs) are lost.
    sim.server_filter = drop_nth(is_data, &[0, 1, 2]);
    for i in 0..3u8 {
        sim.client
            .send(c, 0, Bytes::from(vec![i; 10]))
            .expect("send");
    }
    let (got, _) = server_receives(&mut sim, s, 3, Duration::from_secs(5));
    let acked = sim.run_until(Duration::from_secs(5), |sim| {
        (0..3).all(|id| client_acked(sim, c, id))
    });
    assert!(acked, "acks never arrived");
    sim.advance(Duration::from_secs(1));
    let mut all = got;
    all.extend(sim.server_recv_all(s));
    let expected: Vec<_> = (0..3u8).map(|i| (0, Bytes::from(vec![i; 10]))).collect();
    assert_eq!(all, expected, "exactly once despite retransmissions");
}

fn establish_with_filters(client: Option<Filter>, server: Option<Filter>) -> Sim {
    let mut sim = Sim::new(4);
    sim.client_filter = client;
    sim.server_filter = server;
    let (c, s) = sim.establish();
    sim.client
        .send(c, 0, Bytes::from_static(b"after"))
        .expect("send");
    let (got, _) = server_receives(&mut sim, s, 1, Duration::from_secs(5));
    assert_eq!(got, vec![(0, Bytes::from_static(b"after"))]);
    sim
}

#[test]
fn handshake_survives_lost_initial() {
    let is_initial = |d: &[u8]| packet_type(d) == TYPE_INITIAL;
    let sim = establish_with_filters(drop_nth(is_initial, &[0, 1]), None);
    assert_eq!(sim.server.endpoint_stats().handshakes, 1);
}

#[test]
fn handshake_survives_lost_handshake_reply() {
    let is_hs = |d: &[u8]| packet_type(d) == TYPE_HANDSHAKE;
    let sim = establish_with_filters(None, drop_nth(is_hs, &[0, 1]));
    assert_eq!(
        sim.server.endpoint_stats().handshakes,
        1,
        "resent, not redone"
    );
}

#[test]
fn handshake_survives_lost_confirmation() {
    // The client's first Data packet (the PING that confirms the handshake
    // to the server) is lost.
    let sim = establish_with_filters(drop_nth(is_data, &[0]), None);
    assert_eq!(sim.server.connection_count(), 1);
}

fn short_idle() -> TransportConfig {
    TransportConfig {
        idle_timeout: Duration::from_secs(3),
        keepalive: Duration::from_secs(1),
        ..TransportConfig::default()
    }
}

fn sim_with(transport: TransportConfig) -> Sim {
    Sim::with_configs(
        5,
        transport,
        ServerEndpointConfig::new(server_keypair(), [3; 32]),
    )
}

#[test]
fn idle_timeout_closes_both_sides() {
    let mut sim = sim_with(short_idle());
    let (c, s) = sim.establish();
    sim.partitioned = true;
    let cut = sim.now;
    sim.advance(Duration::from_secs(4));
    assert_eq!(sim.client_closed(c), Some(CloseReason::IdleTimeout));
    assert_eq!(sim.server_closed(s), Some(CloseReason::IdleTimeout));
    assert!(sim.now - cut >= Duration::from_secs(3));
    assert_eq!(sim.client.connection_count(), 0);
    assert_eq!(sim.server.connection_count(), 0);
}

#[test]
fn keepalive_keeps_an_idle_connection_open() {
    let mut sim = sim_with(short_idle());
    let (c, s) = sim.establish();
    sim.advance(Duration::from_secs(30)); // ten idle timeouts, no traffic
    assert_eq!(sim.client_closed(c), None);
    assert_eq!(sim.server_closed(s), None);
    sim.client
        .send(c, 0, Bytes::from_static(b"still here"))
        .expect("send");
    let (got, _) = server_receives(&mut sim, s, 1, Duration::from_secs(1));
    assert_eq!(got, vec![(0, Bytes::from_static(b"still here"))]);
}

#[test]
fn close_reaches_the_peer_with_code_and_reason() {
    let mut sim = Sim::new(6);
    let (c, s) = sim.establish();
    let now = sim.now;
    sim.client.close(now, c, 42, "bye now");
    assert_eq!(sim.client.send(c, 0, Bytes::new()), Err(SendError::Closed));
    sim.advance(Duration::from_secs(2));
    let remote = CloseReason::Remote {
        code: 42,
        reason: "bye now".into(),
    };
    assert_eq!(sim.server_closed(s), Some(remote));
    let local = CloseReason::Local {
        code: 42,
        reason: "bye now".into(),
    };
    assert_eq!(sim.client_closed(c), Some(local));
    assert_eq!(sim.client.connection_count(), 0, "closing period over");
    assert_eq!(sim.server.connection_count(), 0, "draining period over");
}

#[test]
fn a_repeated_close_keeps_the_original_code() {
    let mut sim = Sim::new(61);
    let (c, s) = sim.establish();
    quiet(&mut sim);
    // The client's first CLOSE is lost; the server, unaware, sends on.
    sim.client_filter = drop_nth(is_data, &[0]);
    let now = sim.now;
    sim.client.close(now, c, 42, "bye now");
    sim.flush();
    sim.server
        .send(s, 0, Bytes::from_static(b"are you there?"))
        .expect("send");
    let closed = sim.run_until(Duration::from_secs(2), |sim| sim.server_closed(s).is_some());
    assert!(closed, "the server never learned of the close");
    let remote = CloseReason::Remote {
        code: 42,
        reason: String::new(),
    };
    assert_eq!(sim.server_closed(s), Some(remote));
}

#[test]
fn migration_validates_the_new_path_and_traffic_continues() {
    let mut sim = Sim::new(7);
    let (c, s) = sim.establish();
    quiet(&mut sim);
    let new_addr = "10.0.0.9:5555".parse().expect("addr");
    sim.client_addr = new_addr;
    sim.client
        .send(c, 0, Bytes::from_static(b"from the new place"))
        .expect("send");
    let (got, _) = server_receives(&mut sim, s, 1, Duration::from_secs(2));
    assert_eq!(got.len(), 1);
    let migrated = sim.run_until(Duration::from_secs(2), |sim| {
        sim.server_events
            .contains(&(s, Event::Migrated { remote: new_addr }))
    });
    assert!(migrated, "no Migrated event");
    assert_eq!(sim.server.connection(s).expect("conn").remote(), new_addr);
    sim.server
        .send(s, 1, Bytes::from_static(b"reply"))
        .expect("send");
    let mut back = Vec::new();
    let ok = sim.run_until(Duration::from_secs(2), |sim| {
        back.extend(sim.client_recv_all(c));
        !back.is_empty()
    });
    assert!(ok, "the server's reply never reached the new address");
    assert_eq!(back, vec![(1, Bytes::from_static(b"reply"))]);
}

#[test]
fn large_message_is_fragmented_and_reassembled_under_loss() {
    let mut sim = Sim::new(8);
    sim.to_server.loss = 0.1;
    sim.to_client.loss = 0.1;
    let (c, s) = sim.establish();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let big = Bytes::from(big);
    sim.client.send(c, 3, big.clone()).expect("send");
    sim.client
        .send(c, 3, Bytes::from_static(b"tail"))
        .expect("send");
    let (got, _) = server_receives(&mut sim, s, 2, Duration::from_secs(30));
    assert_eq!(got, vec![(3, big), (3, Bytes::from_static(b"tail"))]);
    let too_big = Bytes::from(vec![0; 1024 * 1024 + 1]);
    assert!(matches!(
        sim.client.send(c, 0, too_big),
        Err(SendError::TooLarge { .. })
    ));
}

#[test]
fn flow_control_stops_a_sender_whose_peer_does_not_read() {
    let window = 64 * 1024;
    let transport = TransportConfig {
        receive_window: window,
        ..TransportConfig::default()
    };
    let mut sim = sim_with(transport);
    let (c, s) = sim.establish();
    let msg = Bytes::from(vec![7; 10_000]);
    for _ in 0..50 {
        sim.client.send(c, 0, msg.clone()).expect("send");
    }
    sim.advance(Duration::from_secs(2));
    let received = sim.server.stats(s).expect("stats").bytes_received;
    assert!(
        received < window + window / 4,
        "server took in {received} bytes with a {window}-byte window"
    );
    let sent_before = sim.client.stats(c).expect("stats").bytes_sent;
    sim.advance(Duration::from_secs(3));
    let sent_after = sim.client.stats(c).expect("stats").bytes_sent;
    assert!(
        sent_after - sent_before < 2_000,
        "the sender kept sending: {}",
        sent_after - sent_before
    );
    // Reading releases credit: everything arrives.
    let (got, _) = server_receives(&mut sim, s, 50, Duration::from_secs(10));
    assert!(got.iter().all(|(st, m)| *st == 0 && *m == msg));
}

#[test]
fn stats_after_a_lossy_transfer() {
    let mut sim = Sim::new(9);
    sim.to_server.loss = 0.2;
    sim.to_client.loss = 0.2;
    sim.to_server.jitter = ms(5);
    let (c, s) = sim.establish();
    for i in 0..200u32 {
        let body = Bytes::from(vec![i as u8; 100]);
        sim.client.send(c, u64::from(i % 3), body).expect("send");
        sim.advance(ms(5));
    }
    server_receives(&mut sim, s, 200, Duration::from_secs(30));
    let all_acked = sim.run_until(Duration::from_secs(10), |sim| {
        let acks = sim
            .client_events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Acked { .. }));
        acks.count() == 200
    });
    assert!(all_acked);
    let cs = sim.client.stats(c).expect("stats");
    assert!(cs.packets_lost > 0 && cs.retransmits > 0, "{cs:?}");
    assert!(
        cs.rtt >= ms(20) && cs.min_rtt >= ms(20) && cs.rtt < ms(200),
        "{cs:?}"
    );
    assert!(
        cs.cwnd > 0 && cs.packets_sent > 0 && cs.bytes_sent > cs.packets_sent,
        "{cs:?}"
    );
    let ss = sim.server.stats(s).expect("stats");
    assert!(ss.packets_received > 0 && ss.bytes_received > 0, "{ss:?}");
    assert!(
        ss.packets_received < cs.packets_sent,
        "some were lost: {ss:?} {cs:?}"
    );
}
