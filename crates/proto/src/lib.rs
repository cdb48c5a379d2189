//! natter-proto: the sans-IO state machine of Natter's reliable, encrypted
//! transport over UDP.
//!
//! No sockets, no clocks, no thread RNG: time (`now`) and randomness (a seed in
//! the config) are inputs. [`Endpoint`] documents the call order; `PROTOCOL.md`
//! at the repository root documents the bytes on the wire and the timers.
#![warn(missing_docs)]

pub mod config;
mod connection;
pub mod crypto;
mod endpoint;
pub mod frame;
mod guard;
pub mod packet;
pub mod range_set;
pub(crate) mod recovery;
mod stats;
pub(crate) mod streams;
pub mod varint;

pub use config::{
    ClientConfig, EndpointConfig, RetryPolicy, ServerEndpointConfig, TransportConfig,
};
pub use connection::{CloseReason, Connection, ConnectionStats, Event, Side, Transmit, close_code};
pub use crypto::{StaticKeypair, fingerprint};
pub use endpoint::{ConnectionHandle, Endpoint, EndpointStats};
pub use packet::VERSION;
pub use streams::SendError;
