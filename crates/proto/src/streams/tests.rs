//! Unit tests of the send and receive halves of the message streams.

use bytes::Bytes;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::recv::StreamError;
use super::*;

const MIB: u64 = 1 << 20;

fn as_ref(f: &Fragment) -> FragmentRef<'_> {
    FragmentRef {
        stream: f.stream,
        msg_id: f.msg_id,
        conn_offset: f.conn_offset,
        total_len: f.total_len,
        offset: f.offset,
        data: &f.data,
    }
}

fn frame(
    stream: u64,
    msg_id: u64,
    conn_offset: u64,
    total_len: u64,
    offset: u64,
    data: &[u8],
) -> FragmentRef<'_> {
    FragmentRef {
        stream,
        msg_id,
        conn_offset,
        total_len,
        offset,
        data,
    }
}

fn message(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A sender with unlimited credit.
fn sender() -> SendStreams {
    let mut s = SendStreams::new(DEFAULT_MAX_MESSAGE_SIZE, 16);
    s.set_peer_max_data(u64::MAX);
    s
}

fn receiver() -> RecvStreams {
    RecvStreams::new(DEFAULT_WINDOW, DEFAULT_MAX_MESSAGE_SIZE, 16)
}

fn drain(s: &mut SendStreams, max_frame_len: usize) -> Vec<Fragment> {
    std::iter::from_fn(|| s.poll_frame(max_frame_len)).collect()
}

fn check_fragment(f: &Fragment, max_frame_len: usize) {
    assert!(
        f.frame_len() <= max_frame_len,
        "{} > {max_frame_len}",
        f.frame_len()
    );
    assert!(
        f.len() > 0 || f.total_len == 0,
        "empty fragment of a non-empty message"
    );
}

fn poll_all(r: &mut RecvStreams) -> Vec<(u64, Bytes)> {
    std::iter::from_fn(|| r.poll_message()).collect()
}

#[test]
fn round_trip_with_random_fragment_sizes() {
    let seed = 7;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sizes = [0usize, 1, 2, 63, 64, 1000, 16_383, 16_384, MIB as usize];
    let (mut s, mut r) = (sender(), receiver());
    for (i, &len) in sizes.iter().enumerate() {
        s.push(i as u64 % 3, message(len, i as u8)).unwrap();
    }
    let mut frags = Vec::new();
    while s.has_pending() {
        let max = rng.random_range(30..1500);
        let f = s
            .poll_frame(max)
            .unwrap_or_else(|| panic!("seed {seed}: nothing fits {max}"));
        check_fragment(&f, max);
        frags.push(f);
    }
    frags.shuffle(&mut rng);
    for f in &frags {
        r.on_frame(as_ref(f)).unwrap();
    }
    let mut got = poll_all(&mut r);
    got.sort_by_key(|(_, m)| m.len());
    let mut want: Vec<(u64, Bytes)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u64 % 3, message(l, i as u8)))
        .collect();
    want.sort_by_key(|(_, m)| m.len());
    assert_eq!(got, want, "seed {seed}");
    assert_eq!(r.duplicates(), 0);
}

#[test]
fn fragment_fills_frame_exactly_at_boundary() {
    let max = 100;
    let header = msg_header_len([0, 0, 0, 90, 0, 90]);
    let fits = max - header;
    for (len, fragments) in [(fits, 1), (fits + 1, 2)] {
        let mut s = sender();
        s.push(0, message(len, 1)).unwrap();
        let frags = drain(&mut s, max);
        assert_eq!(frags.len(), fragments, "message of {len} bytes");
        frags.iter().for_each(|f| check_fragment(f, max));
        assert_eq!(
            frags[0].frame_len(),
            max,
            "the first fragment fills the frame"
        );
    }
}

#[test]
fn too_small_frame_yields_nothing_and_changes_nothing() {
    let mut s = sender();
    s.push(0, message(10, 0)).unwrap();
    assert_eq!(s.poll_frame(7), None, "header + 1 byte needs 8 bytes");
    assert_eq!(s.unacked_messages(), 0, "the message was not started");
    let f = s.poll_frame(8).unwrap();
    assert_eq!(f.len(), 1);
}

