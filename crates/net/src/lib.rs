//! natter-net: drives the sans-IO natter-proto on a real UDP socket (or an
//! in-memory network) with tokio.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use natter_net::{Endpoint, NetConfig, ServerKeyPolicy};
//! let ep = Endpoint::bind("127.0.0.1:0".parse()?, NetConfig::default()).await?;
//! let conn = ep.connect("127.0.0.1:7700".parse()?, ServerKeyPolicy::AcceptAny).await?;
//! conn.send(0, bytes::Bytes::from_static(b"hello")).await?; // resolves once acknowledged
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod connection;
mod endpoint;
mod faults;
pub mod known_servers;
#[cfg(target_os = "linux")]
mod mmsg;
mod pipe;
pub mod private_files;
mod socket;
mod totals;

use std::net::SocketAddr;

pub use connection::Connection;
pub use endpoint::{Endpoint, NetConfig};
pub use faults::FaultConfig;
pub use known_servers::ServerKeyPolicy;
pub use natter_proto::{
    CloseReason, ConnectionStats, EndpointStats, RetryPolicy, ServerEndpointConfig, StaticKeypair,
    TransportConfig,
};
pub use pipe::{BULK_STREAM, DEFAULT_MAX_QUEUED_BYTES, Pipe, PipeOptions, TrySendError};
pub use socket::{DatagramSocket, MemoryNetwork, MemorySocket, SendBatch};
pub use totals::TransportTotals;

/// Why `connect` failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// No answer: the server is down, the address is wrong, or the network
    /// drops our packets.
    #[error("no answer from {0}: the server is not running there, or the network blocks it")]
    Unreachable(SocketAddr),
    /// The server's key is not the pinned one.
    #[error("{0}")]
    KeyMismatch(known_servers::KeyMismatch),
    /// The server speaks another protocol version.
    #[error("the server speaks protocol versions {0:x?}, not ours ({ours:x})", ours = natter_proto::VERSION)]
    Version(Vec<u32>),
    /// The handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// Reading or writing the known-servers file failed.
    #[error("known-servers file: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a send or receive failed on an established connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The connection is closed.
    #[error("connection closed: {0:?}")]
    Closed(CloseReason),
    /// The message was refused locally (too large, bad stream).
    #[error("{0}")]
    Send(#[from] natter_proto::SendError),
}
