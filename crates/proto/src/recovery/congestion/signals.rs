//! The two signals that tell congestion from random loss: a standing queue (the
//! smallest RTT of a round well above the path's minimum) and a loss burst (the
//! recent loss rate far above what random loss explains).

use std::time::{Duration, Instant};

/// Smallest queueing delay counted as a standing queue. Scheduling jitter on the
/// machines Natter runs on reaches a few milliseconds (see `rtt::GRANULARITY`), and a
/// round's minimum filters most of it; 15 ms of delay that persists for a whole round
/// is a queue.
pub(crate) const QUEUE_DELAY_FLOOR: Duration = Duration::from_millis(15);

/// Fixed-point scale of [`LossRate`] (1.0).
const SCALE: u32 = 1 << 16;
/// Weight of each packet outcome in the fast loss-rate average: 1/64, i.e. the
/// average remembers the last ~64–128 packets. At 20 % independent random loss its
/// standard deviation is under 4 %; losses are declared in clumps (one ACK declares
/// several), which widens it, and a threshold of 35 % with a weight of 1/32 still
/// fired every few hundred packets in the simulated 20 % loss transfer.
const LOSS_GAIN_SHIFT: u32 = 6;
/// Weight of each outcome in the slow average (the path's baseline loss): 1/256,
/// about the last few hundred packets. It starts at 0, so a new connection that
/// meets a full shallow buffer still sees a burst; the price is that on a path with
/// a third of its packets lost at random the first few hundred packets may halve the
/// window a few times, until the baseline is learnt.
const BASELINE_GAIN_SHIFT: u32 = 8;
/// Loss rate above which losses are a burst (congestion) on a path without
/// baseline loss: 50 %. The baseline starts at 0 and needs a few hundred packets to
/// learn a lossy path, longer than a chat connection at a few messages a second
/// takes to send them; at 40 % the fast average of 36 % random loss (its standard
/// deviation ~4–6 points) crossed the line every few dozen packets in that time,
/// each time halving the window and turning redundancy off, and in the simulated
/// chat flow (`tests/redundancy.rs`, seed 55) a window of two packets and lost
/// probes stalled a message for 1.5 s. A loss rate of half the packets is still
/// congestion on any path; queue-induced loss below it shows as a standing queue.
const LOSS_BURST: u32 = SCALE / 100 * 50;
/// On a path with baseline loss, a burst is the fast average this far above the
/// baseline: 20 percentage points. Random loss keeps the fast average within a few
/// points of the slow one (at 36 % per packet, what `--loss 0.2` gives per hop, the
/// fast average's standard deviation is ~4–6 points); tail drop at a full buffer
/// comes in episodes that the fast average sees long before the slow one.
const LOSS_BURST_ABOVE_BASELINE: u32 = SCALE / 100 * 20;

/// Moving averages of packet outcomes (1 = lost, 0 = acked): a fast one (the recent
/// loss rate) and a slow one (the path's baseline).
#[derive(Debug, Clone, Default)]
pub(crate) struct LossRate {
    ewma: u32,
    baseline: u32,
}

impl LossRate {
    /// Records one acknowledged packet.
    pub(crate) fn on_acked(&mut self) {
        self.ewma -= self.ewma >> LOSS_GAIN_SHIFT;
        self.baseline -= self.baseline >> BASELINE_GAIN_SHIFT;
    }

    /// Records `packets` lost packets.
    pub(crate) fn on_lost(&mut self, packets: usize) {
        for _ in 0..packets.min(256) {
            self.ewma += (SCALE - self.ewma) >> LOSS_GAIN_SHIFT;
            self.baseline += (SCALE - self.baseline) >> BASELINE_GAIN_SHIFT;
        }
    }

    /// Whether the recent loss rate is too high to be the path's random loss: above
    /// 50 %, and 20 points above the baseline.
    pub(crate) fn is_burst(&self) -> bool {
        self.ewma > LOSS_BURST.max(self.baseline + LOSS_BURST_ABOVE_BASELINE)
    }

    /// Whether the recent loss rate is at least `percent` %.
    pub(crate) fn at_least(&self, percent: u32) -> bool {
        u64::from(self.ewma) * 100 >= u64::from(percent) * u64::from(SCALE)
    }

    #[cfg(test)]
    /// The fast average in percent (rounded down).
    pub(crate) fn percent(&self) -> u32 {
        self.ewma * 100 / SCALE
    }
}

/// Tracks the smallest RTT sample of each round trip against the path's minimum.
///
/// A round ends when a packet sent after the round began is acknowledged. The minimum
/// over a whole round ignores delayed acks and jitter, so a high one means every
/// packet of the round waited in a queue.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueueDelay {
    min_rtt: Option<Duration>,
    round_start: Option<Instant>,
    round_min: Option<Duration>,
    last_round_min: Option<Duration>,
}

impl QueueDelay {
    /// Records an RTT sample (ack delay removed) and the path's minimum RTT.
    pub(crate) fn on_sample(&mut self, rtt: Duration, min_rtt: Duration) {
        self.min_rtt = Some(min_rtt);
        self.round_min = Some(self.round_min.map_or(rtt, |m| m.min(rtt)));
    }

    /// Records the acknowledgement at `now` of a packet sent at `sent_time`. Returns
    /// whether that ended a round.
    pub(crate) fn on_acked(&mut self, now: Instant, sent_time: Instant) -> bool {
        if self.round_start.is_some_and(|start| sent_time < start) {
            return false;
        }
        self.round_start = Some(now);
        // A round without samples (only old packets acked) keeps the last verdict.
        if let Some(min) = self.round_min.take() {
            self.last_round_min = Some(min);
        }
        true
    }

