//! Login and registration limits: failed-login throttling per (address,
//! account) pair and per address, the account-wide guard against guessing
//! spread over many addresses, and attempt buckets per address.
//! See [`ThrottleConfig`] for the rule; every table is bounded ([`Tracked`]).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{RateConfig, ThrottleConfig};
use crate::limits::TokenBucket;
use crate::tracked::{Expiring, Tracked};

/// The sliding window failures are counted in.
const WINDOW: Duration = Duration::from_secs(60);
/// Failures remembered per record beyond its allowance.
const EXTRA_REMEMBERED: usize = 64;
/// Info-level auth log lines allowed per second over the whole server (and
/// at once); beyond that they go to debug and are counted.
const LOUD_PER_SECOND: f64 = 5.0;
const LOUD_BURST: f64 = 20.0;

/// An address as throttled: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by /64.
pub(crate) fn addr_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// How to log a failure: `loud` at info (first failure of its key in the
/// window, or the one that started its first block, within the server's
/// log budget), else at debug. `suppressed` counts info lines turned into
/// debug since the last loud one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Noted {
    pub(crate) loud: bool,
    pub(crate) suppressed: u64,
}

/// Failure times in the window and the current block.
#[derive(Debug, Default)]
struct Record {
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

/// A token bucket and when it was last used.
#[derive(Debug)]
struct Bucket {
    bucket: TokenBucket,
    last: Instant,
    /// Time an empty bucket takes to fill up: idle after that.
    refill: Duration,
}

/// Every table, behind one lock (held for microseconds, never across `.await`).
#[derive(Debug)]
struct State {
    pairs: Tracked<(IpAddr, String), Record>,
    addrs: Tracked<IpAddr, Record>,
    accounts: Tracked<String, Record>,
    logins: Tracked<IpAddr, Bucket>,
    registers: Tracked<IpAddr, Bucket>,
    loud: TokenBucket,
    suppressed: u64,
}

/// The limits; shared behind the server handle.
#[derive(Debug)]
pub(crate) struct Throttle {
    cfg: ThrottleConfig,
    state: Mutex<State>,
}

impl Throttle {
    pub(crate) fn new(cfg: ThrottleConfig) -> Self {
        let cap = cfg.max_tracked;
        let loud = RateConfig {
            per_second: LOUD_PER_SECOND,
            burst: LOUD_BURST,
        };
        let state = State {
            pairs: Tracked::new(cap),
            addrs: Tracked::new(cap),
            accounts: Tracked::new(cap),
            logins: Tracked::new(cap),
            registers: Tracked::new(cap),
            loud: TokenBucket::new(loud, Instant::now()),
            suppressed: 0,
        };
        Self {
            cfg,
            state: Mutex::new(state),
        }
    }

    /// Takes a login attempt from `ip`'s bucket, or says how long to wait.
    pub(crate) fn take_login(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let rate = per_minute(self.cfg.login_per_minute, self.cfg.login_burst);
        Bucket::take(&mut self.lock().logins, addr_key(ip), rate, now)
    }

    /// Takes a registration from `ip`'s bucket, or says how long to wait.
    pub(crate) fn take_register(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let rate = per_minute(self.cfg.register_per_minute, self.cfg.register_burst);
        Bucket::take(&mut self.lock().registers, addr_key(ip), rate, now)
    }

    /// `Err(retry_after)` while `ip` is blocked (for any account).
    pub(crate) fn check_addr(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let state = self.lock();
        let addr = state.addrs.peek(&addr_key(ip));
        addr.and_then(|r| r.blocked_for(now)).map_or(Ok(()), Err)
    }

