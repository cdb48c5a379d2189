//! Property tests over random network scenarios: whatever the loss,
//! duplication, reordering and partitions, every message is delivered
//! exactly once, in order within its stream, within a bound derived from
//! the scenario. Fixed seeds; a failure prints the seed and the scenario.

mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use natter_proto::{ConnectionHandle, ServerEndpointConfig, TransportConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::{LinkConfig, Sim};

/// Number of random scenarios (fixed seeds 0..CASES).
const CASES: u64 = 200;

/// One randomly drawn scenario.
#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    loss: f64,
    duplicate: f64,
    latency: Duration,
    jitter: Duration,
    /// Start offset (after the handshake began) and length of a partition.
    partition: Option<(Duration, Duration)>,
    streams: u64,
    /// Messages per direction.
    messages: usize,
    /// Waves of sends, spaced by `gap`.
    waves: usize,
    gap: Duration,
}

impl Scenario {
    fn draw(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let partition = rng.random_bool(0.3).then(|| {
            let at = Duration::from_millis(rng.random_range(0..2_000));
            (at, Duration::from_millis(rng.random_range(100..8_000)))
        });
        Self {
            seed,
            loss: if seed.is_multiple_of(4) {
                0.0
            } else {
                rng.random_range(0.0..0.5)
            },
            duplicate: rng.random_range(0.0..0.1),
            latency: Duration::from_millis(rng.random_range(1..60)),
            jitter: Duration::from_millis(rng.random_range(0..40)),
            partition,
            streams: rng.random_range(1..5),
            messages: rng.random_range(1..60),
            waves: rng.random_range(1..6),
            gap: Duration::from_millis(rng.random_range(0..500)),
        }
    }

    fn link(&self) -> LinkConfig {
        LinkConfig {
            latency: self.latency,
            jitter: self.jitter,
            loss: self.loss,
            duplicate: self.duplicate,
            mtu: 0,
        }
    }

    /// Virtual time within which everything must be delivered: the
    /// handshake and tail (10 s), twice the partition (the probe backoff
    /// may sleep through its end), the sending schedule, and per message
    /// round trips growing with the square of the expected number of
    /// tries of a data+ack exchange, `1 / (1 - loss)²` (consecutive
    /// failures back the probe timer off).
    fn deadline(&self) -> Duration {
        let rtt = 2 * (self.latency + self.jitter) + Duration::from_millis(50);
        let tries = 1.0 / (1.0 - self.loss).powi(2);
        let partition = self
            .partition
            .map_or(Duration::ZERO, |(at, len)| at + 2 * len);
        let sending = self.gap * self.waves as u32;
        let per_message = rtt.mul_f64(2.0 * tries * tries);
        Duration::from_secs(10) + partition + sending + per_message * self.messages as u32
    }
}

/// A message body: its size drawn from 0..3 KB, sometimes multi-packet.
fn body(rng: &mut ChaCha8Rng, tag: u64) -> Bytes {
    let len = match rng.random_range(0..10) {
        0 => 0,
        1..=6 => rng.random_range(1..200),
        7 | 8 => rng.random_range(200..3_000),
        _ => rng.random_range(3_000..12_000),
    };
    let bytes: Vec<u8> = (0..len).map(|i| (i as u64 ^ tag) as u8).collect();
    Bytes::from(bytes)
}

/// Messages sent on one side, per stream, in send order.
type Sent = BTreeMap<u64, Vec<Bytes>>;

