//! The endpoint handle and its driver task.
//!
//! One task owns the socket and drives the sans-IO [`natter_proto::Endpoint`]
//! behind a mutex. Application calls (send, recv, close) take the mutex for
//! a few microseconds and wake the driver through a [`Notify`]; the driver
//! never holds the mutex across an `.await`.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use natter_proto::{
    ClientConfig, CloseReason, ConnectionHandle, EndpointConfig, EndpointStats, Event,
    ServerEndpointConfig, TransportConfig,
};
use rand::RngCore;
use rustc_hash::FxHashMap;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::DialError;
use crate::connection::{ConnEntry, Connection};
use crate::faults::{FaultConfig, Faults};
use crate::known_servers::{self, ServerKeyPolicy};
use crate::socket::{DatagramSocket, SendBatch};
use crate::totals::{Tally, TransportTotals};

/// Settings for [`Endpoint::bind`].
#[derive(Debug, Clone, Default)]
pub struct NetConfig {
    /// Transport settings for every connection.
    pub transport: TransportConfig,
    /// Present to accept connections.
    pub server: Option<ServerEndpointConfig>,
    /// Fault injection (off by default).
    pub faults: FaultConfig,
    /// RNG seed; random when `None`.
    pub seed: Option<[u8; 32]>,
}

/// State shared between the handles and the driver.
pub(crate) struct State {
    pub(crate) proto: natter_proto::Endpoint,
    /// FxHash: handles are counted up by the endpoint, not chosen by peers.
    pub(crate) conns: FxHashMap<ConnectionHandle, ConnEntry>,
    connecting: FxHashMap<ConnectionHandle, oneshot::Sender<Result<(), CloseReason>>>,
    accept_tx: Option<mpsc::Sender<Connection>>,
    faults: Option<Faults>,
    stopped: bool,
    tally: Tally,
}

pub(crate) struct EndpointInner {
    pub(crate) state: Mutex<State>,
    /// Wakes the driver after an application call.
    pub(crate) wake: Notify,
    socket: Arc<dyn DatagramSocket>,
    /// Connections whose last handle was dropped, for the driver to close.
    dropped: Mutex<Vec<ConnectionHandle>>,
    /// Set by the driver when it has stopped.
    stopped: tokio::sync::watch::Sender<bool>,
}

impl EndpointInner {
    pub(crate) fn drop_queue(&self, h: ConnectionHandle) {
        self.dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(h);
        self.wake.notify_one();
    }

