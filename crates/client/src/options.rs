//! Client options.

use std::time::Duration;

/// How the client connects and reconnects.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// Limit for one dial (the first connect and each reconnect). Default 15 s.
    pub connect_timeout: Duration,
    /// Limit for one request's answer. Default 30 s.
    pub request_timeout: Duration,
    /// Delays between reconnect attempts.
    pub backoff: Backoff,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
        }
    }
}

/// Exponential reconnect backoff: attempt n waits `initial · factorⁿ⁻¹`, at most `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Delay before the first attempt. Default 250 ms.
    pub initial: Duration,
    /// Longest delay. Default 30 s.
    pub max: Duration,
    /// Growth per attempt. Default 2.
    pub factor: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            factor: 2,
        }
    }
}

impl Backoff {
    /// Delay before attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let growth = self
            .factor
            .max(1)
            .saturating_pow(attempt.saturating_sub(1).min(30));
        self.initial.saturating_mul(growth).min(self.max)
    }

    /// [`Self::delay`] with jitter: uniformly between half of it and all
    /// of it, so clients that lost one node together do not all dial the
    /// next one in the same instant (and stay under `max`).
    pub fn jittered(&self, attempt: u32) -> Duration {
        let delay = self.delay(attempt);
        let half = delay / 2;
        let nanos = u64::try_from(delay.saturating_sub(half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            factor: 2,
        };
        let delays: Vec<_> = (1..=5).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 50, 50]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(50));
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_delay() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            factor: 2,
        };
        for attempt in [1, 2, 3, 10, u32::MAX] {
            let full = b.delay(attempt);
            let delays: Vec<_> = (0..200).map(|_| b.jittered(attempt)).collect();
            assert!(
                delays.iter().all(|d| *d >= full / 2 && *d <= full),
                "{attempt}"
            );
            assert!(
                delays.iter().any(|d| *d != delays[0]),
                "no jitter at {attempt}"
            );
        }
    }
}
