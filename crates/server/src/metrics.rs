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
    /// Live messages that came after a gap in what a session had sent.
    pub(crate) session_gaps: AtomicU64,
    pub(crate) commits: AtomicU64,
    commit_micros: AtomicU64,
    /// Password hashes running now (shared with the hash gate).
    pub(crate) hashes_in_flight: std::sync::Arc<AtomicU64>,
    /// Hash requests refused because the hash queue was full.
    pub(crate) hash_refused: AtomicU64,
    /// Register and login attempts refused by a rate limit or the
    /// failed-login throttle.
    pub(crate) auth_rate_limited: AtomicU64,
    /// Slow consumers disconnected after their grace period.
    pub(crate) slow_disconnected: AtomicU64,
    /// Sessions marked behind and bytes held towards clients (shared with
    /// every session's inbox).
    pub(crate) inboxes: crate::inbox::InboxStats,
    /// Requests answered `rate_limited` by the read bucket.
    pub(crate) rate_limited_reads: AtomicU64,
    /// Requests answered `rate_limited` by the write bucket.
    pub(crate) rate_limited_writes: AtomicU64,
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
        let rows: [(&str, &str, &str, String); 8] = [
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
                "natter_session_gaps_total",
                "counter",
                "Live messages after a gap in what a session had (the gap read from the store first).",
                get(&self.session_gaps).to_string(),
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
        write_metrics(&mut out, &rows);
        self.render_auth(&mut out);
        self.render_queues(&mut out);
        out
    }
}

impl Metrics {
    /// Password hashing and authentication limits.
    fn render_auth(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let rows = [
            (
                "natter_hashes_in_flight",
                "gauge",
                "Password hashes running now.",
                get(&self.hashes_in_flight),
            ),
            (
                "natter_hash_refused_total",
                "counter",
                "Password hash requests refused: the hash queue was full.",
                get(&self.hash_refused),
            ),
            (
                "natter_auth_rate_limited_total",
                "counter",
                "Register and login attempts refused by a rate limit or the failed-login throttle.",
                get(&self.auth_rate_limited),
            ),
        ];
        write_metrics(out, &rows);
    }
}

impl Metrics {
    /// Slow consumers, queued bytes and request rate limits.
    fn render_queues(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let rows = [
            (
                "natter_slow_consumers_behind_total",
                "counter",
                "Sessions marked behind (sent the re-sync marker).",
                get(&self.inboxes.behind),
            ),
            (
                "natter_slow_consumers_disconnected_total",
                "counter",
                "Slow consumers disconnected after their grace period.",
                get(&self.slow_disconnected),
            ),
            (
                "natter_queued_bytes",
                "gauge",
                "Bytes of pushed frames held towards clients.",
                get(&self.inboxes.queued_bytes),
            ),
        ];
        write_metrics(out, &rows);
        let name = "natter_rate_limited_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests answered rate_limited, by bucket.\n# TYPE {name} counter"
        );
        let reads = get(&self.rate_limited_reads);
        let writes = get(&self.rate_limited_writes);
        let _ = writeln!(out, "{name}{{kind=\"read\"}} {reads}");
        let _ = writeln!(out, "{name}{{kind=\"write\"}} {writes}");
    }
}

/// Appends metric families, one per `(name, type, help, value)` row, in
/// the Prometheus text format.
pub(crate) fn write_metrics<T: std::fmt::Display>(
    out: &mut String,
    rows: &[(&str, &str, &str, T)],
) {
    for (name, kind, help, value) in rows {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}

/// Appends one metric family with a label (help and type once, then one
/// `name{label="value"} count` line per row) in the Prometheus text format.
pub(crate) fn write_labelled(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    label: &str,
    rows: &[(&str, u64)],
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (value, count) in rows {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
    }
}
