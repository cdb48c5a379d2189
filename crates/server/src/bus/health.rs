//! `/healthz` and the store and bus rows of `/metrics`.
//!
//! Anyone who reaches the HTTP port may call `/healthz` as often as they
//! like, so it does not read the store per request: one probe's answer is
//! kept for [`PROBE_EVERY`] and concurrent callers wait for the same probe
//! ([`HealthCache`]); at most one probe's store read is ever queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use natter_store::StoreError;

use crate::ctx::Shared;
use crate::error::CmdError;
use crate::metrics::write_metrics;

/// Longest wait for the store's answer to the health probe.
pub(crate) const HEALTH_PROBE: Duration = Duration::from_secs(2);

/// How long one probe's answer serves `/healthz`.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What `/healthz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `None`: the store answers; else why not.
    pub store_down: Option<String>,
    /// `ok`, `down` (NATS unreachable: serving local users only) or
    /// `local` (single node).
    pub bus: &'static str,
}

impl Health {
    /// Whether the node can acknowledge messages (the store is up).
    pub fn is_ok(&self) -> bool {
        self.store_down.is_none()
    }

    /// The plain-text body: `ok` on a healthy single node (as before
    /// clusters), else `store: ok|down (why)` and `bus: ok|down|local`.
    pub fn text(&self) -> String {
        if self.is_ok() && self.bus == "local" {
            return "ok".into();
        }
        let store = match &self.store_down {
            None => "ok".to_owned(),
            Some(why) => format!("down ({why})"),
        };
        format!("store: {store}\nbus: {}\n", self.bus)
    }
}

/// The store's state as the last probe found it, shared by `/healthz`
/// callers for [`PROBE_EVERY`].
#[derive(Debug, Default)]
pub(crate) struct HealthCache {
    /// What the last probes found.
    last: tokio::sync::Mutex<Probed>,
    /// Set while a probe's store read waits or runs (it may outlive the
    /// probe's timeout); no second one is queued meanwhile.
    reading: Arc<AtomicBool>,
    /// Store reads made by probes.
    pub(crate) reads: AtomicU64,
}

/// How many probes in a row the store may refuse as busy (its queue full,
/// the writer's reserve too) before `/healthz` reports it down: a queue
/// that stays full means nothing commits (PostgreSQL unreachable, each
/// connect waiting for its timeout).
pub(crate) const BUSY_PROBES_DOWN: u32 = 3;

/// The last probes' findings.
#[derive(Debug, Default)]
struct Probed {
    /// When the last probe ended (`None`: never).
    at: Option<Instant>,
    /// Why the store was down then (`None`: up).
    down: Option<String>,
    /// Probes in a row answered busy.
    busy: u32,
}

/// One probe's store read.
enum Answer {
    /// `None`: the store answered; else why it is down.
    Down(Option<String>),
    /// The store refused the read at once: its queue is full.
    Busy,
}

/// Clears a flag when dropped (the store read ran, or was dropped unrun).
struct Lower(Arc<AtomicBool>);

impl Drop for Lower {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl HealthCache {
    /// Why the store is down (`None`: up), probed at most once per
    /// [`PROBE_EVERY`]; callers meanwhile wait for the probe in progress.
    async fn store_down(&self, shared: &Shared) -> Option<String> {
        let mut last = self.last.lock().await;
        if last.at.is_some_and(|at| at.elapsed() < PROBE_EVERY) {
            return last.down.clone();
        }
        match self.read_store(shared).await {
            Answer::Down(down) => {
                last.busy = 0;
                last.down = down;
            }
            // Busy once: the previous finding stands; busy for long: down.
            Answer::Busy => {
                last.busy = last.busy.saturating_add(1);
                if last.busy >= BUSY_PROBES_DOWN {
                    last.down = Some(format!("busy: {} probes in a row refused", last.busy));
                }
            }
        }
        last.at = Some(Instant::now());
        last.down.clone()
    }

