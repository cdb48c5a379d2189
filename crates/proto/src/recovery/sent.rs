//! Sent-packet tracking, acknowledgement processing and loss detection (RFC 9002 §6).
//!
//! Packet numbers are never reused (retransmitted data goes in new packets), so every
//! acknowledgement names exactly one transmission and every RTT sample is unambiguous.
//! There is one packet number space (after the handshake).
//!
//! The connection owns the timers' state (`pto_count`) and acts on what this module
//! returns: it retransmits the payloads of lost packets, feeds the outcomes to the
//! congestion controller ([`AckOutcome::feed_congestion`]), resets `pto_count` to 0
//! whenever an ack newly acknowledges something, and on PTO re-sends the oldest unacked
//! data ([`SentPackets::oldest_unacked_ack_eliciting`]) in a new packet so that a lone
//! lost chat message is recovered after about one PTO.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use super::congestion::Congestion;
use super::rtt::RttEstimator;

/// A packet is lost once a packet this many numbers higher is acknowledged
/// (RFC 9002 `kPacketThreshold`).
pub(crate) const PACKET_THRESHOLD: u64 = 3;

/// Persistent congestion: lost packets spanning this many PTO periods
/// (RFC 9002 `kPersistentCongestionThreshold`).
const PERSISTENT_CONGESTION_THRESHOLD: u32 = 3;

/// Each consecutive PTO multiplies the timeout by 1.5 (3/2) instead of QUIC's 2, like
/// KCP's "fast" mode: a chat user notices a message stuck for many seconds, while the
/// cost of probing a dead path a bit more often is one tiny packet. The factor stops
/// growing at 60× the base PTO (1.5^10 ≈ 57.7, 1.5^11 ≈ 86.5 is capped to 60).
const MAX_BACKOFF_FACTOR: u128 = 60;
/// Beyond this many consecutive PTOs the factor is capped anyway.
const MAX_BACKOFF_STEPS: u32 = 11;
/// Backoff never pushes the PTO beyond 8 s, so a message sent while the network was
/// away goes through at most 8 s after it returns. A base PTO above 8 s (very long
/// RTT) is kept as is.
pub(crate) const MAX_BACKED_OFF_PTO: Duration = Duration::from_secs(8);

/// What the connection recorded about one sent packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentPacket<F> {
    /// When the packet was sent.
    pub(crate) time_sent: Instant,
    /// Size on the wire, in bytes (counted in flight if `in_flight`).
    pub(crate) size: usize,
    /// Whether the packet asks the peer for an acknowledgement.
    pub(crate) ack_eliciting: bool,
    /// Whether the packet counts toward bytes in flight (congestion control).
    pub(crate) in_flight: bool,
    /// What to retransmit if the packet is lost (opaque here).
    pub(crate) payload: F,
}

/// Error in an acknowledgement: the peer misbehaves and the connection should close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AckError {
    /// The peer acknowledged a packet number that was never sent.
    #[error("peer acknowledged packet {acked}, beyond the largest sent ({largest_sent:?})")]
    UnsentPacket {
        /// The largest packet number in the acknowledgement.
        acked: u64,
        /// The largest packet number sent so far, if any.
        largest_sent: Option<u64>,
    },
}

/// Packets declared lost by one round of loss detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LostPackets<F> {
    /// The lost packets, ascending packet number, removed from tracking.
    pub(crate) packets: Vec<(u64, SentPacket<F>)>,
    /// Whether they establish persistent congestion (see [`SentPackets`] docs).
    pub(crate) persistent_congestion: bool,
}

impl<F> LostPackets<F> {
    fn none() -> Self {
        Self {
            packets: Vec::new(),
            persistent_congestion: false,
        }
    }

    #[cfg(test)]
    /// Whether nothing was lost.
    pub(crate) fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Total size of the lost in-flight packets.
    pub(crate) fn bytes_in_flight(&self) -> usize {
        in_flight(&self.packets).map(|p| p.size).sum()
    }

