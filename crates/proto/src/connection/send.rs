//! Outgoing packets: one datagram per call, as full as it can usefully be.
//!
//! Priority inside a packet: ACK, control frames (PATH_*, MAX_DATA, PING),
//! probe retransmissions, then message fragments (retransmissions before
//! new data, chosen by the stream scheduler). Redundant copies of small
//! packets (`recovery::redundancy`) go in packets of their own, when
//! nothing else is due.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Connection, State};
use crate::frame::{self, MsgFrame};
use crate::packet::{self, MIN_INITIAL_SIZE};
use crate::recovery::{Pass, RedundancyRule, SentPacket};
use crate::streams::Fragment;

/// AEAD tag appended to every Data packet.
const TAG_LEN: usize = 16;
/// Bytes of a Data packet besides its frames: header (type, connection ID,
/// packet number) and tag.
const PACKET_OVERHEAD: usize = 1 + 8 + 8 + TAG_LEN;
/// The Initial's resend interval doubles up to `initial_rtt × 2^this` (1.6 s
/// by default): a gentle cap, so a client whose first packets fell into a
/// healed partition or heavy loss still gets a dozen tries within the idle
/// timeout instead of eight.
const MAX_HANDSHAKE_BACKOFF_EXP: u32 = 4;
/// ACK-only packets in a row before one carries a PING.
const ACK_ONLY_BEFORE_PING: u32 = 16;
/// Most ranges one ACK frame carries.
const MAX_ACK_RANGES: usize = 32;

/// A datagram ready in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Bytes written at the start of the buffer.
    pub size: usize,
}

/// What a sent packet carried that matters when it is acked or lost.
#[derive(Debug, Default)]
pub(crate) struct SentFrames {
    pub(crate) fragments: Vec<FragRecord>,
    /// The largest packet number acknowledged by an ACK frame in this packet.
    pub(crate) ack_of: Option<u64>,
    pub(crate) max_data: bool,
    pub(crate) path_challenge: bool,
    /// A redundant copy (never copied again).
    pub(crate) redundant: bool,
}

/// A message fragment carried by a packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FragRecord {
    pub(crate) stream: u64,
    pub(crate) msg_id: u64,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// A packet under construction.
struct Builder {
    payload: Vec<u8>,
    budget: usize,
    frames: SentFrames,
    eliciting: bool,
}

impl Builder {
    fn remaining(&self) -> usize {
        self.budget.saturating_sub(self.payload.len())
    }

    fn push_fragment(&mut self, f: &Fragment) {
        frame::encode_msg(
            &mut self.payload,
            &MsgFrame {
                stream: f.stream,
                msg_id: f.msg_id,
                conn_offset: f.conn_offset,
                total_len: f.total_len,
                offset: f.offset,
                data: &f.data,
            },
        );
        self.frames.fragments.push(FragRecord {
            stream: f.stream,
            msg_id: f.msg_id,
            offset: f.offset,
            len: f.data.len() as u64,
        });
        self.eliciting = true;
    }
}