    /// Whether the last complete round saw a standing queue: its smallest RTT exceeded
    /// the path's minimum by more than max(min RTT / 4, [`QUEUE_DELAY_FLOOR`]).
    pub(crate) fn queueing(&self) -> bool {
        let (Some(min), Some(round)) = (self.min_rtt, self.last_round_min) else {
            return false;
        };
        round.saturating_sub(min) > (min / 4).max(QUEUE_DELAY_FLOOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::test_instant;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn random_loss_at_twenty_percent_is_not_a_burst() {
        let mut rate = LossRate::default();
        // Every fifth packet lost, for a long time.
        for i in 0..10_000 {
            if i % 5 == 0 {
                rate.on_lost(1);
            } else {
                rate.on_acked();
            }
            assert!(!rate.is_burst(), "packet {i}: {}%", rate.percent());
        }
    }

    #[test]
    fn a_new_path_with_random_loss_of_a_third_is_not_a_burst() {
        use rand::{Rng, SeedableRng};
        // The first packets of a connection, before the baseline knows the path:
        // 36 % independent loss, declared one by one. Each seed is a connection's
        // first 400 packets (a chat connection's first minute or so).
        for seed in 0..50 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut rate = LossRate::default();
            for i in 0..400 {
                if rng.random_bool(0.36) {
                    rate.on_lost(1);
                } else {
                    rate.on_acked();
                }
                assert!(
                    !rate.is_burst(),
                    "seed {seed}, packet {i}: {}%",
                    rate.percent()
                );
            }
        }
    }

    #[test]
    fn steady_random_loss_of_a_third_is_not_a_burst() {
        use rand::{Rng, SeedableRng};
        let seed = 36;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut rate = LossRate::default();
        // 36 % independent loss (20 % dropped on send and 20 % on receive), lost
        // packets declared in clumps of up to four as ACKs declare them.
        let mut pending = 0;
        for i in 0..200_000 {
            if rng.random_bool(0.36) {
                pending += 1;
            } else {
                rate.on_acked();
            }
            if pending >= 4 || (pending > 0 && rng.random_bool(0.5)) {
                rate.on_lost(pending);
                pending = 0;
            }
            // The first thousand packets teach the baseline.
            if i > 3_000 {
                assert!(
                    !rate.is_burst(),
                    "seed {seed}, packet {i}: {}%",
                    rate.percent()
                );
            }
        }
        assert!(
            rate.at_least(30) && !rate.at_least(45),
            "{}%",
            rate.percent()
        );
    }

    #[test]
    fn a_burst_above_a_lossy_baseline_is_congestion() {
        let mut rate = LossRate::default();
        for i in 0..5_000 {
            if i % 10 == 0 {
                rate.on_lost(1);
            } else {
                rate.on_acked();
            }
        }
        assert!(!rate.is_burst(), "{}%", rate.percent());
        // Tail drop: two of every three packets lost. The episode is a burst within
        // a few dozen packets (where the controller halves), long before the
        // baseline catches up.
        let detected = (0..40).find(|_| {
            rate.on_lost(2);
            rate.on_acked();
            rate.is_burst()
        });
        assert!(detected.is_some(), "{}%", rate.percent());
    }

    #[test]
    fn two_of_three_packets_lost_is_a_burst() {
        let mut rate = LossRate::default();
        for _ in 0..60 {
            rate.on_lost(2);
            rate.on_acked();
        }
        assert!(rate.is_burst(), "{}%", rate.percent());
        // A clean stretch brings it back under.
        for _ in 0..40 {
            rate.on_acked();
        }
        assert!(!rate.is_burst(), "{}%", rate.percent());
    }

    #[test]
    fn a_round_whose_smallest_rtt_is_high_is_a_queue() {
        let t = test_instant();
        let mut q = QueueDelay::default();
        assert!(!q.queueing(), "no sample yet");
        // Round 1: samples 20 ms (min), one delayed ack of 60 ms. Not a queue.
        q.on_sample(ms(20), ms(20));
        q.on_sample(ms(60), ms(20));
        assert!(q.on_acked(t + ms(20), t));
        q.on_sample(ms(60), ms(20));
        assert!(!q.on_acked(t + ms(30), t + ms(10)), "sent before the round");
        q.on_sample(ms(21), ms(20));
        assert!(q.on_acked(t + ms(45), t + ms(25)));
        assert!(!q.queueing(), "round min 21 ms");
        // Round 3: every sample 40 ms or more: 20 ms above the minimum > 15 ms.
        q.on_sample(ms(40), ms(20));
        q.on_sample(ms(55), ms(20));
        assert!(q.on_acked(t + ms(90), t + ms(50)));
        assert!(q.queueing());
    }

    #[test]
    fn the_threshold_scales_with_long_paths() {
        let t = test_instant();
        let mut q = QueueDelay::default();
        // 200 ms path: threshold 50 ms.
        q.on_sample(ms(240), ms(200));
        q.on_acked(t, t);
        assert!(!q.queueing(), "40 ms over a 200 ms path");
        q.on_sample(ms(260), ms(200));
        q.on_acked(t + ms(300), t + ms(1));
        assert!(q.queueing(), "60 ms over a 200 ms path");
    }
}
