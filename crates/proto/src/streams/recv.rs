//! Receive side: validation of incoming fragments, reassembly, in-order
//! delivery per stream, and the receiver's half of flow control.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use bytes::Bytes;

use super::{StreamCounters, charge, release, release_map};
use crate::range_set::RangeSet;

/// A received MSG frame, borrowing its data from the decrypted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragmentRef<'a> {
    /// Stream number.
    pub(crate) stream: u64,
    /// Per-stream message sequence number.
    pub(crate) msg_id: u64,
    /// The message's flow-control offset.
    pub(crate) conn_offset: u64,
    /// Length of the whole message.
    pub(crate) total_len: u64,
    /// Offset of `data` inside the message.
    pub(crate) offset: u64,
    /// The bytes carried.
    pub(crate) data: &'a [u8],
}

/// A protocol violation by the peer found in a MSG frame; the connection
/// closes with a protocol-violation error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StreamError {
    /// The stream number is not below the advertised stream limit.
    #[error("stream {stream} is not below the stream limit {max}")]
    StreamLimit {
        /// The offending stream number.
        stream: u64,
        /// The local limit.
        max: u64,
    },
    /// The message is longer than the advertised maximum message size.
    #[error("message of {total_len} bytes exceeds the maximum message size of {max}")]
    TooLarge {
        /// The claimed message length.
        total_len: u64,
        /// The local maximum.
        max: u64,
    },
    /// The fragment runs past the end of its message.
    #[error("fragment at {offset} of {len} bytes runs past the message end {total_len}")]
    BeyondEnd {
        /// Fragment offset.
        offset: u64,
        /// Fragment length.
        len: u64,
        /// Claimed message length.
        total_len: u64,
    },
    /// Fragments of one message disagree on `total_len` or `conn_offset`.
    #[error("fragments of stream {stream} message {msg_id} disagree on its length or offset")]
    Inconsistent {
        /// Stream number.
        stream: u64,
        /// Message number.
        msg_id: u64,
    },
    /// The message's flow-control claim exceeds the credit we advertised.
    #[error("message claims credit up to {end}, beyond the advertised {max_data}")]
    FlowControl {
        /// End of the claimed range (saturated on overflow).
        end: u64,
        /// The credit advertised so far.
        max_data: u64,
    },
    /// The message's flow-control claim overlaps another message's claim.
    #[error("message claims credit {start}..{end} already claimed by another message")]
    OverlappingClaim {
        /// Start of the claimed range.
        start: u64,
        /// End of the claimed range.
        end: u64,
    },
    /// A message or the credit claims arrived in too many disjoint pieces:
    /// legitimate loss and reordering never come close, and tracking
    /// arbitrarily many pieces would cost quadratic time.
    #[error("too many disjoint fragments ({0} ranges)")]
    TooFragmented(usize),
}

/// Most disjoint received ranges one message being reassembled may have.
const MAX_MESSAGE_RANGES: usize = 1024;
/// Most disjoint flow-control claims above the fully claimed floor.
const MAX_CLAIM_RANGES: usize = 4096;

/// `(stream, msg_id)`.
type MsgKey = (u64, u64);

/// A message being reassembled, or complete and waiting for its turn.
#[derive(Debug)]
struct Partial {
    conn_offset: u64,
    buf: Vec<u8>,
    /// Byte ranges received (released once complete).
    received: RangeSet,
    complete: bool,
}

impl Partial {
    fn new(conn_offset: u64, total_len: u64) -> Self {
        Self {
            conn_offset,
            buf: vec![0; total_len as usize],
            received: RangeSet::new(),
            complete: total_len == 0,
        }
    }

