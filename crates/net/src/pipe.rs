//! A connection as a pair of channels: the shape the chat layer's gateways
//! and dialers want (one ordered stream of whole messages each way).
//!
//! The send side is bounded end to end: the channel holds `buffer`
//! messages, and the writer hands a message to the transport only while the
//! transport holds at most [`PipeOptions::max_queued_bytes`] of this pipe's
//! messages (queued or sent but not yet acknowledged). A peer that stops
//! reading stops returning flow-control credit, the transport's queue stops
//! draining, the writer waits, the channel fills, and the application's
//! `send` waits: backpressure instead of an unbounded queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::Connection;

/// Default of [`PipeOptions::max_queued_bytes`]: 256 KiB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 256 * 1024;

/// The two ends of [`Connection::into_pipe`].
#[derive(Debug)]
pub struct Pipe {
    /// Messages to send on the stream.
    pub tx: mpsc::Sender<Bytes>,
    /// Messages received (on any stream); closes when the connection dies.
    pub rx: mpsc::Receiver<Bytes>,
}

/// How [`Connection::into_pipe_with`] joins a connection to channels.
#[derive(Debug, Clone)]
pub struct PipeOptions {
    /// The stream messages from `tx` go out on.
    pub stream: u64,
    /// Messages each channel holds.
    pub buffer: usize,
    /// When `tx` is dropped, how long what was sent may take to be acknowledged.
    pub linger: Duration,
    /// Close reason once `tx` is dropped.
    pub reason: &'static str,
    /// Most bytes of this pipe's messages the transport holds (queued or
    /// unacknowledged) before the writer waits. A larger message still goes
    /// out once the queue is below the cap.
    pub max_queued_bytes: usize,
    /// When the writer has waited this long for room (the peer acknowledges
    /// nothing, or stopped reading and so returns no credit), the connection
    /// is closed with code `LIMIT_EXCEEDED` and reason `"peer not reading"`.
    /// `None`: wait as long as the connection lives.
    pub stall: Option<Duration>,
}

impl PipeOptions {
    /// Options with the default cap and no stall limit.
    pub fn new(stream: u64, buffer: usize, linger: Duration, reason: &'static str) -> Self {
        Self {
            stream,
            buffer,
            linger,
            reason,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            stall: None,
        }
    }
}

impl Connection {
    /// Joins this connection to two bounded channels. Messages from `tx`
    /// go out on `stream`; received messages come out of `rx`. When `tx` is
    /// dropped, what was sent is given up to `linger` to be acknowledged and
    /// the connection is closed with `reason`. The transport holds at most
    /// [`DEFAULT_MAX_QUEUED_BYTES`] of the pipe's messages (see
    /// [`Self::into_pipe_with`]).
    pub fn into_pipe(
        self,
        stream: u64,
        buffer: usize,
        linger: Duration,
        reason: &'static str,
    ) -> Pipe {
        self.into_pipe_with(PipeOptions::new(stream, buffer, linger, reason))
    }

    /// [`Self::into_pipe`] with every option.
    pub fn into_pipe_with(self, options: PipeOptions) -> Pipe {
        let (tx, outgoing) = mpsc::channel::<Bytes>(options.buffer.max(1));
        let (incoming, rx) = mpsc::channel::<Bytes>(options.buffer.max(1));
        let reader = self.clone();
        tokio::spawn(async move {
            while let Some((_, msg)) = reader.recv().await {
                if incoming.send(msg).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(write_loop(self, outgoing, options));
        Pipe { tx, rx }
    }
}

/// Channel → transport, never more than the cap queued in the transport.
async fn write_loop(conn: Connection, mut outgoing: mpsc::Receiver<Bytes>, options: PipeOptions) {
    let queue = Arc::new(SendQueue::default());
    while let Some(msg) = outgoing.recv().await {
        match queue.room(&conn, &options).await {
            Room::Yes => {}
            Room::Closed => return,
            Room::Stalled => {
                tracing::debug!(remote = %conn.remote_addr(), "peer not reading; closing");
                conn.close(natter_proto::close_code::LIMIT_EXCEEDED, "peer not reading");
                return;
            }
        }
        if conn.send_nowait(options.stream, queue.track(msg)).is_err() {
            return;
        }
    }
    let _ = tokio::time::timeout(options.linger, conn.flushed()).await;
    conn.close(0, options.reason);
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
    Closed,
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

    /// Waits until the queue is at most the cap.
    async fn room(&self, conn: &Connection, options: &PipeOptions) -> Room {
        let stall = async {
            match options.stall {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stall);
        loop {
            let freed = self.freed.notified();
            if self.queued() <= options.max_queued_bytes {
                return Room::Yes;
            }
            tokio::select! {
                () = freed => {}
                _ = conn.closed() => return Room::Closed,
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
        self.queue.freed.notify_one();
    }
}
