//! QUIC variable-length integers (RFC 9000 §16) and the small byte reader
//! shared by the packet and frame decoders.
//!
//! The two high bits of the first byte give the encoded length (`00` → 1,
//! `01` → 2, `10` → 4, `11` → 8 bytes); the remaining bits hold the value in
//! network byte order. The largest encodable value is [`MAX`] = 2^62 − 1.
//! The encoder always picks the shortest form; the decoder accepts any form.

/// Largest value a varint can carry: 2^62 − 1.
pub const MAX: u64 = (1 << 62) - 1;

/// Why a datagram, frame or parameter block could not be decoded.
///
/// Every decoder in this crate returns this type; none of them panics on
/// any input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended in the middle of a field.
    #[error("input truncated")]
    Truncated,
    /// A field holds a value the protocol forbids.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
    /// A frame type this version does not know.
    #[error("unknown frame type {0:#x}")]
    UnknownFrame(u64),
    /// A packet type byte this version does not know.
    #[error("unknown packet type {0:#x}")]
    UnknownPacketType(u8),
    /// An ACK frame with more ranges than [`crate::frame::MAX_ACK_RANGES`].
    #[error("too many ACK ranges")]
    TooManyRanges,
    /// A Handshake or Retry packet with a version other than ours.
    #[error("unexpected version {0:#010x}")]
    VersionMismatch(u32),
}

/// Number of bytes [`encode`] writes for `v`.
pub fn encoded_len(v: u64) -> usize {
    match v {
        0..=0x3f => 1,
        0x40..=0x3fff => 2,
        0x4000..=0x3fff_ffff => 4,
        _ => 8,
    }
}

/// Appends `v` to `out` in its shortest form.
///
/// `v` must be at most [`MAX`] (checked in debug builds; release builds keep
/// the low 62 bits).
pub fn encode(v: u64, out: &mut Vec<u8>) {
    debug_assert!(v <= MAX, "varint out of range: {v}");
    let v = v & MAX;
    match encoded_len(v) {
        1 => out.push(v as u8),
        2 => out.extend_from_slice(&(v as u16 | 0x4000).to_be_bytes()),
        4 => out.extend_from_slice(&(v as u32 | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

/// Reads one varint from the front of `input` and advances it.
///
/// On error `input` is left unchanged.
pub fn decode(input: &mut &[u8]) -> Result<u64, DecodeError> {
    let first = *input.first().ok_or(DecodeError::Truncated)?;
    let len = 1usize << (first >> 6);
    let bytes = input.get(..len).ok_or(DecodeError::Truncated)?;
    let mut value = u64::from(first & 0x3f);
    for &b in &bytes[1..] {
        value = (value << 8) | u64::from(b);
    }
    *input = &input[len..];
    Ok(value)
}

/// Takes the next `n` bytes from the front of `input` and advances it.
pub fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if input.len() < n {
        return Err(DecodeError::Truncated);
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

/// Takes the next `N` bytes from the front of `input` as an array.
pub fn take_array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let bytes = take(input, N)?;
    let mut array = [0u8; N];
    array.copy_from_slice(bytes);
    Ok(array)
}

/// Takes one byte from the front of `input`.
pub fn take_u8(input: &mut &[u8]) -> Result<u8, DecodeError> {
    take_array::<1>(input).map(|[b]| b)
}

/// Takes a big-endian `u32` from the front of `input`.
pub fn take_u32(input: &mut &[u8]) -> Result<u32, DecodeError> {
    take_array(input).map(u32::from_be_bytes)
}

/// Reads a varint length prefix followed by that many bytes, refusing
/// lengths above `max`.
pub fn take_prefixed<'a>(
    input: &mut &'a [u8],
    max: usize,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    let len = decode(input)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= max)
        .ok_or(DecodeError::Invalid(what))?;
    take(input, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        assert_eq!(out.len(), encoded_len(v), "len of {v}");
        let mut input = out.as_slice();
        assert_eq!(decode(&mut input), Ok(v));
        assert!(input.is_empty());
        out
    }

    #[test]
    fn boundaries_round_trip_with_expected_lengths() {
        let cases = [
            (0, 1),
            (63, 1),
            (64, 2),
            (16_383, 2),
            (16_384, 4),
            ((1 << 30) - 1, 4),
            (1 << 30, 8),
            (MAX, 8),
        ];
        for (v, len) in cases {
            assert_eq!(round_trip(v).len(), len, "value {v}");
        }
    }

    #[test]
    fn rfc9000_examples_decode() {
        let examples: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, v) in examples {
            let mut input = bytes;
            assert_eq!(decode(&mut input), Ok(v));
        }
        assert_eq!(round_trip(151_288_809_941_952_652), examples[0].0);
    }

    #[test]
    fn non_minimal_encoding_is_accepted() {
        let mut input: &[u8] = &[0x40, 0x25];
        assert_eq!(decode(&mut input), Ok(37));
    }

    #[test]
    fn truncated_input_is_an_error_and_not_consumed() {
        for bytes in [&[][..], &[0x40], &[0x80, 0, 0], &[0xc0, 0, 0, 0, 0, 0, 0]] {
            let mut input = bytes;
            assert_eq!(decode(&mut input), Err(DecodeError::Truncated));
            assert_eq!(input, bytes);
        }
    }

    #[test]
    fn reader_helpers() {
        let mut input: &[u8] = &[1, 0, 0, 0, 2, 3, 9, 9, 9];
        assert_eq!(take_u8(&mut input), Ok(1));
        assert_eq!(take_u32(&mut input), Ok(2));
        assert_eq!(take_prefixed(&mut input, 8, "x"), Ok(&[9, 9, 9][..]));
        assert_eq!(take(&mut input, 1), Err(DecodeError::Truncated));
        let mut input: &[u8] = &[5, 1];
        assert_eq!(
            take_prefixed(&mut input, 4, "x"),
            Err(DecodeError::Invalid("x"))
        );
    }
}
