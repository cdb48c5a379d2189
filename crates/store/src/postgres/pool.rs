//! A pool of dedicated OS threads, each owning one `postgres::Client`.
//!
//! The sync `postgres` client drives its own tokio runtime and panics when
//! used from inside another one, so jobs never run on the caller's thread:
//! [`Pool::run`] queues a closure, an idle worker runs it on its connection
//! and the caller blocks on a std channel for the answer. A worker whose
//! connection closed (PostgreSQL restarted, network cut) connects again on its
//! next job.
//!
//! The queue is bounded ([`PoolOptions::queue`]): when that many jobs wait,
//! a new one fails at once with [`StoreError::Busy`] instead of piling up
//! (each waiting job also holds its caller's thread), so a flood of requests
//! that read the store cannot grow memory or latency without limit.
//!
//! Jobs come in two [`Lane`]s. Client reads go in [`Lane::Client`]; the
//! calls that keep the server moving (appends, posting rights, delivery
//! acks, gap fills, session checks) go in [`Lane::Writer`], which may queue
//! [`writer_reserve`] jobs beyond the bound and whose jobs a free worker
//! takes first, so a flood of client reads cannot starve them.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use crate::{QueueStats, Result, StoreError};

/// How long a (re)connect may take before the job fails, unless the URL
/// sets `connect_timeout`: per address for the TCP connect, and per host
/// for the whole handshake ([`Attempt`]).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection attempts running in this process, each on a thread of its own
/// ([`Attempt`]). One that a server never answers holds its thread and
/// socket until that server closes the connection, so they are capped.
static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);

/// Far above what the pools of one process start at once (a node: one per
/// connection, 4 by default); reached only when attempts pile up on servers
/// that accept connections and never answer.
const MAX_ATTEMPTS: usize = 64;

/// A job: runs on a worker with its connection slot.
type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// Size of a PostgreSQL store's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Connections, one worker thread each (at least 1). Default 4.
    pub connections: usize,
    /// Jobs that may wait for a worker before new ones fail with
    /// [`StoreError::Busy`] (at least 1); the writer's calls may queue a
    /// quarter more ([`writer_reserve`]). Default 256 (+ 64): well under
    /// tokio's 512 blocking threads, each of which a waiting job holds.
    pub queue: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            connections: 4,
            queue: 256,
        }
    }
}

/// Which queue a job waits in (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    /// Reads on behalf of one client: refused once the queue is full.
    Client,
    /// Calls the server's own progress depends on: may use the reserve
    /// above the bound and are taken before client reads.
    Writer,
}

/// Places [`Lane::Writer`] jobs may take beyond a queue bound of
/// `capacity`: a quarter more (at least one).
pub(super) fn writer_reserve(capacity: usize) -> usize {
    (capacity / 4).max(1)
}

/// The worker threads and the queue feeding them. Dropping it closes the
/// queue; each worker finishes its job and exits, closing its connection.
pub(super) struct Pool {
    queue: Arc<Queue>,
    gauge: Arc<Gauge>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// The waiting jobs, one deque per lane (unbounded: [`Gauge`] is the bound).
#[derive(Default)]
struct Queue {
    lanes: Mutex<Lanes>,
    ready: Condvar,
}

#[derive(Default)]
struct Lanes {
    writer: VecDeque<Job>,
    client: VecDeque<Job>,
    closed: bool,
}

impl Queue {
    /// Queues `job`; gives it back when the pool is closed.
    fn push(&self, lane: Lane, job: Job) -> std::result::Result<(), Job> {
        let Ok(mut lanes) = self.lanes.lock() else {
            return Err(job);
        };
        if lanes.closed {
            return Err(job);
        }
        match lane {
            Lane::Writer => lanes.writer.push_back(job),
            Lane::Client => lanes.client.push_back(job),
        }
        drop(lanes);
        self.ready.notify_one();
        Ok(())
    }

    /// The next job, writer lane first; `None` once closed and drained.
    fn pop(&self) -> Option<Job> {
        let mut lanes = self.lanes.lock().ok()?;
        loop {
            if let Some(job) = lanes
                .writer
                .pop_front()
                .or_else(|| lanes.client.pop_front())
            {
                return Some(job);
            }
            if lanes.closed {
                return None;
            }
            lanes = self.ready.wait(lanes).ok()?;
        }
    }