#[test]
fn empty_message_is_one_empty_fragment() {
    let (mut s, mut r) = (sender(), receiver());
    s.push(3, Bytes::new()).unwrap();
    let frags = drain(&mut s, 100);
    assert_eq!(frags.len(), 1);
    assert_eq!((frags[0].total_len, frags[0].len()), (0, 0));
    s.on_lost(3, 0, 0, 0);
    assert_eq!(
        s.poll_frame(100),
        Some(frags[0].clone()),
        "resent after loss"
    );
    r.on_frame(as_ref(&frags[0])).unwrap();
    r.on_frame(as_ref(&frags[0])).unwrap();
    assert_eq!(poll_all(&mut r), vec![(3, Bytes::new())]);
    assert_eq!(r.duplicates(), 1);
    assert_eq!(s.on_acked(3, 0, 0, 0), Some((3, 0)));
    assert!(s.is_idle());
}

#[test]
fn out_of_order_and_duplicates_deliver_each_message_once_in_order() {
    let seed = 11;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut s, mut r) = (sender(), receiver());
    let mut want = Vec::new();
    for i in 0..30u8 {
        let stream = u64::from(i % 3);
        let msg = message(rng.random_range(0..300), i);
        s.push(stream, msg.clone()).unwrap();
        want.push((stream, msg));
    }
    let mut frags = drain(&mut s, 80);
    let copies: Vec<Fragment> = frags
        .iter()
        .filter(|_| rng.random_bool(0.5))
        .cloned()
        .collect();
    frags.extend(copies);
    frags.shuffle(&mut rng);
    let mut got = Vec::new();
    for f in &frags {
        r.on_frame(as_ref(f)).unwrap();
        got.extend(poll_all(&mut r));
    }
    for stream in 0..3 {
        let per = |v: &[(u64, Bytes)]| {
            v.iter()
                .filter(|(s, _)| *s == stream)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(per(&got), per(&want), "seed {seed}, stream {stream}");
    }
    assert!(r.duplicates() > 0);
    assert_eq!(
        r.heap_footprint(),
        0,
        "nothing buffered once all is delivered"
    );
}

#[test]
fn gap_on_one_stream_does_not_block_another() {
    let (mut s, mut r) = (sender(), receiver());
    s.push(1, message(150, 1)).unwrap();
    s.push(2, message(10, 2)).unwrap();
    let frags = drain(&mut s, 100);
    let (first, rest): (Vec<_>, Vec<_>) =
        frags.iter().partition(|f| f.stream == 1 && f.offset == 0);
    for f in rest {
        r.on_frame(as_ref(f)).unwrap();
    }
    assert_eq!(poll_all(&mut r), vec![(2, message(10, 2))]);
    r.on_frame(as_ref(first[0])).unwrap();
    assert_eq!(poll_all(&mut r), vec![(1, message(150, 1))]);
}

#[test]
fn streams_take_turns_fragment_by_fragment() {
    let mut s = sender();
    s.push(1, message(1000, 1)).unwrap();
    s.push(2, message(10, 2)).unwrap();
    s.push(2, message(10, 3)).unwrap();
    let order: Vec<u64> = drain(&mut s, 100)
        .iter()
        .map(|f| f.stream)
        .take(4)
        .collect();
    assert_eq!(order, vec![1, 2, 1, 2]);
}

#[test]
fn sender_stops_at_credit_and_resumes_after_max_data() {
    let mut s = SendStreams::new(DEFAULT_MAX_MESSAGE_SIZE, 4);
    s.set_peer_max_data(2 * charge(100));
    for i in 0..3 {
        s.push(0, message(100, i)).unwrap();
    }
    let frags = drain(&mut s, 1200);
    let conn_offsets: Vec<u64> = frags.iter().map(|f| f.conn_offset).collect();
    assert_eq!(conn_offsets, vec![0, charge(100)]);
    assert!(s.is_blocked_by_flow_control() && !s.has_pending());
    s.set_peer_max_data(1);
    assert!(s.is_blocked_by_flow_control(), "credit never decreases");
    s.set_peer_max_data(3 * charge(100));
    assert!(!s.is_blocked_by_flow_control() && s.has_pending());
    let f = s.poll_frame(1200).unwrap();
    assert_eq!((f.msg_id, f.conn_offset), (2, 2 * charge(100)));
}