    fn total_len(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Copies `data` at `offset` (bounds already validated); true if any
    /// byte was new.
    fn write(&mut self, offset: u64, data: &[u8]) -> bool {
        let range = offset..offset + data.len() as u64;
        if self.complete || self.received.covers(range.clone()) {
            return false;
        }
        self.buf[offset as usize..range.end as usize].copy_from_slice(data);
        self.received.insert(range);
        if self.received.covers(0..self.total_len()) {
            self.complete = true;
            self.received.clear();
        }
        true
    }
}

/// The receive half of all streams of a connection.
///
/// Contract with the connection: feed every decoded MSG frame to `on_frame`
/// (an error is a protocol violation: close the connection); hand messages to
/// the application with `poll_message`; send MAX_DATA whenever
/// `poll_max_data_update` returns a value (and resend `max_data()` if that
/// frame is lost).
#[derive(Debug)]
pub(crate) struct RecvStreams {
    window: u64,
    max_message_size: u64,
    max_streams: u64,
    /// Cumulative credit advertised to the peer.
    max_data: u64,
    /// Sum of the charges of the messages delivered to the application.
    consumed: u64,
    /// `0..claimed_floor` is wholly claimed; `claimed` holds the claims above.
    claimed_floor: u64,
    claimed: RangeSet,
    next_expected: StreamCounters,
    partial: BTreeMap<MsgKey, Partial>,
    /// Streams whose next expected message is complete (each at most once).
    ready: VecDeque<u64>,
    duplicates: u64,
}

impl RecvStreams {
    /// A receiver granting `window` bytes of charge beyond what the
    /// application consumed, for messages up to `max_message_size` bytes on
    /// streams `0..max_streams`. `window` should be at least
    /// `charge(max_message_size)` or the largest messages can never be sent.
    pub(crate) fn new(window: u64, max_message_size: u64, max_streams: u64) -> Self {
        Self {
            window,
            max_message_size,
            max_streams,
            max_data: window,
            consumed: 0,
            claimed_floor: 0,
            claimed: RangeSet::new(),
            next_expected: StreamCounters::default(),
            partial: BTreeMap::new(),
            ready: VecDeque::new(),
            duplicates: 0,
        }
    }

    #[cfg(test)]
    /// The credit to announce in the handshake (the window).
    pub(crate) fn initial_max_data(&self) -> u64 {
        self.window
    }

    /// The cumulative credit advertised so far.
    pub(crate) fn max_data(&self) -> u64 {
        self.max_data
    }

    /// Fragments ignored as duplicates so far.
    pub(crate) fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Accepts one MSG frame. Duplicates are counted and ignored; any other
    /// inconsistency is the peer's protocol violation.
    pub(crate) fn on_frame(&mut self, f: FragmentRef<'_>) -> Result<(), StreamError> {
        self.check_limits(&f)?;
        let claim = self.check_credit(&f)?;
        if f.msg_id < self.next_expected.get(f.stream) {
            self.duplicates += 1;
            return Ok(());
        }
        let key = (f.stream, f.msg_id);
        let is_new = !self.partial.contains_key(&key);
        if is_new {
            self.claim(claim)?;
            self.partial
                .insert(key, Partial::new(f.conn_offset, f.total_len));
        }
        self.write(key, is_new, &f)
    }

