//! Linux `sendmmsg` / `recvmmsg` on a tokio UDP socket: many datagrams per
//! system call. Readiness goes through `try_io`, so a `WouldBlock` clears
//! tokio's readiness flag exactly as a single `send_to` would.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::socket::SendBatch;

/// Most datagrams handed to one `sendmmsg`.
const SEND_CHUNK: usize = 64;

/// Sends `batch` with as few `sendmmsg` calls as the kernel allows. A
/// datagram the kernel refuses is skipped (UDP may lose it anyway); a full
/// send buffer (`WouldBlock`) drops the rest. Returns how many were sent.
pub(crate) fn send_batch(socket: &UdpSocket, batch: &SendBatch) -> usize {
    let items: Vec<(SocketAddr, &[u8])> = batch.iter().collect();
    let (mut next, mut sent) = (0, 0);
    while next < items.len() {
        let end = items.len().min(next + SEND_CHUNK);
        match socket.try_io(Interest::WRITABLE, || send_chunk(socket, &items[next..end])) {
            Ok(n) => (next, sent) = (next + n.max(1), sent + n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => next += 1,
        }
    }
    sent
}

fn send_chunk(socket: &UdpSocket, items: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let slices: Vec<[IoSlice<'_>; 1]> = items.iter().map(|(_, d)| [IoSlice::new(d)]).collect();
    let addrs: Vec<Option<SockaddrStorage>> = items
        .iter()
        .map(|(to, _)| Some(SockaddrStorage::from(*to)))
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(items.len(), None);
    let cmsgs: [nix::sys::socket::ControlMessage<'_>; 0] = [];
    let fd = socket.as_raw_fd();
    let results = sendmmsg(fd, &mut headers, &slices, addrs, cmsgs, MsgFlags::empty())?;
    Ok(results.count())
}

/// Receives up to `buf.len() / slot` queued datagrams with one `recvmmsg`,
/// datagram `i` into `buf[i * slot..]`; appends `(slot index, length,
/// source)` to `out`. A datagram longer than `slot` is dropped.
pub(crate) fn recv_batch(
    socket: &UdpSocket,
    buf: &mut [u8],
    slot: usize,
    out: &mut Vec<(usize, usize, SocketAddr)>,
) -> io::Result<()> {
    socket.try_io(Interest::READABLE, || recv_chunk(socket, buf, slot, out))
}

fn recv_chunk(
    socket: &UdpSocket,
    buf: &mut [u8],
    slot: usize,
    out: &mut Vec<(usize, usize, SocketAddr)>,
) -> io::Result<()> {
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = buf
        .chunks_exact_mut(slot)
        .map(|s| [IoSliceMut::new(s)])
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slices.len(), None);
    let fd = socket.as_raw_fd();
    let results = recvmmsg(fd, &mut headers, &mut slices, MsgFlags::MSG_DONTWAIT, None)?;
    for (i, msg) in results.enumerate() {
        let from = msg.address.as_ref().and_then(socket_addr);
        if let (Some(from), false) = (from, msg.flags.contains(MsgFlags::MSG_TRUNC)) {
            out.push((i, msg.bytes, from));
        }
    }
    Ok(())
}

fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_goes_out_and_comes_back_in_one_call_each() {
        let a = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let to = b.local_addr().expect("addr");
        let mut batch = SendBatch::default();
        for i in 0..10u8 {
            batch.push(to, &vec![i; 100 + usize::from(i)]);
        }
        a.writable().await.expect("writable");
        assert_eq!(send_batch(&a, &batch), 10);
        b.readable().await.expect("readable");
        let mut buf = vec![0u8; 16 * 2048];
        let (from, mut seen) = (a.local_addr().expect("addr"), 0);
        while seen < 10 {
            let mut got = Vec::new();
            match recv_batch(&b, &mut buf, 2048, &mut got) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    b.readable().await.expect("readable");
                }
                Err(e) => panic!("recv: {e}"),
            }
            for (slot, len, src) in got {
                assert_eq!((len, src), (100 + seen, from));
                assert!(
                    buf[slot * 2048..][..len]
                        .iter()
                        .all(|&x| usize::from(x) == seen)
                );
                seen += 1;
            }
        }
    }
}