    /// `Err(retry_after)` if `ip` may not try `account` now: its pair or
    /// the address is blocked, or the account is guarded and the address
    /// has failures of its own.
    pub(crate) fn check(&self, ip: IpAddr, account: &str, now: Instant) -> Result<(), Duration> {
        let ip = addr_key(ip);
        let state = self.lock();
        let pair = state.pairs.peek(&(ip, account.to_owned()));
        let addr = state.addrs.peek(&ip);
        let blocked = [pair, addr]
            .into_iter()
            .flatten()
            .filter_map(|r| r.blocked_for(now))
            .max();
        if let Some(wait) = blocked {
            return Err(wait);
        }
        let allowance = self.cfg.account_failures_per_minute as usize;
        let guard = state.accounts.peek(&account.to_owned());
        let lifts = guard.and_then(|g| g.over_allowance_for(allowance, now));
        let clean = addr.and_then(|a| a.clean_in(now));
        match (lifts, clean) {
            (Some(lifts), Some(clean)) => Err(lifts.min(clean)),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt from `ip` (against `account`, or against no
    /// account when the name itself was malformed).
    pub(crate) fn fail(&self, ip: IpAddr, account: Option<&str>, now: Instant) -> Noted {
        let ip = addr_key(ip);
        let cfg = &self.cfg;
        let mut guard = self.lock();
        let state = &mut *guard;
        let addr_allowance = cfg.addr_failures_per_minute;
        let by_addr = state.addrs.entry(ip, now, Record::default);
        let mut noteworthy = by_addr.fail(addr_allowance, cfg, now);
        if let Some(account) = account {
            let pair = state
                .pairs
                .entry((ip, account.to_owned()), now, Record::default);
            noteworthy = pair.fail(cfg.failures_per_minute, cfg, now);
            let guard = state
                .accounts
                .entry(account.to_owned(), now, Record::default);
            guard.count(cfg.account_failures_per_minute, now);
        }
        state.budget(noteworthy, now)
    }

    /// Forgets the failures of the pair after a successful login (the
    /// address keeps its record: logging into one's own account must not
    /// buy more guesses at others).
    pub(crate) fn succeed(&self, ip: IpAddr, account: &str) {
        let key = (addr_key(ip), account.to_owned());
        self.lock().pairs.remove(&key);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// Turns a wish to log at info into a decision under the global budget.
    fn budget(&mut self, noteworthy: bool, now: Instant) -> Noted {
        if !noteworthy {
            return Noted {
                loud: false,
                suppressed: self.suppressed,
            };
        }
        if self.loud.take(now).is_ok() {
            let suppressed = std::mem::take(&mut self.suppressed);
            return Noted {
                loud: true,
                suppressed,
            };
        }
        self.suppressed += 1;
        Noted {
            loud: false,
            suppressed: self.suppressed,
        }
    }
}

/// A rate given per minute as a [`RateConfig`].
fn per_minute(per_minute: f64, burst: f64) -> RateConfig {
    RateConfig {
        per_second: per_minute / 60.0,
        burst,
    }
}

impl Record {
    /// Counts a failure; past `allowance` in the window it blocks the key
    /// (exponential backoff). True when this is worth an info line: the
    /// first failure in the window or the start of the first block.
    fn fail(&mut self, allowance: u32, cfg: &ThrottleConfig, now: Instant) -> bool {
        let first = self.count(allowance, now) == 1;
        let over = (self.failures.len() as u32).saturating_sub(allowance);
        if over > 0 {
            let ms = cfg.backoff_base_ms.saturating_mul(1 << (over - 1).min(30));
            let block = Duration::from_millis(ms.min(cfg.backoff_max_ms));
            self.blocked_until = Some(now + block);
        }
        first || over == 1
    }

    /// Adds a failure (forgetting old ones); returns the count in the window.
    fn count(&mut self, allowance: u32, now: Instant) -> usize {
        while self.failures.front().is_some_and(|t| now - *t >= WINDOW) {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        if self.failures.len() > allowance as usize + EXTRA_REMEMBERED {
            self.failures.pop_front();
        }
        self.failures.len()
    }

    /// Time left in the current block.
    fn blocked_for(&self, now: Instant) -> Option<Duration> {
        let left = self.blocked_until?.checked_duration_since(now)?;
        (!left.is_zero()).then_some(left)
    }

    /// Failures still in the window at `now`.
    fn recent(&self, now: Instant) -> impl Iterator<Item = Instant> + '_ {
        self.failures
            .iter()
            .copied()
            .filter(move |t| now.saturating_duration_since(*t) < WINDOW)
    }

    /// If more than `allowance` failures are in the window: the time until
    /// enough of them have left it.
    fn over_allowance_for(&self, allowance: usize, now: Instant) -> Option<Duration> {
        let recent: Vec<Instant> = self.recent(now).collect();
        let over = recent.len().checked_sub(allowance).filter(|n| *n > 0)?;
        Some(recent[over - 1] + WINDOW - now)
    }

    /// If the key has failures in the window: the time until it has none.
    fn clean_in(&self, now: Instant) -> Option<Duration> {
        let newest = self.recent(now).last()?;
        Some(newest + WINDOW - now)
    }
}

impl Expiring for Record {
    fn is_idle(&self, now: Instant) -> bool {
        self.recent(now).next().is_none() && self.blocked_for(now).is_none()
    }
}

impl Bucket {
    /// Takes a token from `key`'s bucket in `table` (a fresh full one if
    /// the key is new).
    fn take(
        table: &mut Tracked<IpAddr, Self>,
        key: IpAddr,
        rate: RateConfig,
        now: Instant,
    ) -> Result<(), Duration> {
        let refill = Duration::from_secs_f64(
            (rate.burst.max(1.0) / rate.per_second.max(f64::MIN_POSITIVE)).min(86_400.0),
        );
        let entry = table.entry(key, now, || Self {
            bucket: TokenBucket::new(rate, now),
            last: now,
            refill,
        });
        entry.last = now;
        entry.bucket.take(now)
    }
}

impl Expiring for Bucket {
    fn is_idle(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last) >= self.refill
    }
}

#[cfg(test)]
mod tests;