    /// Whether a complete, in-order message is ready for `poll_message`.
    pub(crate) fn has_message(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next complete message that is next in order on its stream, each
    /// exactly once. Streams never wait for each other.
    pub(crate) fn poll_message(&mut self) -> Option<(u64, Bytes)> {
        let stream = self.ready.pop_front()?;
        let msg_id = self.next_expected.get(stream);
        let msg = self.partial.remove(&(stream, msg_id))?;
        release_map(&mut self.partial);
        self.next_expected.increment(stream);
        self.consumed += charge(msg.total_len());
        if self.is_complete(&(stream, msg_id + 1)) {
            self.ready.push_back(stream);
        }
        release(&mut self.ready);
        Some((stream, Bytes::from(msg.buf)))
    }

    /// A new cumulative credit to send in MAX_DATA (consumed + window), when
    /// it exceeds the advertised one by at least half a window — or by less
    /// when a largest message would otherwise wait forever: a sender blocked
    /// on a message of charge `c` has `max_data − consumed < c`, so the update
    /// is due once the gain reaches `window − c`.
    pub(crate) fn poll_max_data_update(&mut self) -> Option<u64> {
        let target = self.consumed.saturating_add(self.window);
        let largest = charge(self.max_message_size);
        let threshold = (self.window / 2)
            .min(self.window.saturating_sub(largest))
            .max(1);
        if target.saturating_sub(self.max_data) < threshold {
            return None;
        }
        self.max_data = target;
        Some(target)
    }

    fn check_limits(&self, f: &FragmentRef<'_>) -> Result<(), StreamError> {
        if f.stream >= self.max_streams {
            return Err(StreamError::StreamLimit {
                stream: f.stream,
                max: self.max_streams,
            });
        }
        if f.total_len > self.max_message_size {
            let max = self.max_message_size;
            return Err(StreamError::TooLarge {
                total_len: f.total_len,
                max,
            });
        }
        let len = f.data.len() as u64;
        if f.offset
            .checked_add(len)
            .is_none_or(|end| end > f.total_len)
        {
            let (offset, total_len) = (f.offset, f.total_len);
            return Err(StreamError::BeyondEnd {
                offset,
                len,
                total_len,
            });
        }
        Ok(())
    }

    /// The flow-control range the message claims, if within the credit.
    fn check_credit(&self, f: &FragmentRef<'_>) -> Result<Range<u64>, StreamError> {
        let end = f.conn_offset.checked_add(charge(f.total_len));
        match end {
            Some(end) if end <= self.max_data => Ok(f.conn_offset..end),
            _ => Err(StreamError::FlowControl {
                end: end.unwrap_or(u64::MAX),
                max_data: self.max_data,
            }),
        }
    }

    /// Records a new message's claim, refusing overlaps with earlier claims.
    fn claim(&mut self, range: Range<u64>) -> Result<(), StreamError> {
        if range.start < self.claimed_floor || self.claimed.intersects(range.clone()) {
            let (start, end) = (range.start, range.end);
            return Err(StreamError::OverlappingClaim { start, end });
        }
        self.claimed.insert(range);
        if self.claimed.len() > MAX_CLAIM_RANGES {
            return Err(StreamError::TooFragmented(self.claimed.len()));
        }
        if self.claimed.min() == Some(self.claimed_floor) {
            self.claimed_floor = self.claimed.first_gap_after(self.claimed_floor);
            self.claimed.remove_below(self.claimed_floor);
        }
        Ok(())
    }

    fn write(&mut self, key: MsgKey, is_new: bool, f: &FragmentRef<'_>) -> Result<(), StreamError> {
        let Some(msg) = self.partial.get_mut(&key) else {
            return Ok(());
        };
        if msg.conn_offset != f.conn_offset || msg.total_len() != f.total_len {
            let (stream, msg_id) = key;
            return Err(StreamError::Inconsistent { stream, msg_id });
        }
        let was_complete = msg.complete && !is_new;
        let added = msg.write(f.offset, f.data);
        if msg.received.len() > MAX_MESSAGE_RANGES {
            return Err(StreamError::TooFragmented(msg.received.len()));
        }
        if !added && !is_new {
            self.duplicates += 1;
        }
        let became_ready = msg.complete && !was_complete;
        if became_ready && key.1 == self.next_expected.get(key.0) {
            self.ready.push_back(key.0);
        }
        Ok(())
    }

    fn is_complete(&self, key: &MsgKey) -> bool {
        self.partial.get(key).is_some_and(|m| m.complete)
    }

    /// Heap blocks held (collection capacities and entries), for memory tests.
    #[cfg(test)]
    pub(crate) fn heap_footprint(&self) -> usize {
        self.partial.len()
            + self.ready.capacity()
            + self.claimed.len()
            + self.next_expected.spilled()
    }
}
