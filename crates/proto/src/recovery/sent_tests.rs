//! Script-style tests of [`SentPackets`]: "at time T send pn …, ack {…} → expect …".

use super::*;
use crate::recovery::rtt::{GRANULARITY, MIN_PTO};
use crate::recovery::test_instant;

const MDS: usize = 1200;
const MAX_ACK_DELAY: Duration = Duration::from_millis(25);

/// A sender with a virtual clock in milliseconds since `t0`. Payload = packet number.
struct Script {
    t0: Instant,
    sent: SentPackets<u64>,
    rtt: RttEstimator,
}

impl Script {
    fn new() -> Self {
        Self {
            t0: test_instant(),
            sent: SentPackets::new(),
            rtt: RttEstimator::default(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn packet(&self, pn: u64, ms: u64, ack_eliciting: bool) -> SentPacket<u64> {
        SentPacket {
            time_sent: self.at(ms),
            size: MDS,
            ack_eliciting,
            in_flight: ack_eliciting,
            payload: pn,
        }
    }

    /// Sends ack-eliciting packets `pns` at `ms`.
    fn send(&mut self, pns: RangeInclusive<u64>, ms: u64) {
        for pn in pns {
            self.sent.on_packet_sent(pn, self.packet(pn, ms, true));
        }
    }

    /// Sends an ACK-only packet (not ack-eliciting, not in flight) at `ms`.
    fn send_ack_only(&mut self, pn: u64, ms: u64) {
        self.sent.on_packet_sent(pn, self.packet(pn, ms, false));
    }

    fn ack(&mut self, ms: u64, ranges: &[RangeInclusive<u64>]) -> AckOutcome<u64> {
        self.ack_delayed(ms, ranges, Duration::ZERO)
    }

    fn ack_delayed(
        &mut self,
        ms: u64,
        ranges: &[RangeInclusive<u64>],
        delay: Duration,
    ) -> AckOutcome<u64> {
        let now = self.at(ms);
        let rtt = &mut self.rtt;
        self.sent
            .on_ack_received(now, ranges, delay, rtt, MAX_ACK_DELAY)
            .expect("valid ack")
    }

    fn remaining(&self) -> Vec<u64> {
        self.sent
            .unacked_ack_eliciting()
            .map(|(pn, _)| pn)
            .collect()
    }
}

fn pns(packets: &[(u64, SentPacket<u64>)]) -> Vec<u64> {
    packets.iter().map(|(pn, _)| *pn).collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn gap_smaller_than_packet_threshold_is_not_lost() {
    let mut s = Script::new();
    s.send(0..=5, 0);
    // ack {4,5} and {0..2} (descending, as on the wire): pn 3 is missing, but only
    // 2 higher numbers are acked (3 + 3 = 6 > 5): not lost yet.
    let out = s.ack(50, &[4..=5, 0..=2]);
    assert_eq!(pns(&out.newly_acked), [0, 1, 2, 4, 5]);
    assert!(out.lost.is_empty());
    assert_eq!(s.remaining(), [3]);
    assert_eq!(s.sent.largest_acked(), Some(5));
    // Send pn 6, ack it: now 3 + 3 ≤ 6, pn 3 is lost by the packet threshold.
    s.send(6..=6, 60);
    let out = s.ack(61, &[6..=6]);
    assert_eq!(pns(&out.lost.packets), [3]);
    assert_eq!(out.lost.packets[0].1.payload, 3);
    assert!(s.sent.is_empty());
    assert_eq!(s.sent.bytes_in_flight(), 0);
}

#[test]
fn time_threshold_declares_loss_when_loss_timer_fires() {
    let mut s = Script::new();
    s.send(0..=1, 0);
    // Ack of pn 1 only at 80 ms: RTT sample 80 ms, loss delay 9/8 · 80 = 90 ms.
    let out = s.ack(80, &[1..=1]);
    assert_eq!(out.rtt_sample, Some(ms(80)));
    assert!(out.lost.is_empty(), "pn 0 sent 80 ms ago < 90 ms");
    assert_eq!(s.sent.loss_time(), Some(s.at(90)));
    let timer = s.sent.next_timeout(&s.rtt, MAX_ACK_DELAY, 0);
    assert_eq!(timer, Some((s.at(90), TimerKind::Loss)));
    // Firing early declares nothing; firing on time declares pn 0 lost.
    let early = s
        .sent
        .detect_lost_on_timeout(s.at(89), &s.rtt, MAX_ACK_DELAY);
    assert!(early.is_empty());
    let lost = s
        .sent
        .detect_lost_on_timeout(s.at(90), &s.rtt, MAX_ACK_DELAY);
    assert_eq!(pns(&lost.packets), [0]);
    assert_eq!(s.sent.loss_time(), None);
    assert_eq!(s.sent.next_timeout(&s.rtt, MAX_ACK_DELAY, 0), None);
}

#[test]
fn time_threshold_on_ack_uses_largest_of_smoothed_and_latest() {
    let mut s = Script::new();
    s.send(0..=0, 0);
    s.ack(10, &[0..=0]); // smoothed = latest = 10 ms
    s.send(1..=2, 20);
    s.send(3..=3, 40);
    // Ack of pn 3 at 50 ms: sample 10 ms, loss delay max(9/8 · 10, 15) = 15 ms.
    // pns 1 and 2 were sent 30 ms ago: lost by time although only 1–2 numbers below.
    let out = s.ack(50, &[3..=3]);
    assert_eq!(pns(&out.lost.packets), [1, 2]);
    assert_eq!(s.rtt.loss_delay(), GRANULARITY);
}

#[test]
fn rtt_sample_only_when_largest_is_newly_acked_and_something_elicits() {
    let mut s = Script::new();
    s.send(0..=2, 0);
    // Largest acked (2) newly acked: sample 30 ms.
    assert_eq!(s.ack(30, &[2..=2]).rtt_sample, Some(ms(30)));
    // pn 1 newly acked but the largest (2) is not: no sample.
    assert_eq!(s.ack(40, &[1..=2]).rtt_sample, None);
    // Duplicate ack: nothing new, no sample.
    let dup = s.ack(50, &[1..=2]);
    assert!(dup.newly_acked.is_empty() && dup.rtt_sample.is_none());
    // Only an ACK-only packet newly acked: no sample.
    s.send_ack_only(3, 60);
    assert_eq!(s.ack(70, &[3..=3]).rtt_sample, None);
    assert_eq!(s.rtt.latest(), ms(30));
}

#[test]
fn ack_delay_is_capped_by_max_ack_delay() {
    let mut s = Script::new();
    s.send(0..=0, 0);
    s.ack(100, &[0..=0]); // first sample 100 ms: min 100 ms
    s.send(1..=1, 200);
    // 200 ms sample, peer claims 90 ms of ack delay: only 25 ms are subtracted.
    s.ack_delayed(400, &[1..=1], ms(90));
    // smoothed = (7·100 + 175) / 8 = 109.375 ms
    assert_eq!(s.rtt.smoothed(), Duration::from_micros(109_375));
}

#[test]
fn ack_of_unsent_packet_is_a_violation_and_changes_nothing() {
    let mut s = Script::new();
    let mut rtt = RttEstimator::default();
    let err = s
        .sent
        .on_ack_received(s.at(1), &[0..=0], ms(0), &mut rtt, MAX_ACK_DELAY);
    let expected = AckError::UnsentPacket {
        acked: 0,
        largest_sent: None,
    };
    assert_eq!(err.unwrap_err(), expected);
    s.send(0..=3, 0);
    let err = s
        .sent
        .on_ack_received(s.at(5), &[0..=4], ms(0), &mut rtt, MAX_ACK_DELAY);
    let expected = AckError::UnsentPacket {
        acked: 4,
        largest_sent: Some(3),
    };
    assert_eq!(err.unwrap_err(), expected);
    assert_eq!(s.remaining(), [0, 1, 2, 3]);
    assert_eq!(s.sent.largest_acked(), None);
    assert!(!rtt.has_sample());
}

#[test]
fn malformed_ranges_are_ignored_without_panicking() {
    let mut s = Script::new();
    s.send(0..=5, 0);
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 4..=2;
    let out = s.ack(10, &[reversed, 1..=1, 1..=1, 0..=1]);
    assert_eq!(pns(&out.newly_acked), [0, 1]);
    assert!(s.ack(20, &[]).newly_acked.is_empty());
}

#[test]
fn pto_deadline_backs_off_by_one_and_a_half() {
    let mut s = Script::new();
    assert_eq!(s.sent.pto_deadline(&s.rtt, MAX_ACK_DELAY, 0), None);
    s.send(0..=0, 0);
    s.send(1..=1, 100);
    s.send_ack_only(2, 200); // does not move the PTO
    // No sample yet: base = 100 + 4·50 + 25 = 325 ms, from the last ack-eliciting send.
    let deadline = |s: &Script, n| s.sent.pto_deadline(&s.rtt, MAX_ACK_DELAY, n);
    assert_eq!(deadline(&s, 0), Some(s.at(100 + 325)));
    assert_eq!(
        deadline(&s, 1),
        Some(s.at(100) + Duration::from_micros(487_500))
    );
    assert_eq!(
        deadline(&s, 2),
        Some(s.at(100) + Duration::from_micros(731_250))
    );
    // 1.5^10 · 325 ms ≈ 18.7 s: capped at 8 s.
    assert_eq!(deadline(&s, 10), Some(s.at(100) + MAX_BACKED_OFF_PTO));
    assert_eq!(deadline(&s, u32::MAX), Some(s.at(100) + MAX_BACKED_OFF_PTO));
    let timer = s.sent.next_timeout(&s.rtt, MAX_ACK_DELAY, 1);
    assert_eq!(
        timer,
        Some((s.at(100) + Duration::from_micros(487_500), TimerKind::Pto))
    );
}

#[test]
fn pto_backoff_factor_caps_at_sixty_on_fast_paths() {
    let mut s = Script::new();
    s.send(0..=0, 0);
    s.rtt.update(Duration::from_micros(40), Duration::ZERO); // loopback: base = MIN_PTO
    let deadline = |n| s.sent.pto_deadline(&s.rtt, Duration::ZERO, n);
    assert_eq!(deadline(0), Some(s.at(0) + MIN_PTO));
    assert_eq!(
        deadline(30),
        Some(s.at(0) + MIN_PTO * 60),
        "30 ms · 60 = 1.8 s"
    );
}

#[test]
fn pto_disarmed_once_everything_eliciting_is_acked() {
    let mut s = Script::new();
    s.send(0..=1, 0);
    s.send_ack_only(2, 5);
    s.ack(30, &[0..=1]);
    assert!(!s.sent.has_ack_eliciting_in_flight());
    assert_eq!(s.sent.pto_deadline(&s.rtt, MAX_ACK_DELAY, 0), None);
    assert_eq!(s.sent.len(), 1, "the ACK-only packet is still tracked");
}

#[test]
fn probe_targets_oldest_unacked_data() {
    let mut s = Script::new();
    s.send(0..=3, 0);
    s.send_ack_only(4, 1);
    s.ack(20, &[2..=2, 0..=0]);
    assert_eq!(s.sent.oldest_unacked_ack_eliciting(), Some((1, &1)));
    assert_eq!(s.remaining(), [1, 3]);
    assert_eq!(s.sent.bytes_in_flight(), 2 * MDS);
}

#[test]
fn persistent_congestion_when_a_run_of_losses_spans_three_ptos() {
    let mut s = Script::new();
    s.send(0..=0, 0);
    s.ack(10, &[0..=0]); // sample 10 ms: pto_base = 10 + 15 + 0 → floored to 30 ms
    for (pn, t) in [(1, 20), (2, 50), (3, 80), (4, 110), (5, 140), (6, 150)] {
        s.send(pn..=pn, t);
    }
    let now = s.at(160);
    let rtt = &mut s.rtt;
    let out = s
        .sent
        .on_ack_received(now, &[6..=6], ms(0), rtt, ms(0))
        .unwrap();
    // 1..3 lost by count, 4..5 by time (15 ms); 140 − 20 = 120 ms > 3 · 30 ms.
    assert_eq!(pns(&out.lost.packets), [1, 2, 3, 4, 5]);
    assert!(out.lost.persistent_congestion);
}

#[test]
fn an_ack_inside_the_run_prevents_persistent_congestion() {
    let mut s = Script::new();
    s.send(0..=0, 0);
    s.ack(10, &[0..=0]);
    for (pn, t) in [(1, 20), (2, 50), (3, 80), (4, 110), (5, 140), (6, 150)] {
        s.send(pn..=pn, t);
    }
    let now = s.at(160);
    let rtt = &mut s.rtt;
    let out = s
        .sent
        .on_ack_received(now, &[6..=6, 3..=3], ms(0), rtt, ms(0))
        .unwrap();
    assert_eq!(pns(&out.lost.packets), [1, 2, 4, 5]);
    assert!(
        !out.lost.persistent_congestion,
        "runs 1–2 and 4–5 span 30 ms each"
    );
}

#[test]
fn losses_sent_before_the_first_rtt_sample_are_not_persistent() {
    let mut s = Script::new();
    for pn in 0..=5 {
        s.send(pn..=pn, 1000 * pn);
    }
    let out = s.ack(5010, &[5..=5]);
    assert_eq!(pns(&out.lost.packets), [0, 1, 2, 3, 4]);
    assert!(
        !out.lost.persistent_congestion,
        "4 s span, but no sample before"
    );
}

#[test]
fn outcome_feeds_congestion_controller() {
    let mut s = Script::new();
    let mut cc = Congestion::new(MDS);
    for pn in 0..=9 {
        s.send(pn..=pn, 0);
        cc.on_sent(MDS);
    }
    // Ack {4, 5} at 50 ms: 0..2 lost by count (pn + 3 ≤ 5); pn 3 was sent 50 ms ago,
    // under the 9/8 · 50 ms time threshold, so it is still outstanding.
    let out = s.ack(50, &[4..=5]);
    assert_eq!(out.largest_newly_acked_sent_time(), Some(s.at(0)));
    assert_eq!(pns(&out.lost.packets), [0, 1, 2]);
    assert_eq!(out.lost.bytes_in_flight(), 3 * MDS);
    assert_eq!(
        out.delay.map(|d| (d.rtt, d.min_rtt)),
        Some((ms(50), ms(50)))
    );
    out.feed_congestion(s.at(50), &mut cc);
    // Three of ten lost with no standing queue: random loss, no reduction; the two
    // acks grow the window in slow start.
    assert_eq!(cc.window(), 12 * MDS);
    assert_eq!(cc.bytes_in_flight(), 5 * MDS);
    assert_eq!(cc.bytes_in_flight(), s.sent.bytes_in_flight());
}

#[test]
fn discard_all_empties_tracking_but_keeps_packet_numbers() {
    let mut s = Script::new();
    s.send(0..=2, 0);
    s.send_ack_only(3, 1);
    s.ack(20, &[1..=1]);
    let discarded: Vec<_> = s.sent.discard_all().map(|(pn, _)| pn).collect();
    assert_eq!(discarded, [0, 2, 3]);
    assert!(s.sent.is_empty());
    assert_eq!(s.sent.bytes_in_flight(), 0);
    assert!(!s.sent.has_ack_eliciting_in_flight());
    assert_eq!(s.sent.loss_time(), None);
    assert_eq!(s.sent.largest_sent(), Some(3));
    assert_eq!(s.sent.next_timeout(&s.rtt, MAX_ACK_DELAY, 0), None);
}
