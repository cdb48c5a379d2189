//! Packets: exactly one per UDP datagram.
//!
//! The first byte is the packet type. Long-header packets (Initial,
//! Handshake, Retry, VersionNegotiation) continue with `version u32 BE |
//! dcid 8 | scid 8`, and that prefix is the same in every version so an
//! endpoint can always answer an unknown version. The short-header Data
//! packet is `type | dcid 8 | packet number varint | AEAD ciphertext`.
//! PROTOCOL.md ("Wire format") gives every layout byte by byte.

use std::fmt;

use crate::varint::{self, take_array, take_prefixed, take_u8, take_u32};

pub use crate::varint::DecodeError;

/// The protocol version this crate speaks ("NAT" 0x01).
pub const VERSION: u32 = 0x4E41_5401;
/// Smallest UDP payload that may carry an Initial packet (anti-amplification).
pub const MIN_INITIAL_SIZE: usize = 1200;
/// Largest handshake payload (Noise message) accepted in Initial/Handshake.
pub const MAX_HANDSHAKE_PAYLOAD: usize = 1200;
/// Largest address-validation token accepted in Initial/Retry.
pub const MAX_TOKEN_LEN: usize = 128;
/// Largest number of versions in a VersionNegotiation packet.
pub const MAX_VERSIONS: usize = 16;
/// Length of the AEAD tag that ends every Data packet.
pub const TAG_LEN: usize = 16;

/// Packet type byte of an Initial packet.
pub const TYPE_INITIAL: u8 = 0x01;
/// Packet type byte of a Handshake packet.
pub const TYPE_HANDSHAKE: u8 = 0x02;
/// Packet type byte of a Retry packet.
pub const TYPE_RETRY: u8 = 0x03;
/// Packet type byte of a VersionNegotiation packet.
pub const TYPE_VERSION_NEGOTIATION: u8 = 0x04;
/// Packet type byte of a Data packet.
pub const TYPE_DATA: u8 = 0x05;

/// An 8-byte connection identifier chosen by the endpoint that receives
/// packets carrying it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConnectionId(pub [u8; 8]);

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A decoded packet, borrowing from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Client → server: first handshake message.
    Initial {
        /// Always [`VERSION`] (other versions decode to `UnsupportedVersion`).
        version: u32,
        /// Connection ID the client chose for the server (random).
        dcid: ConnectionId,
        /// Connection ID the client wants to receive packets on.
        scid: ConnectionId,
        /// Retry token (empty unless answering a Retry).
        token: &'a [u8],
        /// Noise message 1.
        payload: &'a [u8],
    },
    /// Server → client: second handshake message.
    Handshake {
        /// Always [`VERSION`].
        version: u32,
        /// The client's connection ID (the Initial's scid).
        dcid: ConnectionId,
        /// Connection ID the server wants to receive packets on.
        scid: ConnectionId,
        /// Noise message 2.
        payload: &'a [u8],
    },
    /// Server → client: prove your address by echoing `token`.
    Retry {
        /// Always [`VERSION`].
        version: u32,
        /// The client's connection ID (the Initial's scid).
        dcid: ConnectionId,
        /// The Initial's dcid, echoed back.
        scid: ConnectionId,
        /// Token to put into the next Initial.
        token: &'a [u8],
    },
    /// Server → client: the Initial's version is not supported.
    VersionNegotiation {
        /// The client's connection ID (the Initial's scid).
        dcid: ConnectionId,
        /// The Initial's dcid, echoed back.
        scid: ConnectionId,
        /// Versions the server supports (at most [`MAX_VERSIONS`]).
        versions: Vec<u32>,
    },
    /// Both ways after the handshake: protected frames.
    Data {
        /// Receiver's connection ID.
        dcid: ConnectionId,
        /// Full packet number (also the AEAD nonce).
        pn: u64,
        /// Length of the header (the AEAD associated data).
        header_len: usize,
        /// Sealed frames, ending with the [`TAG_LEN`]-byte tag.
        ciphertext: &'a [u8],
    },
    /// An Initial carrying a version we do not speak; answer it with
    /// [`encode_version_negotiation`] (dcid/scid swapped).
    UnsupportedVersion {
        /// The version the peer asked for.
        version: u32,
        /// The Initial's dcid.
        dcid: ConnectionId,
        /// The Initial's scid.
        scid: ConnectionId,
    },
}

