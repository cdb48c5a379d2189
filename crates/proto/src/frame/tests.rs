//! Unit tests of `frame`.

use super::*;

fn decode_all(payload: &[u8]) -> Result<Vec<Frame<'_>>, DecodeError> {
    iter(payload).collect()
}

fn single(payload: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let mut frames = decode_all(payload)?;
    assert_eq!(frames.len(), 1, "{frames:?}");
    Ok(frames.remove(0))
}

/// Every strict, non-empty prefix of a single-frame encoding fails.
fn assert_prefixes_fail(bytes: &[u8]) {
    for len in 1..bytes.len() {
        assert!(
            decode_all(&bytes[..len]).is_err(),
            "prefix {len} of {bytes:?}"
        );
    }
}

fn encode_ranges(ranges: &[RangeInclusive<u64>], max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    encode_ack(&mut out, 1234, ranges.iter().cloned(), max);
    out
}

const MSG: MsgFrame<'static> = MsgFrame {
    stream: 3,
    msg_id: 70,
    conn_offset: 100_000,
    total_len: 20,
    offset: 15,
    data: b"hello",
};

#[test]
fn simple_frames_round_trip() {
    let mut out = Vec::new();
    encode_ping(&mut out);
    encode_max_data(&mut out, 1 << 40);
    encode_path_challenge(&mut out, [1; 8]);
    encode_path_response(&mut out, [2; 8]);
    encode_close(&mut out, 7, "bye");
    encode_padding(&mut out, 5);
    let expected = vec![
        Frame::Ping,
        Frame::MaxData(1 << 40),
        Frame::PathChallenge([1; 8]),
        Frame::PathResponse([2; 8]),
        Frame::Close {
            code: 7,
            reason: "bye".into(),
        },
        Frame::Padding,
    ];
    assert_eq!(decode_all(&out), Ok(expected));
}

#[test]
fn padding_run_between_frames_is_one_frame() {
    let mut out = vec![0, 0, 0];
    encode_ping(&mut out);
    assert_eq!(decode_all(&out), Ok(vec![Frame::Padding, Frame::Ping]));
}

#[test]
fn ack_eliciting_classification() {
    let ack = Frame::Ack(AckFrame {
        largest: 0,
        delay_us: 0,
        ranges: vec![0..=0],
    });
    let close = Frame::Close {
        code: 0,
        reason: String::new(),
    };
    for frame in [Frame::Padding, ack, close] {
        assert!(!frame.is_ack_eliciting(), "{frame:?}");
    }
    let msg = Frame::Msg(MSG);
    for frame in [
        Frame::Ping,
        msg,
        Frame::MaxData(1),
        Frame::PathChallenge([0; 8]),
    ] {
        assert!(frame.is_ack_eliciting(), "{frame:?}");
    }
    assert!(Frame::PathResponse([0; 8]).is_ack_eliciting());
}

#[test]
fn ack_round_trip_single_range() {
    let bytes = encode_ranges(&[5..=9], 10);
    let expected = AckFrame {
        largest: 9,
        delay_us: 1234,
        ranges: vec![5..=9],
    };
    assert_eq!(single(&bytes), Ok(Frame::Ack(expected)));
    assert_prefixes_fail(&bytes);
}

#[test]
fn ack_round_trip_many_ranges_down_to_zero() {
    // 256 ranges of two packets with one-packet holes, the last ending at 0.
    let ranges: Vec<_> = (0..256u64).rev().map(|i| 3 * i..=3 * i + 1).collect();
    let bytes = encode_ranges(&ranges, usize::MAX);
    let Ok(Frame::Ack(ack)) = single(&bytes) else {
        panic!("not an ack")
    };
    assert_eq!(ack.largest, 766);
    assert_eq!(ack.ranges, ranges);
}

#[test]
fn ack_matches_protocol_md_example() {
    let mut out = Vec::new();
    encode_ack(&mut out, 25, [20..=20, 10..=12, 1..=3], 8);
    assert_eq!(out, [0x02, 0x14, 0x19, 0x02, 0x00, 0x06, 0x02, 0x05, 0x02]);
}

#[test]
fn ack_encoder_caps_ranges_and_skips_empty() {
    let ranges = [20..=20, 10..=12, 1..=3];
    let bytes = encode_ranges(&ranges, 2);
    let Ok(Frame::Ack(ack)) = single(&bytes) else {
        panic!("not an ack")
    };
    assert_eq!(ack.ranges, ranges[..2]);
    assert!(encode_ranges(&[], 5).is_empty());
}

