//! What nodes of a cluster tell each other: one [`Envelope`] type,
//! postcard-encoded, published on one subject per kind (`<prefix>.msg`,
//! `.frame`, `.sync`, `.end`, `.forget`, `.presence`, `.node`).
//!
//! Every envelope names its origin node, and a node ignores its own, and
//! carries its number: the origin numbers everything it publishes 1, 2,
//! 3, … in the order it queues it (heartbeats included), so a receiver
//! that sees a number jump knows something from that node was lost (on
//! the origin's full queue, in NATS, or as a slow consumer here). On the
//! wire: `origin` and `number` (varints), then the body, encoded apart so
//! the number is taken after the costly part ([`encode_body`], [`seal`]).
//!
//! A decoded envelope is bounded: the payload is at most [`MAX_ENVELOPE`]
//! bytes (NATS refuses more than its `max_payload` anyway), and every
//! list in it is cut by the size of that payload.

use serde::{Deserialize, Serialize};

use natter_store::{ConvId, TokenHash, UserId};

/// Largest envelope a node publishes or accepts, in bytes (half of NATS'
/// default `max_payload`). A committed message whose pushes do not fit is
/// published without them: receivers read it from the store.
pub(crate) const MAX_ENVELOPE: usize = 512 * 1024;

/// Room kept in [`MAX_ENVELOPE`] for the origin and number (two varints).
const HEADER_ROOM: usize = 20;

/// One thing a node tells the others (fields in wire order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The publishing node's id (random per process).
    pub(crate) origin: u64,
    /// Its place among everything the origin published, from 1.
    pub(crate) number: u64,
    pub(crate) body: Body,
}

/// The kinds of envelope. New kinds go at the end (postcard encodes the
/// variant index; nodes of one cluster run the same version anyway).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Body {
    /// A committed message (or edit/delete entry) of `conv` with `seq`,
    /// with the pushes its origin made (empty: too large to carry, read
    /// it from the store).
    Message {
        conv: ConvId,
        seq: u64,
        parts: Vec<Part>,
    },
    /// An encoded `ServerFrame` for every session of `to` (receipts, read
    /// markers, typing, membership and moderation events, file offers).
    Frame { to: Vec<UserId>, frame: Vec<u8> },
    /// Tell `to`'s sessions to re-sync `conv` from `from`.
    Sync {
        to: Vec<UserId>,
        conv: ConvId,
        from: Option<u64>,
    },
    /// End the sessions of `user` (those using `token`, or all of them).
    End {
        user: UserId,
        token: Option<TokenHash>,
        reason: String,
    },
    /// The member list or mute list of `conv` changed: drop cached copies.
    Forget { conv: ConvId },
    /// `user` came online on (or left) the origin node.
    Presence { user: UserId, online: bool },
    /// The origin is alive (sent every heartbeat).
    Heartbeat,
    /// The origin (re)joined: every node answers with its snapshot.
    Hello,
    /// Part of the origin's list of online users; `done` on the last part,
    /// which then replaces what was known of that node.
    Snapshot {
        epoch: u64,
        users: Vec<UserId>,
        done: bool,
    },
}

/// Pushes of a committed message to some users' sessions, encoded once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Part {
    /// `None`: every online session (the lobby).
    pub(crate) to: Option<Vec<UserId>>,
    /// The encoded `ServerFrame::Event(Event::Message)`.
    pub(crate) frame: Vec<u8>,
    /// End-to-end encrypted (each session cuts its device's ciphertext).
    pub(crate) e2e: bool,
}

/// The kinds of envelope, one subject each (and what the test hook
/// `Server::drop_bus_envelopes` drops).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeKind {
    /// A committed message.
    Message,
    /// A frame for some users.
    Frame,
    /// A re-sync request.
    Sync,
    /// A session end.
    End,
    /// A member or mute cache invalidation.
    Forget,
    /// A presence transition.
    Presence,
    /// Heartbeat, hello and snapshot.
    Node,
}

impl EnvelopeKind {
    /// The subject suffix this kind is published on.
    pub(crate) fn subject(self) -> &'static str {
        match self {
            Self::Message => "msg",
            Self::Frame => "frame",
            Self::Sync => "sync",
            Self::End => "end",
            Self::Forget => "forget",
            Self::Presence => "presence",
            Self::Node => "node",
        }
    }
}

impl Body {
    /// What kind of envelope this is.
    pub(crate) fn kind(&self) -> EnvelopeKind {
        match self {
            Self::Message { .. } => EnvelopeKind::Message,
            Self::Frame { .. } => EnvelopeKind::Frame,
            Self::Sync { .. } => EnvelopeKind::Sync,
            Self::End { .. } => EnvelopeKind::End,
            Self::Forget { .. } => EnvelopeKind::Forget,
            Self::Presence { .. } => EnvelopeKind::Presence,
            Self::Heartbeat | Self::Hello | Self::Snapshot { .. } => EnvelopeKind::Node,
        }
    }
}

/// Why an envelope was not published or not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    #[error("envelope of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("undecodable envelope")]
    Malformed,
}

/// Encodes `body`, refusing one that would make an envelope over
/// [`MAX_ENVELOPE`].
pub(crate) fn encode_body(body: &Body) -> Result<Vec<u8>, EnvelopeError> {
    let bytes = natter_api::encode(body).map_err(|_| EnvelopeError::Malformed)?;
    if bytes.len() + HEADER_ROOM > MAX_ENVELOPE {
        return Err(EnvelopeError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// The payload of the envelope numbered `number` by `origin` around
/// `body` (from [`encode_body`]).
pub(crate) fn seal(origin: u64, number: u64, body: &[u8]) -> Vec<u8> {
    let mut bytes = natter_api::encode(&(origin, number)).unwrap_or_default();
    bytes.extend_from_slice(body);
    bytes
}

/// Decodes a received payload (bounded before decoding).
pub(crate) fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    if bytes.len() > MAX_ENVELOPE {
        return Err(EnvelopeError::TooLarge(bytes.len()));
    }
    natter_api::decode(bytes).map_err(|_| EnvelopeError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_garbage_is_an_error() {
        let body = Body::Message {
            conv: ConvId(3),
            seq: 9,
            parts: vec![Part {
                to: Some(vec![UserId(1), UserId(2)]),
                frame: vec![1, 2, 3],
                e2e: false,
            }],
        };
        let bytes = seal(u64::MAX, 1 << 40, &encode_body(&body).expect("encode"));
        let back = decode(&bytes).expect("decode");
        assert_eq!((back.origin, back.number), (u64::MAX, 1 << 40));
        assert!(matches!(back.body, Body::Message { seq: 9, .. }));
        assert_eq!(back.body.kind().subject(), "msg");
        assert_eq!(decode(&[0xff; 40]).unwrap_err(), EnvelopeError::Malformed);
        let huge = vec![0u8; MAX_ENVELOPE + 1];
        assert!(matches!(decode(&huge), Err(EnvelopeError::TooLarge(_))));
    }

    #[test]
    fn an_oversized_envelope_is_refused_at_publish() {
        let body = Body::Frame {
            to: vec![UserId(1)],
            frame: vec![0; MAX_ENVELOPE - 10], // fits alone, not with the header
        };
        assert!(matches!(
            encode_body(&body),
            Err(EnvelopeError::TooLarge(_))
        ));
    }
}
