//! The hash gate: at most `hash_concurrency` password hashes run at once
//! (each holds argon2's memory), at most `hash_queue` more wait, and a
//! request that finds the queue full is refused at once with an estimate of
//! when to retry. Everything that hashes or verifies a password goes
//! through [`HashGate::admit`], so hashing memory is bounded by
//! threads × argon2 memory whatever the peers send.
//!
//! Hashes run on the gate's own threads, one per slot, not on tokio's
//! blocking pool: the allocator keeps a freed argon2 block in the arena of
//! the thread that used it, so hashing on dozens of pool threads would hold
//! dozens of blocks even with few hashes at a time.

use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::config::ServerConfig;

/// Estimated hash time before any hash was measured.
const INITIAL_ESTIMATE: Duration = Duration::from_millis(100);
/// Bounds of a `retry_after` estimate.
const MIN_RETRY: Duration = Duration::from_millis(10);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Bounded password hashing; shared by every session.
#[derive(Debug)]
pub(crate) struct HashGate {
    inner: Arc<Inner>,
}

/// The hashing threads stopped (only if a hash panicked past its guard or
/// the process is going down).
#[derive(Debug, thiserror::Error)]
#[error("the password hashing threads stopped")]
pub(crate) struct PoolGone;

/// A hash to run on a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
struct Inner {
    /// Work for the hashing threads (they stop when it is dropped).
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Number of hashing threads.
    size: usize,
    /// Admitted requests (running or waiting) allowed at once.
    limit: usize,
    /// Admitted requests now.
    admitted: AtomicUsize,
    /// Moving average of one hash's duration, in microseconds.
    avg_micros: AtomicU64,
    /// Hashes running now (the `/metrics` gauge).
    in_flight: Arc<AtomicU64>,
}

/// A place in the gate (running or queued). Dropping every clone of it
/// frees the place.
#[derive(Debug)]
pub(crate) struct Admission {
    token: Arc<Token>,
}

/// Releases an admission once its last holder (the request or a hash still
/// running on the blocking pool after the request was dropped) is gone.
#[derive(Debug)]
struct Token(Arc<Inner>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashGate {
    /// A gate sized by `config.hash_concurrency` (0 = cores) and
    /// `config.hash_queue` (0 = 4 × concurrency); `in_flight` is the gauge.
    pub(crate) fn new(config: &ServerConfig, in_flight: Arc<AtomicU64>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let size = match config.hash_concurrency {
            0 => cores,
            n => n,
        };
        let queue = match config.hash_queue {
            0 => size.saturating_mul(4),
            n => n,
        };
        Self::with_sizes(size, queue, in_flight)
    }

    fn with_sizes(size: usize, queue: usize, in_flight: Arc<AtomicU64>) -> Self {
        let size = size.clamp(1, 1024);
        let inner = Inner {
            jobs: Mutex::new(spawn_workers(size)),
            size,
            limit: size.saturating_add(queue),
            admitted: AtomicUsize::new(0),
            avg_micros: AtomicU64::new(INITIAL_ESTIMATE.as_micros() as u64),
            in_flight,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A place for one request's hashes, or `Err(retry_after)` when every
    /// slot and queue place is taken.
    pub(crate) fn admit(&self) -> Result<Admission, Duration> {
        let inner = &self.inner;
        let taken = inner
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < inner.limit).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Admission {
                token: Arc::new(Token(inner.clone())),
            }),
            Err(n) => Err(inner.retry_estimate(n)),
        }
    }
}

impl Inner {
    /// Time until `admitted` requests ahead have been served, roughly.
    fn retry_estimate(&self, admitted: usize) -> Duration {
        let rounds = (admitted / self.size + 1) as u32;
        let avg = Duration::from_micros(self.avg_micros.load(Ordering::Relaxed));
        avg.saturating_mul(rounds).clamp(MIN_RETRY, MAX_RETRY)
    }

    /// Queues `job` for the hashing threads.
    fn submit(&self, job: Job) -> Result<(), PoolGone> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.send(job).map_err(|_| PoolGone)
    }

    /// Folds one measured hash time into the moving average (weight 1/8).
    fn record(&self, took: Duration) {
        let micros = took.as_micros().try_into().unwrap_or(u64::MAX);
        let _ = self
            .avg_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
                Some(avg - avg / 8 + micros / 8)
            });
    }
}

/// Starts `size` hashing threads taking jobs from one queue; they end when
/// the returned sender is dropped.
fn spawn_workers(size: usize) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..size {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("natter-hash-{i}"))
            .spawn(move || work(&rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password hashing thread");
        }
    }
    tx
}

/// One hashing thread: runs jobs until the queue is closed. A panicking
/// job only loses its own answer.
fn work(rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
        match job {
            Ok(job) => {
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
            Err(mpsc::RecvError) => return,
        }
    }
}

impl Admission {
    /// Runs `f` on a hashing thread once one is free. The admission stays
    /// taken until `f` returns, even if this future is dropped.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, PoolGone>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let token = self.token.clone();
        let job: Job = Box::new(move || {
            let inner = &token.0;
            inner.in_flight.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let out = f();
            inner.record(started.elapsed());
            inner.in_flight.fetch_sub(1, Ordering::Relaxed);
            // Released before the answer, so the caller never sees a stale count.
            drop(token);
            let _ = tx.send(out);
        });
        self.token.0.submit(job)?;
        rx.await.map_err(|_| PoolGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(size: usize, queue: usize) -> HashGate {
        HashGate::with_sizes(size, queue, Arc::default())
    }

    #[test]
    fn admits_permits_plus_queue_then_refuses_with_an_estimate() {
        let g = gate(2, 3);
        let held: Vec<_> = (0..5).map(|_| g.admit().expect("room")).collect();
        let wait = g.admit().expect_err("full");
        // 5 admitted over 2 permits: 3 rounds of the initial 100 ms estimate.
        assert_eq!(wait, Duration::from_millis(300));
        drop(held);
        assert!(g.admit().is_ok(), "places are freed on drop");
    }

    #[test]
    fn defaults_follow_the_cores() {
        let cfg = ServerConfig::default();
        let g = HashGate::new(&cfg, Arc::default());
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(g.inner.size, cores);
        assert_eq!(g.inner.limit, cores * 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_permits_run_at_once() {
        let g = Arc::new(gate(2, 100));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let slot = g.admit().expect("room");
            let (running, peak) = (running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                slot.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::yield_now();
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(g.inner.admitted.load(Ordering::SeqCst), 0);
        assert_eq!(g.inner.in_flight.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_estimate_follows_measured_hashes() {
        let g = gate(1, 0);
        for _ in 0..64 {
            g.inner.record(Duration::from_millis(40));
        }
        let _slot = g.admit().unwrap();
        let wait = g.admit().unwrap_err();
        assert!(wait > Duration::from_millis(70) && wait < Duration::from_millis(90));
    }
}
