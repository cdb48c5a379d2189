//! A connection as a pair of channels: the shape the chat layer's gateways
//! and dialers want (one ordered stream of whole messages each way).

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::Connection;

/// The two ends of [`Connection::into_pipe`].
#[derive(Debug)]
pub struct Pipe {
    /// Messages to send on the stream.
    pub tx: mpsc::Sender<Bytes>,
    /// Messages received (on any stream); closes when the connection dies.
    pub rx: mpsc::Receiver<Bytes>,
}

impl Connection {
    /// Joins this connection to two bounded channels. Messages from `tx`
    /// go out on `stream`; received messages come out of `rx`. When `tx` is
    /// dropped, what was sent is given up to `linger` to be acknowledged and
    /// the connection is closed with `reason`.
    pub fn into_pipe(
        self,
        stream: u64,
        buffer: usize,
        linger: Duration,
        reason: &'static str,
    ) -> Pipe {
        let (tx, mut outgoing) = mpsc::channel::<Bytes>(buffer.max(1));
        let (incoming, rx) = mpsc::channel::<Bytes>(buffer.max(1));
        let reader = self.clone();
        tokio::spawn(async move {
            while let Some((_, msg)) = reader.recv().await {
                if incoming.send(msg).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(msg) = outgoing.recv().await {
                if self.send_nowait(stream, msg).is_err() {
                    return;
                }
            }
            let _ = tokio::time::timeout(linger, self.flushed()).await;
            self.close(0, reason);
        });
        Pipe { tx, rx }
    }
}
