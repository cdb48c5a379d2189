//! Congestion control over the simulated network (virtual clock, fixed seeds):
//! random loss does not throttle a bulk transfer, a full bottleneck queue does.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use natter_proto::{ConnectionHandle, Event};
use sim::{Bottleneck, Sim};

/// 1 MB/s (8 Mbit/s, like the fairness test's `tbf`) with a 64 KB queue (64 ms).
const RATE: u64 = 1_000_000;
const QUEUE: usize = 64_000;
/// One-way latency: 40 ms RTT, a bandwidth-delay product of 40 KB.
const LATENCY: Duration = Duration::from_millis(20);
/// Virtual time the transfer runs for.
const TRANSFER: Duration = Duration::from_secs(10);
/// Message size and how many are kept unacknowledged (far above the window).
const MESSAGE: usize = 1000;
const OUTSTANDING: usize = 600;

/// Slow start may overshoot the path by up to 2× once; "steady" figures start here.
const STEADY_FROM: Duration = Duration::from_secs(2);

/// What one bulk transfer achieved.
#[derive(Debug)]
struct Outcome {
    /// Application bytes the server received per second of virtual time.
    goodput: u64,
    /// Largest congestion window sampled every 10 ms after [`STEADY_FROM`].
    steady_max_cwnd: u64,
    /// Datagrams the bottleneck dropped and forwarded after [`STEADY_FROM`].
    steady_dropped: u64,
    steady_forwarded: u64,
    /// Largest queue the bottleneck held.
    max_queued: usize,
}

/// Runs a bulk transfer client → server for [`TRANSFER`] over the bottleneck with
/// `loss` random loss on each direction.
fn bulk(seed: u64, loss: f64) -> Outcome {
    let mut sim = Sim::new(seed);
    sim.to_server.latency = LATENCY;
    sim.to_client.latency = LATENCY;
    let (c, s) = sim.establish();
    sim.to_server.loss = loss;
    sim.to_client.loss = loss;
    sim.bottleneck = Some(Bottleneck::new(RATE, QUEUE));
    let mut received = 0usize;
    let (mut steady_max_cwnd, mut at_steady) = (0, (0, 0));
    let start = sim.now;
    let mut unacked = 0;
    while sim.now < start + TRANSFER {
        unacked -= acked(&mut sim, c);
        while unacked < OUTSTANDING {
            let body = Bytes::from(vec![7u8; MESSAGE]);
            sim.client.send(c, 0, body).expect("send");
            unacked += 1;
        }
        sim.advance(Duration::from_millis(10));
        received += sim
            .server_recv_all(s)
            .iter()
            .map(|(_, m)| m.len())
            .sum::<usize>();
        let b = sim.bottleneck.as_ref().expect("bottleneck");
        if sim.now < start + STEADY_FROM {
            at_steady = (b.dropped, b.forwarded);
        } else {
            steady_max_cwnd = steady_max_cwnd.max(sim.client.stats(c).expect("stats").cwnd);
        }
    }
    let b = sim.bottleneck.take().expect("bottleneck");
    Outcome {
        goodput: (received as f64 / TRANSFER.as_secs_f64()) as u64,
        steady_max_cwnd,
        steady_dropped: b.dropped - at_steady.0,
        steady_forwarded: b.forwarded - at_steady.1,
        max_queued: b.max_queued,
    }
}

/// Drains the client's events, counting the messages acknowledged on `c`.
fn acked(sim: &mut Sim, c: ConnectionHandle) -> usize {
    let events = std::mem::take(&mut sim.client_events);
    let acks = events
        .iter()
        .filter(|(h, e)| *h == c && matches!(e, Event::Acked { .. }));
    acks.count()
}

#[test]
fn twenty_percent_random_loss_keeps_half_the_throughput() {
    let seed = 10;
    let clean = bulk(seed, 0.0);
    let lossy = bulk(seed, 0.2);
    println!("seed {seed}: 0 % loss {clean:?}\nseed {seed}: 20 % loss {lossy:?}");
    assert!(
        clean.goodput > RATE * 8 / 10,
        "seed {seed}: a clean path fills the bottleneck: {clean:?}"
    );
    assert!(
        lossy.goodput * 2 >= clean.goodput,
        "seed {seed}: 20 % loss each way keeps ≥ 0.5× the goodput: {lossy:?} vs {clean:?}"
    );
}

#[test]
fn a_full_bottleneck_queue_makes_the_window_back_off() {
    let seed = 11;
    let out = bulk(seed, 0.0);
    println!("seed {seed}: {out:?}");
    let bdp_plus_queue = (RATE * 2 * LATENCY.as_millis() as u64 / 1000) as usize + QUEUE;
    assert!(
        out.steady_dropped > 0 && out.max_queued + 1200 > QUEUE,
        "seed {seed}: the queue overflowed: {out:?}"
    );
    assert!(
        out.steady_dropped * 100 < out.steady_forwarded,
        "seed {seed}: under 1 % of the datagrams dropped at the queue: {out:?}"
    );
    assert!(
        out.steady_max_cwnd as usize <= bdp_plus_queue * 5 / 4,
        "seed {seed}: the window stays near what the path holds ({bdp_plus_queue} B): {out:?}"
    );
}
