//! Transport counters summed over every connection an endpoint ever had
//! (for `/metrics`), plus the endpoint's drop counters. natter-proto keeps
//! the counters of each connection it forgets, so a connection that opens
//! and closes between two reads is counted in full.

use std::collections::HashSet;

use natter_proto::{ConnectionHandle, ConnectionStats, EndpointStats};

/// Counters over all connections of an [`crate::Endpoint`], live and
/// closed, and the datagrams that never reached one. Monotonic except
/// `connections_open`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportTotals {
    /// Connections established (handshake done), both directions.
    pub connections_total: u64,
    /// Connections established and not yet closed.
    pub connections_open: u64,
    /// Established connections closed at once because the application was
    /// not accepting them fast enough ("server busy").
    pub connections_refused_busy: u64,
    /// UDP datagrams sent on connections.
    pub packets_sent: u64,
    /// UDP datagrams received and authenticated.
    pub packets_received: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Message fragments sent again after a loss or in a probe.
    pub retransmits: u64,
    /// Datagrams for a known connection that failed to authenticate or
    /// decode.
    pub dropped_unauthenticated: u64,
    /// Endpoint-wide counters: malformed datagrams, unknown connections,
    /// handshakes, retries and Initials dropped by reason.
    pub endpoint: EndpointStats,
}

/// The driver's bookkeeping behind [`TransportTotals`]: which connections
/// are established and open.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    established: u64,
    refused_busy: u64,
    live: HashSet<ConnectionHandle>,
}

impl Tally {
    /// Connection `h` is established.
    pub(crate) fn opened(&mut self, h: ConnectionHandle) {
        self.established += 1;
        self.live.insert(h);
    }

    /// Connection `h` (established or not) closed.
    pub(crate) fn closed(&mut self, h: ConnectionHandle) {
        self.live.remove(&h);
    }

    /// An established connection was refused: nobody was accepting.
    pub(crate) fn refused_busy(&mut self) {
        self.refused_busy += 1;
    }

    /// The totals, given natter-proto's sums over all its connections
    /// (`conns`, see `natter_proto::Endpoint::total_stats`) and its
    /// endpoint-wide counters.
    pub(crate) fn totals(
        &self,
        conns: ConnectionStats,
        endpoint: EndpointStats,
    ) -> TransportTotals {
        TransportTotals {
            connections_total: self.established,
            connections_open: self.live.len() as u64,
            connections_refused_busy: self.refused_busy,
            packets_sent: conns.packets_sent,
            packets_received: conns.packets_received,
            packets_lost: conns.packets_lost,
            retransmits: conns.retransmits,
            dropped_unauthenticated: conns.dropped_invalid,
            endpoint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_open_and_close() {
        let (a, b) = (ConnectionHandle(1), ConnectionHandle(2));
        let mut tally = Tally::default();
        tally.opened(a);
        tally.opened(b);
        tally.closed(a);
        tally.closed(a); // reported twice: counted once
        tally.closed(ConnectionHandle(9)); // never established
        tally.refused_busy();
        let conns = ConnectionStats {
            packets_sent: 7,
            dropped_invalid: 3,
            ..ConnectionStats::default()
        };
        let endpoint = EndpointStats {
            malformed: 5,
            ..EndpointStats::default()
        };
        let t = tally.totals(conns, endpoint);
        assert_eq!((t.connections_total, t.connections_open), (2, 1));
        assert_eq!(t.connections_refused_busy, 1);
        assert_eq!((t.packets_sent, t.dropped_unauthenticated), (7, 3));
        assert_eq!(t.endpoint.malformed, 5);
    }
}
