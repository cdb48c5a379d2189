//! Frames: the plaintext content of a Data packet, several per packet, and
//! the transport parameters carried in the handshake payloads.
//!
//! Each frame is a varint type followed by its fields (varints unless stated
//! otherwise). PROTOCOL.md ("Wire format") gives the layouts byte by byte.

use std::ops::RangeInclusive;

use crate::varint::{self, DecodeError, take, take_array, take_prefixed};

/// Most ranges an ACK frame may carry (the first range included).
pub const MAX_ACK_RANGES: usize = 256;
/// Longest CLOSE reason, in bytes.
pub const MAX_CLOSE_REASON: usize = 256;
/// Largest message a MSG frame may describe (`total_len`): 4 GiB.
pub const MAX_MSG_TOTAL_LEN: u64 = 1 << 32;

/// Frame type of PADDING.
pub const TYPE_PADDING: u64 = 0x00;
/// Frame type of PING.
pub const TYPE_PING: u64 = 0x01;
/// Frame type of ACK.
pub const TYPE_ACK: u64 = 0x02;
/// Frame type of MSG.
pub const TYPE_MSG: u64 = 0x03;
/// Frame type of MAX_DATA.
pub const TYPE_MAX_DATA: u64 = 0x04;
/// Frame type of CLOSE.
pub const TYPE_CLOSE: u64 = 0x05;
/// Frame type of PATH_CHALLENGE.
pub const TYPE_PATH_CHALLENGE: u64 = 0x06;
/// Frame type of PATH_RESPONSE.
pub const TYPE_PATH_RESPONSE: u64 = 0x07;

/// A decoded frame, borrowing message data from the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A run of zero bytes (one `Padding` per run).
    Padding,
    /// Asks for an acknowledgement; no content.
    Ping,
    /// Acknowledges received packet numbers.
    Ack(AckFrame),
    /// A fragment of a message.
    Msg(MsgFrame<'a>),
    /// Connection-level flow-control credit (cumulative bytes).
    MaxData(u64),
    /// The sender closes the connection.
    Close {
        /// Application or transport error code.
        code: u64,
        /// Human-readable reason (lossy UTF-8, at most [`MAX_CLOSE_REASON`] bytes).
        reason: String,
    },
    /// Path validation challenge: echo the 8 bytes in a `PathResponse`.
    PathChallenge([u8; 8]),
    /// Answer to a `PathChallenge`.
    PathResponse([u8; 8]),
}

impl Frame<'_> {
    /// Whether receiving this frame obliges the peer to send an ACK
    /// (everything but PADDING, ACK and CLOSE).
    pub fn is_ack_eliciting(&self) -> bool {
        !matches!(self, Self::Padding | Self::Ack(_) | Self::Close { .. })
    }
}

/// A decoded ACK frame (RFC 9000 §19.3 semantics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckFrame {
    /// Largest acknowledged packet number (= `ranges[0].end()`).
    pub largest: u64,
    /// Time the sender held the ACK back, in microseconds.
    pub delay_us: u64,
    /// Acknowledged packet numbers, in descending order, non-adjacent,
    /// never empty, at most [`MAX_ACK_RANGES`].
    pub ranges: Vec<RangeInclusive<u64>>,
}

/// A fragment of a message on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgFrame<'a> {
    /// Stream the message belongs to.
    pub stream: u64,
    /// Message number within the stream.
    pub msg_id: u64,
    /// Connection-level flow-control offset (defined by the stream layer).
    pub conn_offset: u64,
    /// Length of the whole message (≤ [`MAX_MSG_TOTAL_LEN`]).
    pub total_len: u64,
    /// Position of `data` within the message.
    pub offset: u64,
    /// The fragment's bytes (`offset + data.len() ≤ total_len`).
    pub data: &'a [u8],
}

impl MsgFrame<'_> {
    /// Encoded size of a MSG frame with these fields, excluding the `len`
    /// data bytes themselves (type byte included).
    pub fn header_len(
        stream: u64,
        msg_id: u64,
        conn_offset: u64,
        total_len: u64,
        offset: u64,
        len: u64,
    ) -> usize {
        [
            TYPE_MSG,
            stream,
            msg_id,
            conn_offset,
            total_len,
            offset,
            len,
        ]
        .into_iter()
        .map(varint::encoded_len)
        .sum()
    }

    fn validate(&self) -> Result<(), DecodeError> {
        if self.total_len > MAX_MSG_TOTAL_LEN {
            return Err(DecodeError::Invalid("message too long"));
        }
        match self.offset.checked_add(self.data.len() as u64) {
            Some(end) if end <= self.total_len => Ok(()),
            _ => Err(DecodeError::Invalid("fragment beyond message end")),
        }
    }
}

