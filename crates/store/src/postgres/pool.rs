//! A pool of dedicated OS threads, each owning one `postgres::Client`.
//!
//! The sync `postgres` client drives its own tokio runtime and panics when
//! used from inside another one, so jobs never run on the caller's thread:
//! [`Pool::run`] queues a closure, an idle worker runs it on its connection
//! and the caller blocks on a std channel for the answer. A worker whose
//! connection closed (PostgreSQL restarted, network cut) connects again on its
//! next job.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, Config, NoTls};

use crate::{Result, StoreError};

/// How long a (re)connect may take before the job fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A job: runs on a worker with its connection slot.
type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// The worker threads and the queue feeding them. Dropping it closes the
/// queue; each worker finishes its job and exits, closing its connection.
pub(super) struct Pool {
    jobs: Sender<Job>,
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
            let client = self.config.connect(NoTls).map_err(|e| {
                StoreError::Backend(format!("postgres: cannot connect: {}", error_text(&e)))
            })?;
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Backend("postgres: no connection".to_owned()))
    }
}

impl Pool {
    /// Starts `workers` threads (connections open on first use).
    pub(super) fn start(mut config: Config, workers: usize) -> Result<Self> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..workers {
            let queue = Arc::clone(&queue);
            let conn = Conn {
                config: config.clone(),
                client: None,
                last_used: Instant::now(),
            };
            std::thread::Builder::new()
                .name(format!("natter-pg-{n}"))
                .spawn(move || work(&queue, conn))
                .map_err(|e| StoreError::Backend(format!("postgres worker thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `f` on a worker's connection and returns its result. A panic in
    /// `f` is resumed on the caller's thread (the worker survives it).
    pub(super) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (answer, reply) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn: &mut Conn| {
            let out = panic::catch_unwind(AssertUnwindSafe(|| conn.client().and_then(f)));
            if !matches!(out, Ok(Ok(_))) && conn.client.as_ref().is_some_and(Client::is_closed) {
                conn.client = None;
            }
            if out.is_err() {
                conn.client = None;
            }
            let _ = answer.send(out);
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Backend("postgres: workers stopped".to_owned()))?;
        match reply.recv() {
            Ok(Ok(out)) => out,
            Ok(Err(payload)) => panic::resume_unwind(payload),
            Err(_) => Err(StoreError::Backend("postgres: worker died".to_owned())),
        }
    }
}

/// A worker's loop: take the next job until the queue closes.
fn work(queue: &Mutex<Receiver<Job>>, mut conn: Conn) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(&mut conn),
            Err(_) => return,
        }
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
