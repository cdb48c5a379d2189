//! Process counters, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Monotonic counters (and one gauge) of a server.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) logins: AtomicU64,
    pub(crate) messages_stored: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) commits: AtomicU64,
    commit_micros: AtomicU64,
}

impl Metrics {
    /// Adds one to `counter`.
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one store commit that took `took`.
    pub(crate) fn commit(&self, took: Duration) {
        Self::inc(&self.commits);
        let micros = took.as_micros().try_into().unwrap_or(u64::MAX);
        self.commit_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every counter.
    pub(crate) fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, String); 7] = [
            (
                "natter_connections_total",
                "counter",
                "Connections accepted.",
                get(&self.connections_total).to_string(),
            ),
            (
                "natter_connections_open",
                "gauge",
                "Connections open now.",
                get(&self.connections_open).to_string(),
            ),
            (
                "natter_logins_total",
                "counter",
                "Successful logins and resumes.",
                get(&self.logins).to_string(),
            ),
            (
                "natter_messages_stored_total",
                "counter",
                "Messages committed.",
                get(&self.messages_stored).to_string(),
            ),
            (
                "natter_deliveries_total",
                "counter",
                "Messages pushed to sessions.",
                get(&self.deliveries).to_string(),
            ),
            (
                "natter_store_commit_seconds_count",
                "counter",
                "Store commits.",
                get(&self.commits).to_string(),
            ),
            (
                "natter_store_commit_seconds_sum",
                "counter",
                "Time spent in store commits.",
                format!("{:.6}", get(&self.commit_micros) as f64 / 1e6),
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            write_metric(&mut out, name, kind, help, value);
        }
        out
    }
}

/// Appends one metric (help, type and value lines) in the Prometheus text format.
pub(crate) fn write_metric(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    value: impl std::fmt::Display,
) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}
