//! Token-bucket pacing: spreads a congestion window over a round trip instead of
//! sending it in one burst.
//!
//! The bucket refills at `1.25 × window / srtt` bytes per second (the 1.25 lets the
//! sender keep up with a window that grows during the round trip) and holds at most a
//! burst of [`BURST_PACKETS`] datagrams. Chat flights are tiny, so they almost always
//! go out immediately; only bulk sends (history sync, files) get spaced.

use std::time::{Duration, Instant};

/// Bucket capacity, in datagrams of the maximum size.
pub(crate) const BURST_PACKETS: usize = 10;

/// Floor of the smoothed RTT used for the rate: loopback RTTs of a few microseconds
/// would otherwise make the rate (and the arithmetic) explode. 100 µs still lets a
/// 10-packet window run at ~150 MB/s; a 1 ms floor capped loopback bulk transfers
/// at a tenth of the kernel's datagram rate.
pub(crate) const MIN_PACING_RTT: Duration = Duration::from_micros(100);

/// Token-bucket pacer. Starts full.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pacer {
    /// Available bytes and when they were last refilled; `None` until the first
    /// call (the bucket starts full).
    bucket: Option<(u64, Instant)>,
}

impl Pacer {
    /// A pacer with a full bucket.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Asks to send a packet of `bytes` at `now`. Returns `None` if it may go now (its
    /// tokens are consumed), or the instant at which enough tokens will have refilled
    /// (nothing is consumed: ask again then). A packet larger than the bucket is
    /// treated as one of the bucket's size so it is never delayed forever.
    pub(crate) fn delay(
        &mut self,
        now: Instant,
        bytes: usize,
        srtt: Duration,
        window: usize,
        mds: usize,
    ) -> Option<Instant> {
        let rate = Rate::new(window, srtt);
        let capacity = (BURST_PACKETS * mds) as u64;
        let tokens = self.refill(now, rate, capacity);
        let needed = (bytes as u64).min(capacity);
        if tokens >= needed {
            self.bucket = Some((tokens - needed, now));
            return None;
        }
        Some(now + rate.time_for(needed - tokens))
    }

    fn refill(&mut self, now: Instant, rate: Rate, capacity: u64) -> u64 {
        let tokens = match self.bucket {
            None => capacity,
            Some((tokens, last)) => {
                tokens.saturating_add(rate.bytes_in(now.saturating_duration_since(last)))
            }
        }
        .min(capacity);
        self.bucket = Some((tokens, now));
        tokens
    }
}

/// A refill rate of `5 × window` bytes per `4 × srtt`, in exact integer arithmetic.
#[derive(Debug, Clone, Copy)]
struct Rate {
    bytes_num: u128,
    nanos_den: u128,
}

impl Rate {
    fn new(window: usize, srtt: Duration) -> Self {
        Self {
            bytes_num: 5 * window.max(1) as u128,
            nanos_den: 4 * srtt.max(MIN_PACING_RTT).as_nanos(),
        }
    }

    /// Whole bytes refilled over `elapsed` (rounded down).
    fn bytes_in(self, elapsed: Duration) -> u64 {
        let bytes = elapsed.as_nanos() * self.bytes_num / self.nanos_den;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }

    /// Time to refill `bytes` (rounded up, so `bytes_in(time_for(b)) >= b`).
    fn time_for(self, bytes: u64) -> Duration {
        let nanos = (u128::from(bytes) * self.nanos_den).div_ceil(self.bytes_num);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::test_instant;

    const MDS: usize = 1200;
    /// Window 12 000 B, srtt 100 ms → 1.25 × 12 000 / 0.1 s = 150 000 B/s,
    /// i.e. one 1200 B packet every 8 ms.
    const WINDOW: usize = 12_000;
    const SRTT: Duration = Duration::from_millis(100);

    fn ask(p: &mut Pacer, now: Instant) -> Option<Instant> {
        p.delay(now, MDS, SRTT, WINDOW, MDS)
    }

    #[test]
    fn allows_a_burst_of_ten_then_spaces_packets() {
        let t = test_instant();
        let mut p = Pacer::new();
        for i in 0..BURST_PACKETS {
            assert_eq!(ask(&mut p, t), None, "burst packet {i}");
        }
        let next = ask(&mut p, t).expect("bucket empty");
        assert_eq!(next - t, Duration::from_millis(8));
        // Asking again before then still waits, for the same instant.
        assert_eq!(ask(&mut p, t + Duration::from_millis(3)), Some(next));
        // At the announced instant the packet goes, and the next one waits 8 ms more.
        assert_eq!(ask(&mut p, next), None);
        assert_eq!(ask(&mut p, next), Some(next + Duration::from_millis(8)));
    }

    #[test]
    fn idle_refills_up_to_one_burst_only() {
        let t = test_instant();
        let mut p = Pacer::new();
        for _ in 0..BURST_PACKETS {
            assert_eq!(ask(&mut p, t), None);
        }
        let later = t + Duration::from_secs(60);
        for _ in 0..BURST_PACKETS {
            assert_eq!(ask(&mut p, later), None);
        }
        assert!(ask(&mut p, later).is_some());
    }

    #[test]
    fn small_packets_pass_while_a_full_one_waits() {
        let t = test_instant();
        let mut p = Pacer::new();
        for _ in 0..BURST_PACKETS {
            assert_eq!(ask(&mut p, t), None);
        }
        // 4 ms refill 600 bytes: a 100 B ack-sized packet passes, 1200 B does not.
        let t4 = t + Duration::from_millis(4);
        assert_eq!(p.delay(t4, 100, SRTT, WINDOW, MDS), None);
        assert!(ask(&mut p, t4).is_some());
    }

    #[test]
    fn loopback_rtt_is_floored() {
        let t = test_instant();
        let mut p = Pacer::new();
        let srtt = Duration::from_micros(40);
        for _ in 0..BURST_PACKETS {
            assert_eq!(p.delay(t, MDS, srtt, WINDOW, MDS), None);
        }
        // Rate with the 100 µs floor: 150 000 000 B/s → 1200 B in 8 µs.
        let next = p.delay(t, MDS, srtt, WINDOW, MDS).expect("bucket empty");
        assert_eq!(next - t, Duration::from_micros(8));
    }

    #[test]
    fn oversized_packet_is_not_delayed_forever() {
        let t = test_instant();
        let mut p = Pacer::new();
        assert_eq!(p.delay(t, 100_000, SRTT, WINDOW, MDS), None);
        assert!(p.delay(t, 1, SRTT, WINDOW, MDS).is_some());
    }

    #[test]
    fn announced_instant_is_always_sufficient() {
        // Odd windows and RTTs so the rate is not a whole number of bytes per ns.
        let t = test_instant();
        for (window, srtt_us) in [(2_401, 1_337), (13_999, 97_013), (2_400, 29_999)] {
            let srtt = Duration::from_micros(srtt_us);
            let mut p = Pacer::new();
            let mut now = t;
            for _ in 0..50 {
                if let Some(when) = p.delay(now, MDS, srtt, window, MDS) {
                    now = when;
                    assert_eq!(p.delay(now, MDS, srtt, window, MDS), None);
                }
            }
        }
    }
}