#[test]
fn message_waiting_for_credit_is_not_overtaken() {
    let mut s = SendStreams::new(DEFAULT_MAX_MESSAGE_SIZE, 4);
    s.set_peer_max_data(2 * charge(10) + 500);
    s.push(1, message(10, 0)).unwrap();
    s.push(1, message(1000, 1)).unwrap();
    for i in 0..3 {
        s.push(2, message(10, i)).unwrap();
    }
    let started: Vec<(u64, u64)> = drain(&mut s, 1200)
        .iter()
        .map(|f| (f.stream, f.msg_id))
        .collect();
    assert_eq!(
        started,
        vec![(1, 0), (2, 0)],
        "stream 2 must not start behind the blocked message"
    );
    assert!(s.is_blocked_by_flow_control());
    s.set_peer_max_data(2 * charge(10) + charge(1000));
    let f = s.poll_frame(1200).unwrap();
    assert_eq!((f.stream, f.msg_id), (1, 1));
}

#[test]
fn credit_flows_from_receiver_to_sender() {
    let window = 1000;
    let mut s = SendStreams::new(500, 4);
    let mut r = RecvStreams::new(window, 500, 4);
    s.set_peer_max_data(r.initial_max_data());
    for i in 0..10 {
        s.push(0, message(300, i)).unwrap();
    }
    let mut delivered = 0;
    while delivered < 10 {
        let frags = drain(&mut s, 1200);
        assert!(
            !frags.is_empty(),
            "sender stalled after {delivered} messages"
        );
        frags.iter().for_each(|f| r.on_frame(as_ref(f)).unwrap());
        delivered += poll_all(&mut r).len();
        if let Some(max_data) = r.poll_max_data_update() {
            s.set_peer_max_data(max_data);
        }
    }
    assert_eq!(r.max_data(), s.peer_max_data());
}

#[test]
fn max_data_update_waits_for_half_a_window() {
    // Largest message 300 (charge 364): half a window (500) is the threshold.
    let mut r = RecvStreams::new(1000, 300, 4);
    r.on_frame(frame(0, 0, 0, 100, 0, &[0; 100])).unwrap();
    r.poll_message().unwrap();
    assert_eq!(r.poll_max_data_update(), None, "164 consumed < 500");
    r.on_frame(frame(0, 1, 164, 300, 0, &[0; 300])).unwrap();
    r.poll_message().unwrap();
    assert_eq!(r.poll_max_data_update(), Some(1528));
    assert_eq!((r.max_data(), r.poll_max_data_update()), (1528, None));
}

#[test]
fn max_data_update_comes_early_enough_for_the_largest_message() {
    // Window 1000, largest message 700 (charge 764): once 236 are consumed a
    // blocked 700-byte message needs credit, so the update must not wait for 500.
    let mut r = RecvStreams::new(1000, 700, 4);
    r.on_frame(frame(0, 0, 0, 200, 0, &[0; 200])).unwrap();
    r.poll_message().unwrap();
    assert_eq!(r.poll_max_data_update(), Some(1264));
}

#[test]
fn reassembly_refuses_too_many_disjoint_fragments() {
    let mut r = RecvStreams::new(1 << 22, 1 << 20, 4);
    let total = 1 << 20;
    let mut result = Ok(());
    // One-byte fragments at descending even offsets: each one a new range.
    for i in 0..2000u64 {
        let offset = total - 2 - 2 * i;
        result = r.on_frame(frame(0, 0, 0, total, offset, &[1]));
        if result.is_err() {
            break;
        }
    }
    assert!(
        matches!(result, Err(StreamError::TooFragmented(_))),
        "{result:?}"
    );
}

#[test]
fn receiver_rejects_claims_beyond_credit() {
    let mut r = RecvStreams::new(1000, 1000, 4);
    let err = r.on_frame(frame(0, 0, 937, 0, 0, &[])).unwrap_err();
    assert_eq!(
        err,
        StreamError::FlowControl {
            end: 1001,
            max_data: 1000
        }
    );
    r.on_frame(frame(0, 0, 936, 0, 0, &[])).unwrap();
    let overflow = r.on_frame(frame(1, 0, u64::MAX - 10, 0, 0, &[]));
    assert!(matches!(
        overflow,
        Err(StreamError::FlowControl { end: u64::MAX, .. })
    ));
}

