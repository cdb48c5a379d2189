//! Incoming packets: handshake replies, data packets and their frames.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::{CloseReason, Connection, Event, PathChallenge, Side, State};
use crate::frame::{self, AckFrame, Frame, MsgFrame};
use crate::packet::ConnectionId;
use crate::streams::FragmentRef;

/// Most ranges of received packet numbers remembered (see `record_received`).
const MAX_RX_RANGES: usize = 256;

impl Connection {
    /// Client: the server answered our Initial with Noise message 2.
    pub(crate) fn handle_handshake(&mut self, now: Instant, scid: ConnectionId, payload: &[u8]) {
        let State::Handshake(start) = &mut self.state else {
            return; // a duplicate Handshake after we finished: nothing to do
        };
        // A forged or corrupted reply leaves the handshake intact, so the
        // genuine one is still accepted when it arrives.
        let Ok(out) = start.hs.finish(payload) else {
            self.stats.dropped_invalid += 1;
            return;
        };
        let presented = out.remote_static.unwrap_or([0; 32]);
        let mismatch = (start.expected_key.as_ref()).is_some_and(|fp| !fp.matches(&presented));
        self.state = State::Established;
        if mismatch {
            return self.drop_now(CloseReason::KeyMismatch { presented });
        }
        self.remote_cid = scid;
        self.remote_key = Some(Box::new(presented));
        self.keys = Some(out.keys);
        self.apply_peer_params(out.remote_params);
        self.handshake_deadline = None;
        self.last_rx = now;
        // The first Data packet confirms the handshake to the server: send
        // a PING at once even if the application has nothing to say yet.
        self.ping_pending = true;
        self.events.push_back(Event::Connected {
            remote_key: Some(presented),
        });
    }

    /// Client: the server wants proof of our address before any DH work.
    pub(crate) fn handle_retry(&mut self, now: Instant, new_token: &[u8]) {
        if let State::Handshake(start) = &mut self.state
            && start.token.is_empty()
            && !new_token.is_empty()
        {
            start.token = new_token.to_vec();
            self.handshake_deadline = Some(now);
        }
    }

    /// Client: the server does not speak our version.
    pub(crate) fn handle_version_negotiation(&mut self, offered: Vec<u32>) {
        if matches!(self.state, State::Handshake(_)) && !offered.contains(&crate::VERSION) {
            self.drop_now(CloseReason::VersionMismatch { offered });
        }
    }

    /// Server: the client repeated its Initial, so our Handshake was lost.
    /// Returns false when the Initial is ignored (another address, or the
    /// handshake is already confirmed: a replay).
    ///
    /// A client still retrying is alive: the repeat restarts the idle
    /// timer, as any packet does. Otherwise a client whose Handshake
    /// replies were lost for an idle timeout found the connection gone and
    /// its retransmissions refused as replays (`MAX_UNCONFIRMED` bounds
    /// how long repeats can keep it).
    pub(crate) fn handle_repeated_initial(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        len: usize,
    ) -> bool {
        if remote != self.remote || self.confirmed || self.is_closed() {
            return false;
        }
        self.last_rx = now;
        self.unvalidated_rx += len as u64;
        self.resend_handshake = true;
        true
    }

    /// A Data packet for this connection. `header` is the associated data.
    pub(crate) fn handle_data(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        header: &[u8],
        pn: u64,
        ciphertext: &mut [u8],
        rng: &mut dyn RngCore,
    ) {
        let datagram_len = header.len() + ciphertext.len();
        let Some(keys) = &self.keys else { return };
        let Ok(plain) = keys.open(pn, header, ciphertext) else {
            self.stats.dropped_invalid += 1;
            return;
        };
        if self.is_duplicate(pn) {
            self.stats.duplicate_packets += 1;
            return;
        }
        self.stats.packets_received += 1;
        self.stats.bytes_received += datagram_len as u64;
        self.last_rx = now;
        self.on_authenticated(remote, pn, rng);
        if let State::Closing { .. } = self.state {
            // Answer stragglers with our CLOSE again (ack-free, rate-bounded
            // by the peer's own sending).
            self.resend_close();
            return;
        }
        if matches!(self.state, State::Draining { .. } | State::Drained) {
            return;
        }
        let eliciting = self.process_frames(now, remote, plain);
        self.record_received(now, pn, eliciting);
    }

    fn is_duplicate(&self, pn: u64) -> bool {
        pn < self.rx_floor || self.received.contains(pn)
    }

    /// Bookkeeping shared by every authenticated packet.
    fn on_authenticated(&mut self, remote: SocketAddr, pn: u64, rng: &mut dyn RngCore) {
        if self.side == Side::Server && !self.confirmed {
            self.confirmed = true;
            self.handshake_deadline = None;
            self.validated = true;
            self.resend_handshake = false;
            self.handshake_datagram = None;
            self.events.push_back(Event::Connected { remote_key: None });
        }
        let newest = self.largest_rx.is_none_or(|(l, _)| pn > l);
        if remote != self.remote && newest && self.side == Side::Server {
            self.start_path_validation(remote, rng);
        }
    }

