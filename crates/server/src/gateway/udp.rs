//! The UDP gateway: every natter-net connection becomes a [`Link`] with no
//! task or channel in between: the session pulls frames from the transport
//! (credit returns as it consumes them) and writes into the transport's
//! capped queue.
//!
//! Stream 0 carries every frame in both directions, so events keep their
//! order (sync before live events, a message before its receipt); file
//! chunks and their answers travel on [`natter_net::BULK_STREAM`].

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use natter_net::{Connection, Endpoint, Pipe, PipeOptions};

use super::{Link, LinkClosed, LinkFuture, TrySendError};
use crate::{Server, ServerConfig};

/// The stream every chat frame travels on.
pub const CHAT_STREAM: u64 = 0;

/// How long a finished session's last frames may take to be acknowledged.
const LINGER: Duration = Duration::from_secs(5);

/// Accepts connections on `endpoint` and hands each to `server` until the
/// endpoint shuts down.
pub async fn serve(endpoint: Endpoint, server: Server) {
    while let Some(conn) = endpoint.accept().await {
        let remote = conn.remote_addr();
        tracing::debug!(%remote, "udp connection");
        server.accept_link(bridge(conn, server.config()));
    }
}

/// The connection as a [`Link`]. The transport holds at most
/// `transport_queue_bytes` of the session's frames (queued or
/// unacknowledged); beyond that the session waits (backpressure), and a
/// connection that takes nothing for [`ServerConfig::write_stall`] is closed.
pub fn bridge(conn: Connection, config: &ServerConfig) -> Pipe {
    conn.into_pipe_with(PipeOptions {
        max_queued_bytes: config.transport_queue_bytes,
        stall: Some(config.write_stall()),
        ..PipeOptions::new(CHAT_STREAM, LINGER, "session ended")
    })
}

impl Link for Pipe {
    fn recv(&self) -> LinkFuture<'_, Option<Bytes>> {
        Box::pin(Self::recv(self))
    }

    fn send(&self, frame: Bytes) -> LinkFuture<'_, Result<(), LinkClosed>> {
        Box::pin(async move { Self::send(self, frame).await.map_err(|_| LinkClosed) })
    }

    fn send_many(&self, frames: Vec<Bytes>) -> LinkFuture<'_, Result<(), LinkClosed>> {
        Box::pin(async move { Self::send_many(self, frames).await.map_err(|_| LinkClosed) })
    }

    fn send_bulk(&self, frame: Bytes) -> LinkFuture<'_, Result<(), LinkClosed>> {
        Box::pin(async move { Self::send_bulk(self, frame).await.map_err(|_| LinkClosed) })
    }

    fn try_send(&self, frame: Bytes) -> Result<(), TrySendError> {
        Self::try_send(self, frame).map_err(|e| match e {
            natter_net::TrySendError::Full(_) => TrySendError::Full,
            natter_net::TrySendError::Closed(_) => TrySendError::Closed,
        })
    }

    fn finish(&self) -> LinkFuture<'_, ()> {
        Box::pin(Self::finish(self))
    }

    fn remote(&self) -> SocketAddr {
        self.connection().remote_addr()
    }

    fn gateway(&self) -> &'static str {
        "udp"
    }
}
