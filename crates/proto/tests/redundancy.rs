//! Redundancy for small packets over the simulated network (virtual clock, fixed
//! seeds): copies go out on a randomly lossy path, not on a clean one nor on a
//! congested one, stay within their budget, and the receiver takes each message
//! once, in order.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use natter_proto::{ConnectionHandle, ConnectionStats, ServerEndpointConfig, TransportConfig};
use sim::{Bottleneck, Sim};

/// 36 % each way: what `natter bench --loss 0.2` gives per hop (20 % dropped on
/// send, 20 % on receive).
const BENCH_LOSS: f64 = 0.36;
const BODY: usize = 100;

/// A connected pair; `loss` applies each way from now on.
fn lossy_sim(
    seed: u64,
    loss: f64,
    transport: TransportConfig,
) -> (Sim, ConnectionHandle, ConnectionHandle) {
    let server = ServerEndpointConfig::new(sim::server_keypair(), [3; 32]);
    let mut sim = Sim::with_configs(seed, transport, server);
    let (c, s) = sim.establish();
    sim.to_server.loss = loss;
    sim.to_client.loss = loss;
    (sim, c, s)
}

/// A chat-like flow client → server: `count` messages of [`BODY`] bytes, one per
/// `interval` (the first `first_id` is the number of messages sent before on this
/// connection). Returns how long each took to reach the server, checking that each
/// arrives exactly once and in order.
fn chat(
    sim: &mut Sim,
    (c, s): (ConnectionHandle, ConnectionHandle),
    first_id: u64,
    count: usize,
    interval: Duration,
) -> Vec<Duration> {
    let base = sim.now;
    let mut sent_at = Vec::new();
    let mut latencies = Vec::new();
    while latencies.len() < count {
        while sent_at.len() < count && interval * sent_at.len() as u32 <= sim.now - base {
            let mut body = vec![0u8; BODY];
            let id = first_id + sent_at.len() as u64;
            body[..8].copy_from_slice(&id.to_be_bytes());
            sim.client.send(c, 0, Bytes::from(body)).expect("send");
            sent_at.push(sim.now);
        }
        sim.advance(Duration::from_millis(1));
        for (_, m) in sim.server_recv_all(s) {
            let id = u64::from_be_bytes(m[..8].try_into().expect("8 bytes"));
            assert_eq!(id, first_id + latencies.len() as u64, "once, in order");
            latencies.push(sim.now - sent_at[latencies.len()]);
        }
        let limit = interval * count as u32 + Duration::from_secs(60);
        assert!(sim.now - base < limit, "the flow finished");
    }
    latencies
}

fn stats(sim: &Sim, c: ConnectionHandle) -> ConnectionStats {
    sim.client.stats(c).expect("client connection")
}

