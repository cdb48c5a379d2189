//! What the HTTP front door lets a peer hold: how many connections per
//! source address and in total, and for how long an idle one stays.
//!
//! Every accepted TCP connection takes a [`Slot`] first; over either cap it
//! is closed at once. The slot lives as long as the connection, including
//! after an upgrade to a WebSocket, so an upgraded socket still counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::{write_labelled, write_metrics};

/// Limits of the HTTP front door (`/ws`, `/healthz`, `/metrics`): the
/// `[server.http]` table of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A client must send a request's complete header within this many
    /// milliseconds of connecting (or of its previous response), else the
    /// connection is closed. Default 10 000.
    pub header_timeout_ms: u64,
    /// An upgraded WebSocket from which no frame (pongs included) arrives
    /// for this many milliseconds is closed. The server pings every third
    /// of it, so a client that answers pings (every browser does) stays.
    /// Default 60 000.
    pub ws_idle_timeout_ms: u64,
    /// Most concurrent HTTP connections (WebSockets included) from one IP
    /// address (IPv6: one /64); more are closed at once. Default 64.
    pub max_connections_per_addr: usize,
    /// Most concurrent HTTP connections in total; more are closed at once.
    /// `natter serve` lowers it below the process's descriptor limit.
    /// Default 10 000.
    pub max_connections: usize,
    /// Web origins (`scheme://host[:port]`, e.g. `"https://chat.example.org"`)
    /// whose pages may open `/ws`, besides the server's own address (an
    /// `Origin` equal to `http://` + the request's `Host` when that host is
    /// an IP address or `localhost`). Requests without `Origin` (programs,
    /// not browsers) are always let in. Default empty.
    pub allowed_origins: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout_ms: 10_000,
            ws_idle_timeout_ms: 60_000,
            max_connections_per_addr: 64,
            max_connections: 10_000,
            allowed_origins: Vec::new(),
        }
    }
}

/// Descriptors kept free for everything but HTTP connections (database,
/// UDP socket, listener, logs, blocking threads' files).
pub const RESERVED_DESCRIPTORS: u64 = 256;

impl HttpConfig {
    /// [`Self::header_timeout_ms`] as a duration (at least 1 ms).
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms.max(1))
    }

    /// [`Self::ws_idle_timeout_ms`] as a duration (at least 1 ms).
    pub fn ws_idle_timeout(&self) -> Duration {
        Duration::from_millis(self.ws_idle_timeout_ms.max(1))
    }

    /// How often the server pings an upgraded WebSocket.
    pub fn ws_ping_interval(&self) -> Duration {
        self.ws_idle_timeout() / 3
    }

    /// Lowers [`Self::max_connections`] so the connections fit in
    /// `descriptors` (the process's open-file limit) with
    /// [`RESERVED_DESCRIPTORS`] to spare (at least half the limit is kept
    /// for HTTP when the limit is tiny). Returns the cap in force.
    pub fn fit_descriptors(&mut self, descriptors: u64) -> usize {
        let usable = descriptors
            .saturating_sub(RESERVED_DESCRIPTORS)
            .max(descriptors / 2);
        let usable = usize::try_from(usable).unwrap_or(usize::MAX).max(1);
        self.max_connections = self.max_connections.clamp(1, usable);
        self.max_connections
    }
}

/// HTTP counters for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct HttpStats {
    accepted: AtomicU64,
    refused_per_addr: AtomicU64,
    refused_total: AtomicU64,
    pub(crate) header_timeouts: AtomicU64,
    pub(crate) ws_idle_closed: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
}

/// Adds one to `counter`.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Connections held per source and in total, against the caps.
#[derive(Debug)]
pub(crate) struct Admission {
    per_addr: usize,
    total: usize,
    held: Mutex<Held>,
    pub(crate) stats: HttpStats,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_source: HashMap<Source, usize>,
}

/// What the per-address cap counts by: an IPv4 address, or an IPv6 /64
/// (one host usually owns a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    V6Prefix(u64),
}

impl Source {
    fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4.to_bits()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.to_bits()),
                None => Self::V6Prefix((v6.to_bits() >> 64) as u64),
            },
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its source holds `max_connections_per_addr` already.
    PerAddr,
    /// The server holds `max_connections` already.
    Total,
}

