//! Unit tests of `packet`.

use super::*;

const A: ConnectionId = ConnectionId([1, 2, 3, 4, 5, 6, 7, 8]);
const B: ConnectionId = ConnectionId([0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5, 0x06, 0x17]);

fn initial(token: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_initial(&mut out, A, B, token, payload, MIN_INITIAL_SIZE);
    out
}

/// Every strict prefix of `bytes` must fail to decode.
fn assert_prefixes_fail(bytes: &[u8]) {
    for len in 0..bytes.len() {
        assert!(
            decode(&bytes[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
}

#[test]
fn initial_round_trip_and_padding() {
    let bytes = initial(b"tok", b"noise-1");
    assert_eq!(bytes.len(), MIN_INITIAL_SIZE);
    let expected = Packet::Initial {
        version: VERSION,
        dcid: A,
        scid: B,
        token: b"tok",
        payload: b"noise-1",
    };
    assert_eq!(decode(&bytes), Ok(expected));
    assert_eq!(peek_dcid(&bytes), Some(A));
}

#[test]
fn initial_too_small_or_badly_padded_is_rejected() {
    let bytes = initial(b"", b"m");
    assert!(matches!(
        decode(&bytes[..1199]),
        Err(DecodeError::Invalid(_))
    ));
    let mut bad = bytes.clone();
    bad[1199] = 1;
    assert_eq!(decode(&bad), Err(DecodeError::Invalid("nonzero padding")));
}

#[test]
fn initial_with_bad_lengths_is_rejected() {
    let mut bytes = initial(b"", b"m");
    bytes[21] = 0x40 | 0x3f; // token_len = 0x3f00 + next byte
    assert!(matches!(decode(&bytes), Err(DecodeError::Invalid(_))));
    let mut bytes = initial(b"", b"m");
    bytes[22] = 0x44; // payload_len 0x4xx > 1200
    bytes[23] = 0xb1;
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::Invalid("payload too long"))
    );
}

#[test]
fn initial_of_unknown_version_is_actionable() {
    let mut bytes = initial(b"", b"m");
    bytes[1..5].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    let expected = Packet::UnsupportedVersion {
        version: 0x1234_5678,
        dcid: A,
        scid: B,
    };
    assert_eq!(decode(&bytes), Ok(expected));
}

#[test]
fn handshake_round_trip_with_optional_padding() {
    let mut bytes = Vec::new();
    encode_handshake(&mut bytes, B, A, b"noise-2");
    let expected = Packet::Handshake {
        version: VERSION,
        dcid: B,
        scid: A,
        payload: b"noise-2",
    };
    assert_eq!(decode(&bytes), Ok(expected.clone()));
    assert_prefixes_fail(&bytes);
    bytes.extend_from_slice(&[0; 100]);
    assert_eq!(decode(&bytes), Ok(expected));
    assert_eq!(peek_dcid(&bytes), Some(B));
}

#[test]
fn handshake_of_other_version_is_rejected() {
    let mut bytes = Vec::new();
    encode_handshake(&mut bytes, B, A, b"x");
    bytes[4] ^= 0xff;
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::VersionMismatch(_))
    ));
}

#[test]
fn retry_round_trip() {
    let mut bytes = Vec::new();
    encode_retry(&mut bytes, B, A, b"token");
    let expected = Packet::Retry {
        version: VERSION,
        dcid: B,
        scid: A,
        token: b"token",
    };
    assert_eq!(decode(&bytes), Ok(expected));
    assert_prefixes_fail(&bytes);
    bytes.push(0);
    assert_eq!(decode(&bytes), Err(DecodeError::Invalid("trailing bytes")));
}

#[test]
fn version_negotiation_round_trip() {
    let mut bytes = Vec::new();
    encode_version_negotiation(&mut bytes, B, A, &[VERSION, 7]);
    let expected = Packet::VersionNegotiation {
        dcid: B,
        scid: A,
        versions: vec![VERSION, 7],
    };
    assert_eq!(decode(&bytes), Ok(expected));
    assert_prefixes_fail(&bytes);
}

#[test]
fn version_negotiation_limits() {
    let mut bytes = Vec::new();
    encode_version_negotiation(&mut bytes, B, A, &[1; 40]);
    assert_eq!(bytes[21], MAX_VERSIONS as u8);
    bytes[21] = 17;
    bytes.extend_from_slice(&[0; 4]);
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::Invalid("too many versions"))
    );
    bytes[1] = 1;
    assert!(matches!(decode(&bytes), Err(DecodeError::Invalid(_))));
}

#[test]
fn data_round_trip() {
    let mut bytes = Vec::new();
    let header_len = encode_data_header(&mut bytes, A, 1_000_000);
    assert_eq!(header_len, 1 + 8 + 4);
    assert_eq!(header_len, data_header_len(1_000_000));
    bytes.extend_from_slice(&[0xee; TAG_LEN + 3]);
    let ciphertext = &bytes[header_len..];
    let expected = Packet::Data {
        dcid: A,
        pn: 1_000_000,
        header_len,
        ciphertext,
    };
    assert_eq!(decode(&bytes), Ok(expected));
    assert_eq!(peek_dcid(&bytes), Some(A));
    assert_prefixes_fail(&bytes[..header_len + TAG_LEN]);
}

#[test]
fn unknown_type_and_short_datagrams() {
    assert_eq!(
        decode(&[0x09, 0, 0]),
        Err(DecodeError::UnknownPacketType(9))
    );
    assert_eq!(decode(&[]), Err(DecodeError::Truncated));
    assert_eq!(peek_dcid(&[0x09; 20]), None);
    assert_eq!(peek_dcid(&[TYPE_DATA, 1, 2]), None);
}

#[test]
fn connection_id_debug_is_hex() {
    assert_eq!(format!("{A:?}"), "0102030405060708");
    assert_eq!(B.to_string(), "a0b1c2d3e4f50617");
}
