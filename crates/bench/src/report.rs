//! What a run measured: JSON (`--json`) and a human table.

use std::fmt::Write;

use serde::Serialize;

/// Latency quantiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

/// The result of one `natter bench` run (the JSON keys are stable).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Clients connected.
    pub clients: usize,
    /// Groups.
    pub groups: usize,
    /// Members per group.
    pub members: usize,
    /// Requested total rate (0 = as fast as the window allows).
    pub rate: f64,
    /// Sending time, like `5s`.
    pub duration: String,
    /// Body size in bytes.
    pub size: usize,
    /// Injected loss fraction.
    pub loss: f64,
    /// Messages sent.
    pub sent: u64,
    /// Messages stored (✓).
    pub stored: u64,
    /// Messages the server rejected.
    pub failed: u64,
    /// Deliveries to other group members (each counted once).
    pub deliveries: u64,
    /// Deliveries the stored messages call for.
    pub expected_deliveries: u64,
    /// Deliveries per second, from the first send to the last delivery.
    pub deliveries_per_s: f64,
    /// ✓ per second, from the first send to the last ✓.
    pub stored_per_s: f64,
    /// Expected deliveries that never arrived (must be 0).
    pub lost: u64,
    /// Deliveries that arrived more than once (must be 0).
    pub duplicates: u64,
    /// Send → delivery at each receiver.
    pub latency_ms: LatencyMs,
    /// Send → ✓ at the sender.
    pub stored_latency_ms: LatencyMs,
    /// CPU seconds the spawned server used (user + system).
    pub server_cpu_s: Option<f64>,
    /// Peak resident memory of the spawned server.
    pub server_peak_rss_bytes: Option<u64>,
    /// Server memory growth per logged-in idle client (after setup, before sending).
    pub server_rss_per_client_bytes: Option<f64>,
    /// Setup time (connect, register, login, groups).
    pub setup_s: f64,
    /// The reference measured in the same run.
    pub reference: Option<ReferenceReport>,
}

/// A reference measured in the same run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReferenceReport {
    /// `raw`, `tcp`, `quic` or `sqlite`.
    pub kind: String,
    /// Messages sent (rows inserted for `sqlite`).
    pub sent: u64,
    /// Deliveries counted at the receivers.
    pub deliveries: u64,
    /// Deliveries per second (rows per second for `sqlite`).
    pub deliveries_per_s: f64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Send → delivery latency.
    pub latency_ms: LatencyMs,
    /// Natter's figure divided by the reference's: deliveries/s for `raw`,
    /// p99 latency for `tcp` and `quic`, ✓/s against rows/s for `sqlite`.
    pub ratio: f64,
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "natter bench: {} clients, {} groups × {} members, rate {}, {}, {} B, loss {}",
            self.clients,
            self.groups,
            self.members,
            rate_text(self.rate),
            self.duration,
            self.size,
            self.loss
        );
        row(&mut t, "sent", &self.sent.to_string());
        row(
            &mut t,
            "stored (✓)",
            &format!("{} ({} failed)", self.stored, self.failed),
        );
        let dl = format!("{} of {}", self.deliveries, self.expected_deliveries);
        row(&mut t, "deliveries", &dl);
        row(
            &mut t,
            "deliveries/s",
            &format!("{:.0}", self.deliveries_per_s),
        );
        row(&mut t, "✓/s", &format!("{:.0}", self.stored_per_s));
        row(
            &mut t,
            "latency send→delivery",
            &latency_text(&self.latency_ms),
        );
        row(
            &mut t,
            "latency send→✓",
            &latency_text(&self.stored_latency_ms),
        );
        row(
            &mut t,
            "lost / duplicated",
            &format!("{} / {}", self.lost, self.duplicates),
        );
        self.server_rows(&mut t);
        if let Some(r) = &self.reference {
            reference_rows(&mut t, r);
        }
        t
    }

    fn server_rows(&self, t: &mut String) {
        if let Some(cpu) = self.server_cpu_s {
            row(t, "server CPU", &format!("{cpu:.2} s"));
        }
        if let Some(peak) = self.server_peak_rss_bytes {
            row(
                t,
                "server peak RSS",
                &format!("{:.1} MiB", peak as f64 / 1048576.0),
            );
        }
        if let Some(per) = self.server_rss_per_client_bytes {
            row(
                t,
                "server RSS per client",
                &format!("{:.1} KiB", per / 1024.0),
            );
        }
        row(t, "setup", &format!("{:.1} s", self.setup_s));
    }
}

fn reference_rows(t: &mut String, r: &ReferenceReport) {
    let _ = writeln!(t, "reference: {}", r.kind);
    if r.kind == "sqlite" {
        row(t, "rows/s", &format!("{:.0}", r.deliveries_per_s));
        row(t, "natter ✓/s ÷ rows/s", &format!("{:.2}", r.ratio));
        return;
    }
    row(t, "sent", &r.sent.to_string());
    row(
        t,
        "deliveries",
        &format!("{} ({} lost)", r.deliveries, r.lost),
    );
    row(t, "deliveries/s", &format!("{:.0}", r.deliveries_per_s));
    row(t, "latency send→delivery", &latency_text(&r.latency_ms));
    let what = match r.kind.as_str() {
        "tcp" => "natter p99 ÷ tcp p99",
        "quic" => "natter p99 ÷ quic p99",
        _ => "natter ÷ raw deliveries/s",
    };
    row(t, what, &format!("{:.2}", r.ratio));
}

fn row(t: &mut String, name: &str, value: &str) {
    let _ = writeln!(t, "  {name:<24} {value}");
}

fn rate_text(rate: f64) -> String {
    if rate > 0.0 {
        format!("{rate}/s")
    } else {
        "max".to_owned()
    }
}

fn latency_text(l: &LatencyMs) -> String {
    format!(
        "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        l.p50, l.p90, l.p99, l.max
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_keys() {
        let report = Report {
            reference: Some(ReferenceReport::default()),
            ..Report::default()
        };
        let json = serde_json::to_value(&report).unwrap();
        for key in [
            "sent",
            "stored",
            "deliveries",
            "deliveries_per_s",
            "lost",
            "duplicates",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        for q in ["p50", "p90", "p99", "max"] {
            assert!(json["latency_ms"].get(q).is_some(), "{q}");
            assert!(json["reference"]["latency_ms"].get(q).is_some(), "{q}");
        }
        assert!(json["reference"].get("deliveries_per_s").is_some());
        assert!(report.table().contains("lost / duplicated"));
    }
}
