//! Every deadline of a connection, and what happens when one passes.
//!
//! | timer        | armed when                                   | on expiry                          |
//! |--------------|----------------------------------------------|------------------------------------|
//! | handshake    | client Initial sent                          | resend Initial (×2, at most ×16)   |
//! |              | server: unconfirmed (up to `MAX_UNCONFIRMED`)| close silently (`IdleTimeout`)     |
//! | ack          | one ack-eliciting packet unacknowledged      | send an ACK                        |
//! | loss         | a packet will cross the time threshold       | declare it lost, retransmit        |
//! | probe (PTO)  | ack-eliciting data in flight                 | tail-loss probe, backoff ×1.5      |
//! | pacing       | the pacer held a packet back                 | send it                            |
//! | keepalive    | nothing ack-eliciting sent for `keepalive`   | send PING                          |
//! | idle         | always                                       | close silently (`IdleTimeout`)     |
//! | linger       | closing or draining                          | forget the connection              |

use std::time::Instant;

use super::{CloseReason, Connection, SentFrames, Side, State};
use crate::recovery::LostPackets;

/// Which timer a deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    Handshake,
    Ack,
    Probe,
    Pacing,
    Keepalive,
    Idle,
    Linger,
}

/// Consecutive probe timeouts without any acknowledgement before giving up
/// (with ×1.5 backoff capped at 8 s, about two minutes).
const MAX_PTOS: u32 = 20;
/// PATH_CHALLENGE sends to a new address before giving up on it.
const MAX_PATH_CHALLENGES: u8 = 3;

impl Connection {
    /// The earliest instant at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(at, _)| at)
    }

    fn next_timer(&self) -> Option<(Instant, Timer)> {
        match self.state {
            State::Drained => return None,
            State::Closing { until } | State::Draining { until } => {
                return Some((until, Timer::Linger));
            }
            State::Handshake(_) | State::Established => {}
        }
        let candidates = [
            (self.handshake_deadline, Timer::Handshake),
            (self.ack_deadline, Timer::Ack),
            (self.loss_or_probe_deadline(), Timer::Probe),
            (self.pacing_deadline, Timer::Pacing),
            (self.keepalive_deadline(), Timer::Keepalive),
            (Some(self.last_rx + self.idle_timeout()), Timer::Idle),
        ];
        candidates
            .into_iter()
            .filter_map(|(at, t)| at.map(|at| (at, t)))
            .min_by_key(|(at, _)| *at)
    }

    fn loss_or_probe_deadline(&self) -> Option<Instant> {
        if self.keys.is_none() || !self.confirmed {
            return None;
        }
        self.sent.loss_time().or_else(|| {
            self.sent
                .pto_deadline(&self.rtt, self.peer_max_ack_delay(), self.pto_count)
        })
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        if !self.is_established() {
            return None;
        }
        Some(self.last_tx_eliciting.max(self.last_rx) + self.keepalive())
    }

    /// Fires every timer whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, timer)) = self.next_timer() {
            if at > now {
                break;
            }
            self.fire(now, timer);
            if self.is_drained() {
                break;
            }
            if matches!(timer, Timer::Handshake | Timer::Probe) {
                // poll_transmit acts on these (and re-arms the handshake
                // timer); firing them again in this call would only inflate
                // the backoff.
                break;
            }
        }
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Handshake => self.on_handshake_timer(now),
            Timer::Ack => {
                self.ack_deadline = None;
                self.ack_now = true;
            }
            Timer::Probe => self.on_loss_or_probe_timer(now),
            Timer::Pacing => self.pacing_deadline = None,
            Timer::Keepalive => {
                self.ping_pending = true;
                // Counts as sent for re-arming; poll_transmit sends it.
                self.last_tx_eliciting = now;
            }
            Timer::Idle => self.on_idle(now),
            Timer::Linger => self.state = State::Drained,
        }
    }

    fn on_handshake_timer(&mut self, now: Instant) {
        // Server: the unconfirmed connection reached `MAX_UNCONFIRMED`.
        if now >= self.last_rx + self.idle_timeout() || self.side == Side::Server {
            self.on_idle(now);
        }
        // Otherwise poll_transmit sees the passed deadline and resends.
    }

    fn on_idle(&mut self, _now: Instant) {
        if !self.confirmed {
            tracing::debug!(remote = %self.remote, "handshake expired unconfirmed");
        }
        self.drop_now(CloseReason::IdleTimeout);
    }

    fn on_loss_or_probe_timer(&mut self, now: Instant) {
        if self.sent.loss_time().is_some_and(|t| t <= now) {
            let lost = self
                .sent
                .detect_lost_on_timeout(now, &self.rtt, self.peer_max_ack_delay());
            lost.feed_congestion(now, &mut self.cc);
            self.on_lost(lost);
            return;
        }
        self.pto_count += 1;
        self.stats.ptos += 1;
        if self.pto_count > MAX_PTOS {
            // The peer keeps talking (so the idle timer never fires) but has
            // not acknowledged anything for minutes: it is broken or hostile.
            return self.drop_now(CloseReason::ProtocolViolation(
                "peer stopped acknowledging".into(),
            ));
        }
        self.probes = 2;
    }

    /// Re-queues what lost packets carried (congestion control was told
    /// by the caller).
    pub(super) fn on_lost(&mut self, lost: LostPackets<SentFrames>) {
        for (_, packet) in lost.packets {
            self.stats.packets_lost += 1;
            self.stats.retransmits += packet.payload.fragments.len() as u64;
            self.requeue(packet.payload);
        }
    }

    fn requeue(&mut self, frames: SentFrames) {
        for f in frames.fragments {
            self.tx_streams.on_lost(f.stream, f.msg_id, f.offset, f.len);
        }
        if frames.max_data {
            self.max_data_pending = true;
        }
        if frames.path_challenge
            && let Some(p) = &mut self.path_challenge
        {
            p.attempts += 1;
            p.send = p.attempts < MAX_PATH_CHALLENGES;
            if !p.send {
                self.path_challenge = None; // the new address never answered
            }
        }
    }
}