/// Iterates over the frames of a decrypted Data payload.
pub fn iter(payload: &[u8]) -> FrameIter<'_> {
    FrameIter { rest: payload }
}

/// Iterator returned by [`iter`]: yields frames in order, then stops; after
/// the first error it yields nothing more.
#[derive(Debug, Clone)]
pub struct FrameIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for FrameIter<'a> {
    type Item = Result<Frame<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = decode_frame(&mut self.rest);
        if result.is_err() {
            self.rest = &[];
        }
        Some(result)
    }
}

fn decode_frame<'a>(input: &mut &'a [u8]) -> Result<Frame<'a>, DecodeError> {
    match varint::decode(input)? {
        TYPE_PADDING => Ok(skip_padding(input)),
        TYPE_PING => Ok(Frame::Ping),
        TYPE_ACK => decode_ack(input).map(Frame::Ack),
        TYPE_MSG => decode_msg(input).map(Frame::Msg),
        TYPE_MAX_DATA => varint::decode(input).map(Frame::MaxData),
        TYPE_CLOSE => decode_close(input),
        TYPE_PATH_CHALLENGE => take_array(input).map(Frame::PathChallenge),
        TYPE_PATH_RESPONSE => take_array(input).map(Frame::PathResponse),
        other => Err(DecodeError::UnknownFrame(other)),
    }
}

fn skip_padding<'a>(input: &mut &[u8]) -> Frame<'a> {
    let zeros = input.iter().take_while(|&&b| b == 0).count();
    *input = &input[zeros..];
    Frame::Padding
}

fn decode_ack(input: &mut &[u8]) -> Result<AckFrame, DecodeError> {
    let largest = varint::decode(input)?;
    let delay_us = varint::decode(input)?;
    let extra = varint::decode(input)?;
    if extra >= MAX_ACK_RANGES as u64 {
        return Err(DecodeError::TooManyRanges);
    }
    let first_len = varint::decode(input)?;
    let mut smallest = largest.checked_sub(first_len).ok_or(ACK_UNDERFLOW)?;
    let mut ranges = vec![smallest..=largest];
    for _ in 0..extra {
        let gap = varint::decode(input)?;
        let len = varint::decode(input)?;
        let high = smallest.checked_sub(gap).and_then(|v| v.checked_sub(2));
        let high = high.ok_or(ACK_UNDERFLOW)?;
        smallest = high.checked_sub(len).ok_or(ACK_UNDERFLOW)?;
        ranges.push(smallest..=high);
    }
    Ok(AckFrame {
        largest,
        delay_us,
        ranges,
    })
}

/// Reads `N` consecutive varints.
fn decode_varints<const N: usize>(input: &mut &[u8]) -> Result<[u64; N], DecodeError> {
    let mut values = [0; N];
    for value in &mut values {
        *value = varint::decode(input)?;
    }
    Ok(values)
}

const ACK_UNDERFLOW: DecodeError = DecodeError::Invalid("ack range below zero");

fn decode_msg<'a>(input: &mut &'a [u8]) -> Result<MsgFrame<'a>, DecodeError> {
    let [stream, msg_id, conn_offset, total_len, offset, len] = decode_varints(input)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
    let data = take(input, len)?;
    let frame = MsgFrame {
        stream,
        msg_id,
        conn_offset,
        total_len,
        offset,
        data,
    };
    frame.validate()?;
    Ok(frame)
}

fn decode_close<'a>(input: &mut &[u8]) -> Result<Frame<'a>, DecodeError> {
    let code = varint::decode(input)?;
    let reason = take_prefixed(input, MAX_CLOSE_REASON, "close reason too long")?;
    let reason = String::from_utf8_lossy(reason).into_owned();
    Ok(Frame::Close { code, reason })
}

/// Appends `len` PADDING bytes (zeros).
pub fn encode_padding(out: &mut Vec<u8>, len: usize) {
    out.resize(out.len() + len, 0);
}

/// Appends a PING frame.
pub fn encode_ping(out: &mut Vec<u8>) {
    varint::encode(TYPE_PING, out);
}

