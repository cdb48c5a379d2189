//! The endpoint driver's work per round is bounded: a burst of datagrams
//! for many connections leaves in slices, and the driver reads its socket
//! between two slices, so receiving never waits for a whole burst (with
//! 100 000 connections one unbounded round lasted seconds while the
//! socket's queue overflowed), and what queued meanwhile is read before
//! the next slice, not one small batch of it per slice.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_net::{
    Connection, DatagramSocket, Endpoint, MemoryNetwork, MemorySocket, NetConfig, RetryPolicy,
    SendBatch, ServerEndpointConfig, ServerKeyPolicy, StaticKeypair,
};

/// Connections, each sent one small message in the burst: one datagram
/// each, several slices' worth.
const CONNECTIONS: usize = 600;
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    /// One `try_send_batch` of this many datagrams.
    Sent(usize),
    /// One datagram received, from this address.
    Received(SocketAddr),
    /// The probe socket sent a flood of datagrams to the server.
    Flooded,
}

/// The server's socket: logs every send batch and every datagram
/// received, and when armed sends a probe datagram to itself from
/// another socket during the next send batch (a datagram arriving in the
/// middle of the driver's work); with `flood` set, that many.
struct Watched {
    inner: MemorySocket,
    probe: MemorySocket,
    armed: AtomicBool,
    flood: AtomicUsize,
    log: Mutex<Vec<Op>>,
}

impl Watched {
    fn note(&self, op: Op) {
        self.log.lock().expect("log").push(op);
    }
}

