//! Natter client library: the one front door used by the CLI, the TUI, the
//! bench and the tests.
//!
//! [`Client::connect`] dials through a [`Dialer`] (UDP in production, memory
//! in tests) and returns the [`Client`] handle plus an [`EventReceiver`].
//! A background task owns the connection: it reconnects with backoff when the
//! link dies, resumes the session with its token, re-syncs from the cursors
//! it has seen, resends every message of the [`outbox`](Client::send) that is
//! not yet stored (same client id, so never duplicated), de-duplicates
//! incoming messages by seq and acknowledges their delivery.
#![warn(missing_docs)]

mod actions;
mod admin;
mod client;
mod dialer;
mod driver;
pub mod e2e;
mod error;
mod events;
mod failover;
pub mod files;
mod list;
mod moderation;
mod options;
mod outbox;
mod outbox_dir;
mod search;
mod udp;

pub use client::{Client, OutgoingHandle};
pub use dialer::{BoxFuture, ClientLink, Dialer};
pub use error::{ClientError, ConnectError, DialError};
pub use events::{ClientEvent, ConnectionState, EventReceiver, OutgoingState};
pub use failover::{DEFAULT_STAGGER, FailoverDialer};
pub use options::{Backoff, ClientOptions};
pub use outbox_dir::{OutboxDir, QueuedMessage};
pub use search::{ReceiptView, SearchPage};
pub use udp::UdpDialer;
