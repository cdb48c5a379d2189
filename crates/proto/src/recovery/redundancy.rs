//! Redundancy for small packets on randomly lossy paths.
//!
//! Retransmission alone sets a floor under the tail: a message whose retransmission
//! is lost too waits at least a probe timeout (30 ms or more), and at 36 % loss per
//! hop (20 % dropped on each side) a few percent of messages lose two in a row. When
//! the path is *randomly* lossy, each small ack-eliciting packet is therefore sent
//! again, in two passes:
//!
//! - **first copy**, [`crate::TransportConfig::redundancy_spacing`] after the
//!   original, blind: at 36 % loss it leaves 13 % of packets with neither copy
//!   through;
//! - **second copy**, only if the packet is still unacknowledged one RTT later
//!   (spacing + smoothed RTT + 4 × RTT variation, [`RedundancyRule::again`]): by then
//!   the ack of either transmission would normally be back, so what is left is a
//!   double loss (or a lost ACK). This recovers the 13 % after about one RTT instead
//!   of the probe timeout (which adds the 15 ms timer granularity and the peer's
//!   `max_ack_delay`, and 9/8 RTT of time threshold waits for a later packet that a
//!   chat flow may not send soon). Three transmissions leave 4.7 % to loss
//!   detection; in the simulated chat flow at 36 % loss each way
//!   (`tests/redundancy.rs`) second copies cost a quarter of the bytes of the first
//!   ones, where a blind second copy would cost as much.
//!
//! A copy is a new packet (own packet number, own ACK) carrying the same message
//! fragments. The receiver drops the fragment it already has, exactly as for a
//! retransmission, so the wire format and the receiver do not change.
//!
//! The rule, checked when a copy is due:
//!
//! - **randomly lossy**: the recent loss rate (the congestion controller's moving
//!   average over ~64 packets) is at least `redundancy_min_loss` %, *and* the path
//!   shows no sign of congestion: no standing queue (the smallest RTT of the last
//!   round is near the path's minimum) and no loss burst. Loss that comes with a
//!   growing queue is congestion, and a copy would only add to it; loss without
//!   queueing delay is the link's (Wi-Fi, mobile);
//! - **small**: only packets of at most `redundancy_max_size` bytes are copied (chat
//!   messages; a bulk transfer's full packets never are);
//! - **budgeted**: every original packet sent earns `redundancy_budget` % of its size
//!   in credit (capped at four full datagrams) and a copy spends its size, so the
//!   extra bytes never exceed that share of what was sent, plus the cap (both passes
//!   spend the same credit; at the default 200 % a second copy is always affordable
//!   when it is due);
//! - **within the window**: a copy is in flight like any packet and waits for the
//!   congestion window (it is skipped, not queued, if the window is full). Copies
//!   skip the pacer; the credit cap bounds a burst of them to four datagrams.
//!
//! Copies are counted in [`crate::ConnectionStats::redundant_packets`] and
//! [`crate::ConnectionStats::redundant_bytes`].

use std::time::{Duration, Instant};

/// Credit never exceeds this many full datagrams.
const MAX_CREDIT_DATAGRAMS: usize = 4;

/// Per-connection redundancy state: three words.
///
/// Candidates are not stored: they are the packets in flight from [`Redundancy::next`]
/// on (the connection's sent-packet table already holds them, and forgets them once
/// acknowledged, which is what makes the second pass ack-aware).
#[derive(Debug, Clone, Default)]
pub(crate) struct Redundancy {
    /// Bytes of copies the budget allows now.
    credit: u32,
    /// The oldest packet number whose first copy may still be due, plus one (0: none).
    next_plus_one: u64,
    /// The oldest packet number whose second copy may still be due, plus one (0: none).
    again_plus_one: u64,
}

/// The two passes over the candidates (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// The blind copy, `spacing` after the original.
    First,
    /// The copy of a packet still unacknowledged one RTT after its first copy.
    Again,
}

/// The redundancy settings of a connection (from its transport config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedundancyRule {
    /// Recent loss rate, in percent, from which a path may be randomly lossy.
    pub(crate) min_loss: u32,
    /// Largest packet copied, in bytes.
    pub(crate) max_size: usize,
    /// Extra bytes allowed, in percent of the bytes of original packets.
    pub(crate) budget: u32,
    /// Delay between an original and its copy.
    pub(crate) spacing: Duration,
    /// Largest datagram (the credit cap is a few of them).
    pub(crate) max_datagram_size: usize,
    /// How long after its first copy is due a still unacknowledged packet gets a
    /// second one: the smoothed RTT plus four RTT variations (the RTO of RFC 6298
    /// without its floor; a late ack costs one small spurious copy, not a wait).
    pub(crate) again: Duration,
}

impl Redundancy {
    /// Records an original (not a copy) ack-eliciting packet `pn` of `size` bytes
    /// carrying message data: earns credit and makes the packet a copy candidate if
    /// it is small enough.
    pub(crate) fn on_original_sent(&mut self, rule: &RedundancyRule, pn: u64, size: usize) {
        if rule.budget == 0 {
            return;
        }
        let earned = size * rule.budget as usize / 100;
        let cap = MAX_CREDIT_DATAGRAMS * rule.max_datagram_size;
        let credit = (self.credit as usize + earned).min(cap);
        self.credit = u32::try_from(credit).unwrap_or(u32::MAX);
        if size > rule.max_size {
            return;
        }
        for cursor in [&mut self.next_plus_one, &mut self.again_plus_one] {
            if *cursor == 0 {
                *cursor = pn + 1;
            }
        }
    }

