//! Cases for search (substring, any script, newest first, paged, only what
//! the user may read, following edits and deletes) and read marks.

use super::{cid, new_user, text};
use crate::{
    Change, ConvId, Message, MsgKind, NewAction, NewGroup, NewMessage, SearchPos, SearchQuery,
    Store, UserId,
};

fn query(user: UserId, text: &str) -> SearchQuery {
    SearchQuery {
        user,
        text: text.to_owned(),
        conv: None,
        before: None,
        limit: 50,
    }
}

/// `(conv, seq)` of each hit, in order.
fn found(s: &dyn Store, q: &SearchQuery) -> Vec<(ConvId, u64)> {
    let hits = s.search(q).expect("search");
    hits.iter().map(|m: &Message| (m.conv, m.seq)).collect()
}

/// A text message at time `ts_ms`.
fn at(conv: ConvId, sender: UserId, n: u8, body: &str, ts_ms: i64) -> NewMessage {
    NewMessage {
        ts_ms,
        ..text(conv, sender, n, body)
    }
}

fn group(s: &dyn Store, owner: UserId, members: Vec<UserId>) -> ConvId {
    let group = NewGroup {
        name: "club".into(),
        public: true,
        owner,
        members,
    };
    s.create_group(group, 1).expect("group").id
}

pub fn search_matches_substrings_in_any_script_ignoring_case(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    let bodies = [
        "Hello World",
        "привет, МИР",
        "東京都に住んでいます",
        "party 🎉🎉 tonight",
        "no match here",
        "hello again, world",
    ];
    let batch: Vec<NewMessage> = (0u8..)
        .zip(bodies)
        .map(|(n, b)| at(lobby, a, n, b, 100 + i64::from(n)))
        .collect();
    s.append(&batch).expect("append");
    assert_eq!(found(s, &query(a, "WORLD")), vec![(lobby, 6), (lobby, 1)]);
    assert_eq!(found(s, &query(a, "мир")), vec![(lobby, 2)]);
    assert_eq!(found(s, &query(a, "ПРИВЕТ")), vec![(lobby, 2)]);
    assert_eq!(found(s, &query(a, "京都に")), vec![(lobby, 3)]);
    assert_eq!(found(s, &query(a, "🎉🎉 t")), vec![(lobby, 4)]);
    assert_eq!(found(s, &query(a, "lo w")), vec![(lobby, 1)]);
    assert_eq!(found(s, &query(a, "absent")), vec![]);
    assert_eq!(found(s, &query(a, "he")), vec![], "shorter than 3: nothing");
    assert_eq!(found(s, &query(a, "\"x")), vec![], "quotes are text");
}

pub fn search_is_newest_first_and_paged(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let b = new_user(s, "b").id;
    let (lobby, ab) = (s.lobby(), s.direct(a, b, 1).unwrap().id);
    // Newest first means in the order appended (across conversations),
    // whatever the timestamps say.
    s.append(&[
        at(lobby, a, 1, "needle one", 40),
        at(ab, b, 2, "needle two", 30),
    ])
    .expect("append");
    s.append(&[
        at(lobby, b, 3, "needle three", 20),
        at(ab, a, 4, "needle four", 30),
        at(lobby, a, 5, "hay", 40),
    ])
    .expect("append");
    let all = vec![(ab, 2), (lobby, 2), (ab, 1), (lobby, 1)];
    assert_eq!(found(s, &query(a, "needle")), all);
    let mut q = SearchQuery {
        limit: 3,
        ..query(a, "NEEDLE")
    };
    let first = s.search(&q).expect("page 1");
    assert_eq!(first.len(), 3);
    q.before = first.last().map(SearchPos::of);
    assert_eq!(found(s, &q), vec![(lobby, 1)]);
    q.before = Some(SearchPos::of(&first[0]));
    assert_eq!(found(s, &q), all[1..].to_vec());
    q.before = Some(SearchPos { conv: ab, seq: 99 });
    assert_eq!(found(s, &q), vec![], "a position that names nothing");
    let only_ab = SearchQuery {
        conv: Some(ab),
        ..query(b, "needle")
    };
    assert_eq!(found(s, &only_ab), vec![(ab, 2), (ab, 1)]);
}

