//! Round-trip time estimation (RFC 9002 §5) and the probe timeout base.
//!
//! Natter's floors differ from QUIC's on purpose: [`GRANULARITY`] is 15 ms (QUIC: 1 ms)
//! and the whole probe timeout is floored at [`MIN_PTO`] = 30 ms. Loopback and LAN RTTs
//! are tens of microseconds, but VM scheduling here adds milliseconds of jitter (measured
//! p99 of 2–4 ms on loopback). A timer derived from a 40 µs RTT would fire spuriously on
//! every scheduling hiccup and retransmit data that was never lost; a floor in the tens
//! of milliseconds costs a chat user nothing noticeable and removes those spurious
//! retransmissions.

use std::time::Duration;

/// Timer granularity: the smallest variance term used in the PTO and the smallest
/// time-threshold loss delay (RFC 9002 `kGranularity`, raised from 1 ms; see module docs).
pub(crate) const GRANULARITY: Duration = Duration::from_millis(15);

/// Floor of the probe timeout before backoff (see module docs for why).
pub(crate) const MIN_PTO: Duration = Duration::from_millis(30);

/// RTT assumed before the first sample (RFC 9002 `kInitialRtt` is 333 ms; a chat
/// service mostly talks to nearby servers, so we start lower).
pub(crate) const DEFAULT_INITIAL_RTT: Duration = Duration::from_millis(100);

/// RTT estimator: latest, smoothed, variance and minimum, as in RFC 9002 §5.
#[derive(Debug, Clone)]
pub(crate) struct RttEstimator {
    latest: Duration,
    smoothed: Duration,
    var: Duration,
    min: Duration,
    has_sample: bool,
}

impl Default for RttEstimator {
    fn default() -> Self {
        Self::new(DEFAULT_INITIAL_RTT)
    }
}

impl RttEstimator {
    /// An estimator that assumes `initial_rtt` until the first sample: smoothed =
    /// latest = min = `initial_rtt`, variance = `initial_rtt / 2` (RFC 9002 §5.3).
    pub(crate) fn new(initial_rtt: Duration) -> Self {
        Self {
            latest: initial_rtt,
            smoothed: initial_rtt,
            var: initial_rtt / 2,
            min: initial_rtt,
            has_sample: false,
        }
    }

    /// Feeds one RTT sample. `ack_delay` is the delay the peer reported, already capped
    /// by the peer's `max_ack_delay`; it is subtracted only if the result stays at or
    /// above `min_rtt`, and ignored on the first sample (RFC 9002 §5.3).
    pub(crate) fn update(&mut self, rtt_sample: Duration, ack_delay: Duration) {
        self.latest = rtt_sample;
        if !self.has_sample {
            self.has_sample = true;
            self.min = rtt_sample;
            self.smoothed = rtt_sample;
            self.var = rtt_sample / 2;
            return;
        }
        self.min = self.min.min(rtt_sample);
        let adjusted = if rtt_sample >= self.min + ack_delay {
            rtt_sample - ack_delay
        } else {
            rtt_sample
        };
        self.var = (self.var * 3 + self.smoothed.abs_diff(adjusted)) / 4;
        self.smoothed = (self.smoothed * 7 + adjusted) / 8;
    }

    #[cfg(test)]
    /// Whether at least one sample has been taken.
    pub(crate) fn has_sample(&self) -> bool {
        self.has_sample
    }

    /// Smoothed RTT (`initial_rtt` before the first sample).
    pub(crate) fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// Minimum RTT seen (`initial_rtt` before the first sample).
    pub(crate) fn min(&self) -> Duration {
        self.min
    }

    #[cfg(test)]
    /// Most recent sample (`initial_rtt` before the first sample).
    pub(crate) fn latest(&self) -> Duration {
        self.latest
    }

    /// RTT variation (`rttvar`).
    pub(crate) fn var(&self) -> Duration {
        self.var
    }

    /// Probe timeout before backoff: `smoothed + max(4·var, GRANULARITY) + max_ack_delay`,
    /// never below [`MIN_PTO`] (RFC 9002 §6.2.1 with Natter's floors).
    pub(crate) fn pto_base(&self, max_ack_delay: Duration) -> Duration {
        let pto = self.smoothed + (self.var * 4).max(GRANULARITY) + max_ack_delay;
        pto.max(MIN_PTO)
    }