/// Decodes one datagram.
///
/// Initial datagrams shorter than [`MIN_INITIAL_SIZE`] are rejected, whatever
/// their version; an Initial of another version yields
/// [`Packet::UnsupportedVersion`].
pub fn decode(datagram: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let mut input = datagram;
    match take_u8(&mut input)? {
        TYPE_INITIAL => decode_initial(datagram.len(), input),
        TYPE_HANDSHAKE => decode_handshake(input),
        TYPE_RETRY => decode_retry(input),
        TYPE_VERSION_NEGOTIATION => decode_version_negotiation(input),
        TYPE_DATA => decode_data(datagram.len(), input),
        other => Err(DecodeError::UnknownPacketType(other)),
    }
}

/// Destination connection ID of a datagram, read without decoding the rest
/// (for routing). `None` if the type is unknown or the datagram too short.
pub fn peek_dcid(datagram: &[u8]) -> Option<ConnectionId> {
    let start = match *datagram.first()? {
        TYPE_INITIAL..=TYPE_VERSION_NEGOTIATION => 5,
        TYPE_DATA => 1,
        _ => return None,
    };
    let bytes = datagram.get(start..start + 8)?;
    Some(ConnectionId(bytes.try_into().ok()?))
}

/// The `version | dcid | scid` prefix shared by all long headers.
struct LongHeader {
    version: u32,
    dcid: ConnectionId,
    scid: ConnectionId,
}

fn decode_long_header(input: &mut &[u8]) -> Result<LongHeader, DecodeError> {
    Ok(LongHeader {
        version: take_u32(input)?,
        dcid: ConnectionId(take_array(input)?),
        scid: ConnectionId(take_array(input)?),
    })
}

/// Reads a long header and insists on our version.
fn decode_our_long_header(input: &mut &[u8]) -> Result<LongHeader, DecodeError> {
    let header = decode_long_header(input)?;
    if header.version != VERSION {
        return Err(DecodeError::VersionMismatch(header.version));
    }
    Ok(header)
}

fn decode_initial(datagram_len: usize, mut input: &[u8]) -> Result<Packet<'_>, DecodeError> {
    if datagram_len < MIN_INITIAL_SIZE {
        return Err(DecodeError::Invalid(
            "initial datagram shorter than 1200 bytes",
        ));
    }
    let LongHeader {
        version,
        dcid,
        scid,
    } = decode_long_header(&mut input)?;
    if version != VERSION {
        return Ok(Packet::UnsupportedVersion {
            version,
            dcid,
            scid,
        });
    }
    let token = take_prefixed(&mut input, MAX_TOKEN_LEN, "token too long")?;
    let payload = take_prefixed(&mut input, MAX_HANDSHAKE_PAYLOAD, "payload too long")?;
    check_zero_padding(input)?;
    Ok(Packet::Initial {
        version,
        dcid,
        scid,
        token,
        payload,
    })
}

fn decode_handshake(mut input: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let LongHeader {
        version,
        dcid,
        scid,
    } = decode_our_long_header(&mut input)?;
    let payload = take_prefixed(&mut input, MAX_HANDSHAKE_PAYLOAD, "payload too long")?;
    check_zero_padding(input)?;
    Ok(Packet::Handshake {
        version,
        dcid,
        scid,
        payload,
    })
}

fn decode_retry(mut input: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let LongHeader {
        version,
        dcid,
        scid,
    } = decode_our_long_header(&mut input)?;
    let token = take_prefixed(&mut input, MAX_TOKEN_LEN, "token too long")?;
    check_end(input)?;
    Ok(Packet::Retry {
        version,
        dcid,
        scid,
        token,
    })
}

fn decode_version_negotiation(mut input: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let LongHeader {
        version,
        dcid,
        scid,
    } = decode_long_header(&mut input)?;
    if version != 0 {
        return Err(DecodeError::Invalid(
            "version negotiation with nonzero version",
        ));
    }
    let count = usize::from(take_u8(&mut input)?);
    if count > MAX_VERSIONS {
        return Err(DecodeError::Invalid("too many versions"));
    }
    let versions = (0..count)
        .map(|_| take_u32(&mut input))
        .collect::<Result<Vec<_>, _>>()?;
    check_end(input)?;
    Ok(Packet::VersionNegotiation {
        dcid,
        scid,
        versions,
    })
}

