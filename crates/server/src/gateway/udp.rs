//! The UDP gateway: every natter-net connection becomes a [`Link`].
//!
//! Stream 0 carries every frame in both directions, so events keep their
//! order (sync before live events, a message before its receipt).

use bytes::Bytes;
use natter_net::{Connection, Endpoint};
use tokio::sync::mpsc;

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
    let (to_client, mut outgoing) = mpsc::channel::<Bytes>(buffer);
    let (incoming, from_client) = mpsc::channel::<Bytes>(buffer);
    let remote = conn.remote_addr();
    let reader = conn.clone();
    tokio::spawn(async move {
        while let Some((_, frame)) = reader.recv().await {
            if incoming.send(frame).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if conn.send_nowait(CHAT_STREAM, frame).is_err() {
                return;
            }
        }
        // The session ended: let what it said arrive, then close.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn.flushed()).await;
        conn.close(0, "session ended");
    });
    Link {
        to_client,
        from_client,
        remote,
        gateway: "udp",
    }
}
