//! Failed-login throttling per account and per source address.
//! See [`ThrottleConfig`] for the rule.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::ThrottleConfig;

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked keys, idle ones are pruned on the next failure.
const PRUNE_ABOVE: usize = 10_000;

/// What a throttle record is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// An account, by its case-insensitive name key.
    Account(String),
    /// A source address.
    Addr(IpAddr),
}

#[derive(Debug, Default)]
struct Record {
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

/// Failure records; cheap to share behind the server handle.
#[derive(Debug)]
pub(crate) struct Throttle {
    cfg: ThrottleConfig,
    records: Mutex<HashMap<Key, Record>>,
}

impl Throttle {
    pub(crate) fn new(cfg: ThrottleConfig) -> Self {
        Self {
            cfg,
            records: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` if any key is currently blocked.
    pub(crate) fn check(&self, keys: &[Key], now: Instant) -> Result<(), Duration> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys
            .iter()
            .filter_map(|k| records.get(k)?.blocked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
            .max();
        wait.map_or(Ok(()), Err)
    }

    /// Records a failed attempt against every key.
    pub(crate) fn fail(&self, keys: &[Key], now: Instant) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() > PRUNE_ABOVE {
            records.retain(|_, r| r.is_active(now));
        }
        for key in keys {
            let record = records.entry(key.clone()).or_default();
            record.fail(&self.cfg, now);
        }
    }

    /// Forgets the record of `key` (after a successful login).
    pub(crate) fn clear(&self, key: &Key) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.remove(key);
    }
}

impl Record {
    fn fail(&mut self, cfg: &ThrottleConfig, now: Instant) {
        while self.failures.front().is_some_and(|t| now - *t >= WINDOW) {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        let over = self.failures.len() as u32;
        if over > cfg.failures_per_minute {
            let n = over - cfg.failures_per_minute;
            let ms = cfg.backoff_base_ms.saturating_mul(1 << (n - 1).min(30));
            self.blocked_until = Some(now + Duration::from_millis(ms.min(cfg.backoff_max_ms)));
        }
    }

    fn is_active(&self, now: Instant) -> bool {
        let recent = self.failures.back().is_some_and(|t| now - *t < WINDOW);
        recent || self.blocked_until.is_some_and(|u| u > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            failures_per_minute: 2,
            backoff_base_ms: 100,
            backoff_max_ms: 350,
        }
    }

    #[test]
    fn blocks_after_allowance_with_exponential_backoff() {
        let t = Throttle::new(cfg());
        let key = [Key::Account("alice".into())];
        let now = Instant::now();
        t.fail(&key, now);
        t.fail(&key, now);
        assert_eq!(t.check(&key, now), Ok(()));
        t.fail(&key, now);
        assert_eq!(t.check(&key, now), Err(Duration::from_millis(100)));
        t.fail(&key, now);
        assert_eq!(t.check(&key, now), Err(Duration::from_millis(200)));
        t.fail(&key, now);
        assert_eq!(
            t.check(&key, now),
            Err(Duration::from_millis(350)),
            "capped"
        );
        assert_eq!(t.check(&key, now + Duration::from_millis(350)), Ok(()));
    }

    #[test]
    fn keys_are_independent_and_clear_resets() {
        let t = Throttle::new(cfg());
        let a = Key::Account("a".into());
        let b = Key::Addr([127, 0, 0, 1].into());
        let now = Instant::now();
        for _ in 0..3 {
            t.fail(std::slice::from_ref(&a), now);
        }
        assert!(t.check(std::slice::from_ref(&b), now).is_ok());
        assert!(t.check(&[a.clone(), b], now).is_err());
        t.clear(&a);
        assert!(t.check(&[a], now).is_ok());
    }

    #[test]
    fn old_failures_leave_the_window() {
        let t = Throttle::new(cfg());
        let key = [Key::Account("a".into())];
        let now = Instant::now();
        t.fail(&key, now);
        t.fail(&key, now);
        t.fail(&key, now + WINDOW);
        assert_eq!(t.check(&key, now + WINDOW), Ok(()));
    }
}
