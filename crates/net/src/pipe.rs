//! A connection as one ordered pipe of whole messages: the shape the chat
//! layer's gateways and dialers want. No task and no channel sits between
//! the application and the transport:
//!
//! - [`Pipe::recv`] pulls the next message out of the transport, so
//!   flow-control credit returns to the peer only when the application
//!   really consumes a message;
//! - [`Pipe::send`] hands a message to the transport only while the
//!   transport holds at most [`PipeOptions::max_queued_bytes`] of this
//!   pipe's messages (queued or sent but not yet acknowledged). A peer that
//!   stops reading stops returning credit, the transport's queue stops
//!   draining, and `send` waits: backpressure instead of an unbounded queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::{CloseReason, Connection, ConnectionError};

/// The stream [`Pipe::send_bulk`] uses: bulk data (file chunks) on a
/// stream of its own, so it never holds up the pipe's own stream (the
/// transport takes turns between streams, fragment by fragment).
pub const BULK_STREAM: u64 = 1;

/// Default of [`PipeOptions::max_queued_bytes`]: 256 KiB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 256 * 1024;

/// How [`Connection::into_pipe_with`] uses a connection.
#[derive(Debug, Clone)]
pub struct PipeOptions {
    /// The stream [`Pipe::send`] uses.
    pub stream: u64,
    /// How long [`Pipe::finish`] waits for what was sent to be acknowledged.
    pub linger: Duration,
    /// Close reason of [`Pipe::finish`].
    pub reason: &'static str,
    /// Most bytes of this pipe's messages the transport holds (queued or
    /// unacknowledged) before [`Pipe::send`] waits. A larger message still
    /// goes out once the queue is below the cap.
    pub max_queued_bytes: usize,
    /// When a send has waited this long for room (the peer acknowledges
    /// nothing, or stopped reading and so returns no credit), the connection
    /// is closed with code `LIMIT_EXCEEDED` and reason `"peer not reading"`.
    /// `None`: wait as long as the connection lives.
    pub stall: Option<Duration>,
}

impl PipeOptions {
    /// Options with the default cap and no stall limit.
    pub fn new(stream: u64, linger: Duration, reason: &'static str) -> Self {
        Self {
            stream,
            linger,
            reason,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            stall: None,
        }
    }
}

/// One connection used as an ordered pipe of messages (see the module
/// documentation). Cheap to share behind an `Arc`; every method takes
/// `&self`.
#[derive(Debug)]
pub struct Pipe {
    conn: Connection,
    queue: Arc<SendQueue>,
    /// What [`Pipe::send_bulk`] queued, capped separately (same cap).
    bulk: Arc<SendQueue>,
    options: PipeOptions,
}

/// Why [`Pipe::try_send`] did not queue a message; both give it back.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError {
    /// The transport holds the cap of this pipe's messages.
    #[error("the transport queue is full")]
    Full(Bytes),
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed(Bytes),
}

impl Connection {
    /// This connection as a [`Pipe`] sending on `stream`; [`Pipe::finish`]
    /// gives what was sent up to `linger` to be acknowledged and closes
    /// with `reason`. The transport holds at most
    /// [`DEFAULT_MAX_QUEUED_BYTES`] of the pipe's messages.
    pub fn into_pipe(self, stream: u64, linger: Duration, reason: &'static str) -> Pipe {
        self.into_pipe_with(PipeOptions::new(stream, linger, reason))
    }

    /// [`Self::into_pipe`] with every option.
    pub fn into_pipe_with(self, options: PipeOptions) -> Pipe {
        Pipe {
            conn: self,
            queue: Arc::default(),
            bulk: Arc::default(),
            options,
        }
    }
}

impl Pipe {
    /// The connection underneath.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The next message (on any stream, in order per stream); `None` once
    /// the connection is closed and everything received was read.
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn recv(&self) -> Option<Bytes> {
        self.conn.recv().await.map(|(_, msg)| msg)
    }

    /// The next message if one is ready now (see [`Self::recv`]).
    pub fn try_recv(&self) -> Option<Bytes> {
        self.conn.try_recv().map(|(_, msg)| msg)
    }

    /// Queues `msg` on the pipe's stream once the transport holds at most
    /// the cap of this pipe's messages. Past the stall limit the connection
    /// is closed (`LIMIT_EXCEEDED`, `"peer not reading"`). Cancel-safe
    /// while it waits: nothing is queued until it resolves.
    pub async fn send(&self, msg: Bytes) -> Result<(), ConnectionError> {
        self.send_many([msg]).await
    }

    /// [`Self::send`] for several messages in order, handed to the
    /// transport together (one lock of the endpoint, one wake-up of its
    /// driver) whenever the cap leaves room for them: a fan-out's frames
    /// for one peer share datagrams instead of costing a round each. The
    /// cap is checked before each message, as for [`Self::send`]. If the
    /// future is dropped while waiting for room, the messages before the
    /// wait were queued and the rest are dropped.
    pub async fn send_many(
        &self,
        msgs: impl IntoIterator<Item = Bytes>,
    ) -> Result<(), ConnectionError> {
        let mut ready = Vec::new();
        for msg in msgs {
            if ready.is_empty() || !self.queue.has_room(&self.options) {
                self.queue_now(&mut ready)?;
                self.wait_room(&self.queue).await?;
            }
            ready.push(self.queue.track(msg));
        }
        self.queue_now(&mut ready)
    }

