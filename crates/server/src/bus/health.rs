//! `/healthz` and the bus rows of `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::ctx::Shared;
use crate::metrics::write_metrics;

/// Longest wait for the store's answer to the health probe.
pub(crate) const HEALTH_PROBE: Duration = Duration::from_secs(2);

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

/// Probes the store and reads the bus state.
pub(crate) async fn probe(shared: &Shared) -> Health {
    let lobby = shared.lobby;
    let read = shared.db(move |s| s.last_seq(lobby));
    let probed = match tokio::time::timeout(HEALTH_PROBE, read).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} s", HEALTH_PROBE.as_secs())),
    };
    let store_down = probed.or_else(|| shared.bus.store.down());
    Health {
        store_down: store_down.map(|w| w.chars().take(200).collect()),
        bus: shared.bus.status(),
    }
}

/// The bus counters in the Prometheus text format (nothing on one node).
pub(crate) fn metrics(shared: &Shared) -> String {
    let mut out = String::new();
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
