//! SQLite-only behaviour: durability across close + reopen, concurrent reads.

use std::sync::Arc;
use std::thread;

use natter_store::conformance::{fill, new_user, seqs, text};
use natter_store::prelude::*;
use natter_store::{Anchor, Cursor, NewGroup, Order, Page, Role, SqliteStore};
use tempfile::TempDir;

const ALL: Page = Page {
    anchor: Anchor::Latest,
    limit: 500,
    order: Order::OldestFirst,
};

#[test]
fn data_survives_close_and_reopen() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("natter.db");
    let s = SqliteStore::open(&path).unwrap();
    let a = new_user(&s, "Alice").id;
    let b = new_user(&s, "bob").id;
    natter_store::conformance::new_session(&s, 7, a, 1);
    let dm = s.direct(a, b, 2).unwrap();
    let group = NewGroup {
        name: "Devs".into(),
        public: true,
        owner: a,
        members: vec![b],
    };
    let g = s.create_group(group, 3).unwrap();
    s.remove_member(g.id, b, 0).unwrap();
    fill(&s, dm.id, a, 1, 5);
    s.set_delivered(b, dm.id, 4).unwrap();
    s.set_read(b, dm.id, 2).unwrap();
    let before = (
        s.list_users().unwrap(),
        s.history(dm.id, ALL).unwrap(),
        s.member(g.id, b).unwrap(),
    );
    drop(s);

    let s = SqliteStore::open(&path).unwrap();
    let after = (
        s.list_users().unwrap(),
        s.history(dm.id, ALL).unwrap(),
        s.member(g.id, b).unwrap(),
    );
    assert_eq!(after, before);
    assert_eq!(s.session_user([7; 32]).unwrap(), Some(a));
    assert_eq!(s.direct(b, a, 9).unwrap(), dm);
    assert_eq!(s.group_by_name("devs").unwrap(), Some(g));
    let cursor = Cursor {
        conv: dm.id,
        delivered: 4,
        read: 2,
    };
    assert_eq!(
        s.cursors_of(b).unwrap(),
        vec![
            Cursor {
                conv: s.lobby(),
                delivered: 0,
                read: 0
            },
            cursor
        ]
    );
    let mut again = text(dm.id, a, 0, "again");
    again.client_id = before.1[2].client_id;
    let repeat = s.append(&[again, text(dm.id, b, 9, "new")]).unwrap();
    assert_eq!(repeat[0].message, before.1[2]);
    assert!(repeat[0].duplicate, "idempotency survives a restart");
    assert_eq!(repeat[1].message.seq, 6, "seq continues after a restart");
}

#[test]
fn reopening_twice_keeps_the_schema() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("natter.db");
    drop(SqliteStore::open(&path).unwrap());
    drop(SqliteStore::open(&path).unwrap());
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(
        s.conversation(s.lobby()).unwrap().unwrap().name.as_deref(),
        Some("lobby")
    );
    assert_eq!(s.list_users().unwrap(), vec![]);
}

/// A writer thread appends while this thread reads: every read sees a contiguous
/// prefix of the log that never shrinks.
#[test]
fn reads_run_concurrently_with_writes() {
    let dir = TempDir::new().unwrap();
    let s = Arc::new(SqliteStore::open(dir.path().join("natter.db")).unwrap());
    let a = new_user(&*s, "a").id;
    let lobby = s.lobby();
    let writer = {
        let s = Arc::clone(&s);
        thread::spawn(move || (0..40).for_each(|i| fill(&*s, lobby, a, i * 5, 5)))
    };
    let mut last = 0;
    while last < 200 {
        let got = s.history(lobby, ALL).unwrap();
        assert_eq!(seqs(&got), (1..=got.len() as u64).collect::<Vec<_>>());
        assert!(got.len() as u64 >= last, "log never shrinks");
        last = got.len() as u64;
        assert_eq!(
            s.member(lobby, a).unwrap().map(|m| m.role),
            Some(Role::Member)
        );
    }
    writer.join().unwrap();
    assert_eq!(s.last_seq(lobby).unwrap(), 200);
}

#[test]
fn a_store_is_usable_as_a_trait_object() {
    let s: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let a = s.create_user("a", "h", 1).unwrap();
    assert_eq!(s.conversations_of(a.id).unwrap().len(), 1);
}
