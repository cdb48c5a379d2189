//! The transport seam: how the client obtains a connection.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use tokio::sync::mpsc;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One connection as the client sees it: a reliable, ordered pipe of byte
/// messages (postcard `ClientFrame`s out, `ServerFrame`s in). `rx` closing
/// means the connection died; dropping `tx` closes it.
#[derive(Debug)]
pub struct ClientLink {
    /// Frames to the server.
    pub tx: mpsc::Sender<Bytes>,
    /// Frames from the server.
    pub rx: mpsc::Receiver<Bytes>,
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

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The server is not there or refused the connection.
    #[error("connection refused: {0}")]
    Refused(String),
    /// The network failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else the transport reports (handshake failure, …).
    #[error("{0}")]
    Other(String),
}