    /// Time-threshold loss delay: `max(9/8 · max(smoothed, latest), GRANULARITY)`
    /// (RFC 9002 §6.1.2). A packet sent this long before a later packet was
    /// acknowledged is declared lost.
    pub(crate) fn loss_delay(&self) -> Duration {
        (self.smoothed.max(self.latest) * 9 / 8).max(GRANULARITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn before_any_sample_uses_initial_rtt() {
        let rtt = RttEstimator::default();
        assert!(!rtt.has_sample());
        assert_eq!(rtt.smoothed(), ms(100));
        assert_eq!(rtt.var(), ms(50));
        // 100 + max(4·50, 15) + 25 = 325 ms.
        assert_eq!(rtt.pto_base(ms(25)), ms(325));
    }

    #[test]
    fn first_sample_replaces_initial_and_ignores_ack_delay() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.update(ms(100), ms(20));
        assert!(rtt.has_sample());
        assert_eq!(rtt.latest(), ms(100));
        assert_eq!(rtt.min(), ms(100));
        assert_eq!(rtt.smoothed(), ms(100));
        assert_eq!(rtt.var(), ms(50));
    }

    #[test]
    fn later_samples_follow_rfc9002_ewma() {
        let mut rtt = RttEstimator::default();
        rtt.update(ms(100), Duration::ZERO);
        // 200 ms sample with 20 ms ack delay: 200 ≥ min 100 + 20, adjusted = 180.
        rtt.update(ms(200), ms(20));
        // var = 3/4·50 + 1/4·|100 − 180| = 37.5 + 20 = 57.5 ms
        assert_eq!(rtt.var(), Duration::from_micros(57_500));
        // smoothed = 7/8·100 + 1/8·180 = 87.5 + 22.5 = 110 ms
        assert_eq!(rtt.smoothed(), ms(110));
        assert_eq!(rtt.latest(), ms(200));
        assert_eq!(rtt.min(), ms(100));
    }

    #[test]
    fn ack_delay_not_subtracted_below_min_rtt() {
        let mut rtt = RttEstimator::default();
        rtt.update(ms(100), Duration::ZERO);
        // 110 − 20 would be 90 < min 100: the full 110 is used.
        rtt.update(ms(110), ms(20));
        // smoothed = (7·100 + 110) / 8 = 101.25 ms
        assert_eq!(rtt.smoothed(), Duration::from_micros(101_250));
        // var = (3·50 + 10) / 4 = 40 ms
        assert_eq!(rtt.var(), ms(40));
    }

    #[test]
    fn smaller_sample_lowers_min() {
        let mut rtt = RttEstimator::default();
        rtt.update(ms(100), Duration::ZERO);
        rtt.update(ms(60), Duration::ZERO);
        assert_eq!(rtt.min(), ms(60));
        assert_eq!(rtt.smoothed(), Duration::from_micros(95_000));
    }

    #[test]
    fn pto_has_granularity_and_minimum_floors() {
        let mut rtt = RttEstimator::default();
        // Loopback: 40 µs RTT, var 20 µs → 4·var = 80 µs < GRANULARITY.
        rtt.update(Duration::from_micros(40), Duration::ZERO);
        let base = rtt.pto_base(Duration::ZERO);
        assert_eq!(base, MIN_PTO, "40 µs + 15 ms floored to 30 ms");
        // With a 25 ms max_ack_delay the sum exceeds the floor.
        assert_eq!(
            rtt.pto_base(ms(25)),
            Duration::from_micros(40) + GRANULARITY + ms(25)
        );
    }

    #[test]
    fn loss_delay_is_nine_eighths_of_max_rtt_floored() {
        let mut rtt = RttEstimator::default();
        rtt.update(ms(80), Duration::ZERO);
        rtt.update(ms(160), Duration::ZERO);
        // smoothed = 90 ms, latest = 160 ms → 9/8 · 160 = 180 ms.
        assert_eq!(rtt.loss_delay(), ms(180));
        let mut lan = RttEstimator::default();
        lan.update(Duration::from_micros(40), Duration::ZERO);
        assert_eq!(lan.loss_delay(), GRANULARITY);
    }
}
