//! NewReno congestion control in bytes (RFC 9002 §7).
//!
//! Slow start grows the window by the bytes acknowledged; congestion avoidance grows it
//! by one datagram per window acknowledged. A loss halves the window once per recovery
//! period: losses of packets sent before the period started are the same congestion
//! event and are ignored. Persistent congestion collapses the window to its minimum.
//!
//! Application-limited senders (RFC 9002 §7.8): chat sends many tiny flights, and
//! acknowledging them must not inflate the window to sizes that were never tested by
//! the network. So the window only grows while the sender actually uses it: the peak
//! bytes in flight since the connection was last idle (nothing in flight) must reach at
//! least half the window.

use std::time::Instant;

/// Initial window, in datagrams (RFC 9002 §7.2).
const INITIAL_WINDOW_PACKETS: usize = 10;
/// Minimum window, in datagrams (RFC 9002 `kMinimumWindow`).
const MINIMUM_WINDOW_PACKETS: usize = 2;

/// NewReno congestion controller. The connection reports every in-flight packet sent,
/// acknowledged, lost or discarded; it may send while [`NewReno::can_send`] says so
/// (probe packets on PTO are exempt, RFC 9002 §7.5).
#[derive(Debug, Clone)]
pub(crate) struct NewReno {
    max_datagram_size: usize,
    window: usize,
    ssthresh: usize,
    bytes_in_flight: usize,
    /// Peak of `bytes_in_flight` since it was last zero (application-limited check).
    peak_in_flight: usize,
    /// Bytes acknowledged in congestion avoidance not yet turned into window growth.
    avoidance_acked: usize,
    /// Start of the current recovery period, if any.
    recovery_start: Option<Instant>,
}

impl NewReno {
    /// A controller in slow start with a window of 10 × `max_datagram_size`.
    pub(crate) fn new(max_datagram_size: usize) -> Self {
        Self {
            max_datagram_size,
            window: INITIAL_WINDOW_PACKETS * max_datagram_size,
            ssthresh: usize::MAX,
            bytes_in_flight: 0,
            peak_in_flight: 0,
            avoidance_acked: 0,
            recovery_start: None,
        }
    }

    /// Current congestion window in bytes.
    pub(crate) fn window(&self) -> usize {
        self.window
    }

    /// Bytes of in-flight packets not yet acknowledged, lost or discarded.
    pub(crate) fn bytes_in_flight(&self) -> usize {
        self.bytes_in_flight
    }

    /// Whether `extra` more bytes fit in the window.
    pub(crate) fn can_send(&self, extra: usize) -> bool {
        self.bytes_in_flight + extra <= self.window
    }

    /// Whether the controller is in slow start.
    pub(crate) fn in_slow_start(&self) -> bool {
        self.window < self.ssthresh
    }

    /// Records an in-flight packet of `bytes` just sent.
    pub(crate) fn on_sent(&mut self, bytes: usize) {
        self.bytes_in_flight += bytes;
        self.peak_in_flight = self.peak_in_flight.max(self.bytes_in_flight);
    }

    /// Records the acknowledgement of an in-flight packet of `bytes` sent at
    /// `sent_time`, growing the window unless the packet was sent before the current
    /// recovery period started or the sender is application-limited.
    pub(crate) fn on_acked(&mut self, _now: Instant, sent_time: Instant, bytes: usize) {
        let window_used = self.peak_in_flight * 2 >= self.window;
        self.remove_in_flight(bytes);
        if self.in_recovery(sent_time) || !window_used {
            return;
        }
        if self.in_slow_start() {
            self.window += bytes;
        } else {
            self.grow_in_avoidance(bytes);
        }
    }

    /// Records `bytes_lost` bytes of in-flight packets declared lost, the newest of
    /// which was sent at `largest_lost_sent_time`. Starts a recovery period and halves
    /// the window, unless that packet was sent inside the current recovery period.
    pub(crate) fn on_lost(
        &mut self,
        now: Instant,
        largest_lost_sent_time: Instant,
        bytes_lost: usize,
    ) {
        self.remove_in_flight(bytes_lost);
        if self.in_recovery(largest_lost_sent_time) {
            return;
        }
        self.recovery_start = Some(now);
        self.ssthresh = (self.window / 2).max(self.minimum_window());
        self.window = self.ssthresh;
        self.avoidance_acked = 0;
    }

    /// Collapses the window to the minimum after persistent congestion (RFC 9002
    /// §7.6.2). Call after [`NewReno::on_lost`] for the same lost packets.
    pub(crate) fn on_persistent_congestion(&mut self) {
        self.window = self.minimum_window();
        self.recovery_start = None;
        self.avoidance_acked = 0;
    }

    #[cfg(test)]
    /// Forgets `bytes` of in-flight packets that will never be acknowledged nor
    /// declared lost (connection reset or migration).
    pub(crate) fn on_packets_discarded(&mut self, bytes: usize) {
        self.remove_in_flight(bytes);
    }

    fn minimum_window(&self) -> usize {
        MINIMUM_WINDOW_PACKETS * self.max_datagram_size
    }

    fn in_recovery(&self, sent_time: Instant) -> bool {
        self.recovery_start.is_some_and(|start| sent_time <= start)
    }

    fn grow_in_avoidance(&mut self, bytes: usize) {
        self.avoidance_acked += bytes;
        if self.avoidance_acked >= self.window {
            self.avoidance_acked -= self.window;
            self.window += self.max_datagram_size;
        }
    }

