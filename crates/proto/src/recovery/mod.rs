//! Loss recovery: RTT estimation, sent-packet tracking and loss detection, congestion
//! control (NewReno that tells random loss from congestion), pacing, and redundancy
//! for small packets on randomly lossy paths. Pure logic:
//! `now` is always a parameter.

pub(crate) mod congestion;
pub(crate) mod pacer;
pub(crate) mod redundancy;
pub(crate) mod rtt;
pub(crate) mod sent;

/// One real instant to anchor virtual clocks in tests (the crate's clippy config
/// forbids `Instant::now` everywhere else).
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_instant() -> std::time::Instant {
    std::time::Instant::now()
}

pub(crate) use congestion::Congestion;
pub(crate) use pacer::Pacer;
pub(crate) use redundancy::{Pass, Redundancy, RedundancyRule};
pub(crate) use rtt::RttEstimator;
pub(crate) use sent::{LostPackets, SentPacket, SentPackets};
