//! Abuse limits: a token bucket per connection and a count of connections
//! per source address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::RateConfig;

/// Token bucket: refills `per_second`, holds at most `burst`.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: RateConfig,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: RateConfig, now: Instant) -> Self {
        Self {
            tokens: rate.burst.max(1.0),
            rate,
            at: now,
        }
    }

    /// Takes one token, or says how long until one is available.
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let per_second = self.rate.per_second.max(f64::MIN_POSITIVE);
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(self.rate.burst.max(1.0));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / per_second;
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        }
    }
}

/// Open connections per IP address.
#[derive(Debug, Default)]
pub(crate) struct AddrCounter {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; dropping it frees its slot.
#[derive(Debug)]
pub(crate) struct AddrSlot {
    counter: Arc<AddrCounter>,
    ip: IpAddr,
}

impl AddrCounter {
    /// A slot for `ip`, unless it already has `max` connections.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddrSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddrSlot {
            counter: self.clone(),
            ip,
        })
    }
}

impl Drop for AddrSlot {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let t0 = Instant::now();
        let rate = RateConfig {
            per_second: 10.0,
            burst: 3.0,
        };
        let mut b = TokenBucket::new(rate, t0);
        assert!((0..3).all(|_| b.take(t0).is_ok()));
        let wait = b.take(t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        assert!(b.take(t0 + Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn addr_slots_are_capped_and_freed() {
        let c = Arc::new(AddrCounter::default());
        let ip: IpAddr = [127, 0, 0, 1].into();
        let a = c.acquire(ip, 2).unwrap();
        let _b = c.acquire(ip, 2).unwrap();
        assert!(c.acquire(ip, 2).is_none());
        drop(a);
        assert!(c.acquire(ip, 2).is_some());
    }
}