/// The `q`-quantile (0..1) of `latencies`.
fn quantile(latencies: &[Duration], q: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

/// Messages that took longer than `limit`.
fn late(latencies: &[Duration], limit: Duration) -> usize {
    latencies.iter().filter(|l| **l > limit).count()
}

const EVERY_20_MS: Duration = Duration::from_millis(20);

#[test]
fn random_loss_turns_copies_on_and_they_cut_the_tail() {
    let seed = 51;
    let (mut on, c, s) = lossy_sim(seed, BENCH_LOSS, sim::transport());
    let with = chat(&mut on, (c, s), 0, 500, EVERY_20_MS);
    let st = stats(&on, c);
    let no_copies = TransportConfig {
        redundancy_budget: 0,
        ..sim::transport()
    };
    let (mut off, c2, s2) = lossy_sim(seed, BENCH_LOSS, no_copies);
    let without = chat(&mut off, (c2, s2), 0, 500, EVERY_20_MS);
    let off_st = stats(&off, c2);
    // The RTT is 20 ms: a message that needed no recovery arrives in ~10 ms, or
    // 1 ms later through its copy.
    let limit = Duration::from_millis(15);
    let (late_with, late_without) = (late(&with, limit), late(&without, limit));
    println!(
        "seed {seed}: late with copies {late_with}, without {late_without}; copies {} \
         ({} of {} B sent); without copies {} B sent; p50 / p99 with copies {:?} / {:?}, \
         without {:?} / {:?}",
        st.redundant_packets,
        st.redundant_bytes,
        st.bytes_sent,
        off_st.bytes_sent,
        quantile(&with, 0.5),
        quantile(&with, 0.99),
        quantile(&without, 0.5),
        quantile(&without, 0.99),
    );
    assert!(
        st.redundant_packets > 100,
        "seed {seed}: copies sent: {st:?}"
    );
    assert_eq!(
        off_st.redundant_packets, 0,
        "seed {seed}: a zero budget sends none"
    );
    assert!(
        late_with * 2 < late_without,
        "seed {seed}: copies cut the messages that needed a recovery: {late_with} vs {late_without}"
    );
    let server = on.server.stats(s).expect("server connection");
    assert!(
        server.duplicate_fragments > 0,
        "seed {seed}: copies dropped: {server:?}"
    );
    // Every ACK range stayed right: the sender saw everything acknowledged.
    let idle = on.run_until(Duration::from_secs(30), |sim| {
        sim.client.connection(c).is_some_and(|conn| conn.is_idle())
    });
    assert!(
        idle && on.client_closed(c).is_none(),
        "seed {seed}: all acknowledged"
    );
}

/// What one seed's pair of runs gave: latencies and the client's counters
/// with second copies (budget 200 %) and with first copies only (100 %).
struct CopyRuns {
    with: Vec<Duration>,
    without: Vec<Duration>,
    st: ConnectionStats,
    one_st: ConnectionStats,
}

fn copy_runs(seed: u64) -> CopyRuns {
    let (mut two, c, s) = lossy_sim(seed, BENCH_LOSS, sim::transport());
    let with = chat(&mut two, (c, s), 0, 1000, EVERY_20_MS);
    // At 100 % the budget pays for the first copies only.
    let first_only = TransportConfig {
        redundancy_budget: 100,
        ..sim::transport()
    };
    let (mut one, c1, s1) = lossy_sim(seed, BENCH_LOSS, first_only);
    let without = chat(&mut one, (c1, s1), 0, 1000, EVERY_20_MS);
    CopyRuns {
        st: stats(&two, c),
        one_st: stats(&one, c1),
        with,
        without,
    }
}

/// Pooled over several seeds: one seed's 1000 messages have ~100 late ones
/// each way, and the ratio moves from 0.5 to 0.85 between seeds (seeds 40 to
/// 64). The claim used to be "halved" on seed 55 alone, which only that
/// seed (and 46) met: any change in the order of random draws could fail it.
#[test]
fn second_copies_recover_double_losses_before_a_probe_timeout() {
    let seeds = 55..61;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let (mut extra, mut first) = (0, 0);
    // A probe timeout here is at least 45 ms (20 ms RTT + 15 ms granularity + 10 ms
    // max_ack_delay); a second copy goes out about one RTT after the first.
    let limit = Duration::from_millis(45);
    for seed in seeds.clone() {
        let r = copy_runs(seed);
        println!(
            "seed {seed}: later than {limit:?}: {} with second copies, {} without; \
             copies {} B of {} B sent vs {} B of {} B",
            late(&r.with, limit),
            late(&r.without, limit),
            r.st.redundant_bytes,
            r.st.bytes_sent,
            r.one_st.redundant_bytes,
            r.one_st.bytes_sent,
        );
        // The first packets of the connection, before the loss baseline is
        // learnt, are not read as congestion (with the burst line at 40 % the
        // window fell to two packets and one message waited 1.5 s, 70 more
        // behind it). Not 500 ms: one early message lost five times in a row
        // waits five backed-off probe timeouts, 670 ms on seed 61, with or
        // without copies (none go out before the loss rate is known).
        let worst = r.with.iter().max().expect("latencies");
        assert!(
            *worst < Duration::from_secs(1),
            "seed {seed}: worst {worst:?}"
        );
        extra += r.st.redundant_bytes - r.one_st.redundant_bytes;
        first += r.one_st.redundant_bytes;
        with.extend(r.with);
        without.extend(r.without);
    }
    let (late_two, late_one) = (late(&with, limit), late(&without, limit));
    println!(
        "seeds {seeds:?}: later than {limit:?}: {late_two} with second copies, {late_one} \
         without; p50 / p99 {:?} / {:?} vs {:?} / {:?}; second copies {extra} B, first {first} B",
        quantile(&with, 0.5),
        quantile(&with, 0.99),
        quantile(&without, 0.5),
        quantile(&without, 0.99),
    );
    assert!(
        late_two * 10 < late_one * 8,
        "seeds {seeds:?}: second copies cut the messages that wait for loss detection \
         by a fifth at least: {late_two} vs {late_one}"
    );
    assert!(
        quantile(&with, 0.99) < quantile(&without, 0.99),
        "seeds {seeds:?}: and cut the p99"
    );
    // Ack-aware: a second copy only for what is still unacknowledged, so well
    // under one per packet.
    assert!(
        extra * 2 < first,
        "seeds {seeds:?}: second copies cost {extra} B, first copies {first} B"
    );
}

#[test]
fn copies_stop_when_the_loss_does_and_a_clean_path_gets_none() {
    let seed = 52;
    let (mut sim, c, s) = lossy_sim(seed, 0.0, sim::transport());
    chat(&mut sim, (c, s), 0, 200, EVERY_20_MS);
    assert_eq!(
        stats(&sim, c).redundant_packets,
        0,
        "seed {seed}: clean path"
    );
    sim.to_server.loss = BENCH_LOSS;
    sim.to_client.loss = BENCH_LOSS;
    chat(&mut sim, (c, s), 200, 300, EVERY_20_MS);
    let lossy = stats(&sim, c).redundant_packets;
    assert!(lossy > 50, "seed {seed}: copies under loss: {lossy}");
    sim.to_server.loss = 0.0;
    sim.to_client.loss = 0.0;
    // The loss average decays below the threshold within ~100 packets.
    chat(&mut sim, (c, s), 500, 100, EVERY_20_MS);
    let settled = stats(&sim, c).redundant_packets;
    chat(&mut sim, (c, s), 600, 300, EVERY_20_MS);
    let after = stats(&sim, c).redundant_packets;
    println!("seed {seed}: copies under loss {lossy}, while settling {settled}, then {after}");
    assert_eq!(
        after, settled,
        "seed {seed}: no copies once the path is clean"
    );
}

#[test]
fn copies_stay_within_the_budget() {
    let seed = 53;
    for budget in [30, 100] {
        let transport = TransportConfig {
            redundancy_budget: budget,
            ..sim::transport()
        };
        let (mut sim, c, s) = lossy_sim(seed, BENCH_LOSS, transport);
        // Two messages per 10 ms: some packets carry two.
        chat(&mut sim, (c, s), 0, 600, Duration::from_millis(5));
        let st = stats(&sim, c);
        let originals = st.bytes_sent - st.redundant_bytes;
        let allowed = originals * u64::from(budget) / 100 + 4 * 1200;
        println!("seed {seed}, budget {budget} %: {st:?}");
        assert!(st.redundant_packets > 0, "seed {seed}: copies sent");
        assert!(
            st.redundant_bytes <= allowed,
            "seed {seed}, budget {budget} %: {} B of copies for {originals} B",
            st.redundant_bytes
        );
    }
}

#[test]
fn a_congested_path_gets_no_copies() {
    let seed = 54;
    // Any loss rate and any packet size would do: only the congestion signals
    // keep copies off here.
    let eager = TransportConfig {
        redundancy_min_loss: 1,
        redundancy_max_size: 1200,
        ..sim::transport()
    };
    let (mut sim, c, s) = lossy_sim(seed, 0.0, eager);
    // 20 KB/s with a 4 KB queue (200 ms), and one small message every 4 ms (one
    // ~160 B packet each, ~40 KB/s): the queue stands, then overflows (tail drop),
    // so the loss comes with queueing delay.
    sim.bottleneck = Some(Bottleneck::new(20_000, 4_000));
    chat(&mut sim, (c, s), 0, 1500, Duration::from_millis(4));
    let st = stats(&sim, c);
    let b = sim.bottleneck.take().expect("bottleneck");
    println!(
        "seed {seed}: {st:?}, bottleneck dropped {} forwarded {}",
        b.dropped, b.forwarded
    );
    assert!(
        b.dropped > 0 && st.packets_lost * 20 > st.packets_sent,
        "seed {seed}: over 5 % lost to congestion"
    );
    assert_eq!(
        st.redundant_packets, 0,
        "seed {seed}: no copies into a queue"
    );
}