    /// The peer's address changed (NAT rebinding, new network): challenge
    /// the new path before sending it anything but the challenge.
    fn start_path_validation(&mut self, remote: SocketAddr, rng: &mut dyn RngCore) {
        if self
            .path_challenge
            .as_ref()
            .is_some_and(|p| p.remote == remote)
        {
            return;
        }
        let mut data = [0u8; 8];
        rng.fill_bytes(&mut data);
        self.path_challenge = Some(Box::new(PathChallenge {
            remote,
            data,
            send: true,
            attempts: 0,
        }));
    }

    /// Processes every frame; returns whether the packet was ack-eliciting.
    fn process_frames(&mut self, now: Instant, remote: SocketAddr, plain: &[u8]) -> bool {
        let mut eliciting = false;
        for frame in frame::iter(plain) {
            let frame = match frame {
                Ok(f) => f,
                Err(_) => {
                    self.protocol_violation(now, "malformed frame");
                    return eliciting;
                }
            };
            eliciting |= frame.is_ack_eliciting();
            self.process_frame(now, remote, frame);
            if self.is_closed() {
                break;
            }
        }
        eliciting
    }

    fn process_frame(&mut self, now: Instant, remote: SocketAddr, frame: Frame<'_>) {
        match frame {
            Frame::Padding | Frame::Ping => {}
            Frame::Ack(ack) => self.on_ack(now, &ack),
            Frame::Msg(msg) => self.on_msg(now, &msg),
            Frame::MaxData(max) => {
                self.tx_streams.set_peer_max_data(max);
            }
            Frame::Close { code, reason } => {
                self.enter_draining(now, CloseReason::Remote { code, reason });
            }
            Frame::PathChallenge(data) => self.path_response = Some(Box::new((remote, data))),
            Frame::PathResponse(data) => self.on_path_response(remote, data),
        }
    }

    fn on_path_response(&mut self, remote: SocketAddr, data: [u8; 8]) {
        let Some(p) = &self.path_challenge else {
            return;
        };
        if p.remote != remote || p.data != data {
            return;
        }
        self.remote = remote;
        self.path_challenge = None;
        self.events.push_back(Event::Migrated { remote });
    }

    fn on_msg(&mut self, now: Instant, msg: &MsgFrame<'_>) {
        let frag = FragmentRef {
            stream: msg.stream,
            msg_id: msg.msg_id,
            conn_offset: msg.conn_offset,
            total_len: msg.total_len,
            offset: msg.offset,
            data: msg.data,
        };
        if let Err(e) = self.rx_streams.on_frame(frag) {
            return self.protocol_violation(now, &e.to_string());
        }
        if !self.readable_signalled && self.rx_streams.has_message() {
            self.readable_signalled = true;
            self.events.push_back(Event::Readable);
        }
    }

    fn on_ack(&mut self, now: Instant, ack: &AckFrame) {
        if ack.largest >= self.next_pn {
            return self.protocol_violation(now, "ack of a packet never sent");
        }
        let delay = Duration::from_micros(ack.delay_us).min(self.peer_max_ack_delay());
        let max_ack_delay = self.peer_max_ack_delay();
        let outcome =
            match self
                .sent
                .on_ack_received(now, &ack.ranges, delay, &mut self.rtt, max_ack_delay)
            {
                Ok(o) => o,
                Err(e) => return self.protocol_violation(now, &e.to_string()),
            };
        if outcome.newly_acked.is_empty() {
            return;
        }
        self.pto_count = 0;
        outcome.feed_congestion(now, &mut self.cc);
        for (_, packet) in outcome.newly_acked {
            self.on_frames_acked(packet.payload);
        }
        self.on_lost(outcome.lost);
    }

    fn on_frames_acked(&mut self, frames: super::SentFrames) {
        for f in frames.fragments {
            if let Some((stream, msg_id)) = self
                .tx_streams
                .on_acked(f.stream, f.msg_id, f.offset, f.len)
            {
                self.events.push_back(Event::Acked { stream, msg_id });
            }
        }
        if let Some(largest) = frames.ack_of {
            // The peer has seen our ACK up to `largest`: stop repeating it.
            self.rx_floor = self.rx_floor.max(largest + 1);
            self.received.remove_below(self.rx_floor);
        }
    }

    /// Records a received packet number and decides when to acknowledge.
    fn record_received(&mut self, now: Instant, pn: u64, eliciting: bool) {
        let gap_or_reorder = match self.largest_rx {
            Some((l, _)) => pn != l + 1,
            None => pn != 0,
        };
        self.received.insert(pn..pn + 1);
        if self.received.len() > MAX_RX_RANGES {
            // Forget the oldest range: those packet numbers count as
            // duplicates from now on (their data is retransmitted in newer
            // packets if it was ever missing). Bounds memory and ACK size
            // against a peer that skips or reverses packet numbers.
            let second = self.received.iter().nth(1).map(|r| r.start);
            if let Some(start) = second {
                self.rx_floor = start;
                self.received.remove_below(start);
            }
        }
        if self.largest_rx.is_none_or(|(l, _)| pn > l) {
            self.largest_rx = Some((pn, now));
        }
        if !eliciting {
            return;
        }
        self.eliciting_since_ack += 1;
        if gap_or_reorder || self.eliciting_since_ack >= self.config.ack_eliciting_threshold {
            self.ack_now = true;
        } else if self.ack_deadline.is_none() {
            self.ack_deadline = Some(now + self.config.max_ack_delay);
        }
    }
}
