//! Natter chat server: sessions, one command per file, a group-commit
//! writer, fan-out and offline sync, on top of any transport.
//!
//! Transports ("gateways") hand the server a [`Link`] per connection: a
//! reliable, ordered pipe of byte messages, each one postcard-encoded
//! `natter_api::ClientFrame` (in) or `ServerFrame` (out). See
//! [`gateway`] for the gateways (in-memory for tests, UDP, WebSocket) and
//! [`http`] for the HTTP front door (`/ws`, `/healthz`, `/metrics`).
#![warn(missing_docs)]

mod access;
mod auth;
pub mod bus;
mod cmd;
mod config;
mod convert;
mod ctx;
mod e2e;
mod error;
pub mod files;
pub mod gateway;
mod hasher;
pub mod http;
mod hub;
mod inbox;
mod limits;
mod metrics;
mod mutes;
mod presence;
mod push;
mod receipts;
mod redact;
pub mod run;
mod server;
mod session;
mod sync;
mod throttle;
mod token_gate;
mod tracked;
mod tracker;
mod typing;
mod writer;

pub use bus::revalidate::Revalidation;
pub use bus::{Bus, BusError, BusOptions};
pub use config::{Argon2Config, RateConfig, ServerConfig, ThrottleConfig};
pub use gateway::Link;
pub use http::serve_http;
pub use run::{run, run_server};
pub use server::{Health, Server};