    fn remove_in_flight(&mut self, bytes: usize) {
        self.bytes_in_flight = self.bytes_in_flight.saturating_sub(bytes);
        if self.bytes_in_flight == 0 {
            self.peak_in_flight = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::test_instant;
    use std::time::Duration;

    const MDS: usize = 1200;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    /// Sends `n` full packets at `sent`, then acknowledges them all at `acked`.
    fn round_trip(cc: &mut NewReno, n: usize, sent: Instant, acked: Instant) {
        for _ in 0..n {
            cc.on_sent(MDS);
        }
        for _ in 0..n {
            cc.on_acked(acked, sent, MDS);
        }
    }

    #[test]
    fn starts_with_ten_packets_and_limits_sending() {
        let mut cc = NewReno::new(MDS);
        assert_eq!(cc.window(), 12_000);
        assert!(cc.in_slow_start());
        for _ in 0..10 {
            assert!(cc.can_send(MDS));
            cc.on_sent(MDS);
        }
        assert_eq!(cc.bytes_in_flight(), 12_000);
        assert!(!cc.can_send(1));
    }

    #[test]
    fn slow_start_doubles_window_per_full_round() {
        let t = test_instant();
        let mut cc = NewReno::new(MDS);
        round_trip(&mut cc, 10, t, at(t, 50));
        assert_eq!(cc.window(), 20 * MDS);
        round_trip(&mut cc, 20, at(t, 50), at(t, 100));
        assert_eq!(cc.window(), 40 * MDS);
        assert_eq!(cc.bytes_in_flight(), 0);
    }

    #[test]
    fn tiny_flights_do_not_grow_the_window() {
        let t = test_instant();
        let mut cc = NewReno::new(MDS);
        for i in 0..1000 {
            cc.on_sent(100);
            cc.on_acked(at(t, i + 1), at(t, i), 100);
        }
        assert_eq!(cc.window(), 10 * MDS, "application-limited: no growth");
    }

    #[test]
    fn loss_halves_once_per_recovery_period() {
        let t = test_instant();
        let mut cc = NewReno::new(MDS);
        for _ in 0..10 {
            cc.on_sent(MDS);
        }
        // Packet sent at t lost at t+100: window 12000 → 6000.
        cc.on_lost(at(t, 100), t, MDS);
        assert_eq!(cc.window(), 5 * MDS);
        assert!(!cc.in_slow_start());
        // Another packet of the same flight lost: same congestion event, no change.
        cc.on_lost(at(t, 110), at(t, 1), MDS);
        assert_eq!(cc.window(), 5 * MDS);
        // Acks of packets sent before recovery started don't grow the window.
        cc.on_acked(at(t, 120), at(t, 2), MDS);
        assert_eq!(cc.window(), 5 * MDS);
        // A packet sent after recovery started is a new congestion event.
        cc.on_sent(MDS);
        cc.on_lost(at(t, 300), at(t, 200), MDS);
        assert_eq!(cc.window(), 2 * MDS + MDS / 2);
    }

    #[test]
    fn window_never_drops_below_minimum() {
        let t = test_instant();
        let mut cc = NewReno::new(MDS);
        for i in 0..10 {
            cc.on_sent(MDS);
            cc.on_lost(at(t, 10 * i + 5), at(t, 10 * i + 1), MDS);
        }
        assert_eq!(cc.window(), 2 * MDS);
        assert_eq!(cc.bytes_in_flight(), 0);
    }

    #[test]
    fn congestion_avoidance_adds_one_packet_per_window() {
        let t = test_instant();
        let mut cc = NewReno::new(MDS);
        cc.on_sent(MDS);
        cc.on_lost(at(t, 10), t, MDS); // window 6000 = 5 packets, ssthresh 6000
        // One full window acked (5 packets sent after recovery): +1 packet.
        round_trip(&mut cc, 5, at(t, 20), at(t, 70));
        assert_eq!(cc.window(), 6 * MDS);
        // Half a window: no growth yet.
        round_trip(&mut cc, 3, at(t, 70), at(t, 120));
        assert_eq!(cc.window(), 6 * MDS);
        // The rest of the window (3 more packets = 6 in total): +1 packet.
        round_trip(&mut cc, 3, at(t, 120), at(t, 170));
        assert_eq!(cc.window(), 7 * MDS);
    }

    #[test]
    fn persistent_congestion_collapses_to_minimum_and_ends_recovery() {
        let t = test_instant();
        let mut cc = NewReno::new(MDS);
        round_trip(&mut cc, 10, t, at(t, 50)); // window 24000
        for _ in 0..4 {
            cc.on_sent(MDS);
        }
        cc.on_lost(at(t, 1000), at(t, 60), 4 * MDS);
        cc.on_persistent_congestion();
        assert_eq!(cc.window(), 2 * MDS);
        // Recovery is over: acks of the old flight grow the window (slow start,
        // ssthresh = 12000) once the sender uses it.
        cc.on_sent(MDS);
        cc.on_sent(MDS);
        cc.on_acked(at(t, 1050), at(t, 60), MDS);
        assert_eq!(cc.window(), 3 * MDS);
        assert!(cc.in_slow_start());
    }

    #[test]
    fn discarded_packets_leave_flight() {
        let mut cc = NewReno::new(MDS);
        cc.on_sent(MDS);
        cc.on_sent(500);
        cc.on_packets_discarded(MDS + 500);
        assert_eq!(cc.bytes_in_flight(), 0);
        cc.on_packets_discarded(1); // never underflows
        assert_eq!(cc.bytes_in_flight(), 0);
    }
}
