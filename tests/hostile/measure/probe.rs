//! What the harness watches: a victim timing its ✓ on a thread of its own,
//! the server's RSS every 100 ms, descriptor counts, and answer tallies.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire::{self, CALL_WAIT, Reply, req};
use crate::common::{GUARD, rss_kib};

/// The victim's source address (attackers use 127.0.0.1 and others).
pub(crate) const VICTIM_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// One lobby message every this long.
const VICTIM_PERIOD: Duration = Duration::from_millis(50);

/// Victim phases: a send is counted in the phase it was issued in.
pub(crate) const SETUP: u8 = 0;
/// Measured without attack.
pub(crate) const BASELINE: u8 = 1;
/// Measured while the attack runs.
pub(crate) const ATTACK: u8 = 2;
/// After the attack (not counted).
pub(crate) const AFTER: u8 = 3;

/// A count per label (`ok`, an error code, `closed`, …).
#[derive(Default)]
pub(crate) struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    /// Counts one `label`.
    pub(crate) fn add(&self, label: impl Into<String>) {
        *self
            .0
            .lock()
            .expect("tally")
            .entry(label.into())
            .or_default() += 1;
    }

    /// How many `label`s.
    pub(crate) fn get(&self, label: &str) -> u64 {
        self.0
            .lock()
            .expect("tally")
            .get(label)
            .copied()
            .unwrap_or(0)
    }

    /// Every count.
    pub(crate) fn total(&self) -> u64 {
        self.0.lock().expect("tally").values().sum()
    }

    /// `ok 12, rate_limited 3` (or `none`).
    pub(crate) fn summary(&self) -> String {
        let map = self.0.lock().expect("tally");
        if map.is_empty() {
            return "none".into();
        }
        let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
        parts.join(", ")
    }
}

/// The victim's ✓ latencies of one phase.
#[derive(Debug, Default, Clone)]
pub(crate) struct Latencies {
    /// Answered with `sent`.
    pub(crate) ok: Vec<Duration>,
    /// Anything else, by label.
    pub(crate) other: BTreeMap<String, u64>,
}

impl Latencies {
    /// `4.8 / 9.1 ms (n=160)` plus any failures.
    pub(crate) fn summary(&self) -> String {
        let mut sorted = self.ok.clone();
        sorted.sort();
        let mut text = match (percentile(&sorted, 0.5), percentile(&sorted, 0.99)) {
            (Some(p50), Some(p99)) => format!("{} / {} ms", ms(p50), ms(p99)),
            _ => "no ✓".to_owned(),
        };
        let failed: Vec<String> = self.other.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if !failed.is_empty() {
            text.push_str(&format!(" ({}; {} ✓)", failed.join(", "), sorted.len()));
        }
        text
    }
}

/// The `q` quantile of sorted samples (nearest rank).
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied()
}

/// Milliseconds with one decimal below 100 ms.
pub(crate) fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// A user on its own WebSocket (from [`VICTIM_ADDR`]) and its own thread
/// and runtime, sending one lobby message every 50 ms and timing each ✓.
pub(crate) struct Victim {
    phase: Arc<AtomicU8>,
    read: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<[Latencies; 4]>>,
}

