//! Gateways turn a transport's connections into [`Link`]s for
//! [`crate::Server::accept_link`]. `udp` is natter-net's [`natter_net::Pipe`]
//! itself (no task or channel between the session and the transport);
//! `memory` (tests) and `ws` (the WebSocket JSON API, served by
//! [`crate::http`]) are a [`ChannelLink`], because those doors need a task
//! of their own on the other side.

pub mod memory;
pub mod udp;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;
use tokio::sync::{Mutex, mpsc};

/// A boxed, sendable future borrowing the link.
pub type LinkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The link towards the client is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("link closed")]
pub struct LinkClosed;

/// Why [`Link::try_send`] queued nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError {
    /// No room now.
    #[error("link full")]
    Full,
    /// The link is gone.
    #[error("link closed")]
    Closed,
}

/// One connection as the server sees it: a reliable, ordered, bidirectional
/// pipe of byte messages. Each message is one postcard-encoded
/// `natter_api::ClientFrame` (from the client) or `ServerFrame` (to it).
///
/// The session is the only reader. Receiving is pulled: a transport returns
/// its flow-control credit only when [`Link::recv`] consumed a frame.
pub trait Link: Send + Sync + 'static {
    /// The next frame from the client; `None` once the link is gone.
    /// Cancel-safe: dropping the future loses nothing.
    fn recv(&self) -> LinkFuture<'_, Option<Bytes>>;

    /// Queues `frame` towards the client, waiting while the link is full
    /// (backpressure). Cancel-safe while it waits.
    fn send(&self, frame: Bytes) -> LinkFuture<'_, Result<(), LinkClosed>>;

    /// [`Self::send`] for several frames in order; a transport may hand
    /// them over together (one lock, one wake-up, shared datagrams). If
    /// dropped while waiting, a prefix of `frames` may have been queued.
    fn send_many(&self, frames: Vec<Bytes>) -> LinkFuture<'_, Result<(), LinkClosed>> {
        Box::pin(async move {
            for frame in frames {
                self.send(frame).await?;
            }
            Ok(())
        })
    }

    /// [`Self::send`] for bulk data (file chunks): over UDP on a stream
    /// of its own with a cap of its own, so it never delays chat frames;
    /// other doors send it like any frame.
    fn send_bulk(&self, frame: Bytes) -> LinkFuture<'_, Result<(), LinkClosed>> {
        self.send(frame)
    }

    /// Queues `frame` if there is room now.
    fn try_send(&self, frame: Bytes) -> Result<(), TrySendError>;

    /// The session is over: give what was queued a bounded time to reach
    /// the client, then close the connection.
    fn finish(&self) -> LinkFuture<'_, ()>;

    /// The client's address (throttling, logs).
    fn remote(&self) -> SocketAddr;

    /// Which gateway made it, for logs (`"memory"`, `"udp"`, `"ws"`).
    fn gateway(&self) -> &'static str;
}

/// A [`Link`] made of two bounded channels, for doors whose other side is a
/// task of its own (the in-memory gateway, the WebSocket gateway). Dropping
/// the link closes `to_client`; the other side closing `from_client` ends it.
#[derive(Debug)]
pub struct ChannelLink {
    to_client: mpsc::Sender<Bytes>,
    from_client: Mutex<mpsc::Receiver<Bytes>>,
    remote: SocketAddr,
    gateway: &'static str,
}

impl ChannelLink {
    /// A link over `to_client` and `from_client` from `remote`, made by `gateway`.
    pub fn new(
        to_client: mpsc::Sender<Bytes>,
        from_client: mpsc::Receiver<Bytes>,
        remote: SocketAddr,
        gateway: &'static str,
    ) -> Self {
        Self {
            to_client,
            from_client: Mutex::new(from_client),
            remote,
            gateway,
        }
    }
}

impl Link for ChannelLink {
    fn recv(&self) -> LinkFuture<'_, Option<Bytes>> {
        Box::pin(async move { self.from_client.lock().await.recv().await })
    }

    fn send(&self, frame: Bytes) -> LinkFuture<'_, Result<(), LinkClosed>> {
        Box::pin(async move { self.to_client.send(frame).await.map_err(|_| LinkClosed) })
    }

    fn try_send(&self, frame: Bytes) -> Result<(), TrySendError> {
        self.to_client.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TrySendError::Full,
            mpsc::error::TrySendError::Closed(_) => TrySendError::Closed,
        })
    }

    /// Nothing to wait for: the other side drains the channel and closes
    /// once this link is dropped.
    fn finish(&self) -> LinkFuture<'_, ()> {
        Box::pin(async {})
    }

    fn remote(&self) -> SocketAddr {
        self.remote
    }

    fn gateway(&self) -> &'static str {
        self.gateway
    }
}
