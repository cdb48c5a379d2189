//! Cases for messages and cursors.

use super::{cid, fill, new_user, seqs, text};
use crate::{
    Anchor, ConvId, Cursor, MAX_PAGE, MsgKind, NewMessage, Order, Page, Role, Store, StoreError,
    UserId,
};

fn page(anchor: Anchor, limit: u32, order: Order) -> Page {
    Page {
        anchor,
        limit,
        order,
    }
}

pub fn append_assigns_contiguous_seq_per_conversation(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let (lobby, ab) = (s.lobby(), s.direct(a, b, 1).unwrap().id);
    let batch = [
        text(lobby, a, 1, "x"),
        text(ab, a, 2, "y"),
        text(lobby, b, 3, "z"),
    ];
    let out = s.append(&batch).unwrap();
    let got: Vec<(ConvId, u64, bool)> = out
        .iter()
        .map(|o| (o.message.conv, o.message.seq, o.duplicate))
        .collect();
    assert_eq!(
        got,
        vec![(lobby, 1, false), (ab, 1, false), (lobby, 2, false)]
    );
    let more = s
        .append(&[text(ab, b, 4, "w"), text(lobby, a, 5, "v")])
        .unwrap();
    assert_eq!(
        seqs(&more.into_iter().map(|o| o.message).collect::<Vec<_>>()),
        vec![2, 3]
    );
    assert_eq!(
        (s.last_seq(lobby).unwrap(), s.last_seq(ab).unwrap()),
        (3, 2)
    );
    assert_eq!(s.last_seq(ConvId(12_345)).unwrap(), 0);
    let stored = s.message(lobby, 2).unwrap().expect("seq 2");
    assert_eq!(
        (stored.sender, stored.body.as_str(), stored.ts_ms),
        (Some(b), "z", 5_003)
    );
    assert_eq!(stored, out[2].message);
    assert_eq!(s.message(lobby, 0).unwrap(), None);
    assert_eq!(s.message(lobby, 4).unwrap(), None);
    assert_eq!(s.append(&[]).unwrap(), vec![]);
}

pub fn append_is_idempotent_across_batches(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let lobby = s.lobby();
    let first = s
        .append(&[text(lobby, a, 7, "original")])
        .unwrap()
        .remove(0);
    let again = s
        .append(&[text(lobby, b, 8, "other"), text(lobby, a, 7, "changed")])
        .unwrap();
    assert!(again[1].duplicate);
    assert_eq!(
        again[1].message, first.message,
        "the stored message comes back"
    );
    assert_eq!(again[0].message.seq, 2);
    let same_id_other_sender = s.append(&[text(lobby, b, 7, "b's own")]).unwrap().remove(0);
    assert_eq!(
        (
            same_id_other_sender.message.seq,
            same_id_other_sender.duplicate
        ),
        (3, false)
    );
    let system = NewMessage {
        conv: lobby,
        sender: None,
        client_id: cid(7),
        kind: MsgKind::System,
        body: "joined".into(),
        ts_ms: 1,
    };
    let sys1 = s.append(std::slice::from_ref(&system)).unwrap().remove(0);
    let sys2 = s.append(&[system]).unwrap().remove(0);
    assert_eq!(
        (sys1.message.seq, sys1.duplicate, sys1.message.kind),
        (4, false, MsgKind::System)
    );
    assert_eq!((sys2.message.seq, sys2.duplicate), (4, true));
    assert_eq!(s.last_seq(lobby).unwrap(), 4);
}

