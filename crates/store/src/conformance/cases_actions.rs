//! Cases for message actions: edits and deletes.

use super::{cid, new_user, text};
use crate::{
    Anchor, Change, ConvId, MsgAction, MsgKind, NewAction, NewMessage, Order, Page, Refusal, Store,
    StoreError, UserId,
};

fn action(conv: ConvId, actor: UserId, n: u8, target: u64, change: Change) -> NewAction {
    NewAction {
        conv,
        actor,
        client_id: cid(n),
        target,
        change,
        ts_ms: 9_000 + i64::from(n),
    }
}

fn edit(conv: ConvId, actor: UserId, n: u8, target: u64, body: &str) -> NewAction {
    action(conv, actor, n, target, Change::Edit(body.to_owned()))
}

pub fn an_edit_is_an_entry_and_changes_the_text_once(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    s.append(&[text(lobby, a, 1, "helo")]).unwrap();
    let out = s
        .act(&edit(lobby, a, 2, 1, "hello"))
        .unwrap()
        .expect("edited");
    assert!(!out.duplicate);
    let entry = out.message;
    assert_eq!(
        (entry.seq, entry.sender, entry.kind),
        (2, Some(a), MsgKind::Text)
    );
    assert_eq!(entry.action, Some(MsgAction::Edit(1)));
    assert_eq!(
        (entry.body.as_str(), entry.deleted, entry.edited_ms),
        ("", false, None)
    );
    assert_eq!(s.message(lobby, 2).unwrap(), Some(entry.clone()));
    let target = s.message(lobby, 1).unwrap().expect("seq 1");
    assert_eq!(
        (target.body.as_str(), target.edited_ms),
        ("hello", Some(9_002))
    );
    assert_eq!(
        (target.action, target.deleted, target.ts_ms),
        (None, false, 5_001)
    );
    let again = s
        .act(&edit(lobby, a, 2, 1, "changed"))
        .unwrap()
        .expect("repeat");
    assert!(again.duplicate);
    assert_eq!(again.message, entry, "the stored entry comes back");
    assert_eq!(s.message(lobby, 1).unwrap().expect("seq 1").body, "hello");
    assert_eq!(s.last_seq(lobby).unwrap(), 2);
    let second = s
        .act(&edit(lobby, a, 3, 1, "hello!"))
        .unwrap()
        .expect("edited");
    assert_eq!(second.message.seq, 3);
    let page = Page {
        anchor: Anchor::After(0),
        limit: 10,
        order: Order::OldestFirst,
    };
    let history = s.history(lobby, page).unwrap();
    assert_eq!(history[0].body, "hello!");
    assert_eq!(history[0].edited_ms, Some(9_003));
    let actions: Vec<_> = s
        .range(lobby, 0, 3, 10)
        .unwrap()
        .iter()
        .map(|m| m.action)
        .collect();
    assert_eq!(
        actions,
        [None, Some(MsgAction::Edit(1)), Some(MsgAction::Edit(1))]
    );
}

pub fn a_delete_erases_the_text_and_ends_every_change(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let ab = s.direct(a, b, 1).unwrap().id;
    s.append(&[text(ab, a, 1, "secret"), text(ab, b, 2, "reply")])
        .unwrap();
    let del = action(ab, b, 3, 1, Change::Delete);
    let out = s.act(&del).unwrap().expect("deleted");
    assert_eq!(
        (out.message.seq, out.message.action),
        (3, Some(MsgAction::Delete(1)))
    );
    assert_eq!(out.message.body, "");
    let target = s.message(ab, 1).unwrap().expect("seq 1");
    assert!(target.deleted);
    assert_eq!((target.body.as_str(), target.edited_ms), ("", None));
    let repeat = s.act(&del).unwrap().expect("a repeat is not refused");
    assert!(repeat.duplicate);
    assert_eq!(repeat.message.seq, 3);
    assert_eq!(
        s.act(&edit(ab, a, 4, 1, "back")).unwrap(),
        Err(Refusal::Deleted)
    );
    let again = action(ab, a, 5, 1, Change::Delete);
    assert_eq!(s.act(&again).unwrap(), Err(Refusal::Deleted));
    assert_eq!(s.last_seq(ab).unwrap(), 3, "refusals take no seq");
    assert_eq!(s.message(ab, 2).unwrap().expect("seq 2").body, "reply");
}

