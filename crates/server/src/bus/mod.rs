//! The cluster bus (issue 11): what one node's hub pushes to users is
//! published so the other nodes push it to *their* local sessions.
//!
//! Two kinds: [`Bus::local`] (one node, nothing published: today's
//! behaviour) and [`Bus::nats`] (async-nats). One envelope type
//! ([`envelope`]) names its origin node; every node subscribes to
//! `<prefix>.>` once, so envelopes from one node arrive in the order it
//! published them, and ignores its own.
//!
//! - Committed messages (and edit/delete entries) carry conv, seq and the
//!   origin's encoded pushes. Each node keeps the last seq delivered per
//!   conversation with local online members ([`gate`], bounded): a repeat
//!   is dropped, a gap is filled from the store (`Messages::range`) first,
//!   so a lost bus message never loses a chat message. The node's own
//!   commits pass the same point (`deliver`).
//! - Frames (receipts, read markers, typing, membership and moderation
//!   events, file offers) and re-sync requests are relayed by the hub
//!   with their recipients; session ends (logout, revocation, password
//!   change, disable) likewise; member and mute cache invalidations go
//!   as `Forget`.
//! - Presence: a user is online while online on any node; nodes announce
//!   transitions, a heartbeat, and snapshots on (re)joining; a node
//!   silent for `dead_beats` heartbeats is presumed dead ([`cluster`]).
//! - Losses: every envelope carries its number in its origin's sequence;
//!   a hole (or an origin back from the dead, or this node's reconnection)
//!   makes this node recover what lost envelopes may have said from the
//!   store and the other nodes ([`recover`]), at most once per heartbeat
//!   ([`pace`]), as it answers `Hello`s with snapshots.
//!
//! Bounds: the publish queue (`BusOptions::queue`, then dropped and
//! counted), envelope size ([`envelope::MAX_ENVELOPE`]), the seq table
//! ([`gate::MAX_CONVS`]), other nodes and their users ([`cluster`]).

mod cluster;
pub(crate) mod deliver;
mod envelope;
mod gate;
pub(crate) mod health;
mod nats;
#[doc(hidden)]
pub mod nats_harness;
pub(crate) mod node;
mod pace;
pub(crate) mod ratelog;
pub(crate) mod receive;
mod recover;
pub(crate) mod revalidate;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use envelope::Body;
pub use envelope::EnvelopeKind;
pub(crate) use node::Node;

/// Settings of the NATS bus.
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// Subject prefix; nodes of one cluster use the same. Default `natter.bus`.
    pub prefix: String,
    /// How often a node says it is alive. Default 2 s.
    pub heartbeat: Duration,
    /// Heartbeats missed before a node is presumed dead (its users go
    /// offline). Default 3.
    pub dead_beats: u32,
    /// Envelopes waiting to be published before new ones are dropped
    /// (messages are recovered from the store). Default 8192.
    pub queue: usize,
    /// How often every local session is re-checked against the store
    /// (ended if its session is gone or its account disabled: a lost `End`
    /// envelope is made up for; `revalidate`). Zero: only after a loss or
    /// a reconnection. Default 30 s.
    pub revalidate: Duration,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self {
            prefix: "natter.bus".into(),
            heartbeat: Duration::from_secs(2),
            dead_beats: 3,
            queue: 8192,
            revalidate: Duration::from_secs(30),
        }
    }
}

/// Why the bus could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The URL is not a `nats://` URL.
    #[error("unsupported bus URL (expected nats://HOST:PORT)")]
    BadUrl,
    /// NATS refused or failed.
    #[error("nats: {0}")]
    Nats(String),
}

/// How this node talks to the other nodes of its cluster.
pub struct Bus {
    node: Node,
    link: Option<Arc<nats::NatsLink>>,
    /// [`BusOptions::revalidate`] (zero on the in-process bus).
    revalidate: Duration,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("local", &self.node.is_local())
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// The in-process bus of a single node: nothing is published.
    pub fn local() -> Self {
        Self {
            node: Node::default(),
            link: None,
            revalidate: Duration::ZERO,
        }
    }

    /// Connects to NATS at `url` (`nats://host:port`, several separated by
    /// commas). Does not wait for the server: a node starts, serves its own
    /// users and keeps reconnecting while NATS is away.
    pub async fn nats(url: &str, options: BusOptions) -> Result<Self, BusError> {
        let revalidate = options.revalidate;
        let (link, node) = nats::connect(url, options).await?;
        Ok(Self {
            node,
            link: Some(Arc::new(link)),
            revalidate,
        })
    }

    /// Splits into the node state for `Shared` and the link the receive
    /// task reads.
    pub(crate) fn into_parts(self) -> (Node, Option<Arc<nats::NatsLink>>) {
        (self.node, self.link)
    }

    /// How often the sessions are re-checked ([`BusOptions::revalidate`]).
    pub(crate) fn revalidate_every(&self) -> Duration {
        self.revalidate
    }
}

/// Whether `url` names a NATS bus (else the in-process one is meant).
pub fn is_nats_url(url: &str) -> bool {
    url.starts_with("nats://") || url.starts_with("tls://")
}