impl DatagramSocket for Watched {
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let got = self.inner.poll_recv_from(cx, buf);
        if let Poll::Ready(Ok((_, from))) = got {
            self.note(Op::Received(from));
        }
        got
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let got = self.inner.try_recv_from(buf)?;
        self.note(Op::Received(got.1));
        Ok(got)
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.inner.try_send_to(buf, to)
    }

    fn try_send_batch(&self, batch: &SendBatch) -> usize {
        self.note(Op::Sent(batch.len()));
        if self.armed.swap(false, Ordering::SeqCst) {
            let me = self.inner.local_addr().expect("addr");
            for _ in 0..self.flood.swap(0, Ordering::SeqCst).max(1) {
                self.probe.try_send_to(b"probe", me).expect("probe");
            }
            self.note(Op::Flooded);
        }
        let sent = batch
            .iter()
            .filter(|(to, d)| self.inner.try_send_to(d, *to).is_ok());
        sent.count()
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

fn server_config() -> NetConfig {
    let mut server = ServerEndpointConfig::new(StaticKeypair::generate([1; 32]), [2; 32]);
    server.retry_policy = RetryPolicy::Never;
    server.handshakes_per_second = 1e6;
    server.handshake_burst = 1e6;
    NetConfig {
        server: Some(server),
        seed: Some([3; 32]),
        ..NetConfig::default()
    }
}

/// `CONNECTIONS` connections from one client endpoint; the server's ends
/// in the same order.
async fn connect_all(server: &Endpoint, client: &Endpoint) -> (Vec<Connection>, Vec<Connection>) {
    let to = server.local_addr().expect("addr");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..CONNECTIONS {
        let c = client.connect(to, ServerKeyPolicy::AcceptAny).await;
        ours.push(c.expect("connect"));
        theirs.push(server.accept().await.expect("accepted"));
    }
    (ours, theirs)
}

/// Where the probe was read: how many datagrams the server had sent
/// since it was armed, and the largest batch of the burst.
fn probe_read_after(log: &[Op], probe: SocketAddr) -> Option<(usize, usize)> {
    let (mut sent, mut largest) = (0, 0);
    for op in log {
        match *op {
            Op::Sent(n) => (sent, largest) = (sent + n, largest.max(n)),
            Op::Received(from) if from == probe => return Some((sent, largest)),
            Op::Received(_) | Op::Flooded => {}
        }
    }
    None
}

/// A server and a client endpoint on a memory network with
/// `CONNECTIONS` connections between them; the server's socket watched.
struct Setup {
    socket: Arc<Watched>,
    server: Endpoint,
    _client: Endpoint,
    ours: Vec<Connection>,
    theirs: Vec<Connection>,
    probe_addr: SocketAddr,
}

async fn setup() -> Setup {
    let net = MemoryNetwork::new();
    let (server_addr, probe_addr): (SocketAddr, SocketAddr) = (
        "10.0.0.1:1".parse().expect("addr"),
        "10.0.0.9:9".parse().expect("addr"),
    );
    let socket = Arc::new(Watched {
        inner: net.bind(server_addr),
        probe: net.bind(probe_addr),
        armed: AtomicBool::new(false),
        flood: AtomicUsize::new(0),
        log: Mutex::new(Vec::new()),
    });
    let server = Endpoint::with_socket(socket.clone(), server_config());
    let client_socket = Arc::new(net.bind("10.0.0.2:2".parse().expect("addr")));
    let client_config = NetConfig {
        seed: Some([4; 32]),
        ..NetConfig::default()
    };
    let client = Endpoint::with_socket(client_socket, client_config);
    let (ours, theirs) = connect_all(&server, &client).await;
    Setup {
        socket,
        server,
        _client: client,
        ours,
        theirs,
        probe_addr,
    }
}

/// Queues one message on every server-side connection without yielding
/// (the runtime has one thread: the driver finds them all ready in its
/// next round), arms the probe, and waits until every client read its
/// message. Returns the socket's log since the burst was queued.
async fn burst(s: &Setup) -> Vec<Op> {
    s.socket.log.lock().expect("log").clear();
    for conn in &s.theirs {
        conn.send_nowait(0, Bytes::from_static(b"burst"))
            .expect("queued");
    }
    s.socket.armed.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + DEADLINE;
    for conn in &s.ours {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = tokio::time::timeout(left, conn.recv()).await;
        assert_eq!(got.expect("in time").expect("open").1, "burst");
    }
    s.socket.log.lock().expect("log").clone()
}

#[tokio::test]
async fn a_burst_for_many_connections_leaves_in_slices_and_the_socket_is_read_between_them() {
    let s = setup().await;
    let (server, probe_addr) = (&s.server, s.probe_addr);
    let log = burst(&s).await;
    let (sent, largest) = probe_read_after(&log, probe_addr).expect("the probe was read");
    assert!(
        sent < CONNECTIONS,
        "the probe sent with the burst's first batch was read only after \
         {sent} datagrams had left, the whole burst (largest batch {largest})"
    );
    assert!(
        largest < CONNECTIONS,
        "one batch carried {largest} datagrams"
    );
    server.shutdown(0, "done").await;
}

/// Datagrams that arrive during the first slice of a burst, more than one
/// receive batch (64) and less than what a busy driver reads between two
/// slices (1 024).
const FLOOD: usize = 300;

#[tokio::test]
async fn a_busy_driver_reads_everything_queued_before_its_next_slice() {
    let s = setup().await;
    s.socket.flood.store(FLOOD, Ordering::SeqCst);
    let log = burst(&s).await;

    // From the flood (sent during a send batch of the burst) to the next
    // send batch: how many of the flood's datagrams were read.
    let flooded = log
        .iter()
        .position(|op| *op == Op::Flooded)
        .expect("the probe flooded");
    let read_before_next_slice = log[flooded..]
        .iter()
        .take_while(|op| !matches!(op, Op::Sent(_)))
        .filter(|op| **op == Op::Received(s.probe_addr))
        .count();
    let first_batch = log[..flooded].iter().rev().find_map(|op| match op {
        Op::Sent(n) => Some(*n),
        _ => None,
    });
    assert_eq!(
        read_before_next_slice, FLOOD,
        "the busy driver (send batch of {first_batch:?}) read {read_before_next_slice} of the \
         {FLOOD} datagrams queued during its slice before building the next slice"
    );
    s.server.shutdown(0, "done").await;
}