/// Appends an ACK frame built from `ranges_desc`, and returns how many
/// ranges it wrote (0 = the iterator was empty and nothing was written).
///
/// `ranges_desc` must be in descending order with at least one missing
/// packet number between consecutive ranges (checked in debug builds).
/// At most `max_ranges` (capped at [`MAX_ACK_RANGES`]) ranges are written:
/// the highest ones. `delay_us` is clamped to [`varint::MAX`].
pub fn encode_ack(
    out: &mut Vec<u8>,
    delay_us: u64,
    ranges_desc: impl IntoIterator<Item = RangeInclusive<u64>>,
    max_ranges: usize,
) -> usize {
    let cap = max_ranges.min(MAX_ACK_RANGES);
    let ranges: Vec<_> = ranges_desc.into_iter().take(cap).collect();
    let Some(first) = ranges.first() else {
        return 0;
    };
    varint::encode(TYPE_ACK, out);
    varint::encode(*first.end(), out);
    varint::encode(delay_us.min(varint::MAX), out);
    varint::encode(ranges.len() as u64 - 1, out);
    varint::encode(first.end() - first.start(), out);
    for pair in ranges.windows(2) {
        let (above, range) = (&pair[0], &pair[1]);
        debug_assert!(
            range.end() + 1 < *above.start(),
            "ack ranges not descending"
        );
        varint::encode(above.start() - range.end() - 2, out);
        varint::encode(range.end() - range.start(), out);
    }
    ranges.len()
}

/// Appends a MSG frame.
pub fn encode_msg(out: &mut Vec<u8>, msg: &MsgFrame<'_>) {
    let len = msg.data.len() as u64;
    let fields = [
        TYPE_MSG,
        msg.stream,
        msg.msg_id,
        msg.conn_offset,
        msg.total_len,
        msg.offset,
    ];
    fields.into_iter().for_each(|v| varint::encode(v, out));
    varint::encode(len, out);
    out.extend_from_slice(msg.data);
}

/// Appends a MAX_DATA frame granting credit up to `maximum` bytes.
pub fn encode_max_data(out: &mut Vec<u8>, maximum: u64) {
    varint::encode(TYPE_MAX_DATA, out);
    varint::encode(maximum, out);
}

/// Appends a CLOSE frame; `reason` is cut to [`MAX_CLOSE_REASON`] bytes at
/// a character boundary.
pub fn encode_close(out: &mut Vec<u8>, code: u64, reason: &str) {
    let mut cut = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    varint::encode(TYPE_CLOSE, out);
    varint::encode(code, out);
    varint::encode(cut as u64, out);
    out.extend_from_slice(&reason.as_bytes()[..cut]);
}

/// Appends a PATH_CHALLENGE frame.
pub fn encode_path_challenge(out: &mut Vec<u8>, data: [u8; 8]) {
    varint::encode(TYPE_PATH_CHALLENGE, out);
    out.extend_from_slice(&data);
}

/// Appends a PATH_RESPONSE frame.
pub fn encode_path_response(out: &mut Vec<u8>, data: [u8; 8]) {
    varint::encode(TYPE_PATH_RESPONSE, out);
    out.extend_from_slice(&data);
}

/// Transport parameters each side sends in its handshake payload.
///
/// Encoded as five varints in field order; decoders ignore anything after
/// them so later versions can append parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportParams {
    /// Initial connection-level flow-control credit, in bytes.
    pub max_data: u64,
    /// Most streams the peer may open.
    pub max_streams: u64,
    /// Longest the sender delays an ACK, in microseconds.
    pub max_ack_delay_us: u64,
    /// Idle time after which the sender drops the connection, in ms.
    pub idle_timeout_ms: u64,
    /// Largest message the sender accepts, in bytes.
    pub max_message_size: u64,
}

impl TransportParams {
    /// Appends the encoded parameters to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.fields()
            .into_iter()
            .for_each(|v| varint::encode(v, out));
    }

    /// Decodes parameters, ignoring trailing bytes.
    pub fn decode(mut input: &[u8]) -> Result<Self, DecodeError> {
        let [
            max_data,
            max_streams,
            max_ack_delay_us,
            idle_timeout_ms,
            max_message_size,
        ] = decode_varints(&mut input)?;
        Ok(Self {
            max_data,
            max_streams,
            max_ack_delay_us,
            idle_timeout_ms,
            max_message_size,
        })
    }

    fn fields(&self) -> [u64; 5] {
        [
            self.max_data,
            self.max_streams,
            self.max_ack_delay_us,
            self.idle_timeout_ms,
            self.max_message_size,
        ]
    }
}

#[cfg(test)]
mod tests;
