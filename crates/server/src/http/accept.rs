//! The HTTP accept loop: admission against the connection caps, hyper's
//! HTTP/1.1 with a header-read timeout, upgrades, graceful shutdown.
//!
//! `axum::serve` has no header-read timeout, so a client that connects and
//! sends nothing would hold a descriptor for ever; this loop serves each
//! connection with hyper's own builder instead, which has one.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower_service::Service;

use super::limits::{Admission, HttpConfig, Slot, bump};

/// Largest buffered request head (hyper's minimum is 8 KiB): bounds what
/// each half-open connection can make the server hold.
const MAX_BUF: usize = 16 * 1024;

/// Pause after a failed accept (out of descriptors: let some close).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long, at shutdown, a connection may take to finish its request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// What every connection task needs.
#[derive(Clone)]
struct ConnContext {
    router: Router,
    admission: Arc<Admission>,
    header_timeout: Duration,
    /// Turns true at shutdown: connections finish their request and close.
    stop: watch::Receiver<bool>,
    /// Held by every connection task; closed when the last one ends.
    alive: mpsc::Sender<()>,
}

/// The connection held by a request (and, after an upgrade, by its
/// WebSocket): an extension of every request the router sees.
#[derive(Clone)]
pub(crate) struct Held(pub(crate) Arc<Slot>);

/// Accepts on `listener` until `shutdown`, then stops accepting, lets the
/// open requests finish, and returns when every HTTP connection task ended
/// (upgraded WebSockets are not waited for).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    admission: Arc<Admission>,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    let (alive, mut all_done) = mpsc::channel(1);
    let conn_ctx = ConnContext {
        router,
        admission,
        header_timeout: config.header_timeout(),
        stop,
        alive,
    };
    let mut errors = ErrorLog::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => on_accept(&conn_ctx, stream, remote),
            Err(e) => {
                bump(&conn_ctx.admission.stats.accept_errors);
                errors.note(&e);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    stop_tx.send_replace(true);
    drop(conn_ctx);
    let _ = all_done.recv().await; // `None` once every task dropped its sender
    Ok(())
}

/// Admits the connection and spawns its task, or closes it at once.
fn on_accept(conn_ctx: &ConnContext, stream: TcpStream, remote: SocketAddr) {
    match conn_ctx.admission.admit(remote.ip()) {
        Ok(slot) => {
            // Chat frames are small and latency-bound: no Nagle delay (with
            // the peer's delayed ACKs it adds ~40 ms to a lone frame).
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(conn_ctx.clone(), stream, remote, slot));
        }
        Err(why) => {
            // Best effort, never waits: the descriptor is closed right here.
            let _ = stream.try_write(BUSY);
            tracing::debug!(%remote, reason = ?why, "http connection refused");
        }
    }
}

/// The answer to a connection over a cap (written only if the socket
/// takes it at once).
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// Serves one connection until it closes, times out, or upgrades.
async fn serve_connection(
    conn_ctx: ConnContext,
    stream: TcpStream,
    remote: SocketAddr,
    slot: Slot,
) {
    let ConnContext {
        router,
        admission,
        header_timeout,
        mut stop,
        alive: _alive,
    } = conn_ctx;
    let held = Held(Arc::new(slot));
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        request.extensions_mut().insert(held.clone());
        let mut router = router.clone();
        async move {
            Ok::<Response, Infallible>(router.call(request).await.unwrap_or_else(|e| match e {}))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_BUF);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let outcome = tokio::select! {
        outcome = conn.as_mut() => outcome,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            // A request in flight finishes; half a header does not hold
            // the shutdown up.
            tokio::time::timeout(SHUTDOWN_GRACE, conn).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = outcome {
        if e.is_timeout() {
            bump(&admission.stats.header_timeouts);
        }
        tracing::debug!(%remote, error = %e, "http connection ended");
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Logs failed accepts at most once a second (out of descriptors, every
/// accept fails until some close).
#[derive(Default)]
struct ErrorLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    fn note(&mut self, e: &std::io::Error) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(error = %e, suppressed = self.suppressed, "http accept failed");
        self.last = Some(now);
        self.suppressed = 0;
    }
}
