//! Message streams: fragmentation, reassembly, retransmission bookkeeping and
//! flow control for application messages.
//!
//! The transport carries application *messages* (byte strings) on numbered
//! streams: reliable and exactly-once, ordered within a stream, independent
//! across streams. [`SendStreams`] cuts queued messages into [`Fragment`]s for
//! the connection's packets and tracks which bytes were acknowledged or lost;
//! [`RecvStreams`] validates incoming fragments, reassembles messages and
//! releases them in order per stream.
//!
//! Flow control is connection-wide and counted in *charged* bytes: each message
//! costs [`charge`]`(total_len) = total_len + 64`, so a flood of tiny messages is
//! bounded too. The sender gives every message, when it first starts sending
//! it, the next `conn_offset` (the sum of the charges of the messages started
//! before it) and may only start it if `conn_offset + charge ≤ max_data`, the
//! cumulative credit announced by the receiver. The receiver checks that claim
//! and that claims of different messages never overlap, which bounds the bytes
//! it buffers to its window.
//!
//! Pure logic: no clocks, no IO, no randomness.

mod recv;
mod send;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

pub(crate) use recv::{FragmentRef, RecvStreams};
pub use send::SendError;
pub(crate) use send::{Fragment, SendStreams};

/// Flow-control overhead charged per message on top of its length.
pub(crate) const MESSAGE_OVERHEAD: u64 = 64;
#[cfg(test)]
/// Default maximum size of one message.
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: u64 = 1 << 20;
#[cfg(test)]
/// Default receive window (bytes of charge the peer may have outstanding).
pub(crate) const DEFAULT_WINDOW: u64 = 2 << 20;
/// Type byte of a MSG frame (a one-byte varint).
const MSG_FRAME_TYPE_LEN: usize = 1;

/// The flow-control cost of a message of `total_len` bytes.
pub(crate) const fn charge(total_len: u64) -> u64 {
    total_len.saturating_add(MESSAGE_OVERHEAD)
}

/// Upper bound of the encoded length of a MSG frame header (type byte and
/// the six varint fields, `len` included) for the given field values.
pub(crate) fn msg_header_len(fields: [u64; 6]) -> usize {
    MSG_FRAME_TYPE_LEN + fields.into_iter().map(varint_len).sum::<usize>()
}

/// Length of a QUIC variable-length integer (RFC 9000 §16).
fn varint_len(v: u64) -> usize {
    match v {
        0..64 => 1,
        64..16_384 => 2,
        16_384..1_073_741_824 => 4,
        _ => 8,
    }
}

/// Streams whose counter lives inline (no heap allocation).
const INLINE_STREAMS: usize = 8;

/// One `u64` counter per stream, zero for streams never touched.
///
/// The counters of the first [`INLINE_STREAMS`] streams live inline, so an
/// idle connection using only low stream numbers holds no heap allocation.
#[derive(Debug, Default)]
struct StreamCounters {
    inline: [u64; INLINE_STREAMS],
    spill: BTreeMap<u64, u64>,
}

impl StreamCounters {
    /// The counter of `stream`.
    fn get(&self, stream: u64) -> u64 {
        match usize::try_from(stream) {
            Ok(i) if i < INLINE_STREAMS => self.inline[i],
            _ => self.spill.get(&stream).copied().unwrap_or(0),
        }
    }

    /// Increments the counter of `stream` and returns its previous value.
    fn increment(&mut self, stream: u64) -> u64 {
        let slot = match usize::try_from(stream) {
            Ok(i) if i < INLINE_STREAMS => &mut self.inline[i],
            _ => self.spill.entry(stream).or_insert(0),
        };
        *slot += 1;
        *slot - 1
    }

    #[cfg(test)]
    /// Number of heap-allocated counters (for memory tests).
    fn spilled(&self) -> usize {
        self.spill.len()
    }
}

/// Frees the root node an emptied map keeps (std's `BTreeMap` does not
/// free it on the last removal).
fn release_map<K, V>(map: &mut BTreeMap<K, V>) {
    if map.is_empty() {
        *map = BTreeMap::new();
    }
}

/// Frees the buffer of an empty queue.
fn release<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
}
