//! Send side: message queues, fragmentation, acknowledgement and loss
//! bookkeeping, and the sender's half of flow control.
//!
//! Byte positions inside a message are tracked in *units*: a message of `n > 0`
//! bytes has the units `0..n` (unit `i` is byte `i`); an empty message has the
//! single unit `0`, carried by its one zero-length fragment. This lets empty
//! messages be sent, lost, retransmitted and acknowledged like any other.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use bytes::Bytes;
use rustc_hash::FxHashMap;

use super::{StreamCounters, charge, msg_header_len, release, release_map};
use crate::range_set::RangeSet;

/// One MSG frame's worth of a message, ready to be encoded into a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fragment {
    /// Stream number.
    pub(crate) stream: u64,
    /// Per-stream message sequence number (0, 1, 2, …).
    pub(crate) msg_id: u64,
    /// The message's flow-control offset (sum of the charges of earlier messages).
    pub(crate) conn_offset: u64,
    /// Length of the whole message.
    pub(crate) total_len: u64,
    /// Offset of `data` inside the message.
    pub(crate) offset: u64,
    /// The bytes (a cheap slice of the message's buffer).
    pub(crate) data: Bytes,
}

impl Fragment {
    /// Number of data bytes carried.
    pub(crate) fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Upper bound of the encoded MSG frame length (header and data).
    pub(crate) fn frame_len(&self) -> usize {
        let (stream, msg_id, conn_offset) = (self.stream, self.msg_id, self.conn_offset);
        msg_header_len([
            stream,
            msg_id,
            conn_offset,
            self.total_len,
            self.offset,
            self.len(),
        ]) + self.data.len()
    }

    /// The units this fragment carries (see the module docs).
    fn units(&self) -> Range<u64> {
        self.offset..self.offset + self.len().max(1)
    }
}

/// Why [`SendStreams::push`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection is closed or gone.
    #[error("the connection is closed")]
    Closed,
    /// The message is longer than the maximum message size.
    #[error("message of {len} bytes exceeds the maximum message size of {max}")]
    TooLarge {
        /// Length of the refused message.
        len: u64,
        /// The configured maximum.
        max: u64,
    },
    /// The stream number is not below the stream limit.
    #[error("stream {stream} is not below the stream limit {max}")]
    StreamLimit {
        /// The refused stream number.
        stream: u64,
        /// The configured limit.
        max: u64,
    },
}

/// `(stream, msg_id)`.
type MsgKey = (u64, u64);

/// A started message: charged, being sent or sent, not wholly acknowledged.
#[derive(Debug)]
struct SentMessage {
    data: Bytes,
    conn_offset: u64,
    /// Units `0..next` were sent at least once.
    next: u64,
    /// Units acknowledged (always within `0..next`).
    acked: RangeSet,
    /// Units declared lost and not yet resent (disjoint from `acked`).
    lost: RangeSet,
}

impl SentMessage {
    fn new(data: Bytes, conn_offset: u64) -> Self {
        let (acked, lost) = (RangeSet::new(), RangeSet::new());
        Self {
            data,
            conn_offset,
            next: 0,
            acked,
            lost,
        }
    }

    fn total_len(&self) -> u64 {
        self.data.len() as u64
    }

    fn unit_count(&self) -> u64 {
        self.total_len().max(1)
    }

    /// The units of the byte range `offset..offset+len`, clamped to the message.
    fn span(&self, offset: u64, len: u64) -> Range<u64> {
        let total = self.total_len();
        if total == 0 {
            return 0..1;
        }
        offset.min(total)..offset.saturating_add(len).min(total)
    }

    /// Like [`Self::span`], clamped to the units already sent.
    fn sent_span(&self, offset: u64, len: u64) -> Range<u64> {
        let span = self.span(offset, len);
        span.start.min(self.next)..span.end.min(self.next)
    }

    fn is_fully_sent(&self) -> bool {
        self.next >= self.unit_count()
    }

    fn is_fully_acked(&self) -> bool {
        self.acked.covers(0..self.unit_count())
    }

    /// Marks the unacknowledged parts of `span` lost; true if any was added.
    fn mark_lost(&mut self, span: Range<u64>) -> bool {
        let mut added = false;
        let mut rest = span;
        while let Some(gap) = self.acked.first_gap_in(rest.clone()) {
            rest.start = gap.end;
            added |= self.lost.insert(gap);
        }
        added
    }

