//! Seeded randomized simulation: a [`SendStreams`] and a [`RecvStreams`]
//! connected by a network that loses, reorders and duplicates fragments and
//! loses acknowledgements. Every message must arrive exactly once, in order
//! per stream, and both sides must end idle with nothing allocated.
//!
//! Set `STREAMS_SIM_SEED=<n>` to replay one seed.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

const STREAMS: u64 = 5;
const MAX_MESSAGE: u64 = 8_000;
const WINDOW: u64 = 20_000;
const MESSAGES: usize = 300;
const MAX_TICKS: u64 = 200_000;

#[derive(Debug)]
enum Event {
    /// A fragment reaches the receiver.
    Arrive(Fragment),
    /// The sender learns the fragment was received.
    Acked(Fragment),
    /// The sender declares the fragment lost (packet or its ack was lost).
    Lost(Fragment),
    /// A MAX_DATA frame reaches the sender.
    MaxData(u64),
}

struct Sim {
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    send: SendStreams,
    recv: RecvStreams,
    events: BTreeMap<(u64, u64), Event>,
    expected: BTreeMap<u64, VecDeque<Bytes>>,
    pushed: usize,
    delivered: usize,
}

/// Prints the seed if the simulation panics.
struct SeedGuard(u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "streams simulation failed with seed {} (replay: STREAMS_SIM_SEED={})",
                self.0, self.0
            );
        }
    }
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut send = SendStreams::new(MAX_MESSAGE, STREAMS);
        let recv = RecvStreams::new(WINDOW, MAX_MESSAGE, STREAMS);
        send.set_peer_max_data(recv.initial_max_data());
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: 0,
            seq: 0,
            send,
            recv,
            events: BTreeMap::new(),
            expected: BTreeMap::new(),
            pushed: 0,
            delivered: 0,
        }
    }

    fn schedule(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.events.insert((self.now + delay, self.seq), event);
    }

    fn random_message(&mut self) -> Bytes {
        let len = match self.rng.random_range(0..10) {
            0..3 => self.rng.random_range(0..10),
            3..8 => self.rng.random_range(10..500),
            _ => self.rng.random_range(500..=MAX_MESSAGE as usize),
        };
        let mut data = vec![0; len];
        self.rng.fill(&mut data[..]);
        Bytes::from(data)
    }

    fn push_some(&mut self) {
        let count = self.rng.random_range(0..4).min(MESSAGES - self.pushed);
        for _ in 0..count {
            let stream = self.rng.random_range(0..STREAMS);
            let data = self.random_message();
            self.send.push(stream, data.clone()).unwrap();
            self.expected.entry(stream).or_default().push_back(data);
            self.pushed += 1;
        }
    }

    fn transmit(&mut self) {
        for _ in 0..self.rng.random_range(1..6) {
            let max_frame_len = self.rng.random_range(40..1400);
            let Some(f) = self.send.poll_frame(max_frame_len) else {
                return;
            };
            assert!(f.frame_len() <= max_frame_len);
            if self.rng.random_bool(0.2) {
                let delay = self.rng.random_range(3..8);
                self.schedule(delay, Event::Lost(f));
                continue;
            }
            if self.rng.random_bool(0.1) {
                let delay = self.rng.random_range(1..12);
                self.schedule(delay, Event::Arrive(f.clone()));
            }
            let delay = self.rng.random_range(1..6);
            self.schedule(delay, Event::Arrive(f));
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Arrive(f) => self.arrive(f),
            Event::Acked(f) => {
                self.send.on_acked(f.stream, f.msg_id, f.offset, f.len());
            }
            Event::Lost(f) => self.send.on_lost(f.stream, f.msg_id, f.offset, f.len()),
            Event::MaxData(max) => self.send.set_peer_max_data(max),
        }
    }

    fn arrive(&mut self, f: Fragment) {
        let frame = FragmentRef {
            stream: f.stream,
            msg_id: f.msg_id,
            conn_offset: f.conn_offset,
            total_len: f.total_len,
            offset: f.offset,
            data: &f.data,
        };
        self.recv.on_frame(frame).expect("valid fragment refused");
        let ack_lost = self.rng.random_bool(0.1);
        let delay = self.rng.random_range(1..5);
        let event = if ack_lost {
            Event::Lost(f)
        } else {
            Event::Acked(f)
        };
        self.schedule(delay, event);
    }

    fn consume(&mut self) {
        while let Some((stream, data)) = self.recv.poll_message() {
            let want = self.expected.get_mut(&stream).and_then(VecDeque::pop_front);
            assert_eq!(
                Some(data),
                want,
                "message {} on stream {stream}",
                self.delivered
            );
            self.delivered += 1;
        }
        if let Some(max_data) = self.recv.poll_max_data_update() {
            let delay = self.rng.random_range(1..5);
            self.schedule(delay, Event::MaxData(max_data));
        }
    }

    fn step(&mut self) {
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let event = entry.remove();
            self.handle(event);
        }
        if self.pushed < MESSAGES {
            self.push_some();
        }
        self.transmit();
        self.consume();
        self.now += 1;
    }

    fn finished(&self) -> bool {
        self.pushed == MESSAGES && self.events.is_empty() && self.send.is_idle()
    }

    fn run(mut self) {
        while !self.finished() {
            assert!(
                self.now < MAX_TICKS,
                "no progress: delivered {}/{}",
                self.delivered,
                MESSAGES
            );
            self.step();
        }
        assert_eq!(self.delivered, MESSAGES);
        assert!(self.expected.values().all(VecDeque::is_empty));
        assert_eq!(
            self.send.heap_footprint(),
            0,
            "idle sender holds allocations"
        );
        assert_eq!(
            self.recv.heap_footprint(),
            0,
            "idle receiver holds allocations"
        );
        assert!(
            self.recv.duplicates() > 0,
            "the simulation should produce duplicates"
        );
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("STREAMS_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("STREAMS_SIM_SEED must be a number")],
        Err(_) => (0..12).collect(),
    }
}

#[test]
fn loss_reorder_duplicate_simulation() {
    for seed in seeds() {
        let _guard = SeedGuard(seed);
        Sim::new(seed).run();
    }
}
