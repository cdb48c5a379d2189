//! The server's lifecycle on already-bound sockets: serve until a shutdown
//! signal, then stop in order.
//!
//! Shutdown, step by step:
//! 1. stop accepting new transport connections (the accept loop ends);
//! 2. [`Server::shutdown`]: refuse new links, tell every session
//!    `server_closing`, answer whatever the writer already holds (committed
//!    first), stop the writer;
//! 3. give the transport up to [`DRAIN_TIMEOUT`] to deliver those last frames
//!    (each connection closes itself once its peer acknowledged them);
//! 4. close what is left with [`SHUTDOWN_CODE`] and stop the endpoint.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use natter_net::{Connection, Endpoint};
use natter_store::Store;

use crate::config::ServerConfig;
use crate::gateway::udp::bridge;
use crate::server::Server;

/// Longest wait for connections to deliver their last frames at shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Application close code sent to connections still open at shutdown.
pub const SHUTDOWN_CODE: u64 = 1;

/// Serves chat on `endpoint` (bound, with a server config) backed by `store`
/// until `shutdown` resolves, then shuts down gracefully (see the module
/// docs). Resolves when everything stopped: every message acknowledged to a
/// sender is committed in `store` by then.
pub async fn run(
    endpoint: Endpoint,
    store: Arc<dyn Store>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    run_server(endpoint, Server::new(store, config), shutdown).await;
}

/// [`run`] with a server built by the caller, e.g. to share it with the
/// HTTP gateway ([`crate::serve_http`]). Shuts `server` down at the end.
pub async fn run_server(endpoint: Endpoint, server: Server, shutdown: impl Future<Output = ()>) {
    let mut open: Vec<Connection> = Vec::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            conn = endpoint.accept() => match conn {
                Some(conn) => accept(&server, conn, &mut open),
                None => break,
            },
        }
    }
    tracing::info!(connections = open.len(), "shutting down");
    server.shutdown().await;
    drain(&open).await;
    endpoint
        .shutdown(SHUTDOWN_CODE, "server shutting down")
        .await;
}

/// Hands one transport connection to the server and remembers it for the drain.
///
/// Closed connections are pruned when the list has doubled since the last
/// prune, not on every accept: a scan per accept made setting up N clients
/// cost O(N²) (a quarter to half a core at 60 000-90 000 clients).
fn accept(server: &Server, conn: Connection, open: &mut Vec<Connection>) {
    if open.len() >= open.capacity() {
        open.retain(|c| c.close_reason().is_none());
        // Room for as many again: the next prune comes after that many accepts.
        open.reserve(open.len().max(64));
    }
    tracing::debug!(remote = %conn.remote_addr(), "udp connection");
    open.push(conn.clone());
    server.accept_link(bridge(conn, server.config()));
}

/// Waits (bounded) until every connection closed after delivering its last frames.
async fn drain(open: &[Connection]) {
    let all_closed = async {
        for conn in open {
            conn.closed().await;
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, all_closed)
        .await
        .is_err()
    {
        tracing::info!("drain timed out; closing the remaining connections");
    }
}