    /// The fragment carrying exactly the given units.
    fn fragment(&self, key: MsgKey, units: Range<u64>) -> Fragment {
        let total = self.total_len();
        let (start, end) = (units.start.min(total), units.end.min(total));
        Fragment {
            stream: key.0,
            msg_id: key.1,
            conn_offset: self.conn_offset,
            total_len: total,
            offset: start,
            data: self.data.slice(start as usize..end as usize),
        }
    }

    /// The longest prefix of `units` whose fragment fits in `max_frame_len`.
    fn cut(&self, key: MsgKey, units: Range<u64>, max_frame_len: usize) -> Option<Fragment> {
        let total = self.total_len();
        let (start, end) = (units.start.min(total), units.end.min(total));
        let fields = [key.0, key.1, self.conn_offset, total, start];
        let take = fitting_len(max_frame_len, fields, end - start)?;
        let units_end = if total == 0 { 1 } else { start + take };
        Some(self.fragment(key, start..units_end))
    }
}

/// How many of `remaining` data bytes fit in a frame of at most
/// `max_frame_len` bytes with the given header fields (stream, msg_id,
/// conn_offset, total_len, offset). `None` if not even one byte fits (or, when
/// `remaining == 0`, not even the header).
fn fitting_len(max_frame_len: usize, fields: [u64; 5], remaining: u64) -> Option<u64> {
    let len_bound = remaining.min(max_frame_len as u64);
    let [stream, msg_id, conn_offset, total_len, offset] = fields;
    let header = msg_header_len([stream, msg_id, conn_offset, total_len, offset, len_bound]);
    let room = max_frame_len.checked_sub(header)? as u64;
    let take = remaining.min(room);
    (take > 0 || remaining == 0).then_some(take)
}

/// Messages of one stream not yet wholly sent for the first time.
#[derive(Debug, Default)]
struct StreamQueue {
    /// Pushed, not started (not charged yet): `(msg_id, data)`.
    waiting: VecDeque<(u64, Bytes)>,
    /// The started message whose first transmission is in progress.
    sending: Option<u64>,
}

impl StreamQueue {
    fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.sending.is_none()
    }
}

/// The send half of all streams of a connection.
///
/// Contract with the connection: `push` messages; fill packets with
/// `poll_frame`; record in each packet which fragments (stream, msg_id,
/// offset, len) it carried; report them with `on_acked` / `on_lost`; feed the
/// peer's MAX_DATA to `set_peer_max_data`. Lost data is resent before new
/// data; new messages start in push order per stream and round-robin across
/// streams, one fragment per turn.
#[derive(Debug)]
pub(crate) struct SendStreams {
    max_message_size: u64,
    max_streams: u64,
    peer_max_data: u64,
    /// Sum of the charges of all started messages (the next `conn_offset`).
    charged: u64,
    next_msg_id: StreamCounters,
    /// Streams with something not yet sent once; entries removed when empty.
    queues: BTreeMap<u64, StreamQueue>,
    /// The streams of `queues`, in turn order (each exactly once).
    round_robin: VecDeque<u64>,
    /// Started messages not wholly acknowledged. Looked up by key only
    /// (never iterated); FxHash, as the keys are our own stream numbers and
    /// message ids, never chosen by the peer.
    in_flight: FxHashMap<MsgKey, SentMessage>,
    /// Messages with lost units, oldest loss first (may hold stale keys).
    retransmit: VecDeque<MsgKey>,
}

impl SendStreams {
    /// A sender for messages up to `max_message_size` bytes on streams
    /// `0..max_streams`. Credit starts at 0 until [`Self::set_peer_max_data`].
    pub(crate) fn new(max_message_size: u64, max_streams: u64) -> Self {
        Self {
            max_message_size,
            max_streams,
            peer_max_data: 0,
            charged: 0,
            next_msg_id: StreamCounters::default(),
            queues: BTreeMap::new(),
            round_robin: VecDeque::new(),
            in_flight: FxHashMap::default(),
            retransmit: VecDeque::new(),
        }
    }

    /// Queues a message on `stream` and returns its msg_id.
    pub(crate) fn push(&mut self, stream: u64, data: Bytes) -> Result<u64, SendError> {
        let len = data.len() as u64;
        if stream >= self.max_streams {
            return Err(SendError::StreamLimit {
                stream,
                max: self.max_streams,
            });
        }
        if len > self.max_message_size {
            return Err(SendError::TooLarge {
                len,
                max: self.max_message_size,
            });
        }
        let msg_id = self.next_msg_id.increment(stream);
        let round_robin = &mut self.round_robin;
        let queue = self.queues.entry(stream).or_insert_with(|| {
            round_robin.push_back(stream);
            StreamQueue::default()
        });
        queue.waiting.push_back((msg_id, data));
        Ok(msg_id)
    }

