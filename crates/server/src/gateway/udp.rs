//! The UDP gateway: every natter-net connection becomes a [`Link`].
//!
//! Stream 0 carries every frame in both directions, so events keep their
//! order (sync before live events, a message before its receipt).

use std::time::Duration;

use natter_net::{Connection, Endpoint};

use super::Link;
use crate::Server;

/// The stream every chat frame travels on.
pub const CHAT_STREAM: u64 = 0;

/// Accepts connections on `endpoint` and hands each to `server` until the
/// endpoint shuts down.
pub async fn serve(endpoint: Endpoint, server: Server) {
    while let Some(conn) = endpoint.accept().await {
        let remote = conn.remote_addr();
        tracing::debug!(%remote, "udp connection");
        server.accept_link(bridge(conn, server.config().link_buffer.max(1)));
    }
}

/// Joins a transport connection to a pair of channels.
pub fn bridge(conn: Connection, buffer: usize) -> Link {
    let remote = conn.remote_addr();
    let pipe = conn.into_pipe(CHAT_STREAM, buffer, Duration::from_secs(5), "session ended");
    let (to_client, from_client) = (pipe.tx, pipe.rx);
    Link {
        to_client,
        from_client,
        remote,
        gateway: "udp",
    }
}
