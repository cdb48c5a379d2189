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
}