    /// The oldest packet number that may still need a copy in `pass`.
    pub(crate) fn next(&self, pass: Pass) -> Option<u64> {
        match pass {
            Pass::First => self.next_plus_one,
            Pass::Again => self.again_plus_one,
        }
        .checked_sub(1)
    }

    /// Whether no candidate is left in either pass.
    pub(crate) fn is_idle(&self) -> bool {
        self.next_plus_one == 0 && self.again_plus_one == 0
    }

    /// The next scan of `pass` starts at `pn` (`None`: every candidate so far was
    /// copied or passed over).
    pub(crate) fn resume_at(&mut self, pass: Pass, pn: Option<u64>) {
        let cursor = match pass {
            Pass::First => &mut self.next_plus_one,
            Pass::Again => &mut self.again_plus_one,
        };
        *cursor = pn.map_or(0, |pn| pn + 1);
    }

    /// Forgets every candidate (the path stopped being randomly lossy: packets
    /// sent until now are never copied).
    pub(crate) fn clear(&mut self) {
        self.next_plus_one = 0;
        self.again_plus_one = 0;
    }

    /// Bytes of copies the budget allows now.
    pub(crate) fn credit(&self) -> usize {
        self.credit as usize
    }

    /// Records a copy of `size` bytes just sent.
    pub(crate) fn on_copy_sent(&mut self, size: usize) {
        let spent = u32::try_from(size).unwrap_or(u32::MAX);
        self.credit = self.credit.saturating_sub(spent);
    }
}

impl RedundancyRule {
    /// Whether an unacknowledged packet of `size` bytes sent at `sent` is a copy
    /// candidate in `pass` at `now`: `Ok(())` if its copy is due, `Err(Some(at))` if
    /// it will be at `at`, `Err(None)` if it is never copied (too large).
    pub(crate) fn due(
        &self,
        pass: Pass,
        now: Instant,
        sent: Instant,
        size: usize,
    ) -> Result<(), Option<Instant>> {
        if size > self.max_size {
            return Err(None);
        }
        let at = match pass {
            Pass::First => sent + self.spacing,
            Pass::Again => sent + self.spacing + self.again,
        };
        if at <= now { Ok(()) } else { Err(Some(at)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::test_instant;

    fn rule() -> RedundancyRule {
        RedundancyRule {
            min_loss: 10,
            max_size: 600,
            budget: 50,
            spacing: Duration::from_millis(2),
            max_datagram_size: 1200,
            again: Duration::from_millis(20),
        }
    }

    #[test]
    fn credit_is_a_share_of_what_was_sent_and_capped() {
        let mut r = Redundancy::default();
        r.on_original_sent(&rule(), 0, 400);
        assert_eq!(r.credit(), 200);
        assert_eq!(r.next(Pass::First), Some(0));
        assert_eq!(r.next(Pass::Again), Some(0));
        r.on_copy_sent(150);
        assert_eq!(r.credit(), 50);
        for pn in 1..100 {
            r.on_original_sent(&rule(), pn, 1200);
        }
        assert_eq!(r.credit(), 4 * 1200, "capped");
        assert_eq!(
            r.next(Pass::First),
            Some(0),
            "the oldest candidate stays first"
        );
    }

    #[test]
    fn large_packets_earn_credit_but_are_never_candidates() {
        let mut r = Redundancy::default();
        r.on_original_sent(&rule(), 7, 1200);
        assert!(r.is_idle());
        assert_eq!(r.credit(), 600);
        let t = test_instant();
        for pass in [Pass::First, Pass::Again] {
            assert_eq!(rule().due(pass, t, t, 1200), Err(None));
        }
    }

    #[test]
    fn a_copy_is_due_after_the_spacing_and_a_second_one_an_rtt_later() {
        let t = test_instant();
        let r = rule();
        let ms = Duration::from_millis;
        assert_eq!(r.due(Pass::First, t, t, 100), Err(Some(t + ms(2))));
        assert_eq!(r.due(Pass::First, t + ms(2), t, 100), Ok(()));
        assert_eq!(r.due(Pass::Again, t + ms(2), t, 100), Err(Some(t + ms(22))));
        assert_eq!(r.due(Pass::Again, t + ms(22), t, 100), Ok(()));
    }

    #[test]
    fn a_zero_budget_turns_it_off() {
        let mut r = Redundancy::default();
        let off = RedundancyRule {
            budget: 0,
            ..rule()
        };
        r.on_original_sent(&off, 0, 100);
        assert!(r.is_idle());
        assert_eq!(r.credit(), 0);
    }

    #[test]
    fn each_pass_resumes_where_it_stopped() {
        let mut r = Redundancy::default();
        r.on_original_sent(&rule(), 3, 100);
        r.resume_at(Pass::First, Some(6));
        r.on_original_sent(&rule(), 7, 100);
        assert_eq!(r.next(Pass::First), Some(6));
        assert_eq!(r.next(Pass::Again), Some(3), "the passes move apart");
        r.resume_at(Pass::First, None);
        assert_eq!(r.next(Pass::First), None);
        assert!(!r.is_idle(), "second copies may still be due");
        r.on_original_sent(&rule(), 8, 100);
        assert_eq!(r.next(Pass::First), Some(8));
        assert_eq!(r.next(Pass::Again), Some(3));
        r.clear();
        assert!(r.is_idle());
    }
}
