//! The application's handle on one connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use natter_proto::{CloseReason, ConnectionHandle, ConnectionStats};
use tokio::sync::{Notify, oneshot};

use crate::ConnectionError;
use crate::endpoint::{EndpointInner, State};

type AckWaiter = oneshot::Sender<Result<(), CloseReason>>;

/// Per-connection state the driver keeps for the handles.
pub(crate) struct ConnEntry {
    /// Woken when messages are ready to `recv`.
    pub(crate) readable: Arc<Notify>,
    /// Senders waiting for the peer's acknowledgement.
    pub(crate) waiters: HashMap<(u64, u64), AckWaiter>,
    /// Woken when everything sent was acknowledged.
    pub(crate) idle: Vec<oneshot::Sender<()>>,
    closed: Arc<Closed>,
}

/// Why the connection ended, once it did, and a wake-up for those who wait
/// for it. (A `watch` channel did the same with eight `Notify`s inside:
/// ~370 bytes per connection instead of ~100.)
#[derive(Default)]
struct Closed {
    reason: OnceLock<CloseReason>,
    notify: Notify,
}

impl ConnEntry {
    /// The connection ended: wake everyone who waits on it.
    pub(crate) fn close(&mut self, reason: CloseReason) {
        for (_, tx) in self.waiters.drain() {
            let _ = tx.send(Err(reason.clone()));
        }
        self.idle.clear();
        let _ = self.closed.reason.set(reason);
        self.closed.notify.notify_waiters();
        self.readable.notify_one();
    }
}

/// Closes the connection when the last handle is dropped.
struct DropGuard {
    shared: Arc<EndpointInner>,
    handle: ConnectionHandle,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        // Never lock the endpoint here: a handle may be dropped by the driver
        // while it holds the lock. Queue the close for the driver instead.
        self.shared.drop_queue(self.handle);
    }
}