impl Connection {
    /// Writes the next datagram into `buf` (cleared first), if any is due.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        buf.clear();
        match &self.state {
            State::Drained | State::Draining { .. } => return None,
            State::Handshake(_) => return self.transmit_initial(now, buf),
            State::Closing { .. } => return self.transmit_close(now, buf),
            State::Established => {}
        }
        if self.side == super::Side::Server && !self.confirmed {
            return self.transmit_handshake(buf);
        }
        if let Some(t) = self.transmit_path_frames(now, buf) {
            return Some(t);
        }
        self.transmit_data(now, buf)
    }

    /// Client: (re)send the Initial, padded so the server may answer.
    fn transmit_initial(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.handshake_deadline.is_none_or(|d| d > now) {
            return None;
        }
        let State::Handshake(start) = &self.state else {
            return None;
        };
        packet::encode_initial(
            buf,
            self.initial_dcid,
            self.local_cid,
            &start.token,
            &start.msg1,
            MIN_INITIAL_SIZE,
        );
        let backoff = 2u32.saturating_pow(self.handshake_backoff.min(MAX_HANDSHAKE_BACKOFF_EXP));
        self.handshake_deadline = Some(now + self.config.initial_rtt * backoff);
        self.handshake_backoff += 1;
        self.count_sent(buf.len());
        Some(self.to_remote(buf))
    }

    /// Server: (re)send our handshake reply, within 3× what the client sent.
    fn transmit_handshake(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        if !self.resend_handshake {
            return None;
        }
        let datagram = self.handshake_datagram.as_ref()?;
        let allowed = 3 * self.unvalidated_rx;
        if !self.validated && self.unvalidated_tx + datagram.len() as u64 > allowed {
            return None;
        }
        buf.extend_from_slice(datagram);
        self.unvalidated_tx += datagram.len() as u64;
        self.resend_handshake = false;
        self.count_sent(buf.len());
        Some(self.to_remote(buf))
    }

    fn transmit_close(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if !self.close_pending {
            return None;
        }
        self.close_pending = false;
        // Repeats carry the code only: the reason goes out once.
        let (code, reason) = &mut **self.close_frame.as_mut()?;
        let (code, reason) = (*code, std::mem::take(reason));
        let mut b = self.builder();
        frame::encode_close(&mut b.payload, code, &reason);
        Some(self.finish(now, buf, b, self.remote))
    }

    pub(super) fn resend_close(&mut self) {
        self.close_pending = self.close_frame.is_some();
    }

    /// PATH_CHALLENGE to a new address, PATH_RESPONSE to whoever asked.
    fn transmit_path_frames(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some(response) = self.path_response.take() {
            let (to, data) = *response;
            let mut b = self.builder();
            frame::encode_path_response(&mut b.payload, data);
            b.eliciting = true;
            return Some(self.finish(now, buf, b, to));
        }
        let p = self.path_challenge.as_mut().filter(|p| p.send)?;
        p.send = false;
        let (to, data) = (p.remote, p.data);
        let mut b = self.builder();
        frame::encode_path_challenge(&mut b.payload, data);
        b.frames.path_challenge = true;
        b.eliciting = true;
        Some(self.finish(now, buf, b, to))
    }

    /// The regular packet: ACK, control frames, probes, message data.
    fn transmit_data(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let ack_due = self.ack_due(now);
        let can_send_data = self.tx_streams.has_pending() && self.can_send_data(now);
        let wants = self.probes > 0 || self.max_data_pending || self.ping_pending || can_send_data;
        if !ack_due && !wants {
            return self.transmit_copy(now, buf);
        }
        let mut b = self.builder();
        self.write_ack(now, &mut b);
        if self.ack_only_in_a_row >= ACK_ONLY_BEFORE_PING {
            // Let the peer acknowledge our ACKs now and then, so it can stop
            // repeating old ranges (RFC 9000 §13.2.4).
            self.ping_pending = true;
        }
        self.write_control(&mut b);
        if self.probes > 0 {
            self.probes -= 1;
            self.write_probe(&mut b);
        }
        if can_send_data {
            self.write_fragments(&mut b);
        }
        if b.payload.is_empty() {
            return None;
        }
        Some(self.finish(now, buf, b, self.remote))
    }

    /// A packet of redundant copies of small packets whose copy is due (both
    /// passes, older second copies first), while the path is randomly lossy,
    /// within the budget and the congestion window.
    fn transmit_copy(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.redundancy.is_idle() {
            return None;
        }
        let rule = self.redundancy_rule();
        if !self.cc.randomly_lossy(rule.min_loss) {
            self.redundancy.clear();
            return None;
        }
        let mut b = self.builder();
        let allowed = self.redundancy.credit().min(self.cc.available());
        b.budget = b.budget.min(allowed.saturating_sub(PACKET_OVERHEAD));
        for pass in [Pass::Again, Pass::First] {
            let stop = self.write_copies(now, &rule, pass, &mut b);
            self.redundancy.resume_at(pass, stop);
        }
        if !b.eliciting {
            return None;
        }
        b.frames.redundant = true;
        let t = self.finish(now, buf, b, self.remote);
        self.redundancy.on_copy_sent(t.size);
        self.stats.redundant_packets += 1;
        self.stats.redundant_bytes += t.size as u64;
        Some(t)
    }

    /// Copies the fragments of `pass`'s candidate packets into `b`, oldest
    /// first; returns the packet number to resume at (`None`: none left). A
    /// candidate that does not fit an empty `b` (budget or window spent) is
    /// passed over, not kept: a late copy is worth little. The second pass
    /// stops where the first one is, so a packet is never copied twice into
    /// one datagram.
    fn write_copies(
        &mut self,
        now: Instant,
        rule: &RedundancyRule,
        pass: Pass,
        b: &mut Builder,
    ) -> Option<u64> {
        let from = self.redundancy.next(pass)?;
        let first = self
            .redundancy
            .next(Pass::First)
            .filter(|_| pass == Pass::Again);
        for (pn, packet) in self.sent.iter_from(from) {
            if first.is_some_and(|first| pn >= first) {
                return Some(pn);
            }
            let frames = &packet.payload;
            if frames.redundant || frames.fragments.is_empty() {
                continue;
            }
            match rule.due(pass, now, packet.time_sent, packet.size) {
                Err(None) => continue,
                Err(Some(at)) => {
                    let wake = self.pacing_deadline.map_or(at, |d| d.min(at));
                    self.pacing_deadline = Some(wake);
                    return Some(pn);
                }
                Ok(()) => {}
            }
            let fragments: Vec<Fragment> = frames
                .fragments
                .iter()
                .filter_map(|r| {
                    self.tx_streams
                        .fragment(r.stream, r.msg_id, r.offset, r.len)
                })
                .collect();
            let len: usize = fragments.iter().map(Fragment::frame_len).sum();
            if len > b.remaining() {
                if b.eliciting {
                    return Some(pn); // the next copy packet starts here
                }
                continue; // over the budget or the window: no copy
            }
            for f in &fragments {
                b.push_fragment(f);
            }
        }
        None
    }

    fn redundancy_rule(&self) -> RedundancyRule {
        let c = &self.config;
        RedundancyRule {
            min_loss: c.redundancy_min_loss,
            max_size: c.redundancy_max_size,
            budget: c.redundancy_budget,
            spacing: c.redundancy_spacing,
            max_datagram_size: c.max_datagram_size,
            again: self.rtt.smoothed() + self.rtt.var() * 4,
        }
    }

    fn ack_due(&self, now: Instant) -> bool {
        self.largest_rx.is_some() && (self.ack_now || self.ack_deadline.is_some_and(|d| d <= now))
    }

    /// Congestion window and pacer both allow one more full packet.
    fn can_send_data(&mut self, now: Instant) -> bool {
        let mds = self.config.max_datagram_size;
        if !self.cc.can_send(mds) {
            return false;
        }
        let srtt = self.rtt.smoothed();
        let window = self.cc.window();
        match self.pacer.delay(now, mds, srtt, window, mds) {
            None => true,
            Some(at) => {
                self.pacing_deadline = Some(at);
                false
            }
        }
    }

    fn builder(&self) -> Builder {
        Builder {
            payload: Vec::with_capacity(self.config.max_datagram_size),
            budget: self.config.max_datagram_size - PACKET_OVERHEAD,
            frames: SentFrames::default(),
            eliciting: false,
        }
    }

    /// Adds an ACK frame whenever anything is unacknowledged: piggybacking
    /// an ACK on a packet we send anyway is free.
    fn write_ack(&mut self, now: Instant, b: &mut Builder) {
        let Some((largest, at)) = self.largest_rx else {
            return;
        };
        if self.eliciting_since_ack == 0 && !self.ack_now && self.ack_deadline.is_none() {
            return;
        }
        let delay_us = now.saturating_duration_since(at).as_micros() as u64;
        let ranges = self.received.iter_desc().map(|r| r.start..=r.end - 1);
        frame::encode_ack(&mut b.payload, delay_us, ranges, MAX_ACK_RANGES);
        b.frames.ack_of = Some(largest);
        self.ack_now = false;
        self.ack_deadline = None;
        self.eliciting_since_ack = 0;
    }

    fn write_control(&mut self, b: &mut Builder) {
        if self.max_data_pending {
            self.max_data_pending = false;
            frame::encode_max_data(&mut b.payload, self.rx_streams.max_data());
            b.frames.max_data = true;
            b.eliciting = true;
        }
        if self.ping_pending {
            self.ping_pending = false;
            frame::encode_ping(&mut b.payload);
            b.eliciting = true;
        }
    }

    /// Tail-loss probe: resend the oldest unacknowledged fragments in this
    /// new packet, so a lone lost message is recovered by one probe instead
    /// of waiting for three later packets that chat traffic never sends.
    fn write_probe(&mut self, b: &mut Builder) {
        let records: Vec<FragRecord> = self
            .sent
            .unacked_ack_eliciting()
            .flat_map(|(_, f)| f.fragments.iter().copied())
            .take(64)
            .collect();
        for r in records {
            let Some(f) = self
                .tx_streams
                .fragment(r.stream, r.msg_id, r.offset, r.len)
            else {
                continue;
            };
            if f.frame_len() > b.remaining() {
                break;
            }
            b.push_fragment(&f);
            self.stats.retransmits += 1;
        }
        if !b.eliciting {
            frame::encode_ping(&mut b.payload);
            b.eliciting = true;
        }
    }

    fn write_fragments(&mut self, b: &mut Builder) {
        while b.remaining() > 16 {
            let Some(f) = self.tx_streams.poll_frame(b.remaining()) else {
                break;
            };
            b.push_fragment(&f);
        }
    }

    /// Numbers, seals and records the packet; returns its transmit.
    fn finish(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        mut b: Builder,
        to: SocketAddr,
    ) -> Transmit {
        let pn = self.next_pn;
        self.next_pn += 1;
        let header_len = packet::encode_data_header(buf, self.remote_cid, pn);
        let keys = self.keys.as_ref().expect("data packets need keys");
        keys.seal(pn, &buf[..header_len], &mut b.payload);
        buf.extend_from_slice(&b.payload);
        let size = buf.len();
        if b.eliciting {
            self.last_tx_eliciting = now;
            self.cc.on_sent(size);
        }
        if b.eliciting {
            self.ack_only_in_a_row = 0;
            if !b.frames.redundant && !b.frames.fragments.is_empty() {
                let rule = self.redundancy_rule();
                self.redundancy.on_original_sent(&rule, pn, size);
            }
            let record = SentPacket {
                time_sent: now,
                size,
                ack_eliciting: true,
                in_flight: true,
                payload: b.frames,
            };
            self.sent.on_packet_sent(pn, record);
        } else {
            // ACK-only packets are not retransmitted and not tracked: a peer
            // that never acknowledges them cannot grow our memory.
            self.ack_only_in_a_row += 1;
            self.sent.on_untracked_sent(pn);
        }
        self.count_sent(size);
        Transmit {
            destination: to,
            size,
        }
    }

    fn count_sent(&mut self, size: usize) {
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size as u64;
    }

    fn to_remote(&self, buf: &[u8]) -> Transmit {
        Transmit {
            destination: self.remote,
            size: buf.len(),
        }
    }
}