impl Admission {
    pub(crate) fn new(config: &HttpConfig) -> Arc<Self> {
        Arc::new(Self {
            per_addr: config.max_connections_per_addr.max(1),
            total: config.max_connections.max(1),
            held: Mutex::default(),
            stats: HttpStats::default(),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a connection from `ip`, or why there is none (counted).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let source = Source::of(ip);
        let mut held = self.held();
        let from_source = held.by_source.get(&source).copied().unwrap_or(0);
        let refused = if from_source >= self.per_addr {
            Some((Refused::PerAddr, &self.stats.refused_per_addr))
        } else if held.total >= self.total {
            Some((Refused::Total, &self.stats.refused_total))
        } else {
            None
        };
        if let Some((why, counter)) = refused {
            bump(counter);
            return Err(why);
        }
        held.total += 1;
        *held.by_source.entry(source).or_insert(0) += 1;
        bump(&self.stats.accepted);
        Ok(Slot {
            admission: self.clone(),
            source,
        })
    }

    fn release(&self, source: Source) {
        let mut held = self.held();
        held.total -= 1;
        if let Some(n) = held.by_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                held.by_source.remove(&source);
            }
        }
    }

    /// Connections held now.
    pub(crate) fn open(&self) -> usize {
        self.held().total
    }

    /// The HTTP counters in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let s = &self.stats;
        let mut out = String::new();
        let rows = [
            (
                "natter_http_connections_total",
                "counter",
                "HTTP connections accepted.",
                get(&s.accepted),
            ),
            (
                "natter_http_connections_open",
                "gauge",
                "HTTP connections open now (WebSockets included).",
                self.open() as u64,
            ),
            (
                "natter_http_header_timeouts_total",
                "counter",
                "HTTP connections closed for not sending a request header in time.",
                get(&s.header_timeouts),
            ),
            (
                "natter_http_ws_idle_closed_total",
                "counter",
                "WebSockets closed for sending nothing (not even a pong) in time.",
                get(&s.ws_idle_closed),
            ),
            (
                "natter_http_accept_errors_total",
                "counter",
                "Failed accepts (e.g. out of descriptors).",
                get(&s.accept_errors),
            ),
        ];
        write_metrics(&mut out, &rows);
        let refused = [
            ("per_addr", get(&s.refused_per_addr)),
            ("total", get(&s.refused_total)),
        ];
        write_labelled(
            &mut out,
            "natter_http_connections_refused_total",
            "counter",
            "HTTP connections closed at once: over the per-address or the total cap.",
            "reason",
            &refused,
        );
        out
    }
}

/// One admitted connection; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    admission: Arc<Admission>,
    source: Source,
}

impl Slot {
    /// The admission (and its counters) this slot belongs to.
    pub(crate) fn admission(&self) -> &Admission {
        &self.admission
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(per_addr: usize, total: usize) -> Arc<Admission> {
        Admission::new(&HttpConfig {
            max_connections_per_addr: per_addr,
            max_connections: total,
            ..HttpConfig::default()
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn per_address_and_total_caps_hold_and_free() {
        let a = admission(2, 3);
        let one = a.admit(ip("10.0.0.1")).expect("first");
        let two = a.admit(ip("10.0.0.1")).expect("second");
        assert_eq!(a.admit(ip("10.0.0.1")).unwrap_err(), Refused::PerAddr);
        let three = a.admit(ip("10.0.0.2")).expect("other address");
        assert_eq!(a.admit(ip("10.0.0.3")).unwrap_err(), Refused::Total);
        assert_eq!(a.open(), 3);
        drop(one);
        a.admit(ip("10.0.0.1")).expect("a place came free");
        drop((two, three));
        assert_eq!(a.open(), 0);
        assert!(a.held().by_source.is_empty(), "no entry left behind");
        let text = a.render();
        assert!(text.contains("natter_http_connections_total 4"), "{text}");
        assert!(text.contains("{reason=\"per_addr\"} 1"), "{text}");
        assert!(text.contains("{reason=\"total\"} 1"), "{text}");
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_v4_as_v4() {
        let a = admission(1, 100);
        let _x = a.admit(ip("2001:db8:1:2::1")).expect("first");
        assert!(a.admit(ip("2001:db8:1:2::ffff")).is_err(), "same /64");
        a.admit(ip("2001:db8:1:3::1")).expect("another /64");
        let _v4 = a.admit(ip("192.0.2.1")).expect("v4");
        assert!(a.admit(ip("::ffff:192.0.2.1")).is_err(), "mapped = v4");
    }

    #[test]
    fn the_total_fits_the_descriptor_limit() {
        let mut c = HttpConfig::default();
        assert_eq!(c.fit_descriptors(1_048_576), 10_000, "room: unchanged");
        assert_eq!(c.fit_descriptors(4096), 4096 - 256);
        let mut c = HttpConfig::default();
        assert_eq!(c.fit_descriptors(300), 150, "tiny limit: half");
        assert_eq!(c.fit_descriptors(0), 1);
    }
}