pub fn only_stored_text_messages_can_be_changed(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    let system = NewMessage {
        conv: lobby,
        sender: None,
        client_id: cid(1),
        kind: MsgKind::System,
        body: "a joined".to_owned(),
        ts_ms: 1,
    };
    s.append(&[system, text(lobby, a, 2, "hi")]).unwrap();
    s.act(&edit(lobby, a, 3, 2, "hey"))
        .unwrap()
        .expect("edited");
    for (n, target) in [(4, 0), (5, 1), (6, 3), (7, 4), (8, u64::MAX)] {
        let got = s.act(&edit(lobby, a, n, target, "x")).unwrap();
        assert_eq!(got, Err(Refusal::NoSuchMessage), "target {target}");
    }
    let missing_conv = s.act(&edit(ConvId(9_999), a, 9, 1, "x"));
    assert_eq!(missing_conv, Err(StoreError::NotFound));
    let missing_user = s.act(&edit(lobby, UserId(9_999), 10, 2, "x"));
    assert_eq!(missing_user, Err(StoreError::NotFound));
    assert_eq!(s.last_seq(lobby).unwrap(), 3);
    assert_eq!(
        s.message(lobby, 1).unwrap().expect("system").body,
        "a joined"
    );
}

/// A checked action needs its actor's right at its own commit: an edit a
/// current unmuted member, a delete of one's own message a current member,
/// a delete of another's an admin or the owner; `Nothing` (a server admin)
/// passes anyone. A refusal writes nothing and takes no seq; a repeat of a
/// stored entry is answered as stored after the right is gone; the right
/// is checked before the target.
pub fn checked_actions_need_the_actors_right_at_their_commit(s: &dyn Store) {
    use crate::ActorNeeds::{Member, Moderator, Nothing, Poster};
    let [o, m, k, x] = ["o", "m", "k", "x"].map(|n| new_user(s, n).id);
    let group = crate::NewGroup {
        name: "club".to_owned(),
        public: false,
        owner: o,
        members: vec![m, k],
    };
    let g = s.create_group(group, 1).expect("group").id;
    s.append(&[
        text(g, m, 1, "m1"),
        text(g, k, 2, "k2"),
        text(g, o, 3, "o3"),
    ])
    .unwrap();
    let del = |actor, n, target| action(g, actor, n, target, Change::Delete);
    let checked = |a: &NewAction, needs| s.act_checked(a, needs).unwrap().map(|e| e.message.seq);

    s.set_muted(g, m, true).unwrap();
    assert_eq!(
        checked(&edit(g, m, 10, 1, "m1!"), Poster),
        Err(Refusal::Muted)
    );
    assert_eq!(
        checked(&del(m, 11, 2), Moderator),
        Err(Refusal::NotModerator)
    );
    assert_eq!(checked(&del(x, 12, 2), Member), Err(Refusal::NotMember));
    assert_eq!(checked(&del(x, 12, 99), Member), Err(Refusal::NotMember));
    assert_eq!(s.last_seq(g).unwrap(), 3, "refusals take no seq");
    assert_eq!(s.message(g, 1).unwrap().expect("m1").body, "m1");
    assert_eq!(checked(&del(m, 13, 1), Member), Ok(4), "muted, deletes own");
    let k_edit = edit(g, k, 14, 2, "k2!");
    assert_eq!(checked(&k_edit, Poster), Ok(5));

    s.set_muted(g, m, false).unwrap();
    s.set_role(g, m, crate::Role::Admin).unwrap();
    assert_eq!(checked(&del(m, 15, 3), Moderator), Ok(6), "an admin");
    let kicked = s.last_seq(g).unwrap();
    s.remove_member(g, k, kicked).unwrap();
    assert_eq!(checked(&k_edit, Poster), Ok(5), "a repeat, after the kick");
    assert_eq!(
        checked(&edit(g, k, 16, 2, "k2?"), Poster),
        Err(Refusal::NotMember)
    );
    assert_eq!(checked(&del(k, 17, 2), Member), Err(Refusal::NotMember));
    assert_eq!(s.message(g, 2).unwrap().expect("k2").body, "k2!");
    assert_eq!(checked(&del(x, 18, 2), Nothing), Ok(7), "a server admin");
    assert_eq!(checked(&del(o, 19, 2), Moderator), Err(Refusal::Deleted));
    assert_eq!(s.last_seq(g).unwrap(), 7);
}