    /// Send time of the newest lost in-flight packet.
    pub(crate) fn largest_sent_time(&self) -> Option<Instant> {
        in_flight(&self.packets).map(|p| p.time_sent).last()
    }

    /// Reports the losses to the congestion controller (`on_lost`, then
    /// `on_persistent_congestion` if established).
    pub(crate) fn feed_congestion(&self, now: Instant, cc: &mut Congestion) {
        let Some(largest_sent_time) = self.largest_sent_time() else {
            return;
        };
        let packets = in_flight(&self.packets).count();
        cc.on_lost(now, largest_sent_time, self.bytes_in_flight(), packets);
        if self.persistent_congestion {
            cc.on_persistent_congestion();
        }
    }
}

/// Result of processing one ACK frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AckOutcome<F> {
    /// Newly acknowledged packets, ascending packet number, removed from tracking.
    pub(crate) newly_acked: Vec<(u64, SentPacket<F>)>,
    /// The RTT sample taken from this ack, if any.
    pub(crate) rtt_sample: Option<Duration>,
    /// Packets declared lost after processing this ack.
    pub(crate) lost: LostPackets<F>,
    /// The RTT sample with the ack delay removed, for the congestion controller.
    pub(crate) delay: Option<DelaySample>,
}

/// An RTT sample with the peer's ack delay removed (unless that would go below the
/// minimum), and the path's minimum RTT when it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DelaySample {
    /// The adjusted sample.
    pub(crate) rtt: Duration,
    /// Minimum RTT seen on the path, this sample included.
    pub(crate) min_rtt: Duration,
}

impl<F> AckOutcome<F> {
    fn nothing() -> Self {
        Self {
            newly_acked: Vec::new(),
            rtt_sample: None,
            lost: LostPackets::none(),
            delay: None,
        }
    }

    #[cfg(test)]
    /// Send time of the newest newly acknowledged packet.
    pub(crate) fn largest_newly_acked_sent_time(&self) -> Option<Instant> {
        self.newly_acked.last().map(|(_, p)| p.time_sent)
    }

    /// Reports the ack to the congestion controller: the RTT sample, then in RFC 9002
    /// order the losses (which may start a recovery period), then each acknowledged
    /// in-flight packet.
    pub(crate) fn feed_congestion(&self, now: Instant, cc: &mut Congestion) {
        if let Some(d) = self.delay {
            cc.on_rtt_sample(d.rtt, d.min_rtt);
        }
        self.lost.feed_congestion(now, cc);
        for packet in in_flight(&self.newly_acked) {
            cc.on_acked(now, packet.time_sent, packet.size);
        }
    }
}

fn in_flight<F>(packets: &[(u64, SentPacket<F>)]) -> impl Iterator<Item = &SentPacket<F>> {
    packets.iter().map(|(_, p)| p).filter(|p| p.in_flight)
}

#[cfg(test)]
/// Which loss-recovery timer is due next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// Time-threshold loss: call [`SentPackets::detect_lost_on_timeout`].
    Loss,
    /// Probe timeout: increment `pto_count` and send a probe.
    Pto,
}

/// Unacknowledged sent packets and the loss detector's state.
///
/// Loss rules (RFC 9002 §6.1), for packets below the largest acknowledged: lost if
/// [`PACKET_THRESHOLD`] higher numbers were acknowledged, or if sent at least
/// [`RttEstimator::loss_delay`] ago.
///
/// Persistent congestion (RFC 9002 §7.6, simplified): within one batch of lost packets,
/// a run of consecutive packet numbers (none acknowledged in between) contains two
/// ack-eliciting packets, both sent after the first RTT sample, whose send times are
/// more than 3 × [`RttEstimator::pto_base`] apart. Packets declared lost by an earlier
/// batch break a run, so detection is slightly more conservative than the RFC.
///
/// Memory: packets live in a `BTreeMap`, which holds no heap once empty, so an idle
/// connection costs a few words here.
#[derive(Debug, Clone)]
pub(crate) struct SentPackets<F> {
    packets: BTreeMap<u64, SentPacket<F>>,
    /// One above the largest packet number sent (0: none yet).
    sent_below: u64,
    /// One above the largest packet number acknowledged (0: none yet).
    acked_below: u64,
    ack_eliciting_outstanding: u32,
    time_of_last_ack_eliciting: Option<Instant>,
    loss_time: Option<Instant>,
    first_rtt_sample_at: Option<Instant>,
}