    fn close(&self) {
        if let Ok(mut lanes) = self.lanes.lock() {
            lanes.closed = true;
        }
        self.ready.notify_all();
    }
}

/// Counts the queue (the deques themselves are unbounded: this is the bound).
#[derive(Debug, Default)]
struct Gauge {
    capacity: usize,
    queued: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicU64,
}

impl Gauge {
    /// Takes a place in the queue, or `Busy` when it is full (for `lane`).
    fn enter(&self, lane: Lane) -> Result<()> {
        let limit = match lane {
            Lane::Client => self.capacity,
            Lane::Writer => self.capacity + writer_reserve(self.capacity),
        };
        let before = self.queued.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Busy);
        }
        self.peak.fetch_max(before + 1, Ordering::Relaxed);
        Ok(())
    }

    /// A worker took a job off the queue (or the job was never queued).
    fn leave(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    fn stats(&self) -> QueueStats {
        QueueStats {
            queued: self.queued.load(Ordering::Relaxed),
            peak: self.peak.load(Ordering::Relaxed),
            capacity: self.capacity,
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// A connection idle for longer than this is checked (one round trip)
/// before use, so one that PostgreSQL closed meanwhile (a restart) is
/// replaced instead of failing the job.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// One worker's connection, opened lazily and reopened once closed.
struct Conn {
    config: Config,
    client: Option<Client>,
    last_used: Instant,
    /// An attempt that outlived its deadline: the next job waits for it
    /// rather than starting another one against the same silent server.
    attempt: Option<Attempt>,
}

impl Conn {
    fn client(&mut self) -> Result<&mut Client> {
        let idle = std::mem::replace(&mut self.last_used, Instant::now()).elapsed();
        if idle > CHECK_AFTER_IDLE
            && let Some(client) = self.client.as_mut()
            && client.is_valid(CONNECT_TIMEOUT).is_err()
        {
            self.client = None;
        }
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.client = Some(self.connect()?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Backend("postgres: no connection".to_owned()))
    }
}

impl Conn {
    /// A new connection, or an error once the handshake has taken
    /// [`handshake_deadline`] (the attempt goes on for the next job).
    fn connect(&mut self) -> Result<Client> {
        let attempt = match self.attempt.take() {
            Some(attempt) => attempt,
            None => Attempt::start(&self.config)?,
        };
        match attempt
            .answer
            .recv_timeout(handshake_deadline(&self.config))
        {
            Ok(connected) => connected.map_err(|e| connect_error(&e)),
            Err(RecvTimeoutError::Timeout) => {
                self.attempt = Some(attempt);
                Err(StoreError::Unavailable(
                    "postgres: cannot connect: the server accepted the connection \
                     but did not answer in time"
                        .to_owned(),
                ))
            }
            Err(RecvTimeoutError::Disconnected) => Err(StoreError::Backend(
                "postgres: the connecting thread died".to_owned(),
            )),
        }
    }
}

/// How long a connection attempt may take in all: the connect timeout
/// (which `postgres` applies to the TCP connect only) for each host of
/// the URL, as libpq's `connect_timeout` bounds the whole handshake.
fn handshake_deadline(config: &Config) -> Duration {
    let per_host = config.get_connect_timeout().copied();
    let hosts = config.get_hosts().len().max(config.get_hostaddrs().len());
    per_host.unwrap_or(CONNECT_TIMEOUT) * u32::try_from(hosts.max(1)).unwrap_or(u32::MAX)
}

/// A connection attempt on a thread of its own: a blocking `postgres`
/// connect cannot be cancelled, and nothing in it bounds the handshake
/// after the TCP connect, so a server that accepts and never answers would
/// hold the worker (and a node starting up) forever. The worker waits for
/// [`Attempt::answer`] with a deadline instead.
struct Attempt {
    answer: mpsc::Receiver<std::result::Result<Client, postgres::Error>>,
}

impl Attempt {
    /// Starts connecting with `config`; fails at once when
    /// [`MAX_ATTEMPTS`] are still running.
    fn start(config: &Config) -> Result<Self> {
        let running = Running::enter().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "postgres: cannot connect: {MAX_ATTEMPTS} connection attempts still wait \
                 for an answer"
            ))
        })?;
        let config = config.clone();
        let (reply, answer) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("natter-pg-connect".to_owned())
            .spawn(move || {
                let _running = running;
                // Nobody waits any more (the pool is gone): the client drops here.
                let _ = reply.send(config.connect(NoTls));
            })
            .map_err(|e| StoreError::Backend(format!("postgres connect thread: {e}")))?;
        Ok(Self { answer })
    }
}

/// One place in [`ATTEMPTS`], given back on drop.
struct Running;