#[test]
fn ack_with_too_many_ranges_is_rejected() {
    let mut out = Vec::new();
    [TYPE_ACK, 100_000, 0, 256, 0]
        .iter()
        .for_each(|&v| varint::encode(v, &mut out));
    out.extend(std::iter::repeat_n(0, 512));
    assert_eq!(single(&out), Err(DecodeError::TooManyRanges));
}

#[test]
fn ack_underflow_is_rejected() {
    let cases: [&[u64]; 3] = [
        &[TYPE_ACK, 5, 0, 0, 6],        // first range below zero
        &[TYPE_ACK, 5, 0, 1, 3, 1, 0],  // gap below zero
        &[TYPE_ACK, 10, 0, 1, 0, 0, 9], // second range below zero
    ];
    for fields in cases {
        let mut out = Vec::new();
        fields.iter().for_each(|&v| varint::encode(v, &mut out));
        assert_eq!(single(&out), Err(ACK_UNDERFLOW), "{fields:?}");
    }
}

#[test]
fn msg_round_trip_and_header_len() {
    let mut out = Vec::new();
    encode_msg(&mut out, &MSG);
    let header = MsgFrame::header_len(3, 70, 100_000, 20, 15, 5);
    assert_eq!(out.len(), header + 5);
    assert_eq!(single(&out), Ok(Frame::Msg(MSG)));
    assert_prefixes_fail(&out);
}

#[test]
fn msg_with_bad_bounds_is_rejected() {
    let beyond = MsgFrame { offset: 16, ..MSG };
    let huge = MsgFrame {
        total_len: MAX_MSG_TOTAL_LEN + 1,
        ..MSG
    };
    let overflow = MsgFrame {
        offset: varint::MAX,
        total_len: 10,
        ..MSG
    };
    for frame in [beyond, huge, overflow] {
        let mut out = Vec::new();
        encode_msg(&mut out, &frame);
        assert!(
            matches!(single(&out), Err(DecodeError::Invalid(_))),
            "{frame:?}"
        );
    }
}

#[test]
fn close_reason_is_capped_and_lossy() {
    let mut out = Vec::new();
    encode_close(&mut out, 1, &"é".repeat(200));
    let Ok(Frame::Close { reason, .. }) = single(&out) else {
        panic!("not close")
    };
    assert_eq!(reason, "é".repeat(128));
    let raw = [TYPE_CLOSE as u8, 1, 2, 0xff, b'a'];
    let expected = Frame::Close {
        code: 1,
        reason: "\u{fffd}a".into(),
    };
    assert_eq!(single(&raw), Ok(expected));
    let mut long = vec![TYPE_CLOSE as u8, 1];
    varint::encode(257, &mut long);
    long.extend([b'a'; 257]);
    assert!(matches!(single(&long), Err(DecodeError::Invalid(_))));
}

#[test]
fn truncated_fixed_frames_fail() {
    let mut out = Vec::new();
    encode_path_challenge(&mut out, [9; 8]);
    assert_prefixes_fail(&out);
    let mut out = Vec::new();
    encode_max_data(&mut out, 1 << 20);
    assert_prefixes_fail(&out);
    let mut out = Vec::new();
    encode_close(&mut out, 300, "why");
    assert_prefixes_fail(&out);
}

#[test]
fn unknown_frame_stops_iteration() {
    let bytes = [TYPE_PING as u8, 0x3f, TYPE_PING as u8];
    let items: Vec<_> = iter(&bytes).collect();
    assert_eq!(
        items,
        vec![Ok(Frame::Ping), Err(DecodeError::UnknownFrame(0x3f))]
    );
}

#[test]
fn transport_params_round_trip_and_forward_compat() {
    let params = TransportParams {
        max_data: 1 << 20,
        max_streams: 100,
        max_ack_delay_us: 25_000,
        idle_timeout_ms: 30_000,
        max_message_size: 1 << 16,
    };
    let mut out = Vec::new();
    params.encode(&mut out);
    assert_eq!(TransportParams::decode(&out), Ok(params));
    for len in 0..out.len() {
        assert_eq!(
            TransportParams::decode(&out[..len]),
            Err(DecodeError::Truncated)
        );
    }
    out.extend_from_slice(&[0xff, 1, 2]);
    assert_eq!(TransportParams::decode(&out), Ok(params));
}
