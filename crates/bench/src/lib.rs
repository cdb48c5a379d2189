//! `natter bench`: a load generator for Natter and the reference baselines
//! it is compared with in the same run.
//!
//! [`main`] runs one benchmark from [`BenchArgs`] and prints a [`Report`]
//! (a table, or JSON with `--json`). The workload: `clients` clients, `groups`
//! groups of `members` clients each (assigned round robin), every member
//! sends to its groups at `rate` messages/s in total (or as fast as a window
//! of unacknowledged messages per client allows), for `duration`. Every
//! delivery is checked: a message stored (✓) must reach every other member of
//! its group exactly once. References (`--reference`): the same fan-out with
//! plain UDP datagrams through `sendmmsg` (`raw`), through a minimal TCP
//! relay (`tcp`) or a minimal QUIC relay on quinn (`quic`), or ✓ throughput
//! against a plain SQLite insert loop (`sqlite`).
#![warn(missing_docs)]

mod args;
mod idle;
mod lossy_udp;
mod natter;
mod plan;
mod processes;
mod progress;
mod quic;
mod raw;
mod relay;
mod report;
mod run;
mod spawn;
mod sqlite;
mod stats;
mod tcp;

pub use args::{BenchArgs, Placement, Reference, format_duration, parse_duration};
pub use report::{LatencyMs, ReferenceReport, Report};
pub use run::main;
