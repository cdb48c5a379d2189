//! Gateways turn a transport's connections into [`Link`]s for
//! [`crate::Server::accept_link`]. `memory` serves tests, `udp` the natter
//! transport, `ws` the WebSocket JSON API (served by [`crate::http`]).

pub mod memory;
pub mod udp;
pub mod ws;

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::sync::mpsc;

/// One connection as the server sees it: a reliable, ordered, bidirectional
/// pipe of byte messages. Each message is one postcard-encoded
/// `natter_api::ClientFrame` (from the client) or `ServerFrame` (to it).
/// Either channel closing means the connection is gone.
#[derive(Debug)]
pub struct Link {
    /// Frames towards the client.
    pub to_client: mpsc::Sender<Bytes>,
    /// Frames from the client.
    pub from_client: mpsc::Receiver<Bytes>,
    /// The client's address (throttling, logs).
    pub remote: SocketAddr,
    /// Which gateway made it, for logs (`"memory"`, `"udp"`, `"ws"`).
    pub gateway: &'static str,
}