pub fn append_is_idempotent_within_a_batch(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    let batch = [
        text(lobby, a, 1, "one"),
        text(lobby, a, 2, "two"),
        text(lobby, a, 1, "one again"),
    ];
    let out = s.append(&batch).unwrap();
    let got: Vec<(u64, bool, &str)> = out
        .iter()
        .map(|o| (o.message.seq, o.duplicate, o.message.body.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![(1, false, "one"), (2, false, "two"), (1, true, "one")]
    );
    assert_eq!(s.last_seq(lobby).unwrap(), 2);
}

pub fn append_failure_writes_nothing(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    let bad_conv = [text(lobby, a, 1, "ok"), text(ConvId(999), a, 2, "bad")];
    assert_eq!(s.append(&bad_conv), Err(StoreError::NotFound));
    let bad_sender = [text(lobby, a, 3, "ok"), text(lobby, UserId(999), 4, "bad")];
    assert_eq!(s.append(&bad_sender), Err(StoreError::NotFound));
    assert_eq!(s.last_seq(lobby).unwrap(), 0, "whole batch rolled back");
    let retry = s.append(&[text(lobby, a, 1, "ok")]).unwrap().remove(0);
    assert_eq!((retry.message.seq, retry.duplicate), (1, false));
}

pub fn history_of_empty_conversation(s: &dyn Store) {
    let lobby = s.lobby();
    for conv in [lobby, ConvId(4_242)] {
        for anchor in [Anchor::Latest, Anchor::Before(5), Anchor::After(0)] {
            for order in [Order::NewestFirst, Order::OldestFirst] {
                assert_eq!(s.history(conv, page(anchor, 50, order)).unwrap(), vec![]);
            }
        }
        assert_eq!(s.range(conv, 0, 100, 10).unwrap(), vec![]);
    }
}

pub fn history_paging_all_anchors_and_orders(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    fill(s, lobby, a, 1, 10);
    let cases: &[(Anchor, u32, &[u64])] = &[
        (Anchor::Latest, 3, &[8, 9, 10]),
        (Anchor::Latest, 50, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        (Anchor::Latest, 0, &[]),
        (Anchor::Before(5), 3, &[2, 3, 4]),
        (Anchor::Before(3), 5, &[1, 2]),
        (Anchor::Before(1), 5, &[]),
        (Anchor::Before(0), 5, &[]),
        (Anchor::Before(1_000), 2, &[9, 10]),
        (Anchor::Before(u64::MAX), 1, &[10]),
        (Anchor::After(5), 3, &[6, 7, 8]),
        (Anchor::After(8), 5, &[9, 10]),
        (Anchor::After(10), 5, &[]),
        (Anchor::After(0), 2, &[1, 2]),
        (Anchor::After(u64::MAX), 2, &[]),
    ];
    for &(anchor, limit, want) in cases {
        let oldest = s
            .history(lobby, page(anchor, limit, Order::OldestFirst))
            .unwrap();
        assert_eq!(seqs(&oldest), want, "{anchor:?} limit {limit} oldest first");
        let newest = s
            .history(lobby, page(anchor, limit, Order::NewestFirst))
            .unwrap();
        let reversed: Vec<u64> = want.iter().rev().copied().collect();
        assert_eq!(
            seqs(&newest),
            reversed,
            "{anchor:?} limit {limit} newest first"
        );
    }
    let bodies: Vec<String> = s
        .history(lobby, page(Anchor::After(0), 3, Order::OldestFirst))
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies, vec!["m1", "m2", "m3"]);
    page_backwards_through_everything(s, lobby);
}

/// Pages from the newest backwards, 3 at a time, and checks every seq is seen once.
fn page_backwards_through_everything(s: &dyn Store, conv: ConvId) {
    let mut seen = Vec::new();
    let mut anchor = Anchor::Latest;
    loop {
        let got = s
            .history(conv, page(anchor, 3, Order::NewestFirst))
            .unwrap();
        let Some(oldest) = got.last() else { break };
        anchor = Anchor::Before(oldest.seq);
        seen.extend(seqs(&got));
    }
    assert_eq!(seen, (1..=10).rev().collect::<Vec<u64>>());
}

pub fn history_limit_is_clamped(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    fill(s, lobby, a, 1, MAX_PAGE as u16 + 20);
    let latest = s
        .history(lobby, page(Anchor::Latest, u32::MAX, Order::OldestFirst))
        .unwrap();
    assert_eq!(latest.len(), MAX_PAGE as usize);
    assert_eq!(latest[0].seq, 21);
    let after = s
        .history(lobby, page(Anchor::After(0), 10_000, Order::NewestFirst))
        .unwrap();
    assert_eq!(
        (after.len(), after[0].seq),
        (MAX_PAGE as usize, u64::from(MAX_PAGE))
    );
    assert_eq!(
        s.range(lobby, 0, u64::MAX, u32::MAX).unwrap().len(),
        MAX_PAGE as usize
    );
}

pub fn range_for_sync(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    fill(s, lobby, a, 1, 10);
    assert_eq!(seqs(&s.range(lobby, 3, 7, 100).unwrap()), vec![4, 5, 6, 7]);
    assert_eq!(seqs(&s.range(lobby, 3, 7, 2).unwrap()), vec![4, 5]);
    assert_eq!(seqs(&s.range(lobby, 8, 100, 100).unwrap()), vec![9, 10]);
    assert_eq!(seqs(&s.range(lobby, 7, 7, 100).unwrap()), Vec::<u64>::new());
    assert_eq!(seqs(&s.range(lobby, 7, 3, 100).unwrap()), Vec::<u64>::new());
    assert_eq!(seqs(&s.range(lobby, 0, 10, 0).unwrap()), Vec::<u64>::new());
}

pub fn cursors_are_monotonic_and_clamped(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    fill(s, lobby, a, 1, 10);
    assert_eq!(s.set_delivered(a, lobby, 5).unwrap(), 5);
    assert_eq!(s.set_delivered(a, lobby, 3).unwrap(), 5, "never backwards");
    assert_eq!(
        s.set_delivered(a, lobby, 1_000).unwrap(),
        10,
        "clamped to last seq"
    );
    assert_eq!(s.set_delivered(a, lobby, u64::MAX).unwrap(), 10);
    assert_eq!(s.set_read(a, lobby, 2).unwrap(), 2, "read is independent");
    assert_eq!(s.set_read(a, lobby, 1).unwrap(), 2);
    assert_eq!(
        s.cursors_of(a).unwrap(),
        vec![Cursor {
            conv: lobby,
            delivered: 10,
            read: 2
        }]
    );
    assert_eq!(
        s.set_delivered(UserId(99), lobby, 1),
        Err(StoreError::NotFound)
    );
    assert_eq!(s.set_read(a, ConvId(99), 1), Err(StoreError::NotFound));
}

pub fn cursors_of_and_delivered_cursors(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let c = new_user(s, "c").id;
    let lobby = s.lobby();
    let ab = s.direct(a, b, 1).unwrap().id;
    fill(s, ab, a, 1, 4);
    fill(s, lobby, a, 1, 6);
    assert_eq!(s.delivered_cursors(ab).unwrap(), vec![(a, 0), (b, 0)]);
    s.set_delivered(b, ab, 3).unwrap();
    s.set_delivered(c, lobby, 6).unwrap();
    assert_eq!(s.delivered_cursors(ab).unwrap(), vec![(a, 0), (b, 3)]);
    assert_eq!(
        s.delivered_cursors(lobby).unwrap(),
        vec![(a, 0), (b, 0), (c, 6)]
    );
    let want = vec![
        Cursor {
            conv: lobby,
            delivered: 0,
            read: 0,
        },
        Cursor {
            conv: ab,
            delivered: 3,
            read: 0,
        },
    ];
    assert_eq!(s.cursors_of(b).unwrap(), want);
    let g = s
        .create_group(
            crate::NewGroup {
                name: "g".into(),
                public: false,
                owner: a,
                members: vec![b],
            },
            2,
        )
        .unwrap()
        .id;
    s.remove_member(g, b, 0).unwrap();
    assert_eq!(
        s.cursors_of(b).unwrap(),
        want,
        "former memberships are not listed"
    );
    assert_eq!(
        s.delivered_cursors(g).unwrap(),
        vec![(a, 0)],
        "current members only"
    );
    s.add_member(g, c, Role::Member, 1).unwrap();
    assert_eq!(s.delivered_cursors(g).unwrap(), vec![(a, 0), (c, 0)]);
}