fn run(sc: &Scenario) -> Result<(), String> {
    // 30 s instead of 15 s: at 50 % loss both ways a handshake attempt
    // succeeds with probability 1/4, and giving up after a dozen tries is
    // the documented, correct outcome, not what these scenarios test.
    let transport = TransportConfig {
        idle_timeout: Duration::from_secs(30),
        ..sim::transport()
    };
    let server = ServerEndpointConfig::new(sim::server_keypair(), [3; 32]);
    let mut sim = Sim::with_configs(sc.seed, transport, server);
    sim.to_server = sc.link();
    sim.to_client = sc.link();
    if let Some((at, len)) = sc.partition {
        sim.partitions.push((sim.now + at, sim.now + at + len));
    }
    let start = sim.now;
    let deadline = sc.deadline();
    let c = sim.connect();
    let ok = sim.run_until(deadline, |s| {
        s.client_connected(c) && s.server_handle().is_some()
    });
    if !ok {
        return Err("handshake did not complete".into());
    }
    let s = sim.server_handle().expect("server side");
    let mut rng = ChaCha8Rng::seed_from_u64(sc.seed);
    let (mut to_server, mut to_client) = (Sent::new(), Sent::new());
    let (mut got_server, mut got_client) = (Sent::new(), Sent::new());
    let per_wave = sc.messages.div_ceil(sc.waves);
    for wave in 0..sc.waves {
        for i in 0..per_wave {
            let tag = (wave * per_wave + i) as u64;
            send(&mut sim, &mut rng, sc.streams, c, true, tag, &mut to_server)?;
            send(
                &mut sim,
                &mut rng,
                sc.streams,
                s,
                false,
                tag,
                &mut to_client,
            )?;
        }
        sim.advance(sc.gap);
        drain(&mut sim, c, s, &mut got_server, &mut got_client);
    }
    let left = deadline.saturating_sub(sim.now - start);
    let done = sim.run_until(left, |sim| {
        drain(sim, c, s, &mut got_server, &mut got_client);
        got_server == to_server && got_client == to_client
    });
    check_prefix("client→server", &to_server, &got_server)?;
    check_prefix("server→client", &to_client, &got_client)?;
    let ratio = (sim.now - start).as_secs_f64() / deadline.as_secs_f64();
    eprintln!(
        "seed {}: done in {:?}, {:.0} % of the bound",
        sc.seed,
        sim.now - start,
        100.0 * ratio
    );
    if !done {
        let elapsed = sim.now - start;
        let stats = (sim.client.stats(c), sim.server.stats(s));
        return Err(format!(
            "not all delivered after {elapsed:?} (bound {deadline:?})\n    {stats:?}"
        ));
    }
    // Nothing more may arrive later (no duplicates after completion).
    sim.advance(Duration::from_secs(2));
    drain(&mut sim, c, s, &mut got_server, &mut got_client);
    check_prefix("client→server (late)", &to_server, &got_server)?;
    check_prefix("server→client (late)", &to_client, &got_client)?;
    if sim.client_closed(c).is_some() || sim.server_closed(s).is_some() {
        return Err("connection closed".into());
    }
    Ok(())
}

fn send(
    sim: &mut Sim,
    rng: &mut ChaCha8Rng,
    streams: u64,
    h: ConnectionHandle,
    client: bool,
    tag: u64,
    log: &mut Sent,
) -> Result<(), String> {
    let stream = rng.random_range(0..streams);
    let data = body(rng, tag);
    let ep = if client {
        &mut sim.client
    } else {
        &mut sim.server
    };
    ep.send(h, stream, data.clone())
        .map_err(|e| format!("send: {e}"))?;
    log.entry(stream).or_default().push(data);
    Ok(())
}

fn drain(sim: &mut Sim, c: ConnectionHandle, s: ConnectionHandle, srv: &mut Sent, cli: &mut Sent) {
    for (stream, m) in sim.server_recv_all(s) {
        srv.entry(stream).or_default().push(m);
    }
    for (stream, m) in sim.client_recv_all(c) {
        cli.entry(stream).or_default().push(m);
    }
}

/// Every stream received a prefix of what was sent: nothing invented,
/// duplicated or out of order.
fn check_prefix(dir: &str, sent: &Sent, got: &Sent) -> Result<(), String> {
    for (stream, msgs) in got {
        let expected = sent.get(stream).map_or(&[][..], Vec::as_slice);
        if msgs.len() > expected.len() || msgs[..] != expected[..msgs.len()] {
            return Err(format!(
                "{dir}: stream {stream} received {} messages out of order, duplicated or corrupted",
                msgs.len()
            ));
        }
    }
    Ok(())
}

#[test]
fn random_scenarios_deliver_exactly_once_in_order() {
    let mut failures = Vec::new();
    let only: Option<u64> = std::env::var("SEED").ok().and_then(|s| s.parse().ok());
    for seed in only.map_or(0..CASES, |s| s..s + 1) {
        let sc = Scenario::draw(seed);
        if let Err(e) = run(&sc) {
            failures.push(format!("{e}\n    {sc:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
