//! A log line a peer or a failing dependency can trigger at any rate,
//! written at most once per period (a leaf: plain data and a lock). The
//! lines not written are counted and the count goes with the next line.
//!
//! ```ignore
//! if let Some(suppressed) = self.log.admit() {
//!     tracing::warn!(suppressed, "something keeps failing");
//! }
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default period of a rate-limited log line.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

/// At most one line per period; the rest counted.
#[derive(Debug)]
pub(crate) struct RateLog {
    every: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    logged: Option<Instant>,
    suppressed: u64,
}

impl Default for RateLog {
    fn default() -> Self {
        Self::new(LOG_EVERY)
    }
}

impl RateLog {
    /// A log writing at most one line per `every`.
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::default(),
        }
    }

    /// Whether a line may be written now: `Some(n)` with the number of
    /// lines suppressed since the last one written, else `None` (counted).
    pub(crate) fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    /// [`RateLog::admit`] at `now`.
    pub(crate) fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state
            .logged
            .is_some_and(|t| now.saturating_duration_since(t) < self.every)
        {
            state.suppressed += 1;
            return None;
        }
        state.logged = Some(now);
        Some(std::mem::take(&mut state.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_one_line_per_period_and_counts_the_rest() {
        let log = RateLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let written: Vec<u64> = (0..10_000u64)
            .filter_map(|i| log.admit_at(t0 + Duration::from_millis(i)))
            .collect();
        assert_eq!(written, vec![0], "one line in the first 10 s");
        let later = log.admit_at(t0 + Duration::from_secs(11));
        assert_eq!(later, Some(9_999), "the next line counts the rest");
        assert_eq!(log.admit_at(t0 + Duration::from_secs(12)), None);
    }
}
