//! Small messages queued together share packets (a chat fan-out queues
//! many per peer at once), and queueing without sending arms the timers
//! once the packets leave.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use sim::Sim;

/// Datagram size, and what a Data packet spends on header and AEAD tag.
const MTU: usize = 1200;
const PACKET_OVERHEAD: usize = 1 + 8 + 8 + 16;
/// A MSG frame's header for a small message, at most (type and varints).
const MSG_OVERHEAD: usize = 16;

#[test]
fn small_messages_queued_at_once_leave_in_as_few_packets_as_fit() {
    for (n, size) in [(40, 100), (7, 100), (100, 20), (3, 500)] {
        let mut sim = Sim::new(7);
        let (c, s) = sim.establish();
        sim.advance(Duration::from_millis(100)); // every handshake ACK is out
        let before = sim.server_sent.len();
        for i in 0..n {
            let body = Bytes::from(vec![i as u8; size]);
            sim.server.send(s, 0, body).expect("send");
        }
        sim.flush();
        let packets = sim.server_sent.len() - before;
        let fewest = (n * size).div_ceil(MTU);
        let at_most = (n * (size + MSG_OVERHEAD)).div_ceil(MTU - PACKET_OVERHEAD);
        assert!(
            (fewest..=at_most).contains(&packets),
            "{n} × {size} B left in {packets} packets, expected {fewest}..={at_most}"
        );
        let mut got = Vec::new();
        assert!(sim.run_until(Duration::from_secs(5), |sim| {
            got.extend(sim.client_recv_all(c));
            got.len() == n
        }));
        let expected: Vec<_> = (0..n)
            .map(|i| (0, Bytes::from(vec![i as u8; size])))
            .collect();
        assert_eq!(got, expected);
    }
}

#[test]
fn a_queued_message_arms_the_probe_timer_when_it_leaves() {
    let mut sim = Sim::new(8);
    let (c, s) = sim.establish();
    sim.advance(Duration::from_millis(100));
    let idle_deadline = sim.server.poll_timeout().expect("keepalive or idle timer");
    sim.server
        .send(s, 0, Bytes::from_static(b"hello"))
        .expect("send");
    // Lose it: only the probe timer can bring it back.
    sim.server_filter = Some(Box::new(|_| true));
    sim.flush();
    let probe = sim.server.poll_timeout().expect("probe timer");
    assert!(probe < idle_deadline, "{probe:?} !< {idle_deadline:?}");
    assert!(probe <= sim.now + Duration::from_secs(1));
    sim.server_filter = None;
    let mut got = Vec::new();
    assert!(sim.run_until(Duration::from_secs(5), |sim| {
        got.extend(sim.client_recv_all(c));
        !got.is_empty()
    }));
    assert_eq!(got, vec![(0, Bytes::from_static(b"hello"))]);
}