    fn take_dropped(&self) -> Vec<ConnectionHandle> {
        std::mem::take(&mut *self.dropped.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A UDP endpoint: connects out and (with a server config) accepts in.
/// Cheap to clone; the driver stops when [`Endpoint::shutdown`] is called.
#[derive(Clone)]
pub struct Endpoint {
    shared: Arc<EndpointInner>,
    accept_rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Connection>>>,
}

impl Endpoint {
    /// Binds a UDP socket on `addr` and starts the driver.
    pub async fn bind(addr: SocketAddr, config: NetConfig) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        crate::socket::enlarge_buffers(&socket);
        Ok(Self::with_socket(Arc::new(socket), config))
    }

    /// Runs on any [`DatagramSocket`] (e.g. an in-memory network).
    pub fn with_socket(socket: Arc<dyn DatagramSocket>, config: NetConfig) -> Self {
        let seed = config.seed.unwrap_or_else(random_seed);
        let proto = natter_proto::Endpoint::new(EndpointConfig {
            seed,
            transport: config.transport,
            server: config.server,
        });
        let (accept_tx, accept_rx) = mpsc::channel(ACCEPT_QUEUE);
        let state = State {
            proto,
            conns: FxHashMap::default(),
            connecting: FxHashMap::default(),
            accept_tx: Some(accept_tx),
            faults: Faults::new(config.faults),
            stopped: false,
            tally: Tally::default(),
        };
        let shared = Arc::new(EndpointInner {
            state: Mutex::new(state),
            wake: Notify::new(),
            socket,
            dropped: Mutex::new(Vec::new()),
            stopped: tokio::sync::watch::channel(false).0,
        });
        tokio::spawn(drive(shared.clone()));
        Self {
            shared,
            accept_rx: Arc::new(tokio::sync::Mutex::new(accept_rx)),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.socket.local_addr()
    }

    /// The server key fingerprint (servers only).
    pub fn fingerprint(&self) -> Option<String> {
        self.shared.lock().proto.fingerprint()
    }

    /// Connects to `remote`; resolves when the handshake completed (or the
    /// connection failed: no answer within the idle timeout, wrong key…).
    pub async fn connect(
        &self,
        remote: SocketAddr,
        policy: ServerKeyPolicy,
    ) -> Result<Connection, DialError> {
        let pinned = policy.expected(remote)?;
        let (tx, rx) = oneshot::channel();
        let conn = {
            let mut st = self.shared.lock();
            let config = ClientConfig { server_key: pinned };
            let h = st
                .proto
                .connect(Instant::now(), remote, config)
                .map_err(|e| DialError::Handshake(e.to_string()))?;
            st.connecting.insert(h, tx);
            Connection::register(&mut st, self.shared.clone(), h)
        };
        self.shared.wake.notify_one();
        let outcome = rx.await.unwrap_or(Err(CloseReason::IdleTimeout));
        outcome.map_err(|reason| connect_error(reason, remote, &policy, pinned))?;
        if let Some(key) = conn.remote_key() {
            policy.accept(remote, pinned, &key)?;
        }
        Ok(conn)
    }

    /// The next incoming connection; `None` after shutdown.
    pub async fn accept(&self) -> Option<Connection> {
        self.accept_rx.lock().await.recv().await
    }

    /// Endpoint-wide counters.
    pub fn stats(&self) -> EndpointStats {
        self.shared.lock().proto.endpoint_stats()
    }

    /// Transport counters summed over every connection this endpoint
    /// had, the closed ones included, and the endpoint's drop counters
    /// (for metrics).
    pub fn transport_totals(&self) -> TransportTotals {
        let st = self.shared.lock();
        st.tally
            .totals(st.proto.total_stats(), st.proto.endpoint_stats())
    }

    /// Datagrams dropped on purpose by fault injection.
    pub fn injected_drops(&self) -> u64 {
        self.shared.lock().faults.as_ref().map_or(0, |f| f.dropped)
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.shared.lock().proto.connection_count()
    }

    /// Closes every connection with `reason`, sends the CLOSE frames, and
    /// stops the driver. Pending accepts return `None`.
    pub async fn shutdown(&self, code: u64, reason: &str) {
        {
            let mut st = self.shared.lock();
            st.proto.close_all(Instant::now(), code, reason);
            // The driver sends the CLOSE frames, in slices, then stops.
            st.stopped = true;
            st.accept_tx = None;
        }
        self.shared.wake.notify_one();
        let mut stopped = self.shared.stopped.subscribe();
        let _ = stopped.wait_for(|s| *s).await;
    }
}

fn connect_error(
    reason: CloseReason,
    remote: SocketAddr,
    policy: &ServerKeyPolicy,
    pinned: Option<natter_proto::crypto::Fingerprint>,
) -> DialError {
    match reason {
        CloseReason::KeyMismatch { presented } => {
            let file = policy.file();
            let mismatch = known_servers::KeyMismatch::new(remote, pinned, &presented, file);
            DialError::KeyMismatch(mismatch)
        }
        CloseReason::IdleTimeout => DialError::Unreachable(remote),
        CloseReason::VersionMismatch { offered } => DialError::Version(offered),
        other => DialError::Handshake(format!("{other:?}")),
    }
}

fn random_seed() -> [u8; 32] {
    let mut seed = [0; 32];
    rand::rng().fill_bytes(&mut seed);
    seed
}

/// Connections waiting for `accept`; more are refused ("server busy").
const ACCEPT_QUEUE: usize = 1024;

/// The driver: receive, time out, send, dispatch events, sleep, repeat.
///
/// One round does a bounded slice of work under the lock (the timers of at
/// most [`TIMER_SLICE`] connections, at most [`SEND_SLICE`] datagrams),
/// sends it, and, while more is due, reads what arrived meanwhile (up to
/// [`RECV_BUSY`] datagrams, more than a slice's timers and sends) and lets
/// other tasks run before the next slice. One unbounded round (every due
/// timer, every datagram, all under the lock) lasted seconds with 100 000
/// connections on a busy machine: nothing read the socket, its queue
/// overflowed, and sessions waiting for the lock stalled a worker.
async fn drive(shared: Arc<EndpointInner>) {
    let socket = shared.socket.clone();
    let mut rx = Inbox::default();
    let mut out = SendScratch::default();
    loop {
        let round = slice(&shared, &mut out);
        out.send(&*socket);
        if round.busy {
            receive_queued(&shared, &*socket, &mut rx);
            tokio::task::yield_now().await;
            continue;
        }
        if round.stopped {
            shared.stopped.send_replace(true);
            return;
        }
        let deadline = round.deadline;
        // tokio's timers tick in milliseconds: a pacing gap of a few
        // microseconds would become a whole millisecond. Go round again
        // instead of sleeping when the deadline is that close.
        let soon = Instant::now() + TIMER_RESOLUTION;
        let sleep = tokio::time::sleep_until(
            if deadline <= soon {
                Instant::now()
            } else {
                deadline
            }
            .into(),
        );
        tokio::select! {
            r = poll_fn(|cx| socket.poll_recv_from(cx, &mut rx.buf)) => match r {
                Ok((n, from)) => on_datagrams(&shared, &*socket, from, n, &mut rx),
                Err(e) => tracing::debug!(error = %e, "udp receive error"),
            },
            () = shared.wake.notified() => coalesce().await,
            () = sleep => {}
        }
    }
}

/// What one slice of the driver left.
struct Round {
    /// More timers are due or datagrams ready: go round again at once.
    busy: bool,
    /// When the next timer is due.
    deadline: Instant,
    stopped: bool,
}

/// One bounded slice of the driver's work, under the lock; `out` holds
/// the datagrams to send once it is released.
fn slice(shared: &Arc<EndpointInner>, out: &mut SendScratch) -> Round {
    let mut st = shared.lock();
    let now = Instant::now();
    for h in shared.take_dropped() {
        st.conns.remove(&h);
        st.proto.close(now, h, 0, "closed");
        // Nobody will read what is left: let the endpoint forget it.
        while st.proto.recv(h).is_some() {}
    }
    let timers_left = st.proto.handle_timeout_limited(now, TIMER_SLICE);
    release_held(&mut st, &mut out.batch, now);
    let sends_left = flush_some(shared, &mut st, out, SEND_SLICE);
    Round {
        busy: timers_left || sends_left,
        deadline: next_wakeup(&mut st),
        stopped: st.stopped,
    }
}

/// Most connections whose timers one slice of the driver fires.
const TIMER_SLICE: usize = 256;

/// Most datagrams one slice of the driver builds (about 4 `sendmmsg`
/// calls; under a millisecond of the endpoint's lock).
const SEND_SLICE: usize = 256;

/// After an application call woke the driver: let the other tasks that are
/// ready now run first, so that the messages they queue (a fan-out reaches
/// many sessions, each with its own task) leave together, several per
/// packet, rather than one packet per message.
async fn coalesce() {
    tokio::task::yield_now().await;
}

/// Deadlines closer than this are not slept on (tokio's timer granularity).
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// Most datagrams handled per wake-up before sending what they caused.
const RECV_BATCH: usize = 64;

/// Most datagrams a busy driver reads between two slices: four times a
/// slice's timers, so that reading keeps ahead of what the timers cause.
const RECV_BUSY: usize = 1024;

/// Size of one slot of a batched receive. Natter's datagrams are at most
/// `max_datagram_size` (1 200 B by default); a longer one received in a
/// batch is dropped. The first datagram of a wake-up may use the whole
/// buffer.
const RECV_SLOT: usize = 2048;

/// The driver's receive buffer: one 64 KiB datagram, or
/// `64 KiB / RECV_SLOT` slots for a batched receive.
struct Inbox {
    buf: Vec<u8>,
    got: Vec<(usize, usize, SocketAddr)>,
}

impl Default for Inbox {
    fn default() -> Self {
        Self {
            buf: vec![0; 65_536],
            got: Vec::new(),
        }
    }
}

/// Handles one datagram, then whatever else is already queued (up to
/// [`RECV_BATCH`], read in batches), so the ACKs and replies they cause
/// leave in one flush.
fn on_datagrams(
    shared: &EndpointInner,
    socket: &dyn DatagramSocket,
    from: SocketAddr,
    len: usize,
    rx: &mut Inbox,
) {
    let mut st = shared.lock();
    let now = Instant::now();
    handle_one(&mut st, now, from, &mut rx.buf[..len]);
    handle_queued(&mut st, now, socket, rx, 1);
}

/// Between two slices of a busy driver: handles what the socket already
/// holds, up to [`RECV_BUSY`] datagrams, without waiting; the lock is
/// taken once per [`RECV_BATCH`].
///
/// Reading comes first: what arrives (ACKs, the peers' PINGs and probes)
/// settles the work the timers would otherwise create (probes, keepalive
/// PINGs). With 100 000 connections whose keepalives fell due together,
/// a driver that read only one batch per slice let its socket overflow,
/// the lost ACKs and PINGs made both sides probe, and the storm fed itself.
fn receive_queued(shared: &EndpointInner, socket: &dyn DatagramSocket, rx: &mut Inbox) {
    let mut handled = 0;
    while handled < RECV_BUSY {
        let mut st = shared.lock();
        let (n, empty) = handle_queued(&mut st, Instant::now(), socket, rx, 0);
        handled += n;
        if empty || n == 0 {
            break;
        }
    }
}

/// Reads and handles queued datagrams, in batches, until the socket is
/// empty or [`RECV_BATCH`] were handled (counting `handled` already).
/// Returns how many were read and whether the socket was found empty.
fn handle_queued(
    st: &mut State,
    now: Instant,
    socket: &dyn DatagramSocket,
    rx: &mut Inbox,
    mut handled: usize,
) -> (usize, bool) {
    let mut read = 0;
    while handled < RECV_BATCH {
        rx.got.clear();
        if socket
            .try_recv_batch(&mut rx.buf, RECV_SLOT, &mut rx.got)
            .is_err()
        {
            return (read, true);
        }
        for &(slot, len, from) in &rx.got {
            handle_one(st, now, from, &mut rx.buf[slot * RECV_SLOT..][..len]);
        }
        read += rx.got.len();
        handled += rx.got.len().max(1);
        if rx.got.len() < rx.buf.len() / RECV_SLOT {
            return (read, true); // the queue is empty
        }
    }
    (read, false)
}

fn handle_one(st: &mut State, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
    if !st.faults.as_mut().is_some_and(Faults::drop_incoming) {
        st.proto.handle(now, from, datagram);
    }
}

fn next_wakeup(st: &mut State) -> Instant {
    let idle = Instant::now() + Duration::from_secs(3600);
    let proto = st.proto.poll_timeout();
    let held = st.faults.as_ref().and_then(Faults::next_release);
    [proto, held].into_iter().flatten().min().unwrap_or(idle)
}

fn release_held(st: &mut State, batch: &mut SendBatch, now: Instant) {
    let Some(f) = st.faults.as_mut() else { return };
    for (to, data) in f.release(now) {
        batch.push(to, &data);
    }
}

/// Scratch space for sending: the datagram being built and the batch of
/// datagrams that leave together after the state's lock is released.
#[derive(Default)]
pub(crate) struct SendScratch {
    buf: Vec<u8>,
    batch: SendBatch,
}

impl SendScratch {
    /// Sends the batch (a few system calls at most) and empties it.
    fn send(&mut self, socket: &dyn DatagramSocket) {
        if !self.batch.is_empty() {
            socket.try_send_batch(&self.batch);
            self.batch.clear();
        }
    }
}

/// Queues at most `max` due datagrams into `out` and dispatches every
/// event; the caller sends `out` once it has released the lock. True when
/// more datagrams may be ready (the endpoint sends round robin across
/// connections, so the next call goes on where this one stopped).
fn flush_some(
    shared: &Arc<EndpointInner>,
    st: &mut State,
    out: &mut SendScratch,
    max: usize,
) -> bool {
    let now = Instant::now();
    let mut built = 0;
    while built < max {
        let Some(t) = st.proto.poll_transmit(now, &mut out.buf) else {
            break;
        };
        queue(st, &mut out.batch, now, t.destination, &out.buf[..t.size]);
        built += 1;
    }
    while let Some((h, event)) = st.proto.poll_event() {
        dispatch(shared, st, h, event);
    }
    built == max && st.proto.wants_poll()
}

/// Queues one datagram, through fault injection when it is on.
fn queue(st: &mut State, batch: &mut SendBatch, now: Instant, to: SocketAddr, data: &[u8]) {
    match st.faults.as_mut() {
        Some(f) => {
            for (to, data) in f.outgoing(now, to, data) {
                batch.push(to, &data);
            }
        }
        None => batch.push(to, data),
    }
}

fn dispatch(shared: &Arc<EndpointInner>, st: &mut State, h: ConnectionHandle, event: Event) {
    match event {
        Event::Connected { .. } => on_connected(shared, st, h),
        Event::Readable => {
            if let Some(e) = st.conns.get(&h) {
                e.readable.notify_one();
            }
        }
        Event::Acked { stream, msg_id } => {
            let idle = st.proto.connection(h).is_none_or(|c| c.is_idle());
            if let Some(e) = st.conns.get_mut(&h) {
                if let Some(tx) = e.waiters.remove(&(stream, msg_id)) {
                    let _ = tx.send(Ok(()));
                }
                if idle {
                    for tx in e.idle.drain(..) {
                        let _ = tx.send(());
                    }
                }
            }
        }
        Event::Migrated { remote } => tracing::debug!(%remote, "peer migrated"),
        Event::Closed(reason) => on_closed(st, h, reason),
    }
}

fn on_connected(shared: &Arc<EndpointInner>, st: &mut State, h: ConnectionHandle) {
    st.tally.opened(h);
    if let Some(tx) = st.connecting.remove(&h) {
        let _ = tx.send(Ok(()));
        return;
    }
    // A server-side connection: hand it to `accept`.
    let conn = Connection::register(st, shared.clone(), h);
    let accepted = st
        .accept_tx
        .as_ref()
        .is_some_and(|tx| tx.try_send(conn).is_ok());
    if !accepted {
        // Nobody is accepting (shutdown) or the application is this far
        // behind: refuse instead of queueing without bound.
        st.tally.refused_busy();
        st.proto.close(
            Instant::now(),
            h,
            natter_proto::close_code::SHUTDOWN,
            "server busy",
        );
    }
}

fn on_closed(st: &mut State, h: ConnectionHandle, reason: CloseReason) {
    st.tally.closed(h);
    if let Some(tx) = st.connecting.remove(&h) {
        let _ = tx.send(Err(reason.clone()));
    }
    if let Some(e) = st.conns.get_mut(&h) {
        e.close(reason);
    }
}
