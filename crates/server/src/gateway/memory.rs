//! In-process gateway: a pair of channels instead of a network.

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::ChannelLink;
use crate::Server;

/// The client's ends of an in-memory connection.
#[derive(Debug)]
pub struct MemoryConn {
    /// Frames to the server.
    pub tx: mpsc::Sender<Bytes>,
    /// Frames from the server.
    pub rx: mpsc::Receiver<Bytes>,
}

/// Connects to `server` through channels; `remote` is the address the server
/// believes the client has. Dropping both ends of the returned connection
/// closes it, as does the server.
pub fn connect(server: &Server, remote: SocketAddr) -> MemoryConn {
    let buffer = server.config().link_buffer.max(1);
    let (to_server, from_client) = mpsc::channel(buffer);
    let (to_client, from_server) = mpsc::channel(buffer);
    server.accept_link(ChannelLink::new(to_client, from_client, remote, "memory"));
    MemoryConn {
        tx: to_server,
        rx: from_server,
    }
}
