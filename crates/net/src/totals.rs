//! Transport counters summed over every connection an endpoint ever had
//! (for `/metrics`): live connections are read fresh, closed ones keep the
//! last figures seen.

use std::collections::HashMap;

use natter_proto::{ConnectionHandle, ConnectionStats};

/// Counters over all established connections of an [`crate::Endpoint`],
/// live and closed. Monotonic except `connections_open`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportTotals {
    /// Connections established (handshake done), both directions.
    pub connections_total: u64,
    /// Connections established and not yet closed.
    pub connections_open: u64,
    /// UDP datagrams sent.
    pub packets_sent: u64,
    /// UDP datagrams received and authenticated.
    pub packets_received: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Message fragments sent again after a loss or in a probe.
    pub retransmits: u64,
}

impl TransportTotals {
    fn add(&mut self, s: &ConnectionStats) {
        self.packets_sent += s.packets_sent;
        self.packets_received += s.packets_received;
        self.packets_lost += s.packets_lost;
        self.retransmits += s.retransmits;
    }
}

/// The driver's bookkeeping behind [`TransportTotals`].
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Last stats seen per live connection (a connection can vanish from
    /// natter-proto before its close is reported; then these are used).
    live: HashMap<ConnectionHandle, ConnectionStats>,
    /// Sums over closed connections, and the count of all established ones.
    closed: TransportTotals,
}

impl Tally {
    /// Connection `h` is established.
    pub(crate) fn opened(&mut self, h: ConnectionHandle) {
        self.closed.connections_total += 1;
        self.live.insert(h, ConnectionStats::default());
    }

    /// Connection `h` closed; `last` are its final stats if still readable.
    pub(crate) fn closed(&mut self, h: ConnectionHandle, last: Option<ConnectionStats>) {
        if let Some(seen) = self.live.remove(&h) {
            self.closed.add(&last.unwrap_or(seen));
        }
    }

    /// Refreshes live connections with `read` and returns the totals.
    pub(crate) fn totals(
        &mut self,
        read: impl Fn(ConnectionHandle) -> Option<ConnectionStats>,
    ) -> TransportTotals {
        let mut out = self.closed;
        for (h, seen) in &mut self.live {
            if let Some(now) = read(*h) {
                *seen = now;
            }
            out.add(seen);
        }
        out.connections_open = self.live.len() as u64;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(sent: u64, lost: u64) -> ConnectionStats {
        ConnectionStats {
            packets_sent: sent,
            packets_lost: lost,
            retransmits: lost,
            ..ConnectionStats::default()
        }
    }

    #[test]
    fn closed_connections_keep_counting() {
        let (a, b) = (ConnectionHandle(1), ConnectionHandle(2));
        let mut tally = Tally::default();
        tally.opened(a);
        tally.opened(b);
        let t = tally.totals(|h| Some(stats(h.0 * 10, h.0)));
        assert_eq!((t.connections_total, t.connections_open), (2, 2));
        assert_eq!((t.packets_sent, t.packets_lost, t.retransmits), (30, 3, 3));
        // `a` vanished from the state machine: its last seen figures stay.
        tally.closed(a, None);
        let t = tally.totals(|h| Some(stats(h.0 * 100, 0)));
        assert_eq!((t.connections_total, t.connections_open), (2, 1));
        assert_eq!(t.packets_sent, 10 + 200);
        tally.closed(b, Some(stats(300, 0)));
        tally.closed(b, Some(stats(999, 0))); // reported twice: counted once
        let t = tally.totals(|_| None);
        assert_eq!((t.connections_open, t.packets_sent), (0, 310));
    }
}