    /// Raises the peer's cumulative credit (smaller values are ignored).
    /// Lowers the limits to what the peer accepts (never raises them).
    pub(crate) fn limit(&mut self, max_message_size: u64, max_streams: u64) {
        self.max_message_size = self.max_message_size.min(max_message_size);
        self.max_streams = self.max_streams.min(max_streams);
    }

    pub(crate) fn set_peer_max_data(&mut self, max_data: u64) {
        self.peer_max_data = self.peer_max_data.max(max_data);
    }

    #[cfg(test)]
    /// The peer's cumulative credit.
    pub(crate) fn peer_max_data(&self) -> u64 {
        self.peer_max_data
    }

    /// The next fragment to send, fitting in `max_frame_len` bytes including
    /// the MSG frame header: lost data first, then new data. `None` if there
    /// is nothing to send or it does not fit.
    pub(crate) fn poll_frame(&mut self, max_frame_len: usize) -> Option<Fragment> {
        self.poll_retransmit(max_frame_len)
            .or_else(|| self.poll_new(max_frame_len))
    }

    /// Records that the peer received `offset..offset+len` of a message.
    ///
    /// Returns `Some((stream, msg_id))` exactly once, when the whole message
    /// is acknowledged (its buffer is then freed). Acks of unknown or freed
    /// messages are ignored.
    pub(crate) fn on_acked(
        &mut self,
        stream: u64,
        msg_id: u64,
        offset: u64,
        len: u64,
    ) -> Option<MsgKey> {
        let key = (stream, msg_id);
        let msg = self.in_flight.get_mut(&key)?;
        let span = msg.sent_span(offset, len);
        // A message acknowledged whole at once (most chat messages fit one
        // fragment) needs no range bookkeeping: it is freed right away.
        if span != (0..msg.unit_count()) {
            msg.acked.insert(span.clone());
            msg.lost.remove(span);
            if !msg.is_fully_acked() {
                return None;
            }
        }
        self.in_flight.remove(&key);
        if self.in_flight.is_empty() {
            self.in_flight = FxHashMap::default(); // frees the table
        }
        self.retransmit.retain(|k| *k != key);
        release(&mut self.retransmit);
        Some(key)
    }

    /// Queues the unacknowledged parts of `offset..offset+len` for
    /// retransmission. Ignored for unknown or freed messages.
    pub(crate) fn on_lost(&mut self, stream: u64, msg_id: u64, offset: u64, len: u64) {
        let key = (stream, msg_id);
        let Some(msg) = self.in_flight.get_mut(&key) else {
            return;
        };
        let had_losses = !msg.lost.is_empty();
        let span = msg.sent_span(offset, len);
        if msg.mark_lost(span) && !had_losses {
            self.retransmit.push_back(key);
        }
    }

    /// Rebuilds the fragment `offset..offset+len` of a message (e.g. for a
    /// tail-loss probe). `None` if the message is freed or that range is
    /// already wholly acknowledged.
    pub(crate) fn fragment(
        &self,
        stream: u64,
        msg_id: u64,
        offset: u64,
        len: u64,
    ) -> Option<Fragment> {
        let key = (stream, msg_id);
        let msg = self.in_flight.get(&key)?;
        let span = msg.span(offset, len);
        (!msg.acked.covers(span.clone())).then(|| msg.fragment(key, span))
    }

    /// Whether `poll_frame` has something to send now (given enough room).
    pub(crate) fn has_pending(&self) -> bool {
        self.retransmit.iter().any(|k| self.has_losses(k)) || self.next_sendable().is_some()
    }

    #[cfg(test)]
    /// Whether the next message to start waits for more credit from the peer.
    pub(crate) fn is_blocked_by_flow_control(&self) -> bool {
        self.round_robin
            .iter()
            .filter_map(|s| self.queues.get(s))
            .find(|q| q.sending.is_none())
            .and_then(|q| q.waiting.front())
            .is_some_and(|(_, data)| !self.can_start(data.len() as u64))
    }

    #[cfg(test)]
    /// Started messages not yet wholly acknowledged.
    pub(crate) fn unacked_messages(&self) -> usize {
        self.in_flight.len()
    }

    #[cfg(test)]
    /// Pushed messages not started yet.
    pub(crate) fn queued_messages(&self) -> usize {
        self.queues.values().map(|q| q.waiting.len()).sum()
    }

    /// Nothing queued and nothing unacknowledged.
    pub(crate) fn is_idle(&self) -> bool {
        self.queues.is_empty() && self.in_flight.is_empty()
    }