    /// One cheap store read (in the store's writer lane, when it has
    /// lanes), unless the previous one is still waiting.
    async fn read_store(&self, shared: &Shared) -> Answer {
        let no_answer = || format!("no answer within {} s", HEALTH_PROBE.as_secs());
        if self.reading.swap(true, Ordering::AcqRel) {
            return Answer::Down(Some(no_answer()));
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let lower = Lower(Arc::clone(&self.reading));
        let lobby = shared.lobby;
        let read = shared.db(move |s| {
            let _lower = lower;
            s.last_seq(lobby)
        });
        match tokio::time::timeout(HEALTH_PROBE, read).await {
            Ok(Ok(_)) => Answer::Down(None),
            Ok(Err(CmdError::Store(StoreError::Busy))) => Answer::Busy,
            Ok(Err(e)) => Answer::Down(Some(e.to_string())),
            Err(_) => Answer::Down(Some(no_answer())),
        }
    }
}

/// The store's state (probed, see [`HealthCache`]) and the bus state.
pub(crate) async fn probe(shared: &Shared) -> Health {
    let probed = shared.health.store_down(shared).await;
    let store_down = probed.or_else(|| shared.bus.store.down());
    Health {
        store_down: store_down.map(|w| w.chars().take(200).collect()),
        bus: shared.bus.status(),
    }
}

/// The store's queue (PostgreSQL) and the health probe's reads, in the
/// Prometheus text format.
fn store_metrics(shared: &Shared, out: &mut String) {
    let reads = shared.health.reads.load(Ordering::Relaxed);
    write_metrics(
        out,
        &[(
            "natter_health_store_reads_total",
            "counter",
            "Store reads made by /healthz probes (at most one per second).",
            reads,
        )],
    );
    let Some(q) = shared.store.queue_stats() else {
        return;
    };
    let as_u64 = |n: usize| n as u64;
    let rows = [
        (
            "natter_store_queued",
            "gauge",
            "Store calls waiting for a PostgreSQL connection.",
            as_u64(q.queued),
        ),
        (
            "natter_store_queued_peak",
            "gauge",
            "Most store calls ever waiting at once.",
            as_u64(q.peak),
        ),
        (
            "natter_store_queue_capacity",
            "gauge",
            "Store calls that may wait before new ones are refused as busy.",
            as_u64(q.capacity),
        ),
        (
            "natter_store_busy_total",
            "counter",
            "Store calls refused because the queue was full.",
            q.refused,
        ),
    ];
    write_metrics(out, &rows);
}

/// The store rows, then the bus counters (none on one node), in the
/// Prometheus text format.
pub(crate) fn metrics(shared: &Shared) -> String {
    let mut out = String::new();
    store_metrics(shared, &mut out);
    if shared.bus.is_local() {
        return out;
    }
    let s = &shared.bus.stats;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let nodes = shared.bus.cluster_lock().nodes() as u64;
    let tracked = shared.bus.seqs.try_lock().map_or(0, |t| t.len() as u64);
    let connected = u64::from(shared.bus.status() == "ok");
    let rows = [
        (
            "natter_bus_published_total",
            "counter",
            "Envelopes published to the other nodes.",
            get(&s.published),
        ),
        (
            "natter_bus_received_total",
            "counter",
            "Envelopes received from the bus.",
            get(&s.received),
        ),
        (
            "natter_bus_dropped_total",
            "counter",
            "Envelopes not published (queue full, NATS away, too large).",
            get(&s.dropped),
        ),
        (
            "natter_bus_gaps_filled_total",
            "counter",
            "Messages read from the store to fill a gap in the bus.",
            get(&s.gaps_filled),
        ),
        (
            "natter_bus_duplicates_total",
            "counter",
            "Messages received again and dropped.",
            get(&s.duplicates),
        ),
        (
            "natter_bus_malformed_total",
            "counter",
            "Received payloads that did not decode.",
            get(&s.malformed),
        ),
        (
            "natter_bus_holes_total",
            "counter",
            "Holes seen in another node's envelope numbers (envelopes lost).",
            get(&s.holes),
        ),
        (
            "natter_bus_holes_unrecovered",
            "gauge",
            "Holes seen since the last recovery started (0: all recovered or being recovered).",
            get(&s.holes).saturating_sub(get(&s.holes_recovered)),
        ),
        (
            "natter_bus_recoveries_total",
            "counter",
            "Recoveries run after losses and reconnections (at most one per heartbeat).",
            get(&s.recoveries),
        ),
        (
            "natter_bus_snapshots_total",
            "counter",
            "Presence snapshots published (at most one per heartbeat).",
            get(&s.snapshots),
        ),
        (
            "natter_bus_slow_consumer_total",
            "counter",
            "Times NATS dropped envelopes because this node read too slowly.",
            get(&s.slow_consumers),
        ),
        (
            "natter_bus_connected",
            "gauge",
            "1 while connected to NATS.",
            connected,
        ),
        (
            "natter_bus_nodes",
            "gauge",
            "Other nodes heard from recently.",
            nodes,
        ),
        (
            "natter_bus_tracked_conversations",
            "gauge",
            "Conversations whose last delivered seq this node keeps.",
            tracked,
        ),
    ];
    write_metrics(&mut out, &rows);
    out
}
