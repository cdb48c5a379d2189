//! Cases for search while its index lags the messages: a backend may index
//! after the append ([`crate::Search::index_pending`]), and search must
//! answer the same at every step of that.

use super::{cid, new_user, text};
use crate::{Change, NewAction, NewGroup, NewMessage, SearchPos, SearchQuery, Store, UserId};

fn query(user: UserId, text: &str) -> SearchQuery {
    SearchQuery {
        user,
        text: text.to_owned(),
        conv: None,
        before: None,
        limit: 50,
    }
}

fn found(s: &dyn Store, q: &SearchQuery) -> Vec<u64> {
    let hits = s.search(q).expect("search");
    hits.iter().map(|m| m.seq).collect()
}

/// Lobby messages "needle N" from `user`, client ids `first..first + count`.
fn needles(s: &dyn Store, user: UserId, first: u8, count: u8) {
    let lobby = s.lobby();
    let batch: Vec<NewMessage> = (first..first + count)
        .map(|n| text(lobby, user, n, &format!("needle {n}")))
        .collect();
    s.append(&batch).expect("append");
}

/// Indexes everything pending, in batches of `max`; panics if a batch
/// exceeds `max` or the work does not end within what was appended.
fn index_all(s: &dyn Store, max: usize, appended: usize) {
    for _ in 0..=appended / max + 1 {
        let indexed = s.index_pending(max).expect("index_pending");
        assert!(indexed <= max, "a batch of {indexed} > {max}");
        if indexed < max {
            return;
        }
    }
    panic!("indexing did not end after {appended} messages");
}

