//! Bad input from the network is dropped and counted, never a panic, and
//! the connection it was aimed at survives.

mod sim;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use natter_proto::packet::{self, Packet};
use natter_proto::{ConnectionHandle, EndpointStats};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::{CLIENT, SERVER, Sim, is_data};

/// An established pair plus the Data packets the client sent so far.
struct Setup {
    sim: Sim,
    c: ConnectionHandle,
    s: ConnectionHandle,
    client_data: Rc<RefCell<Vec<Vec<u8>>>>,
}

fn setup(seed: u64) -> Setup {
    let mut sim = Sim::new(seed);
    let client_data: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let tap = client_data.clone();
    sim.client_tap = Some(Box::new(move |d: &[u8]| {
        if is_data(d) {
            tap.borrow_mut().push(d.to_vec());
        }
    }));
    let (c, s) = sim.establish();
    sim.client
        .send(c, 0, Bytes::from_static(b"a real message"))
        .expect("send");
    sim.advance(Duration::from_millis(200));
    assert_eq!(sim.server_recv_all(s).len(), 1);
    Setup {
        sim,
        c,
        s,
        client_data,
    }
}

impl Setup {
    fn real_data_packet(&self) -> Vec<u8> {
        self.client_data
            .borrow()
            .last()
            .cloned()
            .expect("a data packet")
    }

    fn inject(&mut self, datagram: Vec<u8>) {
        self.sim.inject(CLIENT, SERVER, datagram);
        self.sim.advance(Duration::from_millis(1));
    }

    /// The connection still works both ways.
    fn assert_alive(&mut self) {
        let (c, s) = (self.c, self.s);
        assert!(self.sim.client_closed(c).is_none() && self.sim.server_closed(s).is_none());
        self.sim
            .client
            .send(c, 1, Bytes::from_static(b"ping"))
            .expect("send");
        self.sim
            .server
            .send(s, 1, Bytes::from_static(b"pong"))
            .expect("send");
        self.sim.advance(Duration::from_millis(200));
        assert_eq!(
            self.sim.server_recv_all(s),
            vec![(1, Bytes::from_static(b"ping"))]
        );
        assert_eq!(
            self.sim.client_recv_all(c),
            vec![(1, Bytes::from_static(b"pong"))]
        );
    }

    fn endpoint_stats(&self) -> EndpointStats {
        self.sim.server.endpoint_stats()
    }

    fn dropped_invalid(&self) -> u64 {
        self.sim
            .server
            .stats(self.s)
            .expect("stats")
            .dropped_invalid
    }
}

#[test]
fn truncated_packets_are_dropped() {
    let mut t = setup(30);
    let real = t.real_data_packet();
    for len in 0..real.len() {
        t.inject(real[..len].to_vec());
    }
    let stats = t.endpoint_stats();
    let counted = stats.malformed + t.dropped_invalid();
    assert_eq!(
        counted,
        real.len() as u64,
        "every truncation counted: {stats:?}"
    );
    t.assert_alive();
}

#[test]
fn oversized_and_garbage_datagrams_are_dropped() {
    let mut t = setup(31);
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let before = t.endpoint_stats();
    let mut sent = 0;
    for len in [1, 2, 17, 100, 1199, 1200, 1500, 9000, 65_507] {
        for _ in 0..5 {
            let garbage: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            t.inject(garbage);
            sent += 1;
        }
    }
    let after = t.endpoint_stats();
    let counted = (after.malformed - before.malformed)
        + (after.unknown_connection - before.unknown_connection)
        + (after.initials_dropped - before.initials_dropped)
        + after.version_negotiations
        + t.dropped_invalid();
    assert_eq!(counted, sent, "{after:?}");
    assert_eq!(after.handshakes, before.handshakes);
    t.assert_alive();
}

#[test]
fn oversized_data_packet_for_a_live_connection_is_dropped() {
    let mut t = setup(32);
    let mut big = t.real_data_packet();
    big.resize(65_507, 0xab);
    t.inject(big);
    assert_eq!(t.dropped_invalid(), 1);
    t.assert_alive();
}

#[test]
fn bad_mac_is_dropped_and_counted() {
    let mut t = setup(33);
    let real = t.real_data_packet();
    let Ok(Packet::Data { header_len, .. }) = packet::decode(&real) else {
        panic!("not a Data packet")
    };
    for i in header_len..real.len() {
        let mut forged = real.clone();
        forged[i] ^= 0x01;
        t.inject(forged);
    }
    assert_eq!(t.dropped_invalid(), (real.len() - header_len) as u64);
    // Replaying the genuine packet is a duplicate, not a new delivery.
    t.inject(real);
    assert_eq!(t.sim.server.stats(t.s).expect("stats").duplicate_packets, 1);
    assert!(t.sim.server_recv_all(t.s).is_empty());
    t.assert_alive();
}

#[test]
fn wrong_version_and_wrong_type_are_dropped() {
    let mut t = setup(34);
    let before = t.endpoint_stats();
    let mut real = t.real_data_packet();
    real[0] = 0x77; // unknown packet type
    t.inject(real);
    // A small long-header packet with an unknown version: no answer.
    let mut small = vec![packet::TYPE_INITIAL];
    small.extend_from_slice(&0x1234_5678_u32.to_be_bytes());
    small.extend_from_slice(&[0; 16]);
    t.inject(small);
    let after = t.endpoint_stats();
    assert_eq!(
        after.malformed + after.initials_dropped,
        before.malformed + before.initials_dropped + 2
    );
    assert_eq!(after.version_negotiations, 0);
    t.assert_alive();
}

#[test]
fn random_mutations_of_real_packets_never_panic() {
    let mut t = setup(35);
    let mut rng = ChaCha8Rng::seed_from_u64(35);
    let real = t.real_data_packet();
    for _ in 0..300 {
        let mut m = real.clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..m.len());
            m[i] = rng.random();
        }
        if rng.random_bool(0.3) {
            m.truncate(rng.random_range(0..m.len()));
        }
        t.inject(m);
    }
    t.assert_alive();
}
