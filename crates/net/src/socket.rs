//! The datagram socket the driver runs on: a real UDP socket, or an
//! in-memory network for tests.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// What the driver needs from a socket.
pub trait DatagramSocket: Send + Sync + 'static {
    /// Receives one datagram into `buf`.
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>>;
    /// Receives one datagram if one is queued, else `WouldBlock`.
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
    /// Sends one datagram without waiting; `WouldBlock` counts as a loss.
    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize>;
    /// The bound address.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Sends every datagram of `batch` in order without waiting and returns
    /// how many left; the others count as lost. The default calls
    /// [`try_send_to`](Self::try_send_to) once per datagram.
    fn try_send_batch(&self, batch: &SendBatch) -> usize {
        batch
            .iter()
            .filter(|(to, data)| self.try_send_to(data, *to).is_ok())
            .count()
    }

    /// Receives the datagrams already queued, at most `buf.len() / slot`,
    /// without waiting: datagram `i` lands in `buf[i * slot..]`, and
    /// `(slot index, length, source)` is appended to `out` for each one
    /// kept (a datagram longer than `slot` is dropped or cut short, so it
    /// fails to authenticate). `WouldBlock` when none is queued. The
    /// default calls [`try_recv_from`](Self::try_recv_from) once per slot.
    fn try_recv_batch(
        &self,
        buf: &mut [u8],
        slot: usize,
        out: &mut Vec<(usize, usize, SocketAddr)>,
    ) -> io::Result<()> {
        for (i, chunk) in buf.chunks_exact_mut(slot).enumerate() {
            match self.try_recv_from(chunk) {
                Ok((n, from)) => out.push((i, n, from)),
                Err(e) if i == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(())
    }
}

/// Datagrams to send in one go, their bytes back to back.
#[derive(Debug, Default)]
pub struct SendBatch {
    data: Vec<u8>,
    items: Vec<(SocketAddr, Range<usize>)>,
}

impl SendBatch {
    /// Appends one datagram for `to`.
    pub fn push(&mut self, to: SocketAddr, datagram: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(datagram);
        self.items.push((to, start..self.data.len()));
    }

    /// The datagrams in the order they were pushed.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.items
            .iter()
            .map(|(to, r)| (*to, &self.data[r.clone()]))
    }

    /// Number of datagrams.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// No datagram queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Forgets every datagram (keeps the memory).
    pub fn clear(&mut self) {
        self.data.clear();
        self.items.clear();
    }
}

impl DatagramSocket for UdpSocket {
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut rb = ReadBuf::new(buf);
        match Self::poll_recv_from(self, cx, &mut rb) {
            Poll::Ready(Ok(from)) => Poll::Ready(Ok((rb.filled().len(), from))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        Self::try_recv_from(self, buf)
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        Self::try_send_to(self, buf, to)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Self::local_addr(self)
    }

    #[cfg(target_os = "linux")]
    fn try_send_batch(&self, batch: &SendBatch) -> usize {
        crate::mmsg::send_batch(self, batch)
    }

    #[cfg(target_os = "linux")]
    fn try_recv_batch(
        &self,
        buf: &mut [u8],
        slot: usize,
        out: &mut Vec<(usize, usize, SocketAddr)>,
    ) -> io::Result<()> {
        crate::mmsg::recv_batch(self, buf, slot, out)
    }
}

/// Receive and send buffer asked of the kernel for every endpoint socket
/// (the kernel caps it at `net.core.rmem_max` / `wmem_max`). A server
/// fanning out to many peers, or a client process holding many
/// connections on one socket, receives bursts far larger than the
/// default ~200 KiB holds (about 90 datagrams); every overflow is a loss
/// the congestion controller answers by slowing down. The memory is only
/// used while datagrams wait, an idle socket costs nothing more.
pub(crate) const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Asks for [`SOCKET_BUFFER_BYTES`] of receive and send buffer; a refusal
/// leaves the defaults (logged at debug: the socket still works).
pub(crate) fn enlarge_buffers(socket: &UdpSocket) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        let size = SOCKET_BUFFER_BYTES;
        for r in [
            setsockopt(socket, sockopt::RcvBuf, &size),
            setsockopt(socket, sockopt::SndBuf, &size),
        ] {
            if let Err(e) = r {
                tracing::debug!(error = %e, "cannot enlarge the socket buffers");
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

type Inbox = mpsc::UnboundedSender<(SocketAddr, Vec<u8>)>;

/// An in-memory network: sockets bound on it reach each other by address.
/// Datagrams to unknown addresses vanish, like UDP.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    hosts: Arc<Mutex<HashMap<SocketAddr, Inbox>>>,
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds a socket at `addr` (replacing any previous one there).
    pub fn bind(&self, addr: SocketAddr) -> MemorySocket {
        let (tx, rx) = mpsc::unbounded_channel();
        self.hosts.lock().expect("lock").insert(addr, tx);
        MemorySocket {
            addr,
            net: self.clone(),
            rx: Mutex::new(rx),
        }
    }

    /// Removes the socket at `addr` (its traffic is then lost).
    pub fn unbind(&self, addr: SocketAddr) {
        self.hosts.lock().expect("lock").remove(&addr);
    }
}

/// A socket of a [`MemoryNetwork`].
pub struct MemorySocket {
    addr: SocketAddr,
    net: MemoryNetwork,
    rx: Mutex<mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>>,
}

impl DatagramSocket for MemorySocket {
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut rx = self.rx.lock().expect("lock");
        match rx.poll_recv(cx) {
            Poll::Ready(Some((from, data))) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Poll::Ready(Ok((n, from)))
            }
            Poll::Ready(None) => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut rx = self.rx.lock().expect("lock");
        match rx.try_recv() {
            Ok((from, data)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Ok((n, from))
            }
            Err(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        let hosts = self.net.hosts.lock().expect("lock");
        if let Some(inbox) = hosts.get(&to) {
            let _ = inbox.send((self.addr, buf.to_vec()));
        }
        Ok(buf.len())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use nix::sys::socket::{getsockopt, sockopt};

    use super::*;

    /// `net.core.{r,w}mem_max`: the most an unprivileged socket may ask for.
    fn sysctl(name: &str) -> usize {
        let path = format!("/proc/sys/net/core/{name}");
        let text = std::fs::read_to_string(&path).expect("read the sysctl");
        text.trim().parse().expect("a number")
    }

    #[tokio::test]
    async fn endpoint_sockets_get_the_large_buffers_the_kernel_allows() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        enlarge_buffers(&socket);
        // The kernel caps the request at the sysctl and reports it doubled.
        let rcv = getsockopt(&socket, sockopt::RcvBuf).expect("SO_RCVBUF");
        let snd = getsockopt(&socket, sockopt::SndBuf).expect("SO_SNDBUF");
        assert!(rcv >= SOCKET_BUFFER_BYTES.min(sysctl("rmem_max")), "{rcv}");
        assert!(snd >= SOCKET_BUFFER_BYTES.min(sysctl("wmem_max")), "{snd}");
    }
}