impl Victim {
    /// Logs in as `name` (registered already) and starts sending.
    pub(crate) fn start(http: SocketAddr, name: &str) -> anyhow::Result<Self> {
        let phase = Arc::new(AtomicU8::new(SETUP));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (p, s, name) = (phase.clone(), stop.clone(), name.to_owned());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("victim runtime");
            rt.block_on(victim_loop(http, name, p, s, ready_tx))
        });
        let read = match ready.recv_timeout(GUARD) {
            Ok(Ok(read)) => read,
            Ok(Err(e)) => anyhow::bail!("victim: {e}"),
            Err(_) => anyhow::bail!("victim did not log in within the guard"),
        };
        Ok(Self {
            phase,
            read,
            stop,
            thread: Some(thread),
        })
    }

    /// Sends from now on count in `phase`.
    pub(crate) fn set_phase(&self, phase: u8) {
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// Bytes the victim has read from its socket so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Stops sending, waits for outstanding ✓ (guard), returns the figures
    /// of the baseline and the attack.
    pub(crate) fn finish(mut self) -> (Latencies, Latencies) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("victim thread");
        let mut phases = thread.join().unwrap_or_default();
        (
            std::mem::take(&mut phases[BASELINE as usize]),
            std::mem::take(&mut phases[ATTACK as usize]),
        )
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn victim_loop(
    http: SocketAddr,
    name: String,
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<anyhow::Result<Arc<AtomicU64>>>,
) -> [Latencies; 4] {
    let conn = match wire::logged_in(http, VICTIM_ADDR, &name).await {
        Ok(conn) => Arc::new(conn),
        Err(e) => {
            let _ = ready.send(Err(e));
            return Default::default();
        }
    };
    let _ = ready.send(Ok(conn.read_counter()));
    let mut tick = tokio::time::interval(VICTIM_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sends = tokio::task::JoinSet::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let (conn, at) = (conn.clone(), phase.load(Ordering::Relaxed));
        sends.spawn(async move {
            let start = Instant::now();
            let reply = conn
                .call(req::send_lobby(&format!("victim {n}")), CALL_WAIT)
                .await;
            (at, start.elapsed(), reply)
        });
    }
    let mut phases: [Latencies; 4] = Default::default();
    let guard = tokio::time::sleep(CALL_WAIT + Duration::from_secs(5));
    tokio::pin!(guard);
    loop {
        tokio::select! {
            done = sends.join_next() => match done {
                Some(Ok((at, took, reply))) => record(&mut phases[at as usize], took, &reply),
                Some(Err(_)) => {}
                None => break,
            },
            () = &mut guard => break,
        }
    }
    phases
}

fn record(phase: &mut Latencies, took: Duration, reply: &Reply) {
    match reply {
        Reply::Ok(v) if v.get("sent").is_some() => phase.ok.push(took),
        other => *phase.other.entry(other.label()).or_default() += 1,
    }
}

/// The server's resident set size, sampled every 100 ms on a thread.
pub(crate) struct RssSampler {
    samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    stop: Arc<AtomicBool>,
    latest: Arc<AtomicU64>,
}

impl RssSampler {
    /// Starts sampling process `pid`; stops when it exits or on drop.
    pub(crate) fn start(pid: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let latest = Arc::new(AtomicU64::new(0));
        let (s, st, l) = (samples.clone(), stop.clone(), latest.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Some(kib) = sample(pid) else { break };
                l.store(kib, Ordering::Relaxed);
                s.lock().expect("samples").push((Instant::now(), kib));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            samples,
            stop,
            latest,
        }
    }

    /// The latest sample in MiB.
    pub(crate) fn now_mib(&self) -> u64 {
        self.latest.load(Ordering::Relaxed) / 1024
    }

    /// The highest sample taken in `[from, to]`, MiB.
    pub(crate) fn peak_mib(&self, from: Instant, to: Instant) -> u64 {
        let samples = self.samples.lock().expect("samples");
        let inside = samples.iter().filter(|(t, _)| *t >= from && *t <= to);
        inside.map(|(_, kib)| *kib).max().unwrap_or(0) / 1024
    }

    /// The lowest sample taken in `[from, to]`, MiB.
    pub(crate) fn low_mib(&self, from: Instant, to: Instant) -> u64 {
        let samples = self.samples.lock().expect("samples");
        let inside = samples.iter().filter(|(t, _)| *t >= from && *t <= to);
        inside.map(|(_, kib)| *kib).min().unwrap_or(0) / 1024
    }

    /// One sample per `step` from `from` on: `168, 190, 240` MiB.
    pub(crate) fn series(&self, from: Instant, step: Duration) -> String {
        let samples = self.samples.lock().expect("samples");
        let mut next = from;
        let mut out = Vec::new();
        for (t, kib) in samples.iter().filter(|(t, _)| *t >= from) {
            if *t >= next {
                out.push((kib / 1024).to_string());
                next += step;
            }
        }
        out.join(", ")
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// [`rss_kib`] while the process lives (a zombie has no `VmRSS` line).
fn sample(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    if !status.contains("VmRSS:") {
        return None;
    }
    std::panic::catch_unwind(|| rss_kib(pid)).ok()
}

/// Open descriptors of process `pid` (0 if it is gone).
pub(crate) fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// The (soft, hard) limits on open files of `pid` ("self" for this process).
pub(crate) fn nofile_limits(pid: &str) -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line.split_whitespace().skip(3).map(str::parse);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}