impl Running {
    fn enter() -> Option<Self> {
        if ATTEMPTS.fetch_add(1, Ordering::AcqRel) >= MAX_ATTEMPTS {
            ATTEMPTS.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        ATTEMPTS.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pool {
    /// Starts the worker threads (connections open on first use).
    pub(super) fn start(mut config: Config, options: PoolOptions) -> Result<Self> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let queue = Arc::new(Queue::default());
        for n in 0..options.connections.max(1) {
            let queue = Arc::clone(&queue);
            let conn = Conn {
                config: config.clone(),
                client: None,
                last_used: Instant::now(),
                attempt: None,
            };
            std::thread::Builder::new()
                .name(format!("natter-pg-{n}"))
                .spawn(move || work(&queue, conn))
                .map_err(|e| StoreError::Backend(format!("postgres worker thread: {e}")))?;
        }
        let gauge = Arc::new(Gauge {
            capacity: options.queue.max(1),
            ..Gauge::default()
        });
        Ok(Self { queue, gauge })
    }

    /// The queue's state now.
    pub(super) fn stats(&self) -> QueueStats {
        self.gauge.stats()
    }

    /// Runs `f` on a worker's connection and returns its result, or fails
    /// at once with [`StoreError::Busy`] when the queue is full for `lane`.
    /// A panic in `f` is resumed on the caller's thread (the worker
    /// survives it).
    pub(super) fn run<T: Send + 'static>(
        &self,
        lane: Lane,
        f: impl FnOnce(&mut Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.gauge.enter(lane)?;
        let (answer, reply) = mpsc::sync_channel(1);
        let gauge = Arc::clone(&self.gauge);
        let job: Job = Box::new(move |conn: &mut Conn| {
            gauge.leave();
            let out = panic::catch_unwind(AssertUnwindSafe(|| conn.client().and_then(f)));
            if !matches!(out, Ok(Ok(_))) && conn.client.as_ref().is_some_and(Client::is_closed) {
                conn.client = None;
            }
            if out.is_err() {
                conn.client = None;
            }
            let _ = answer.send(out);
        });
        if self.queue.push(lane, job).is_err() {
            self.gauge.leave();
            return Err(StoreError::Backend("postgres: workers stopped".to_owned()));
        }
        match reply.recv() {
            Ok(Ok(out)) => out,
            Ok(Err(payload)) => panic::resume_unwind(payload),
            Err(_) => Err(StoreError::Backend("postgres: worker died".to_owned())),
        }
    }
}

/// A worker's loop: take the next job until the queue closes.
fn work(queue: &Queue, mut conn: Conn) {
    while let Some(job) = queue.pop() {
        job(&mut conn);
    }
}

/// A failed connection attempt: [`StoreError::Unavailable`] when trying
/// again later may work (a network error: refused, timed out, cut; or the
/// server starting, shutting down or full), else [`StoreError::Backend`]
/// (wrong password, password missing, TLS required, no such database: a
/// configuration to fix).
fn connect_error(e: &postgres::Error) -> StoreError {
    let text = format!("postgres: cannot connect: {}", error_text(e));
    let transient = match e.as_db_error() {
        Some(db) => {
            let code = db.code();
            code.code().starts_with("08")
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::TOO_MANY_CONNECTIONS
        }
        // A network error, or the server closing the connection mid-start.
        None => {
            e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        }
    };
    if transient {
        StoreError::Unavailable(text)
    } else {
        StoreError::Backend(text)
    }
}

/// The error with its cause (the `postgres` error's `Display` omits the
/// server's message for database errors).
pub(super) fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use super::{ATTEMPTS, MAX_ATTEMPTS, PoolOptions};
    use crate::{PgStore, StoreError};

    /// A guard against a hang, far above the one-second connect timeout.
    const GUARD: Duration = Duration::from_secs(60);

    /// [`ATTEMPTS`] counts the whole process: these tests take turns.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A loopback "PostgreSQL" that completes every TCP handshake (the
    /// kernel's accept queue) and never sends a byte; its URL asks for a
    /// one-second connect timeout.
    fn silent_server() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        (
            listener,
            format!("postgres://natter@{addr}/natter?connect_timeout=1"),
        )
    }

    /// Closes the silent server and waits until every attempt on it ended
    /// (so the next test starts from none).
    fn close(listener: TcpListener) {
        drop(listener);
        let give_up = Instant::now() + GUARD;
        while ATTEMPTS.load(std::sync::atomic::Ordering::Acquire) > 0 {
            assert!(Instant::now() < give_up, "attempts outlive the server");
            std::thread::sleep(Duration::from_millis(10)); // polling, bounded by GUARD
        }
    }

    /// Connects on another thread; panics if no answer comes within [`GUARD`].
    fn connect_guarded(url: &str) -> Result<PgStore, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let url = url.to_owned();
        let options = PoolOptions {
            connections: 1,
            queue: 1,
        };
        std::thread::spawn(move || tx.send(PgStore::connect_with(&url, options)));
        rx.recv_timeout(GUARD)
            .expect("the connect hangs on a server that never answers")
    }

    #[test]
    fn a_server_that_accepts_and_never_answers_is_unavailable_not_a_hang() {
        let _serial = serial();
        let (listener, url) = silent_server();
        match connect_guarded(&url).err() {
            Some(StoreError::Unavailable(why)) => {
                assert!(why.contains("did not answer in time"), "{why}");
            }
            other => panic!("expected unavailable: {other:?}"),
        }
        close(listener);
    }

    /// Each timed-out attempt still holds a thread and a socket until the
    /// silent server lets go: a flood of connects stops at
    /// [`MAX_ATTEMPTS`], and they all end once the server closes.
    #[test]
    fn attempts_hanging_on_a_silent_server_are_capped() {
        let _serial = serial();
        let (listener, url) = silent_server();
        let flood: Vec<_> = (0..MAX_ATTEMPTS)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || connect_guarded(&url).err())
            })
            .collect();
        for attempt in flood {
            let refused = attempt.join().expect("connect thread");
            assert!(
                matches!(refused, Some(StoreError::Unavailable(_))),
                "{refused:?}"
            );
        }
        match connect_guarded(&url).err() {
            Some(StoreError::Unavailable(why)) => {
                assert!(why.contains("attempts still wait"), "{why}");
            }
            other => panic!("expected the cap: {other:?}"),
        }
        close(listener);
    }
}