/// One connection. Cheap to clone; closed when the last clone is dropped.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<EndpointInner>,
    handle: ConnectionHandle,
    readable: Arc<Notify>,
    closed: Arc<Closed>,
    remote: SocketAddr,
    remote_key: Option<[u8; 32]>,
    _guard: Arc<DropGuard>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("remote", &self.remote)
            .field("closed", &self.closed.reason.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Creates the driver-side entry and the first handle.
    pub(crate) fn register(
        st: &mut State,
        shared: Arc<EndpointInner>,
        handle: ConnectionHandle,
    ) -> Self {
        let readable = Arc::new(Notify::new());
        let closed = Arc::new(Closed::default());
        st.conns.insert(
            handle,
            ConnEntry {
                readable: readable.clone(),
                waiters: HashMap::new(),
                idle: Vec::new(),
                closed: closed.clone(),
            },
        );
        let conn = st.proto.connection(handle);
        let remote = conn.map(natter_proto::Connection::remote);
        let remote_key = conn.and_then(natter_proto::Connection::remote_key);
        Self {
            _guard: Arc::new(DropGuard {
                shared: shared.clone(),
                handle,
            }),
            shared,
            handle,
            readable,
            closed,
            remote: remote.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
            remote_key,
        }
    }

    /// The peer's address when the connection was made.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The server's static key (on a client, once connected).
    pub fn remote_key(&self) -> Option<[u8; 32]> {
        self.remote_key.or_else(|| {
            let st = self.shared.lock();
            st.proto
                .connection(self.handle)
                .and_then(|c| c.remote_key())
        })
    }

    /// Sends a message and waits until the peer acknowledged all of it.
    pub async fn send(&self, stream: u64, data: Bytes) -> Result<(), ConnectionError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.shared.lock();
            let id = st.proto.send(self.handle, stream, data)?;
            if let Some(e) = st.conns.get_mut(&self.handle) {
                e.waiters.insert((stream, id), tx);
            }
        }
        self.shared.wake.notify_one();
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(ConnectionError::Closed(reason)),
            Err(_) => Err(ConnectionError::Closed(self.close_reason_or_unknown())),
        }
    }

    /// Queues a message without waiting for its acknowledgement; returns
    /// its id on the stream. Delivery is still reliable.
    pub fn send_nowait(&self, stream: u64, data: Bytes) -> Result<u64, ConnectionError> {
        let id = self.shared.lock().proto.send(self.handle, stream, data)?;
        self.shared.wake.notify_one();
        Ok(id)
    }

    /// Queues every message of `msgs` on `stream` under one lock of the
    /// endpoint and with one wake-up of the driver (a session's queued
    /// pushes leave together, several per datagram). Delivery is reliable;
    /// on an error the messages not yet queued are dropped.
    pub fn send_many_nowait(
        &self,
        stream: u64,
        msgs: impl IntoIterator<Item = Bytes>,
    ) -> Result<(), ConnectionError> {
        let queued = {
            let mut st = self.shared.lock();
            msgs.into_iter()
                .try_for_each(|msg| st.proto.send(self.handle, stream, msg).map(|_| ()))
        };
        self.shared.wake.notify_one();
        Ok(queued?)
    }

    /// The next message (in order per stream, exactly once); `None` once the
    /// connection is closed and everything received was read.
    pub async fn recv(&self) -> Option<(u64, Bytes)> {
        loop {
            let notified = self.readable.notified();
            if let Some(msg) = self.try_recv() {
                return Some(msg);
            }
            if self.closed.reason.get().is_some() {
                return None;
            }
            notified.await;
        }
    }

    /// The next message if one is ready now (see [`Self::recv`]).
    pub fn try_recv(&self) -> Option<(u64, Bytes)> {
        let (msg, wake) = {
            let mut st = self.shared.lock();
            let msg = st.proto.recv(self.handle)?;
            (msg, st.proto.wants_poll())
        };
        // Reading may have released flow-control credit (or been the last
        // read of a closed connection): only then has the driver work to
        // do. Waking it for every frame read cost a driver round per frame.
        if wake {
            self.shared.wake.notify_one();
        }
        Some(msg)
    }

    /// Closes with an application code and reason.
    pub fn close(&self, code: u64, reason: &str) {
        self.shared
            .lock()
            .proto
            .close(Instant::now(), self.handle, code, reason);
        self.shared.wake.notify_one();
    }

    /// Resolves when the connection is closed, with the reason.
    pub async fn closed(&self) -> CloseReason {
        loop {
            // Registered before the check: a close in between still wakes it.
            let notified = self.closed.notify.notified();
            if let Some(reason) = self.closed.reason.get() {
                return reason.clone();
            }
            notified.await;
        }
    }

    /// The reason, if the connection is already closed.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed.reason.get().cloned()
    }

    fn close_reason_or_unknown(&self) -> CloseReason {
        self.close_reason().unwrap_or(CloseReason::IdleTimeout)
    }

    /// True when every message sent so far was acknowledged.
    pub fn is_idle(&self) -> bool {
        let st = self.shared.lock();
        st.proto.connection(self.handle).is_none_or(|c| c.is_idle())
    }

    /// Resolves once the peer acknowledged everything sent so far (or the
    /// connection closed).
    pub async fn flushed(&self) {
        let rx = {
            let mut st = self.shared.lock();
            let idle = st.proto.connection(self.handle).is_none_or(|c| c.is_idle());
            let Some(entry) = st.conns.get_mut(&self.handle) else {
                return;
            };
            if idle || self.closed.reason.get().is_some() {
                return;
            }
            let (tx, rx) = oneshot::channel();
            entry.idle.push(tx);
            rx
        };
        let _ = rx.await;
    }

    /// Counters and estimates (zeroes once the connection is gone).
    pub fn stats(&self) -> ConnectionStats {
        self.shared
            .lock()
            .proto
            .stats(self.handle)
            .unwrap_or_default()
    }
}
