//! The transport seam: how the client obtains a connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use natter_net::Pipe;
use tokio::sync::mpsc;

pub(crate) use crate::error::DialError;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One connection as the client sees it: a reliable, ordered pipe of byte
/// messages (postcard `ClientFrame`s out, `ServerFrame`s in).
///
/// Over natter's transport ([`ClientLink::from_pipe`]) the client driver
/// reads and writes the connection itself: no task or channel in between,
/// and flow-control credit returns to the server only as the driver
/// consumes frames. Doors whose other side is a task of its own (tests'
/// in-memory relays, a WebSocket) use [`ClientLink::from_channels`]: `rx`
/// closing means the connection died; dropping `tx` closes it.
#[derive(Debug)]
pub struct ClientLink {
    pub(crate) tx: LinkTx,
    pub(crate) rx: LinkRx,
}

impl ClientLink {
    /// A link over two channels: frames to the server, frames from it.
    pub fn from_channels(tx: mpsc::Sender<Bytes>, rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            tx: LinkTx::Channel(tx),
            rx: LinkRx::Channel(rx),
        }
    }

    /// A link that is the natter-net connection itself.
    pub fn from_pipe(pipe: Pipe) -> Self {
        let pipe = Arc::new(pipe);
        Self {
            tx: LinkTx::Pipe(pipe.clone()),
            rx: LinkRx::Pipe(pipe),
        }
    }
}

/// The sending half of a [`ClientLink`].
#[derive(Debug, Clone)]
pub(crate) enum LinkTx {
    Channel(mpsc::Sender<Bytes>),
    Pipe(Arc<Pipe>),
}

/// The receiving half of a [`ClientLink`].
#[derive(Debug)]
pub(crate) enum LinkRx {
    Channel(mpsc::Receiver<Bytes>),
    Pipe(Arc<Pipe>),
}

/// [`LinkTx::try_send`] found no room now.
#[derive(Debug)]
pub(crate) struct LinkFull;

impl LinkTx {
    /// Queues `frame`, waiting while the link is full. A closed link is
    /// noticed by the receive side, so failures are not reported.
    pub(crate) async fn send(&self, frame: Bytes) {
        match self {
            Self::Channel(tx) => drop(tx.send(frame).await),
            Self::Pipe(pipe) => drop(pipe.send(frame).await),
        }
    }

    /// [`Self::send`] for bulk data (file chunks): on a transport
    /// connection on its own stream and cap (`natter_net::BULK_STREAM`),
    /// so it never delays chat frames.
    pub(crate) async fn send_bulk(&self, frame: Bytes) {
        match self {
            Self::Channel(tx) => drop(tx.send(frame).await),
            Self::Pipe(pipe) => drop(pipe.send_bulk(frame).await),
        }
    }

    /// Queues `frame` if the link has room now (a closed link takes it).
    pub(crate) fn try_send(&self, frame: Bytes) -> Result<(), LinkFull> {
        let full = match self {
            Self::Channel(tx) => {
                matches!(tx.try_send(frame), Err(mpsc::error::TrySendError::Full(_)))
            }
            Self::Pipe(pipe) => {
                matches!(pipe.try_send(frame), Err(natter_net::TrySendError::Full(_)))
            }
        };
        if full { Err(LinkFull) } else { Ok(()) }
    }

    /// Resolves when the link has room for a frame (or is closed).
    pub(crate) async fn ready(&self) {
        match self {
            // The permit is dropped at once: it only shows there is room.
            Self::Channel(tx) => drop(tx.reserve().await),
            Self::Pipe(pipe) => pipe.ready().await,
        }
    }

    /// Gives the link up: a channel is dropped (its other side closes); a
    /// transport connection gets its linger to deliver what was sent and
    /// is closed.
    pub(crate) async fn finish(self) {
        if let Self::Pipe(pipe) = self {
            pipe.finish().await;
        }
    }
}

impl LinkRx {
    /// The next frame; `None` once the link is closed.
    pub(crate) async fn recv(&mut self) -> Option<Bytes> {
        match self {
            Self::Channel(rx) => rx.recv().await,
            Self::Pipe(pipe) => pipe.recv().await,
        }
    }

    /// The next frame if one is ready now.
    pub(crate) fn try_recv(&mut self) -> Option<Bytes> {
        match self {
            Self::Channel(rx) => rx.try_recv().ok(),
            Self::Pipe(pipe) => pipe.try_recv(),
        }
    }
}

/// Opens connections to one server (UDP, memory, …). Called again for every
/// reconnect attempt; the client applies its own timeout around `dial`.
pub trait Dialer: Send + Sync + 'static {
    /// Opens a new connection.
    fn dial(&self) -> BoxFuture<'static, Result<ClientLink, DialError>>;

    /// Called once by [`crate::Client::close`] after the last link was
    /// given up: release what the dialer holds (e.g. its own UDP endpoint,
    /// making sure the transport's CLOSE left). Default: nothing.
    fn shutdown(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
