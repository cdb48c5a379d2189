use super::*;
use crate::recovery::test_instant;

const MDS: usize = 1200;

fn at(base: Instant, ms: u64) -> Instant {
    base + Duration::from_millis(ms)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sends `n` full packets at `sent`, then acknowledges them all at `acked`.
fn round_trip(cc: &mut Congestion, n: usize, sent: Instant, acked: Instant) {
    for _ in 0..n {
        cc.on_sent(MDS);
    }
    for _ in 0..n {
        cc.on_acked(acked, sent, MDS);
    }
}

/// A controller that has seen a 20 ms path with a standing queue of 40 ms for one
/// full round (without growing or leaving slow start's window untouched).
fn queued(t: Instant) -> Congestion {
    let mut cc = Congestion::new(MDS);
    cc.on_rtt_sample(ms(20), ms(20));
    cc.on_sent(MDS);
    cc.on_acked(at(t, 20), t, MDS); // first round ends
    cc.on_rtt_sample(ms(60), ms(20));
    cc.on_sent(MDS);
    cc.on_acked(at(t, 81), at(t, 21), MDS); // second round: min 60 ms
    assert!(cc.queue.queueing());
    cc
}

#[test]
fn starts_with_ten_packets_and_limits_sending() {
    let mut cc = Congestion::new(MDS);
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
    let mut cc = Congestion::new(MDS);
    round_trip(&mut cc, 10, t, at(t, 50));
    assert_eq!(cc.window(), 20 * MDS);
    round_trip(&mut cc, 20, at(t, 50), at(t, 100));
    assert_eq!(cc.window(), 40 * MDS);
    assert_eq!(cc.bytes_in_flight(), 0);
}

#[test]
fn tiny_flights_do_not_grow_the_window() {
    let t = test_instant();
    let mut cc = Congestion::new(MDS);
    for i in 0..1000 {
        cc.on_sent(100);
        cc.on_acked(at(t, i + 1), at(t, i), 100);
    }
    assert_eq!(cc.window(), 10 * MDS, "application-limited: no growth");
}

#[test]
fn isolated_random_losses_leave_the_window_and_slow_start_alone() {
    let t = test_instant();
    let mut cc = Congestion::new(MDS);
    cc.on_rtt_sample(ms(20), ms(20));
    // Ten rounds of ten packets, two of each round lost (20 %).
    for round in 0..10u64 {
        let sent = at(t, 20 * round);
        let n = cc.window() / MDS;
        for _ in 0..n {
            cc.on_sent(MDS);
        }
        cc.on_lost(at(t, 20 * round + 20), sent, 2 * MDS, 2);
        cc.on_rtt_sample(ms(20), ms(20));
        for _ in 2..n {
            cc.on_acked(at(t, 20 * round + 20), sent, MDS);
        }
    }
    assert!(cc.in_slow_start(), "random loss does not end slow start");
    assert!(cc.window() > 100 * MDS, "window {}", cc.window());
}

#[test]
fn loss_with_a_standing_queue_halves_once_per_recovery_period() {
    let t = test_instant();
    let mut cc = queued(t);
    assert!(!cc.in_slow_start(), "a standing queue ends slow start");
    let window = cc.window();
    for _ in 0..10 {
        cc.on_sent(MDS);
    }
    // Packet sent at 100 ms lost at 200 ms: window halves.
    cc.on_lost(at(t, 200), at(t, 100), MDS, 1);
    assert_eq!(cc.window(), window / 2);
    // Another packet of the same flight lost: same congestion event, no change.
    cc.on_lost(at(t, 210), at(t, 101), MDS, 1);
    assert_eq!(cc.window(), window / 2);
    // Acks of packets sent before recovery started don't grow the window.
    cc.on_acked(at(t, 220), at(t, 102), MDS);
    assert_eq!(cc.window(), window / 2);
    // A packet sent after recovery started is a new congestion event.
    cc.on_sent(MDS);
    cc.on_lost(at(t, 400), at(t, 300), MDS, 1);
    assert_eq!(cc.window(), window / 4);
}

#[test]
fn a_loss_burst_is_congestion_without_a_queue() {
    let t = test_instant();
    let mut cc = Congestion::new(MDS);
    for _ in 0..60 {
        cc.on_sent(MDS);
    }
    // 3 of 10 lost: could be random.
    cc.on_lost(at(t, 50), t, 3 * MDS, 3);
    assert_eq!(cc.window(), 10 * MDS);
    // 50 more lost in a row: tail drop.
    cc.on_lost(at(t, 60), at(t, 1), 50 * MDS, 50);
    assert_eq!(cc.window(), 5 * MDS);
}

#[test]
fn window_never_drops_below_minimum() {
    let t = test_instant();
    let mut cc = queued(t);
    for i in 0..10 {
        cc.on_sent(MDS);
        cc.on_lost(at(t, 100 * i + 150), at(t, 100 * i + 101), MDS, 1);
    }
    assert_eq!(cc.window(), 2 * MDS);
    assert_eq!(cc.bytes_in_flight(), 0);
}

#[test]
fn congestion_avoidance_adds_one_packet_per_window() {
    let t = test_instant();
    let mut cc = queued(t);
    assert_eq!(
        cc.window(),
        10 * MDS,
        "application-limited while queued() ran"
    );
    cc.on_sent(MDS);
    cc.on_lost(at(t, 110), at(t, 100), MDS, 1); // window 6000 = 5 packets
    assert_eq!(cc.window(), 5 * MDS);
    // One full window acked (5 packets sent after recovery): +1 packet.
    round_trip(&mut cc, 5, at(t, 120), at(t, 170));
    assert_eq!(cc.window(), 6 * MDS);
    // Half a window: no growth yet.
    round_trip(&mut cc, 3, at(t, 170), at(t, 220));
    assert_eq!(cc.window(), 6 * MDS);
    // The rest of the window (3 more packets = 6 in total): +1 packet.
    round_trip(&mut cc, 3, at(t, 220), at(t, 270));
    assert_eq!(cc.window(), 7 * MDS);
}

#[test]
fn persistent_congestion_collapses_to_minimum_and_ends_recovery() {
    let t = test_instant();
    let mut cc = Congestion::new(MDS);
    round_trip(&mut cc, 10, t, at(t, 50)); // window 24000
    for _ in 0..4 {
        cc.on_sent(MDS);
    }
    cc.on_lost(at(t, 1000), at(t, 60), 4 * MDS, 4);
    cc.on_persistent_congestion();
    assert_eq!(cc.window(), 2 * MDS);
    // Recovery is over: acks of the old flight grow the window (slow start) once
    // the sender uses it.
    cc.on_sent(MDS);
    cc.on_sent(MDS);
    cc.on_acked(at(t, 1050), at(t, 60), MDS);
    assert_eq!(cc.window(), 3 * MDS);
    assert!(cc.in_slow_start());
}

#[test]
fn discarded_packets_leave_flight() {
    let mut cc = Congestion::new(MDS);
    cc.on_sent(MDS);
    cc.on_sent(500);
    cc.on_packets_discarded(MDS + 500);
    assert_eq!(cc.bytes_in_flight(), 0);
    cc.on_packets_discarded(1); // never underflows
    assert_eq!(cc.bytes_in_flight(), 0);
}
