//! The UDP gateway: every natter-net connection becomes a [`Link`].
//!
//! Stream 0 carries every frame in both directions, so events keep their
//! order (sync before live events, a message before its receipt).

use std::time::Duration;

use natter_net::{Connection, Endpoint, PipeOptions};

use super::Link;
use crate::{Server, ServerConfig};

/// The stream every chat frame travels on.
pub const CHAT_STREAM: u64 = 0;

/// Accepts connections on `endpoint` and hands each to `server` until the
/// endpoint shuts down.
pub async fn serve(endpoint: Endpoint, server: Server) {
    while let Some(conn) = endpoint.accept().await {
        let remote = conn.remote_addr();
        tracing::debug!(%remote, "udp connection");
        server.accept_link(bridge(conn, server.config()));
    }
}

/// Joins a transport connection to a pair of channels. The transport holds
/// at most `transport_queue_bytes` of the session's frames (queued or
/// unacknowledged); beyond that the session waits (backpressure), and a
/// connection that takes nothing for [`ServerConfig::write_stall`] is closed.
pub fn bridge(conn: Connection, config: &ServerConfig) -> Link {
    let remote = conn.remote_addr();
    let options = PipeOptions {
        max_queued_bytes: config.transport_queue_bytes,
        stall: Some(config.write_stall()),
        ..PipeOptions::new(
            CHAT_STREAM,
            config.link_buffer.max(1),
            Duration::from_secs(5),
            "session ended",
        )
    };
    let pipe = conn.into_pipe_with(options);
    let (to_client, from_client) = (pipe.tx, pipe.rx);
    Link {
        to_client,
        from_client,
        remote,
        gateway: "udp",
    }
}
