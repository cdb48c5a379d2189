//! The adversarial suite (issue 9): each module starts a real `natter serve`
//! on loopback, reproduces one family of attacks with bounded load, and
//! asserts the fixed behaviour. Figures (RSS, latencies) are printed, never
//! asserted against wall-clock time.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod files;
mod groups;
mod http;
mod measure;
mod output;
mod queues;
mod sessions;
mod support;
mod typing;
