//! The PostgreSQL pool's bounds (issue 11): with its connections busy and
//! its queue full, a call fails at once with `StoreError::Busy` (nothing
//! done) instead of piling up; the queued calls complete once a connection
//! is free. Connecting tells "unreachable, try again"
//! (`StoreError::Unavailable`) from "a configuration to fix".
//! Skipped (with a note) without PostgreSQL unless
//! `NATTER_REQUIRE_CLUSTER_TESTS=1`.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use natter_store::pg_harness::TestPostgres;
use natter_store::prelude::*;
use natter_store::{MsgKind, NewMessage, PgStore, PoolOptions, QueueStats, StoreError};
use postgres::NoTls;

/// Failure guard for what a test waits for.
const GUARD: Duration = Duration::from_secs(20);

/// Polls `ready` until it holds (a failure after [`GUARD`]).
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let give_up = Instant::now() + GUARD;
    while !ready() {
        assert!(Instant::now() < give_up, "gave up waiting: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Calls on the `users` table waiting for PostgreSQL's lock queue.
fn lock_waiters(admin: &mut postgres::Client) -> i64 {
    let sql = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'users'::regclass";
    admin.query_one(sql, &[]).expect("pg_locks").get(0)
}

#[test]
fn a_full_queue_refuses_at_once_and_the_queued_calls_complete() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    let options = PoolOptions {
        connections: 1,
        queue: 4,
    };
    let store = Arc::new(PgStore::connect_with(&url, options).expect("connect"));
    let alice = store.create_user("alice", "h", 1).expect("alice").id;
    let mut admin = postgres::Client::connect(&url, NoTls).expect("admin connection");
    let mut locker = postgres::Client::connect(&url, NoTls).expect("locking connection");
    let mut lock = locker.transaction().expect("begin");
    lock.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE", &[])
        .expect("lock users");
    let read = |store: &Arc<PgStore>| {
        let store = Arc::clone(store);
        thread::spawn(move || store.user(alice))
    };
    // The one connection waits on the lock; then four calls fill the queue.
    let mut readers = vec![read(&store)];
    wait_until("the first read waits on the lock", || {
        lock_waiters(&mut admin) == 1
    });
    readers.extend((0..4).map(|_| read(&store)));
    let stats = || store.queue_stats().expect("a queue");
    wait_until("four calls queued", || stats().queued == 4);

    assert_eq!(store.user(alice), Err(StoreError::Busy), "refused at once");
    lock.rollback().expect("unlock");
    for reader in readers {
        let user = reader.join().expect("reader thread").expect("read");
        assert_eq!(user.map(|u| u.id), Some(alice));
    }
    let expected = QueueStats {
        queued: 0,
        peak: 4,
        capacity: 4,
        refused: 1,
    };
    assert_eq!(stats(), expected);
    assert!(store.user(alice).expect("read after").is_some());
}

#[test]
fn a_queue_full_of_client_reads_still_admits_appends_up_to_the_reserve() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    let options = PoolOptions {
        connections: 1,
        queue: 4,
    };
    let store = Arc::new(PgStore::connect_with(&url, options).expect("connect"));
    let alice = store.create_user("alice", "h", 1).expect("alice").id;
    let lobby = store.lobby();
    let mut admin = postgres::Client::connect(&url, NoTls).expect("admin connection");
    let mut locker = postgres::Client::connect(&url, NoTls).expect("locking connection");
    let mut lock = locker.transaction().expect("begin");
    lock.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE", &[])
        .expect("lock users");
    let mut readers = vec![{
        let store = Arc::clone(&store);
        thread::spawn(move || store.user(alice))
    }];
    wait_until("the first read waits on the lock", || {
        lock_waiters(&mut admin) == 1
    });
    readers.extend((0..4).map(|_| {
        let store = Arc::clone(&store);
        thread::spawn(move || store.user(alice))
    }));
    let stats = || store.queue_stats().expect("a queue");
    wait_until("four reads queued", || stats().queued == 4);
    assert_eq!(store.user(alice), Err(StoreError::Busy), "reads are full");

    // The writer's reserve for a queue of 4 is one place.
    let message = |n: u8| NewMessage {
        conv: lobby,
        sender: Some(alice),
        client_id: [n; 16],
        kind: MsgKind::Text,
        body: format!("m{n}"),
        ts_ms: 2,
    };
    let append = {
        let store = Arc::clone(&store);
        let message = message(1);
        thread::spawn(move || store.append(&[message]))
    };
    wait_until("the append queued beyond the bound", || stats().queued == 5);
    let refused = store.append(&[message(2)]);
    assert!(
        matches!(refused, Err(StoreError::Busy)),
        "the reserve is bounded too: {refused:?}"
    );
    lock.rollback().expect("unlock");
    let appended = append.join().expect("append thread").expect("append");
    assert_eq!(appended.len(), 1);
    for reader in readers {
        let user = reader.join().expect("reader thread").expect("read");
        assert_eq!(user.map(|u| u.id), Some(alice));
    }
    assert_eq!(store.last_seq(lobby), Ok(appended[0].message.seq));
    assert_eq!(stats().refused, 2);
}

#[test]
fn tls_required_without_tls_is_a_configuration_error() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = format!("{}?sslmode=require", pg.url("postgres"));
    match PgStore::connect(&url).err() {
        Some(StoreError::Backend(why)) => assert!(why.contains("TLS"), "{why}"),
        other => panic!("expected a configuration error: {other:?}"),
    }
}

#[test]
fn unreachable_is_worth_retrying_and_a_missing_database_is_not() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        listener.local_addr().expect("addr").port()
    };
    let nobody = format!("postgres://natter@127.0.0.1:{port}/natter");
    let refused = PgStore::connect(&nobody).err();
    assert!(
        matches!(refused, Some(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    let missing = PgStore::connect(&pg.url("no_such_database")).err();
    match missing {
        Some(StoreError::Backend(why)) => assert!(why.contains("does not exist"), "{why}"),
        other => panic!("expected a configuration error: {other:?}"),
    }
}