#[test]
fn receiver_rejects_overlapping_claims() {
    let mut r = RecvStreams::new(10_000, 1000, 4);
    r.on_frame(frame(0, 0, 0, 100, 0, &[1; 50])).unwrap();
    r.on_frame(frame(0, 0, 0, 100, 50, &[1; 50])).unwrap();
    let err = r.on_frame(frame(1, 0, 100, 10, 0, &[2; 10])).unwrap_err();
    assert_eq!(
        err,
        StreamError::OverlappingClaim {
            start: 100,
            end: 174
        }
    );
    r.on_frame(frame(1, 0, 500, 10, 0, &[2; 10])).unwrap();
    let err = r.on_frame(frame(2, 0, 480, 10, 0, &[3; 10])).unwrap_err();
    assert_eq!(
        err,
        StreamError::OverlappingClaim {
            start: 480,
            end: 554
        }
    );
    assert_eq!(poll_all(&mut r).len(), 2);
    let err = r.on_frame(frame(3, 0, 50, 0, 0, &[])).unwrap_err();
    assert!(
        matches!(err, StreamError::OverlappingClaim { .. }),
        "claims of delivered messages stay claimed"
    );
}

#[test]
fn receiver_rejects_malformed_fragments() {
    let mut r = RecvStreams::new(10_000, 1000, 4);
    let cases = [
        (
            frame(4, 0, 0, 1, 0, &[0]),
            StreamError::StreamLimit { stream: 4, max: 4 },
        ),
        (
            frame(0, 0, 0, 1001, 0, &[]),
            StreamError::TooLarge {
                total_len: 1001,
                max: 1000,
            },
        ),
        (
            frame(0, 0, 0, 10, 8, &[0; 3]),
            StreamError::BeyondEnd {
                offset: 8,
                len: 3,
                total_len: 10,
            },
        ),
        (
            frame(0, 0, 0, 10, u64::MAX, &[0; 3]),
            StreamError::BeyondEnd {
                offset: u64::MAX,
                len: 3,
                total_len: 10,
            },
        ),
    ];
    for (f, want) in cases {
        assert_eq!(r.on_frame(f), Err(want));
    }
    r.on_frame(frame(0, 0, 0, 10, 0, &[0; 5])).unwrap();
    let inconsistent = Err(StreamError::Inconsistent {
        stream: 0,
        msg_id: 0,
    });
    assert_eq!(r.on_frame(frame(0, 0, 0, 11, 5, &[0; 5])), inconsistent);
    assert_eq!(r.on_frame(frame(0, 0, 74, 10, 5, &[0; 5])), inconsistent);
}

#[test]
fn push_limits() {
    let mut s = SendStreams::new(10, 2);
    assert_eq!(
        s.push(2, Bytes::new()),
        Err(SendError::StreamLimit { stream: 2, max: 2 })
    );
    assert_eq!(
        s.push(0, message(11, 0)),
        Err(SendError::TooLarge { len: 11, max: 10 })
    );
    assert_eq!(s.push(1, message(10, 0)), Ok(0));
    assert_eq!(s.push(1, message(10, 0)), Ok(1));
    assert_eq!(s.push(0, Bytes::new()), Ok(0));
    assert_eq!(s.queued_messages(), 3);
}

#[test]
fn lost_fragments_are_resent_first_without_acked_bytes() {
    let mut s = sender();
    s.push(0, message(1000, 5)).unwrap();
    let sent: Vec<Fragment> = (0..3).map(|_| s.poll_frame(120).unwrap()).collect();
    let first = &sent[0];
    s.on_acked(0, 0, first.offset, 10);
    s.on_lost(0, 0, first.offset, first.len());
    let resent = s.poll_frame(120).unwrap();
    assert_eq!((resent.offset, resent.len()), (10, first.len() - 10));
    assert_eq!(resent.data, first.data.slice(10..));
    let next_new = s.poll_frame(120).unwrap();
    assert_eq!(
        next_new.offset,
        sent[2].offset + sent[2].len(),
        "then new data"
    );
}

