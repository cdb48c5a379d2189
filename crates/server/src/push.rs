//! What the hub hands a session from outside its task (a leaf: no server
//! imports, so the hub, the inbox and the writer's job types can all use it).

use bytes::Bytes;
use natter_store::ConvId;

/// Identifies one connection's session inside this server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey(pub(crate) u64);

/// Something pushed to a session from outside its task.
#[derive(Debug, Clone)]
pub(crate) enum Push {
    /// A committed message, already encoded as a `ServerFrame::Event`.
    Message {
        conv: ConvId,
        seq: u64,
        frame: Bytes,
        /// End-to-end encrypted: the frame carries every device's
        /// ciphertext, and each session cuts it down to its own device's.
        e2e: bool,
    },
    /// The session was ended elsewhere (logout, revocation, password change,
    /// eviction): tell the client, close.
    End { reason: String },
    /// An encoded `ServerFrame` to forward as is (receipts, presence, read).
    Frame(Bytes),
    /// The user's membership of `conv` changed: sync it from `from` (when
    /// joined) and send the conversation list.
    Sync { conv: ConvId, from: Option<u64> },
    /// Queued by the session's inbox itself when it went over its
    /// budget: `dropped` pushes were discarded; tell the client to re-sync.
    Behind { dropped: u64 },
    /// The writer's answer to this session's request: an encoded
    /// `ServerFrame::Response` (a ✓ or its error). Never dropped: a lost ✓
    /// would make the client resend forever.
    Reply(Bytes),
}

impl Push {
    /// Pushes a slow consumer may lose: messages are durable and re-synced,
    /// receipts, read cursors and membership changes come again with the
    /// sync, presence with the next change. Replies and `End` are kept.
    pub(crate) fn is_droppable(&self) -> bool {
        matches!(
            self,
            Self::Message { .. } | Self::Frame(_) | Self::Sync { .. }
        )
    }
}