    fn has_losses(&self, key: &MsgKey) -> bool {
        self.in_flight.get(key).is_some_and(|m| !m.lost.is_empty())
    }

    fn can_start(&self, len: u64) -> bool {
        self.charged
            .checked_add(charge(len))
            .is_some_and(|end| end <= self.peer_max_data)
    }

    fn poll_retransmit(&mut self, max_frame_len: usize) -> Option<Fragment> {
        while let Some(&key) = self.retransmit.front() {
            let first_lost = self.in_flight.get(&key).and_then(|m| m.lost.iter().next());
            match first_lost {
                Some(units) => return self.resend(key, units, max_frame_len),
                None => {
                    self.retransmit.pop_front();
                }
            }
        }
        release(&mut self.retransmit);
        None
    }

    fn resend(&mut self, key: MsgKey, units: Range<u64>, max_frame_len: usize) -> Option<Fragment> {
        let msg = self.in_flight.get_mut(&key)?;
        let fragment = msg.cut(key, units, max_frame_len)?;
        msg.lost.remove(fragment.units());
        if msg.lost.is_empty() {
            self.retransmit.pop_front();
            release(&mut self.retransmit);
        }
        Some(fragment)
    }

    /// Index in `round_robin` of the next stream that can send new data.
    ///
    /// Streams finishing a started message always can. Starting a message
    /// needs credit, and once the first candidate in turn order lacks credit
    /// no later stream may start either (big messages are not starved).
    fn next_sendable(&self) -> Option<usize> {
        let mut may_start = true;
        for (i, stream) in self.round_robin.iter().enumerate() {
            let queue = self.queues.get(stream)?;
            if queue.sending.is_some() {
                return Some(i);
            }
            let len = queue.waiting.front()?.1.len() as u64;
            if may_start && self.can_start(len) {
                return Some(i);
            }
            may_start = false;
        }
        None
    }

    fn poll_new(&mut self, max_frame_len: usize) -> Option<Fragment> {
        let idx = self.next_sendable()?;
        let stream = self.round_robin[idx];
        let fragment = self.cut_new(stream, max_frame_len)?;
        let msg_id = fragment.msg_id;
        self.start_if_waiting(stream);
        let msg = self.in_flight.get_mut(&(stream, msg_id))?;
        msg.next = fragment.units().end;
        let finished = msg.is_fully_sent();
        self.take_turn(idx, finished);
        Some(fragment)
    }

    /// The next new fragment of `stream`, computed without changing state.
    fn cut_new(&self, stream: u64, max_frame_len: usize) -> Option<Fragment> {
        let queue = self.queues.get(&stream)?;
        match queue.sending {
            Some(msg_id) => {
                let msg = self.in_flight.get(&(stream, msg_id))?;
                msg.cut((stream, msg_id), msg.next..msg.unit_count(), max_frame_len)
            }
            None => {
                let (msg_id, data) = queue.waiting.front()?;
                let msg = SentMessage::new(data.clone(), self.charged);
                msg.cut((stream, *msg_id), 0..msg.unit_count(), max_frame_len)
            }
        }
    }

    /// Starts (charges) the head message of `stream` unless one is in progress.
    fn start_if_waiting(&mut self, stream: u64) {
        let Some(queue) = self.queues.get_mut(&stream) else {
            return;
        };
        if queue.sending.is_some() {
            return;
        }
        let Some((msg_id, data)) = queue.waiting.pop_front() else {
            return;
        };
        let len = data.len() as u64;
        self.in_flight
            .insert((stream, msg_id), SentMessage::new(data, self.charged));
        self.charged += charge(len);
        queue.sending = Some(msg_id);
    }

    /// Ends the turn of the stream at `idx`: it goes to the back of the turn
    /// order, or is dropped when it has nothing left to send for the first time.
    fn take_turn(&mut self, idx: usize, message_finished: bool) {
        let Some(stream) = self.round_robin.remove(idx) else {
            return;
        };
        let Some(queue) = self.queues.get_mut(&stream) else {
            return;
        };
        if message_finished {
            queue.sending = None;
        }
        if queue.is_empty() {
            self.queues.remove(&stream);
            release_map(&mut self.queues);
            release(&mut self.round_robin);
        } else {
            self.round_robin.push_back(stream);
        }
    }

    /// Heap blocks held (collection capacities and entries), for memory tests.
    #[cfg(test)]
    pub(crate) fn heap_footprint(&self) -> usize {
        self.queues.len()
            + self.in_flight.len()
            + self.round_robin.capacity()
            + self.retransmit.capacity()
            + self.next_msg_id.spilled()
    }
}