#[test]
fn lost_range_larger_than_frame_is_resent_in_pieces() {
    let mut s = sender();
    s.push(0, message(300, 5)).unwrap();
    let sent = drain(&mut s, 400);
    assert_eq!(sent.len(), 1);
    s.on_lost(0, 0, 0, 300);
    let pieces = drain(&mut s, 120);
    let lens: u64 = pieces.iter().map(Fragment::len).sum();
    assert_eq!(lens, 300);
    assert!(pieces.len() >= 3 && !s.has_pending());
}

#[test]
fn losses_of_acked_or_freed_data_are_ignored() {
    let mut s = sender();
    s.push(0, message(100, 5)).unwrap();
    let f = s.poll_frame(1200).unwrap();
    s.on_acked(0, 0, 0, 50);
    s.on_lost(0, 0, 0, 50);
    assert!(!s.has_pending(), "already acked");
    s.on_lost(0, 0, 0, 100);
    s.on_acked(0, 0, 0, 100);
    assert!(!s.has_pending(), "acked after being declared lost");
    s.on_lost(0, 0, f.offset, f.len());
    s.on_lost(9, 9, 0, 1);
    assert_eq!(s.poll_frame(1200), None);
    assert_eq!(s.heap_footprint(), 0);
}

#[test]
fn partial_acks_report_whole_message_once() {
    let mut s = sender();
    s.push(0, message(250, 1)).unwrap();
    s.push(1, message(10, 2)).unwrap();
    let frags = drain(&mut s, 100);
    assert_eq!(s.unacked_messages(), 2);
    let mut done = Vec::new();
    for f in frags.iter().rev().chain(&frags) {
        done.extend(s.on_acked(f.stream, f.msg_id, f.offset, f.len()));
    }
    assert_eq!(done, vec![(1, 0), (0, 0)]);
    assert!(s.is_idle() && s.unacked_messages() == 0);
    assert_eq!(s.heap_footprint(), 0, "an idle sender holds no allocation");
}

#[test]
fn acks_of_unsent_bytes_do_not_complete_a_message() {
    let mut s = sender();
    s.push(0, message(300, 1)).unwrap();
    s.poll_frame(100).unwrap();
    assert_eq!(s.on_acked(0, 0, 0, 300), None);
    let rest = drain(&mut s, 1200);
    assert_eq!(rest.len(), 1);
    assert_eq!(
        s.on_acked(0, 0, rest[0].offset, rest[0].len()),
        Some((0, 0))
    );
}

#[test]
fn fragment_rebuilds_unacked_data_for_probes() {
    let mut s = sender();
    s.push(0, message(200, 1)).unwrap();
    let f = s.poll_frame(120).unwrap();
    assert_eq!(s.fragment(0, 0, f.offset, f.len()), Some(f.clone()));
    s.on_acked(0, 0, f.offset, f.len());
    assert_eq!(s.fragment(0, 0, f.offset, f.len()), None);
    assert_eq!(s.fragment(0, 1, 0, 1), None);
}

#[test]
fn idle_receiver_holds_no_allocation() {
    let (mut s, mut r) = (sender(), receiver());
    for i in 0..20 {
        s.push(i % 4, message(500, i as u8)).unwrap();
    }
    let mut frags = drain(&mut s, 300);
    frags.reverse();
    frags.iter().for_each(|f| r.on_frame(as_ref(f)).unwrap());
    assert_eq!(poll_all(&mut r).len(), 20);
    assert_eq!(r.heap_footprint(), 0);
}

#[test]
fn high_stream_numbers_use_spilled_counters() {
    let mut s = SendStreams::new(100, 1 << 40);
    s.set_peer_max_data(u64::MAX);
    let mut r = RecvStreams::new(DEFAULT_WINDOW, 100, 1 << 40);
    let stream = (1 << 40) - 1;
    assert_eq!(s.push(stream, message(5, 0)), Ok(0));
    assert_eq!(s.push(stream, message(5, 1)), Ok(1));
    drain(&mut s, 100)
        .iter()
        .for_each(|f| r.on_frame(as_ref(f)).unwrap());
    assert_eq!(
        poll_all(&mut r),
        vec![(stream, message(5, 0)), (stream, message(5, 1))]
    );
}