fn decode_data(datagram_len: usize, mut input: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let dcid = ConnectionId(take_array(&mut input)?);
    let pn = varint::decode(&mut input)?;
    if input.len() < TAG_LEN {
        return Err(DecodeError::Truncated);
    }
    let header_len = datagram_len - input.len();
    Ok(Packet::Data {
        dcid,
        pn,
        header_len,
        ciphertext: input,
    })
}

fn check_zero_padding(rest: &[u8]) -> Result<(), DecodeError> {
    match rest.iter().all(|&b| b == 0) {
        true => Ok(()),
        false => Err(DecodeError::Invalid("nonzero padding")),
    }
}

fn check_end(rest: &[u8]) -> Result<(), DecodeError> {
    match rest.is_empty() {
        true => Ok(()),
        false => Err(DecodeError::Invalid("trailing bytes")),
    }
}

fn encode_long_header(
    out: &mut Vec<u8>,
    packet_type: u8,
    version: u32,
    dcid: ConnectionId,
    scid: ConnectionId,
) {
    out.push(packet_type);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&dcid.0);
    out.extend_from_slice(&scid.0);
}

fn encode_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    varint::encode(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Appends an Initial packet, zero-padded so that everything this call
/// appended is at least `pad_to` bytes (pass [`MIN_INITIAL_SIZE`] when `out`
/// holds just this datagram).
///
/// `token` must be at most [`MAX_TOKEN_LEN`] and `payload` at most
/// [`MAX_HANDSHAKE_PAYLOAD`] bytes, or the peer will reject the packet.
pub fn encode_initial(
    out: &mut Vec<u8>,
    dcid: ConnectionId,
    scid: ConnectionId,
    token: &[u8],
    payload: &[u8],
    pad_to: usize,
) {
    let start = out.len();
    encode_long_header(out, TYPE_INITIAL, VERSION, dcid, scid);
    encode_prefixed(out, token);
    encode_prefixed(out, payload);
    let written = out.len() - start;
    out.resize(start + written.max(pad_to), 0);
}

/// Appends a Handshake packet (no padding). `payload` must be at most
/// [`MAX_HANDSHAKE_PAYLOAD`] bytes.
pub fn encode_handshake(out: &mut Vec<u8>, dcid: ConnectionId, scid: ConnectionId, payload: &[u8]) {
    encode_long_header(out, TYPE_HANDSHAKE, VERSION, dcid, scid);
    encode_prefixed(out, payload);
}

/// Appends a Retry packet. `token` must be at most [`MAX_TOKEN_LEN`] bytes.
pub fn encode_retry(out: &mut Vec<u8>, dcid: ConnectionId, scid: ConnectionId, token: &[u8]) {
    encode_long_header(out, TYPE_RETRY, VERSION, dcid, scid);
    encode_prefixed(out, token);
}

/// Appends a VersionNegotiation packet listing `versions` (only the first
/// [`MAX_VERSIONS`] are written).
pub fn encode_version_negotiation(
    out: &mut Vec<u8>,
    dcid: ConnectionId,
    scid: ConnectionId,
    versions: &[u32],
) {
    let versions = &versions[..versions.len().min(MAX_VERSIONS)];
    encode_long_header(out, TYPE_VERSION_NEGOTIATION, 0, dcid, scid);
    out.push(versions.len() as u8);
    versions
        .iter()
        .for_each(|v| out.extend_from_slice(&v.to_be_bytes()));
}

/// Appends a Data packet header and returns its length. The caller then
/// appends the frames and seals them with the header as associated data
/// (see `crypto::PacketKeys::seal_packet`).
pub fn encode_data_header(out: &mut Vec<u8>, dcid: ConnectionId, pn: u64) -> usize {
    let start = out.len();
    out.push(TYPE_DATA);
    out.extend_from_slice(&dcid.0);
    varint::encode(pn, out);
    out.len() - start
}

/// Length of the Data header [`encode_data_header`] writes for `pn`.
pub fn data_header_len(pn: u64) -> usize {
    1 + 8 + varint::encoded_len(pn)
}

#[cfg(test)]
mod tests;
