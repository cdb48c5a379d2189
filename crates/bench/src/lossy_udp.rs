//! A UDP socket for quinn that drops a seeded random fraction of datagrams
//! in each direction, like natter-net's `--loss` fault injection, so the QUIC
//! reference can run under the same in-process loss as Natter.
//!
//! It hands quinn one datagram per call (no GSO/GRO batches), so every
//! datagram is dropped or kept on its own.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

/// A tokio UDP socket that drops `loss` of what it sends and receives.
pub(crate) struct LossySocket {
    io: UdpSocket,
    loss: f64,
    rng: Mutex<ChaCha8Rng>,
}

impl fmt::Debug for LossySocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LossySocket")
            .field("loss", &self.loss)
            .finish_non_exhaustive()
    }
}

impl LossySocket {
    /// Binds `addr`; `seed` fixes which datagrams are dropped.
    pub(crate) fn bind(addr: SocketAddr, loss: f64, seed: u64) -> io::Result<Self> {
        let std = std::net::UdpSocket::bind(addr)?;
        std.set_nonblocking(true)?;
        Ok(Self {
            io: UdpSocket::from_std(std)?,
            loss: loss.clamp(0.0, 1.0),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        })
    }

    fn drop_one(&self) -> bool {
        let mut rng = self.rng.lock().expect("loss rng lock");
        rng.random_bool(self.loss)
    }
}

impl AsyncUdpSocket for LossySocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(Writable(self))
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        if self.drop_one() {
            return Ok(());
        }
        self.io
            .try_send_to(transmit.contents, transmit.destination)
            .map(drop)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(meta)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        loop {
            let mut read = ReadBuf::new(buf);
            let addr = ready!(self.io.poll_recv_from(cx, &mut read))?;
            let len = read.filled().len();
            if self.drop_one() {
                continue;
            }
            *meta = RecvMeta {
                addr,
                len,
                stride: len,
                ecn: None,
                dst_ip: None,
            };
            return Poll::Ready(Ok(1));
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }
}

/// Write readiness of a [`LossySocket`].
#[derive(Debug)]
struct Writable(Arc<LossySocket>);

impl UdpPoller for Writable {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.io.poll_send_ready(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drops_roughly_the_configured_fraction() {
        let seed = 7;
        let s = LossySocket::bind("127.0.0.1:0".parse().unwrap(), 0.2, seed).unwrap();
        let dropped = (0..10_000).filter(|_| s.drop_one()).count();
        assert!(
            (1_700..2_300).contains(&dropped),
            "dropped {dropped} of 10000 at 20 % (seed {seed})"
        );
    }
}
