//! Latency histograms (HDR, microsecond resolution).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::report::{LatencyMs, ReferenceReport};

/// Latencies from 1 µs to 10 minutes with 3 significant digits.
#[derive(Debug, Clone)]
pub(crate) struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        let max_us = 600_000_000;
        Self(Histogram::new_with_bounds(1, max_us, 3).expect("valid histogram bounds"))
    }
}

impl Latency {
    /// Records one latency (clamped to the histogram's range).
    pub(crate) fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(us.max(1));
    }

    /// Adds every sample of `other`.
    pub(crate) fn merge(&mut self, other: &Self) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Number of samples.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.0.len()
    }

    /// p50/p90/p99/max in milliseconds.
    pub(crate) fn summary(&self) -> LatencyMs {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencyMs {
            p50: ms(self.0.value_at_quantile(0.50)),
            p90: ms(self.0.value_at_quantile(0.90)),
            p99: ms(self.0.value_at_quantile(0.99)),
            max: ms(self.0.max()),
        }
    }
}

/// Counters a reference baseline (raw UDP, TCP) keeps while it runs.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) sent: AtomicU64,
    pub(crate) expected: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) last_delivery_ns: AtomicU64,
}

impl Totals {
    /// The reference's report; `ratio` is filled in by the caller.
    pub(crate) fn report(&self, kind: &str, latency: &Latency) -> ReferenceReport {
        let deliveries = self.deliveries.load(Relaxed);
        let secs = self.last_delivery_ns.load(Relaxed).max(1) as f64 / 1e9;
        ReferenceReport {
            kind: kind.to_owned(),
            sent: self.sent.load(Relaxed),
            deliveries,
            deliveries_per_s: deliveries as f64 / secs,
            lost: self.expected.load(Relaxed).saturating_sub(deliveries),
            latency_ms: latency.summary(),
            ratio: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_in_milliseconds() {
        let mut a = Latency::default();
        let mut b = Latency::default();
        for ms in 1..=99 {
            a.record(Duration::from_millis(ms));
        }
        b.record(Duration::from_millis(1000));
        a.merge(&b);
        let s = a.summary();
        assert_eq!(a.count(), 100);
        assert!((s.p50 - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.max - 1000.0).abs() < 1.0, "{s:?}");
    }
}
