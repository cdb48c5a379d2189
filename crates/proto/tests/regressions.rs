//! Regression tests for defects found in review (each names what it guards).

mod sim;

use std::time::Duration;

use bytes::Bytes;
use natter_proto::{Event, SendError, TransportConfig};
use sim::Sim;

fn recv_n(
    sim: &mut Sim,
    s: natter_proto::ConnectionHandle,
    n: usize,
    limit: Duration,
) -> Vec<Bytes> {
    let mut got = Vec::new();
    sim.run_until(limit, |sim| {
        got.extend(sim.server_recv_all(s).into_iter().map(|(_, m)| m));
        got.len() >= n
    });
    got
}

/// Flow control: a message whose charge is more than half the window used
/// to wait forever for a MAX_DATA that was never due.
#[test]
fn largest_message_after_a_large_one_is_not_starved() {
    let mut sim = Sim::new(21);
    let (c, s) = sim.establish();
    let first = Bytes::from(vec![1u8; 1_048_486]);
    let second = Bytes::from(vec![2u8; 1024 * 1024]);
    sim.client.send(c, 0, first.clone()).expect("send");
    sim.client.send(c, 0, second.clone()).expect("send");
    let got = recv_n(&mut sim, s, 2, Duration::from_secs(20));
    assert_eq!(got, vec![first, second]);
}

/// A message the sender saw acknowledged must reach the application even
/// if the connection closed before the application read it.
#[test]
fn acknowledged_message_survives_close_until_read() {
    let mut sim = Sim::new(22);
    let (c, s) = sim.establish();
    sim.client
        .send(c, 0, Bytes::from_static(b"last words"))
        .expect("send");
    let acked = sim.run_until(Duration::from_secs(5), |sim| {
        sim.client_events
            .iter()
            .any(|(_, e)| matches!(e, Event::Acked { .. }))
    });
    assert!(acked);
    sim.client.close(sim.now, c, 0, "bye");
    // Long past the close linger: both sides are drained.
    sim.advance(Duration::from_secs(5));
    assert!(sim.server_closed(s).is_some());
    assert_eq!(
        sim.server_recv_all(s),
        vec![(0, Bytes::from_static(b"last words"))]
    );
    assert_eq!(sim.server.connection_count(), 0, "forgotten once read");
}

/// The peer's limits are respected locally: a message larger than the
/// peer accepts is refused by `send` instead of closing the connection.
#[test]
fn peer_max_message_size_is_enforced_on_send() {
    let transport = TransportConfig {
        max_message_size: 1000,
        ..TransportConfig::default()
    };
    let server = natter_proto::ServerEndpointConfig::new(sim::server_keypair(), [3; 32]);
    let mut sim = Sim::with_configs(23, transport, server);
    // Both sides use the small limit here; check the server side refuses
    // to send more than the client accepts, and the connection lives on.
    let (c, s) = sim.establish();
    let err = sim
        .server
        .send(s, 0, Bytes::from(vec![0u8; 1001]))
        .expect_err("too large");
    assert!(matches!(err, SendError::TooLarge { .. }), "{err:?}");
    sim.server
        .send(s, 0, Bytes::from(vec![0u8; 1000]))
        .expect("fits");
    let mut got = Vec::new();
    sim.run_until(Duration::from_secs(5), |sim| {
        got.extend(sim.client_recv_all(c));
        !got.is_empty()
    });
    assert_eq!(got.len(), 1);
}

/// Keepalive stays below a short idle timeout, so a quiet connection with
/// `idle_timeout` = 3 s lives on.
#[test]
fn short_idle_timeout_is_kept_alive() {
    let transport = TransportConfig {
        idle_timeout: Duration::from_secs(3),
        ..TransportConfig::default()
    };
    let server = natter_proto::ServerEndpointConfig::new(sim::server_keypair(), [3; 32]);
    let mut sim = Sim::with_configs(24, transport, server);
    let (c, s) = sim.establish();
    sim.advance(Duration::from_secs(30));
    assert!(sim.client_closed(c).is_none() && sim.server_closed(s).is_none());
}
