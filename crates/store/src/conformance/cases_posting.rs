//! Appends that check each sender's right to post in their own transaction
//! ([`crate::Messages::append_checked`]).

use crate::PostRight::{self, Muted, NotMember};
use crate::conformance::{cid, new_user, text};
use crate::{Checked, ConvId, MsgKind, NewGroup, NewMessage, Role, Store, StoreError, UserId};

fn club(s: &dyn Store, name: &str, owner: UserId, members: Vec<UserId>) -> ConvId {
    let group = NewGroup {
        name: name.to_owned(),
        public: true,
        owner,
        members,
    };
    s.create_group(group, 1).expect("group").id
}

/// `(seq, duplicate)` of a stored message, or the refusal.
fn outcome(checked: &Checked) -> Result<(u64, bool), PostRight> {
    let stored = checked.as_ref().map(|a| (a.message.seq, a.duplicate));
    stored.map_err(|&refused| refused)
}

fn outcomes(s: &dyn Store, batch: &[NewMessage]) -> Vec<Result<(u64, bool), PostRight>> {
    let checked = s.append_checked(batch).expect("append_checked");
    assert_eq!(checked.len(), batch.len());
    checked.iter().map(outcome).collect()
}

/// A checked append stores what current, unmuted members post (and system
/// messages, and anything in the lobby) with contiguous seqs, refuses the
/// rest without taking a seq, and answers a repeat of a stored message as
/// stored even once its sender may no longer post.
pub fn checked_appends_store_only_what_senders_may_post(s: &dyn Store) {
    let [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(|n| new_user(s, n).id);
    let g = club(s, "club", a, vec![b, d, e]);
    s.set_muted(g, d, true).unwrap();
    s.remove_member(g, e, 0).unwrap();
    let lobby = s.lobby();
    let lobby_last = s.last_seq(lobby).unwrap();
    let system = NewMessage {
        conv: g,
        sender: None,
        client_id: cid(9),
        kind: MsgKind::System,
        body: "renamed".into(),
        ts_ms: 1,
    };
    let batch = [
        text(g, a, 1, "a1"),
        text(g, b, 2, "b2"),
        text(g, c, 3, "c3"),
        text(g, d, 4, "d4"),
        text(g, e, 5, "e5"),
        text(lobby, c, 6, "c6"),
        system,
        text(g, b, 2, "b2 again"),
        text(g, a, 7, "a7"),
    ];
    let want = [
        Ok((1, false)),
        Ok((2, false)),
        Err(NotMember),
        Err(Muted),
        Err(NotMember),
        Ok((lobby_last + 1, false)),
        Ok((3, false)),
        Ok((2, true)),
        Ok((4, false)),
    ];
    assert_eq!(outcomes(s, &batch), want);
    assert_eq!(s.last_seq(g).unwrap(), 4);
    let senders: Vec<_> = s.range(g, 0, 99, 99).unwrap();
    let senders: Vec<_> = senders.iter().map(|m| m.sender).collect();
    assert_eq!(senders, [Some(a), Some(b), None, Some(a)]);

    s.remove_member(g, b, 4).unwrap();
    s.set_muted(g, d, false).unwrap();
    s.add_member(g, c, Role::Member, 5).unwrap();
    let batch = [
        text(g, b, 2, "resent after the kick"),
        text(g, b, 8, "b8"),
        text(g, d, 4, "d4"),
        text(g, c, 3, "c3"),
    ];
    let want = [
        Ok((2, true)),
        Err(NotMember),
        Ok((5, false)),
        Ok((6, false)),
    ];
    assert_eq!(outcomes(s, &batch), want);
}

/// A checked append names the missing conversation or sender like
/// [`crate::Messages::append`] and then writes nothing; in a deleted group
/// nobody may post.
pub fn checked_appends_fail_whole_and_refuse_in_deleted_groups(s: &dyn Store) {
    let [a, b] = ["a", "b"].map(|n| new_user(s, n).id);
    let g = club(s, "club", a, vec![b]);
    let missing_conv = [text(g, a, 1, "a1"), text(ConvId(9_999), a, 2, "x")];
    assert_eq!(s.append_checked(&missing_conv), Err(StoreError::NotFound));
    let missing_user = [text(g, a, 1, "a1"), text(g, UserId(9_999), 2, "x")];
    assert_eq!(s.append_checked(&missing_user), Err(StoreError::NotFound));
    assert_eq!(s.last_seq(g).unwrap(), 0);
    assert_eq!(outcomes(s, &[text(g, b, 3, "b3")]), [Ok((1, false))]);
    s.delete_group(g).unwrap();
    let after = [text(g, a, 4, "a4"), text(g, b, 5, "b5")];
    assert_eq!(outcomes(s, &after), [Err(NotMember), Err(NotMember)]);
    assert_eq!(s.last_seq(g).unwrap(), 0);
}

/// A checked append with members lists, for each conversation it stored a
/// new message in (not the lobby, not for repeats or refusals), the
/// current members at its commit: a kicked member no more, a new member
/// already.
pub fn checked_appends_list_the_members_at_their_commit(s: &dyn Store) {
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| new_user(s, n).id);
    let g = club(s, "club", a, vec![b, c]);
    let h = club(s, "pair", a, vec![b]);
    let lobby = s.lobby();
    let batch = [
        text(h, b, 1, "h1"),
        text(g, a, 2, "g2"),
        text(lobby, d, 3, "l3"),
    ];
    let out = s.append_checked_with_members(&batch).expect("append");
    let seqs: Vec<_> = out.checked.iter().map(outcome).collect();
    assert_eq!(seqs[..2], [Ok((1, false)), Ok((1, false))]);
    let mut want = vec![(g, vec![a, b, c]), (h, vec![a, b])];
    want.sort();
    assert_eq!(out.members, want);

    let kick = NewMessage {
        conv: g,
        sender: None,
        client_id: cid(9),
        kind: MsgKind::System,
        body: "c was kicked".into(),
        ts_ms: 2,
    };
    s.remove_with_entry(c, &kick).unwrap();
    s.add_member(g, d, Role::Member, 4).unwrap();
    let batch = [
        text(g, b, 4, "g4"),
        text(g, c, 5, "refused"),
        text(h, b, 1, "h1 again"),
    ];
    let out = s.append_checked_with_members(&batch).expect("append");
    let got: Vec<_> = out.checked.iter().map(outcome).collect();
    assert_eq!(got, [Ok((3, false)), Err(NotMember), Ok((1, true))]);
    assert_eq!(out.members, [(g, vec![a, b, d])]);
    let refused = s.append_checked_with_members(&[text(g, c, 6, "no")]);
    assert_eq!(refused.expect("append").members, []);
}