pub fn search_sees_only_what_the_user_may_read(s: &dyn Store) {
    let (a, b) = (new_user(s, "a").id, new_user(s, "b").id);
    let (c, d) = (new_user(s, "c").id, new_user(s, "d").id);
    let club = group(s, a, vec![b]);
    let ad = s.direct(a, d, 1).unwrap().id;
    s.append(&[text(club, a, 1, "secret 1"), text(club, b, 2, "secret 2")])
        .expect("append");
    s.remove_member(club, b, 2).expect("b leaves after seq 2");
    s.add_member(club, c, crate::Role::Member, 3)
        .expect("c joins at 3");
    s.append(&[text(club, a, 3, "secret 3"), text(ad, a, 4, "secret dm")])
        .expect("append");
    let system = NewMessage {
        sender: None,
        kind: MsgKind::System,
        ..text(club, a, 5, "secret system")
    };
    s.append(&[system]).expect("system message");
    let convs = |u| found(s, &query(u, "secret"));
    assert_eq!(convs(a).len(), 4, "{:?}", convs(a));
    assert_eq!(
        convs(b),
        vec![(club, 2), (club, 1)],
        "up to the leave point"
    );
    assert_eq!(convs(c), vec![(club, 3)], "from the join point");
    assert_eq!(convs(d), vec![(ad, 1)], "not in the group");
    let e = new_user(s, "e").id;
    assert_eq!(convs(e), vec![], "a stranger");
    let scoped = SearchQuery {
        conv: Some(club),
        ..query(d, "secret")
    };
    assert_eq!(found(s, &scoped), vec![], "a conversation never joined");
}

pub fn search_follows_edits_and_deletes(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    s.append(&[
        text(lobby, a, 1, "first draft"),
        text(lobby, a, 2, "keep draft"),
    ])
    .expect("append");
    let act = |n: u8, target: u64, change: Change| {
        let action = NewAction {
            conv: lobby,
            actor: a,
            client_id: cid(n),
            target,
            change,
            ts_ms: 9_000,
        };
        let applied = s.act(&action).expect("act");
        assert!(applied.is_ok(), "{applied:?}");
    };
    act(10, 1, Change::Edit("final version".into()));
    assert_eq!(found(s, &query(a, "draft")), vec![(lobby, 2)]);
    assert_eq!(found(s, &query(a, "final")), vec![(lobby, 1)]);
    act(11, 2, Change::Delete);
    assert_eq!(found(s, &query(a, "draft")), vec![]);
    assert_eq!(found(s, &query(a, "version")), vec![(lobby, 1)]);
}

pub fn read_marks_rise_and_list_current_members(s: &dyn Store) {
    let (a, b, c) = (
        new_user(s, "a").id,
        new_user(s, "b").id,
        new_user(s, "c").id,
    );
    let club = group(s, a, vec![b, c]);
    s.append(&[text(club, a, 1, "x"), text(club, a, 2, "y")])
        .expect("append");
    assert_eq!(s.raise_read(b, club, 1).unwrap(), (0, 1));
    assert_eq!(
        s.raise_read(b, club, 9).unwrap(),
        (1, 2),
        "clamped to the log"
    );
    assert_eq!(s.raise_read(b, club, 1).unwrap(), (2, 2), "never lowered");
    assert_eq!(s.cursors_of(b).unwrap().last().map(|k| k.read), Some(2));
    assert_eq!(s.raise_read(c, club, 1).unwrap(), (0, 1));
    s.remove_member(club, c, 2).unwrap();
    assert_eq!(s.read_cursors(club).unwrap(), vec![(a, 0), (b, 2)]);
    assert!(s.raise_read(UserId(999), club, 1).is_err());
}
