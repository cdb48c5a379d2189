//! Congestion control for chat over lossy paths: NewReno (RFC 9002 §7) that only
//! backs off for *congestion* loss, not for random loss.
//!
//! # The algorithm
//!
//! Growth is NewReno's: slow start adds the bytes acknowledged, congestion avoidance
//! one datagram per window acknowledged, and only while the sender uses at least half
//! the window (application-limited senders, RFC 9002 §7.8: chat sends many tiny
//! flights, whose acks must not inflate the window to sizes the network never saw).
//!
//! The response to loss differs. A Wi-Fi or mobile link drops packets at random, and
//! halving on each such loss (NewReno) leaves a window of two packets at 20 % loss. A
//! loss is therefore treated as *congestion* only when a second signal says the path
//! is congested ([`signals`]):
//!
//! - **a standing queue**: the smallest RTT sample of the last round trip exceeds the
//!   path's minimum by more than max(min RTT / 4, 15 ms). Every packet of that round
//!   waited in a buffer, so the bottleneck is full (TCP Vegas's and HyStart's signal);
//! - **a loss burst**: the moving average of packet outcomes (weight 1/64 per packet)
//!   is above 50 % and 20 points above a slow average of the same outcomes (weight
//!   1/256: the path's baseline loss). Tail drop at a full shallow buffer loses runs
//!   of packets that the fast average sees long before the slow one; steady random
//!   loss, even a third of all packets, keeps both together.
//!
//! A congestion loss halves the window once per recovery period, exactly as NewReno
//! does, so on a congested path (where the queue is visible) the flow backs off like
//! TCP and shares the bottleneck fairly. A loss without either signal is retransmitted
//! but leaves the window (and slow start) alone. Slow start also ends, without a loss,
//! when a round shows a standing queue, so a bulk flow does not overshoot a deep buffer.
//! Persistent congestion (every packet lost for three PTOs) still collapses the window
//! to its minimum: that is a dead or black-holed path, not random loss.
//!
//! Unlike BBR this needs no bandwidth model and no probing phases: it is NewReno with a
//! filter in front of its one multiplicative decrease. The price is that on a shallow
//! buffer shared with others (one too short to show a standing queue) the flow accepts
//! a loss rate near 50 % before it backs off; wherever the queue is deep enough to
//! delay packets by 15 ms, queue-induced loss is congestion from the first loss.

mod signals;

use std::time::{Duration, Instant};

use signals::{LossRate, QueueDelay};

/// Initial window, in datagrams (RFC 9002 §7.2).
const INITIAL_WINDOW_PACKETS: usize = 10;
/// Minimum window, in datagrams (RFC 9002 `kMinimumWindow`).
const MINIMUM_WINDOW_PACKETS: usize = 2;

/// The congestion controller. The connection reports every in-flight packet sent,
/// acknowledged, lost or discarded, and the RTT samples; it may send while
/// [`Congestion::can_send`] says so (probe packets on PTO are exempt, RFC 9002 §7.5).
#[derive(Debug, Clone)]
pub(crate) struct Congestion {
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
    /// Standing-queue signal.
    queue: QueueDelay,
    /// Loss-burst signal.
    loss: LossRate,
}

impl Congestion {
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
            queue: QueueDelay::default(),
            loss: LossRate::default(),
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

    /// Bytes the window has room for.
    pub(crate) fn available(&self) -> usize {
        self.window.saturating_sub(self.bytes_in_flight)
    }

    /// Whether the path looks *randomly* lossy: a recent loss rate of at least
    /// `min_percent` % while it shows no congestion (no standing queue, no loss
    /// burst). Redundancy is sent only then (see `recovery::redundancy`).
    pub(crate) fn randomly_lossy(&self, min_percent: u32) -> bool {
        self.loss.at_least(min_percent) && !self.congested()
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

    /// Records an RTT sample with the peer's ack delay removed, and the path's
    /// minimum RTT. Call before the acknowledgements of the same ACK frame.
    pub(crate) fn on_rtt_sample(&mut self, rtt: Duration, min_rtt: Duration) {
        self.queue.on_sample(rtt, min_rtt);
    }

    /// Records the acknowledgement of an in-flight packet of `bytes` sent at
    /// `sent_time`, growing the window unless the packet was sent before the current
    /// recovery period started or the sender is application-limited.
    pub(crate) fn on_acked(&mut self, now: Instant, sent_time: Instant, bytes: usize) {
        let window_used = self.peak_in_flight * 2 >= self.window;
        self.remove_in_flight(bytes);
        self.loss.on_acked();
        if self.queue.on_acked(now, sent_time) && self.queue.queueing() {
            // HyStart-like: a standing queue ends slow start.
            self.ssthresh = self.ssthresh.min(self.window);
        }
        if self.in_recovery(sent_time) || !window_used {
            return;
        }
        if self.in_slow_start() {
            self.window += bytes;
        } else {
            self.grow_in_avoidance(bytes);
        }
    }

    /// Records `packets` in-flight packets of `bytes_lost` bytes declared lost, the
    /// newest of which was sent at `largest_lost_sent_time`. If the path shows
    /// congestion (see the module docs) and that packet was sent after the current
    /// recovery period started, starts a new one and halves the window.
    pub(crate) fn on_lost(
        &mut self,
        now: Instant,
        largest_lost_sent_time: Instant,
        bytes_lost: usize,
        packets: usize,
    ) {
        self.remove_in_flight(bytes_lost);
        self.loss.on_lost(packets);
        if self.in_recovery(largest_lost_sent_time) || !self.congested() {
            return;
        }
        self.recovery_start = Some(now);
        self.ssthresh = (self.window / 2).max(self.minimum_window());
        self.window = self.ssthresh;
        self.avoidance_acked = 0;
    }

    /// Collapses the window to the minimum after persistent congestion (RFC 9002
    /// §7.6.2). Call after [`Congestion::on_lost`] for the same lost packets.
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

    /// Whether the path shows congestion: a standing queue or a loss burst.
    fn congested(&self) -> bool {
        self.queue.queueing() || self.loss.is_burst()
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
mod tests;