impl<F> Default for SentPackets<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> SentPackets<F> {
    /// Nothing sent yet.
    pub(crate) fn new() -> Self {
        Self {
            packets: BTreeMap::new(),
            sent_below: 0,
            acked_below: 0,
            ack_eliciting_outstanding: 0,
            time_of_last_ack_eliciting: None,
            loss_time: None,
            first_rtt_sample_at: None,
        }
    }

    /// Notes a packet that is not tracked (ACK-only): acknowledging it later
    /// is legal, and nothing needs to happen when it is.
    pub(crate) fn on_untracked_sent(&mut self, pn: u64) {
        debug_assert!(pn >= self.sent_below);
        self.sent_below = pn + 1;
    }

    /// Records a sent packet. Packet numbers must be strictly increasing.
    pub(crate) fn on_packet_sent(&mut self, pn: u64, packet: SentPacket<F>) {
        debug_assert!(pn >= self.sent_below);
        self.sent_below = pn + 1;
        if packet.ack_eliciting {
            self.ack_eliciting_outstanding += 1;
            self.time_of_last_ack_eliciting = Some(packet.time_sent);
        }
        self.packets.insert(pn, packet);
    }

    /// Processes an ACK frame received at `now`: `ranges` of acknowledged packet numbers
    /// (any order; the wire gives them descending), the peer's reported `ack_delay`
    /// (capped here at `max_ack_delay`). Takes an RTT sample when the largest
    /// acknowledged packet is newly acknowledged and at least one newly acknowledged
    /// packet is ack-eliciting (RFC 9002 §5.1), then runs loss detection.
    ///
    /// Acknowledging a packet number above the largest sent is a protocol violation:
    /// nothing is changed and an error is returned. Acks of packets already
    /// acknowledged or declared lost are ignored.
    pub(crate) fn on_ack_received(
        &mut self,
        now: Instant,
        ranges: &[RangeInclusive<u64>],
        ack_delay: Duration,
        rtt: &mut RttEstimator,
        max_ack_delay: Duration,
    ) -> Result<AckOutcome<F>, AckError> {
        let Some(largest) = ranges
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| *r.end())
            .max()
        else {
            return Ok(AckOutcome::nothing());
        };
        if largest >= self.sent_below {
            let largest_sent = self.largest_sent();
            return Err(AckError::UnsentPacket {
                acked: largest,
                largest_sent,
            });
        }
        self.acked_below = self.acked_below.max(largest + 1);
        let newly_acked = self.remove_acked(ranges);
        if newly_acked.is_empty() {
            return Ok(AckOutcome::nothing());
        }
        let rtt_sample = self.rtt_sample(now, largest, &newly_acked);
        let delay = rtt_sample.map(|sample| {
            let ack_delay = ack_delay.min(max_ack_delay);
            rtt.update(sample, ack_delay);
            self.first_rtt_sample_at.get_or_insert(now);
            let adjusted = sample.checked_sub(ack_delay).filter(|a| *a >= rtt.min());
            DelaySample {
                rtt: adjusted.unwrap_or(sample),
                min_rtt: rtt.min(),
            }
        });
        let lost = self.detect_lost(now, rtt, max_ack_delay);
        Ok(AckOutcome {
            newly_acked,
            rtt_sample,
            lost,
            delay,
        })
    }

    /// When the loss timer fires: declares lost every packet whose time threshold has
    /// passed by `now`.
    pub(crate) fn detect_lost_on_timeout(
        &mut self,
        now: Instant,
        rtt: &RttEstimator,
        max_ack_delay: Duration,
    ) -> LostPackets<F> {
        self.detect_lost(now, rtt, max_ack_delay)
    }

    /// Earliest instant at which a packet below the largest acknowledged crosses the
    /// time threshold, as computed by the last loss detection.
    pub(crate) fn loss_time(&self) -> Option<Instant> {
        self.loss_time
    }

    /// Probe timeout deadline: the send time of the last ack-eliciting packet plus
    /// [`RttEstimator::pto_base`] × 1.5^`pto_count` (factor capped at 60×, result capped
    /// at [`MAX_BACKED_OFF_PTO`] unless the base alone is larger). `None` if no
    /// ack-eliciting packet is outstanding.
    pub(crate) fn pto_deadline(
        &self,
        rtt: &RttEstimator,
        max_ack_delay: Duration,
        pto_count: u32,
    ) -> Option<Instant> {
        if self.ack_eliciting_outstanding == 0 {
            return None;
        }
        let last = self.time_of_last_ack_eliciting?;
        Some(last + backoff(rtt.pto_base(max_ack_delay), pto_count))
    }

    #[cfg(test)]
    /// The timer to arm: the loss timer if set (it takes precedence, RFC 9002 §6.2.1),
    /// else the probe timeout.
    pub(crate) fn next_timeout(
        &self,
        rtt: &RttEstimator,
        max_ack_delay: Duration,
        pto_count: u32,
    ) -> Option<(Instant, TimerKind)> {
        if let Some(time) = self.loss_time {
            return Some((time, TimerKind::Loss));
        }
        let pto = self.pto_deadline(rtt, max_ack_delay, pto_count)?;
        Some((pto, TimerKind::Pto))
    }

    #[cfg(test)]
    /// The oldest outstanding ack-eliciting packet: what a PTO probe should re-send.
    pub(crate) fn oldest_unacked_ack_eliciting(&self) -> Option<(u64, &F)> {
        self.unacked_ack_eliciting().next()
    }

    /// Outstanding packets from packet number `from` on, ascending.
    pub(crate) fn iter_from(&self, from: u64) -> impl Iterator<Item = (u64, &SentPacket<F>)> {
        self.packets.range(from..).map(|(pn, p)| (*pn, p))
    }

    /// Outstanding ack-eliciting packets' payloads, oldest first.
    pub(crate) fn unacked_ack_eliciting(&self) -> impl Iterator<Item = (u64, &F)> {
        let eliciting = self.packets.iter().filter(|(_, p)| p.ack_eliciting);
        eliciting.map(|(pn, p)| (*pn, &p.payload))
    }

    #[cfg(test)]
    /// Bytes of tracked in-flight packets (the congestion controller keeps the
    /// count the sender uses).
    pub(crate) fn bytes_in_flight(&self) -> usize {
        let packets = self.packets.values();
        packets.filter(|p| p.in_flight).map(|p| p.size).sum()
    }

    #[cfg(test)]
    /// Whether any ack-eliciting packet is outstanding.
    pub(crate) fn has_ack_eliciting_in_flight(&self) -> bool {
        self.ack_eliciting_outstanding > 0
    }

    /// Largest packet number the peer acknowledged so far.
    pub(crate) fn largest_acked(&self) -> Option<u64> {
        self.acked_below.checked_sub(1)
    }

    /// Largest packet number sent so far.
    pub(crate) fn largest_sent(&self) -> Option<u64> {
        self.sent_below.checked_sub(1)
    }

    #[cfg(test)]
    /// Whether no packet is outstanding.
    pub(crate) fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    #[cfg(test)]
    /// Number of outstanding packets.
    pub(crate) fn len(&self) -> usize {
        self.packets.len()
    }

    #[cfg(test)]
    /// Stops tracking every outstanding packet (connection close or path reset) and
    /// returns them, ascending. Packet numbers stay unused: the next one sent must
    /// still be above [`SentPackets::largest_sent`].
    pub(crate) fn discard_all(&mut self) -> impl Iterator<Item = (u64, SentPacket<F>)> + use<F> {
        self.ack_eliciting_outstanding = 0;
        self.time_of_last_ack_eliciting = None;
        self.loss_time = None;
        std::mem::take(&mut self.packets).into_iter()
    }

    fn remove_acked(&mut self, ranges: &[RangeInclusive<u64>]) -> Vec<(u64, SentPacket<F>)> {
        let mut pns = Vec::new();
        for range in ranges.iter().filter(|r| !r.is_empty()) {
            pns.extend(self.packets.range(range.clone()).map(|(pn, _)| *pn));
        }
        pns.sort_unstable();
        pns.dedup();
        pns.into_iter().filter_map(|pn| self.remove(pn)).collect()
    }

    fn remove(&mut self, pn: u64) -> Option<(u64, SentPacket<F>)> {
        let packet = self.packets.remove(&pn)?;
        if self.packets.is_empty() {
            // An emptied map keeps its root node (about 1 KiB): free it.
            self.packets = BTreeMap::new();
        }
        if packet.ack_eliciting {
            self.ack_eliciting_outstanding -= 1;
        }
        Some((pn, packet))
    }

    fn rtt_sample(
        &self,
        now: Instant,
        largest: u64,
        newly_acked: &[(u64, SentPacket<F>)],
    ) -> Option<Duration> {
        let (pn, packet) = newly_acked.last()?;
        let any_eliciting = newly_acked.iter().any(|(_, p)| p.ack_eliciting);
        (*pn == largest && any_eliciting).then(|| now.saturating_duration_since(packet.time_sent))
    }

    fn detect_lost(
        &mut self,
        now: Instant,
        rtt: &RttEstimator,
        max_ack_delay: Duration,
    ) -> LostPackets<F> {
        self.loss_time = None;
        let Some(largest_acked) = self.largest_acked() else {
            return LostPackets::none();
        };
        let loss_delay = rtt.loss_delay();
        let mut lost_pns = Vec::new();
        for (&pn, packet) in self.packets.range(..largest_acked) {
            let by_count = largest_acked - pn >= PACKET_THRESHOLD;
            if by_count || now.saturating_duration_since(packet.time_sent) >= loss_delay {
                lost_pns.push(pn);
            } else {
                let at = packet.time_sent + loss_delay;
                self.loss_time = Some(self.loss_time.map_or(at, |t| t.min(at)));
            }
        }
        let packets: Vec<_> = lost_pns
            .into_iter()
            .filter_map(|pn| self.remove(pn))
            .collect();
        let period = rtt.pto_base(max_ack_delay) * PERSISTENT_CONGESTION_THRESHOLD;
        let persistent_congestion = self.is_persistent(&packets, period);
        LostPackets {
            packets,
            persistent_congestion,
        }
    }

    /// See the persistent congestion rule in the type's docs.
    fn is_persistent(&self, lost: &[(u64, SentPacket<F>)], period: Duration) -> bool {
        let Some(first_sample) = self.first_rtt_sample_at else {
            return false;
        };
        let mut run_start: Option<Instant> = None;
        let mut previous_pn: Option<u64> = None;
        for (pn, packet) in lost {
            if previous_pn.is_some_and(|prev| prev + 1 != *pn) {
                run_start = None;
            }
            previous_pn = Some(*pn);
            if !packet.ack_eliciting || packet.time_sent <= first_sample {
                continue;
            }
            match run_start {
                None => run_start = Some(packet.time_sent),
                Some(start) if packet.time_sent - start > period => return true,
                Some(_) => {}
            }
        }
        false
    }
}

/// `base` × min(1.5^`pto_count`, 60), capped at [`MAX_BACKED_OFF_PTO`] but never
/// below `base`. Exact integer arithmetic on nanoseconds.
fn backoff(base: Duration, pto_count: u32) -> Duration {
    if base >= MAX_BACKED_OFF_PTO {
        return base;
    }
    let steps = pto_count.min(MAX_BACKOFF_STEPS);
    let base_nanos = base.as_nanos();
    let nanos =
        (base_nanos * 3u128.pow(steps) / 2u128.pow(steps)).min(base_nanos * MAX_BACKOFF_FACTOR);
    let backed_off = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
    backed_off.min(MAX_BACKED_OFF_PTO)
}

#[cfg(test)]
#[path = "sent_tests.rs"]
mod tests;