    /// [`Self::send`] on [`BULK_STREAM`], with a queue and cap of its own:
    /// bulk data waiting for room never delays the pipe's own stream.
    pub async fn send_bulk(&self, msg: Bytes) -> Result<(), ConnectionError> {
        self.wait_room(&self.bulk).await?;
        self.conn
            .send_nowait(BULK_STREAM, self.bulk.track(msg))
            .map(|_| ())
    }

    /// Waits until `queue` is at most the cap; past the stall limit closes
    /// the connection (`LIMIT_EXCEEDED`, `"peer not reading"`).
    async fn wait_room(&self, queue: &SendQueue) -> Result<(), ConnectionError> {
        match queue.room(&self.conn, &self.options).await {
            Room::Yes => Ok(()),
            Room::Closed(reason) => Err(ConnectionError::Closed(reason)),
            Room::Stalled => {
                tracing::debug!(remote = %self.conn.remote_addr(), "peer not reading; closing");
                let code = natter_proto::close_code::LIMIT_EXCEEDED;
                self.conn.close(code, "peer not reading");
                Err(ConnectionError::Closed(CloseReason::Local {
                    code,
                    reason: "peer not reading".into(),
                }))
            }
        }
    }

    /// Queues `msg` if the transport has room for it now.
    pub fn try_send(&self, msg: Bytes) -> Result<(), TrySendError> {
        if self.conn.close_reason().is_some() {
            return Err(TrySendError::Closed(msg));
        }
        if !self.queue.has_room(&self.options) {
            return Err(TrySendError::Full(msg));
        }
        // A refused message (closed meanwhile) is not handed back: the
        // transport consumed it. Report it as closed without the bytes.
        self.queue_now(&mut vec![self.queue.track(msg)])
            .map_err(|_| TrySendError::Closed(Bytes::new()))
    }

    /// Resolves once [`Self::try_send`] would find room (or the connection
    /// is closed).
    pub async fn ready(&self) {
        let options = PipeOptions {
            stall: None,
            ..self.options.clone()
        };
        let _ = self.queue.room(&self.conn, &options).await;
    }

    /// Bytes of this pipe's messages the transport holds now.
    pub fn queued_bytes(&self) -> usize {
        self.queue.queued()
    }

    /// Ends the pipe: what was sent gets up to the linger to be
    /// acknowledged, then the connection is closed with the pipe's reason.
    pub async fn finish(&self) {
        let _ = tokio::time::timeout(self.options.linger, self.conn.flushed()).await;
        self.conn.close(0, self.options.reason);
    }

    /// Hands `ready` (tracked messages) to the transport, if any.
    fn queue_now(&self, ready: &mut Vec<Bytes>) -> Result<(), ConnectionError> {
        if ready.is_empty() {
            return Ok(());
        }
        self.conn
            .send_many_nowait(self.options.stream, ready.drain(..))
    }
}

/// Bytes of this pipe's messages the transport still holds.
#[derive(Debug, Default)]
struct SendQueue {
    bytes: AtomicUsize,
    /// Woken whenever a tracked message is freed.
    freed: Notify,
}

enum Room {
    Yes,
    Closed(CloseReason),
    Stalled,
}

impl SendQueue {
    /// `msg`, counted until the transport frees its last copy (when the
    /// peer acknowledged it, or the connection is gone).
    fn track(self: &Arc<Self>, msg: Bytes) -> Bytes {
        self.bytes.fetch_add(msg.len(), Ordering::Relaxed);
        Bytes::from_owner(Tracked {
            msg,
            queue: self.clone(),
        })
    }

    fn queued(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn has_room(&self, options: &PipeOptions) -> bool {
        self.queued() <= options.max_queued_bytes
    }

    /// Waits until the queue is at most the cap. Takes part in tokio's
    /// cooperative budget, so a loop that keeps finding room still yields
    /// (as a channel's `reserve` would).
    async fn room(&self, conn: &Connection, options: &PipeOptions) -> Room {
        tokio::task::consume_budget().await;
        if let Some(reason) = conn.close_reason() {
            return Room::Closed(reason);
        }
        if self.has_room(options) {
            return Room::Yes;
        }
        let stall = async {
            match options.stall {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stall);
        loop {
            let freed = self.freed.notified();
            if self.has_room(options) {
                return Room::Yes;
            }
            tokio::select! {
                () = freed => {}
                reason = conn.closed() => return Room::Closed(reason),
                () = &mut stall => return Room::Stalled,
            }
        }
    }
}

/// A message the transport holds; dropping its last copy frees its bytes.
struct Tracked {
    msg: Bytes,
    queue: Arc<SendQueue>,
}

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.msg
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.queue
            .bytes
            .fetch_sub(self.msg.len(), Ordering::Relaxed);
        // Every waiter (concurrent senders, `ready`) re-checks the cap.
        self.queue.freed.notify_waiters();
    }
}