pub fn search_finds_what_was_just_appended_at_every_indexing_step(s: &dyn Store) {
    let a = new_user(s, "a").id;
    needles(s, a, 0, 5);
    assert_eq!(found(s, &query(a, "needle")), vec![5, 4, 3, 2, 1]);
    assert!(s.index_pending(2).expect("index") <= 2);
    needles(s, a, 5, 2);
    assert_eq!(found(s, &query(a, "NEEDLE")), vec![7, 6, 5, 4, 3, 2, 1]);
    let mut page = SearchQuery {
        limit: 3,
        ..query(a, "needle")
    };
    let mut seen = Vec::new();
    loop {
        let hits = s.search(&page).expect("page");
        seen.extend(hits.iter().map(|m| m.seq));
        match hits.last() {
            Some(last) if hits.len() == 3 => page.before = Some(SearchPos::of(last)),
            _ => break,
        }
    }
    assert_eq!(seen, vec![7, 6, 5, 4, 3, 2, 1], "pages across the index");
    index_all(s, 2, 7);
    assert_eq!(found(s, &query(a, "needle 6")), vec![7]);
    assert_eq!(found(s, &query(a, "needle")), vec![7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(s.index_pending(2).expect("index"), 0, "nothing pending");
}

pub fn search_follows_changes_of_indexed_and_pending_messages(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    needles(s, a, 0, 2);
    index_all(s, 4, 2);
    needles(s, a, 2, 2);
    let act = |n: u8, target: u64, change: Change| {
        let action = NewAction {
            conv: lobby,
            actor: a,
            client_id: cid(n),
            target,
            change,
            ts_ms: 9_000,
        };
        assert!(s.act(&action).expect("act").is_ok());
    };
    // Where the backend indexes later, 1 and 2 are indexed, 3 and 4 not.
    act(100, 1, Change::Edit("reworded old".into()));
    act(101, 3, Change::Edit("reworded new".into()));
    act(102, 2, Change::Delete);
    act(103, 4, Change::Delete);
    assert_eq!(found(s, &query(a, "needle")), Vec::<u64>::new());
    assert_eq!(found(s, &query(a, "reworded")), vec![3, 1]);
    index_all(s, 1, 8);
    assert_eq!(found(s, &query(a, "needle")), Vec::<u64>::new());
    assert_eq!(found(s, &query(a, "reworded")), vec![3, 1]);
    act(104, 1, Change::Edit("third text".into()));
    assert_eq!(found(s, &query(a, "reworded")), vec![3]);
    assert_eq!(found(s, &query(a, "THIRD")), vec![1]);
}

/// A group that holds the newest messages, some indexed and some pending
/// where the backend indexes later, is deleted: what is appended next is
/// found before and after indexing, and its edit too (SQLite hands the
/// deleted rows' ids out again; its index watermark must not count them
/// as indexed).
pub fn search_finds_what_follows_a_deleted_group_that_held_the_newest(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    let group = NewGroup {
        name: "club".into(),
        public: true,
        owner: a,
        members: vec![],
    };
    let club = s.create_group(group, 1).expect("group").id;
    needles(s, a, 0, 1);
    let batch: Vec<NewMessage> = (1..4)
        .map(|n| text(club, a, n, &format!("club needle {n}")))
        .collect();
    s.append(&batch).expect("append");
    assert!(s.index_pending(2).expect("index") <= 2);
    s.delete_group(club).expect("delete the group");
    needles(s, a, 10, 1);
    assert_eq!(found(s, &query(a, "needle 10")), vec![2], "just appended");
    index_all(s, 2, 2);
    assert_eq!(found(s, &query(a, "needle")), vec![2, 1], "indexed");
    let edit = NewAction {
        conv: lobby,
        actor: a,
        client_id: cid(100),
        target: 2,
        change: Change::Edit("reworded".into()),
        ts_ms: 9_000,
    };
    assert!(s.act(&edit).expect("edit").is_ok());
    assert_eq!(found(s, &query(a, "REWORDED")), vec![2]);
    assert_eq!(found(s, &query(a, "needle")), vec![1]);
    index_all(s, 2, 2);
    assert_eq!(found(s, &query(a, "REWORDED")), vec![2]);
    assert_eq!(found(s, &query(a, "club")), Vec::<u64>::new());
}

/// Bodies of [`search_ignores_case_alike_before_and_after_indexing`].
const CASED: [&str; 10] = [
    "Привет, МИР",
    "ΑΘΗΝΑ ΚΑΙ ΟΔΟΣ",
    "GROẞE Straße",
    "İstanbul ıslak",
    "ÉCOLE ŸVES",
    "𐐀𐐁𐐂 deseret",
    "ᎠᎡᎢ Cherokee",
    "ᲐᲑᲒ Mtavruli",
    "µ-sigma ſtop",
    "東京都 🎉🎉",
];

/// Non-ASCII case, where backends compare characters differently, in
/// messages searched while pending, partly and fully indexed. Where every
/// backend ignores case alike the hits are given; where they differ
/// (final sigma, `µ`/`ſ` and other variants, capitals that got a
/// lowercase in later Unicode versions, see the SQLite backend's
/// `index_char`), each backend must at least answer the same at every
/// step: a hit must not vanish (or appear) once its message is indexed.
pub fn search_ignores_case_alike_before_and_after_indexing(s: &dyn Store) {
    let a = new_user(s, "a").id;
    let lobby = s.lobby();
    let batch: Vec<NewMessage> = (0u8..)
        .zip(CASED)
        .map(|(n, body)| text(lobby, a, n, body))
        .collect();
    s.append(&batch).expect("append");
    let alike: [(&str, &[u64]); 14] = [
        ("мир", &[1]),
        ("ПРИВ", &[1]),
        ("αθη", &[2]),
        ("ΚΑΙ", &[2]),
        ("groß", &[3]),
        ("STRASSE", &[]),
        ("İst", &[4]),
        ("ist", &[]),
        ("ısl", &[4]),
        ("école", &[5]),
        ("ÿve", &[5]),
        ("𐐨𐐩𐐪", &[6]),
        ("東京都", &[10]),
        ("都 🎉", &[10]),
    ];
    let differing = [
        "ΟΔΟΣ",
        "οδος",
        "δοσ",
        "ꭰꭱꭲ",
        "ᎠᎡᎢ",
        "აბგ",
        "ᲐᲑᲒ",
        "μ-s",
        "µ-s",
        "stop",
        "ſtop",
    ];
    let pending: Vec<Vec<u64>> = differing.iter().map(|n| found(s, &query(a, n))).collect();
    let step = |when: &str| {
        for (needle, hits) in alike {
            assert_eq!(found(s, &query(a, needle)), hits, "{needle:?} {when}");
        }
        for (needle, hits) in differing.iter().zip(&pending) {
            let now = found(s, &query(a, needle));
            assert_eq!(&now, hits, "{needle:?} {when} as when pending");
        }
    };
    step("pending");
    assert!(s.index_pending(5).expect("index") <= 5);
    step("half indexed");
    index_all(s, 5, CASED.len());
    step("indexed");
}
