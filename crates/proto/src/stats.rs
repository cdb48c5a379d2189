//! Endpoint-wide counters, and the sums of connection counters that
//! outlive the connections (for metrics).

use crate::connection::ConnectionStats;
use crate::guard::Refusal;

/// Endpoint-wide counters (datagrams that never reached a connection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams that failed to decode.
    pub malformed: u64,
    /// Data packets for no known connection.
    pub unknown_connection: u64,
    /// Version-negotiation replies sent.
    pub version_negotiations: u64,
    /// Retry (cookie) replies sent.
    pub retries: u64,
    /// Initials dropped, for any reason (on a server, the sum of the
    /// `initials_*` counters below).
    pub initials_dropped: u64,
    /// Handshakes answered (Diffie-Hellman work done).
    pub handshakes: u64,
    /// Initials (or unknown-version packets) below the minimum size, which
    /// an answer could amplify.
    pub initials_too_small: u64,
    /// Initials whose handshake message is malformed or fails to decrypt.
    pub initials_undecryptable: u64,
    /// Initials with a retry token that does not validate.
    pub initials_bad_token: u64,
    /// Initials refused by the per-source handshake rate limit.
    pub initials_rate_limited: u64,
    /// Initials refused because the server holds its most connections.
    pub initials_server_full: u64,
    /// Replayed Initials (an ephemeral key seen before, or a copy of an
    /// Initial whose connection is live).
    pub initials_replayed: u64,
}

impl EndpointStats {
    /// Counts one dropped Initial under its reason.
    pub(crate) fn refused(&mut self, why: Refusal) {
        self.initials_dropped += 1;
        *match why {
            Refusal::TooSmall => &mut self.initials_too_small,
            Refusal::BadHandshake => &mut self.initials_undecryptable,
            Refusal::BadToken => &mut self.initials_bad_token,
            Refusal::RateLimited => &mut self.initials_rate_limited,
            Refusal::Full => &mut self.initials_server_full,
            Refusal::Replayed => &mut self.initials_replayed,
        } += 1;
    }
}

/// Adds the monotonic counters of `s` to `sum`.
pub(crate) fn add_counters(sum: &mut ConnectionStats, s: &ConnectionStats) {
    sum.packets_sent += s.packets_sent;
    sum.packets_received += s.packets_received;
    sum.bytes_sent += s.bytes_sent;
    sum.bytes_received += s.bytes_received;
    sum.packets_lost += s.packets_lost;
    sum.retransmits += s.retransmits;
    sum.ptos += s.ptos;
    sum.duplicate_packets += s.duplicate_packets;
    sum.duplicate_fragments += s.duplicate_fragments;
    sum.dropped_invalid += s.dropped_invalid;
    sum.redundant_packets += s.redundant_packets;
    sum.redundant_bytes += s.redundant_bytes;
}
