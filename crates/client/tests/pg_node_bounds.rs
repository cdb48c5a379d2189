//! Cluster operations (issue 11): what clients and anyone who reaches a
//! node's HTTP port can make its PostgreSQL store do. Thousands of
//! concurrent `/healthz` requests share one store probe per second, so the
//! store's bounded job queue never fills and a chat client still gets its
//! ✓. With the queue full, a request is refused at once as `rate_limited`
//! (retry shortly), and everything queued completes. A store whose queue
//! stays full (nothing commits) is reported down by `/healthz`.
//!
//! Needs the PostgreSQL server binaries; skipped without them unless
//! `NATTER_REQUIRE_CLUSTER_TESTS=1`.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use natter_api::{Anchor, ConversationId, ErrorCode, HistoryQuery, Order, Target};
use natter_server::{Server, ServerConfig};
use natter_store::pg_harness::TestPostgres;
use natter_store::{PgStore, PoolOptions, Store, StoreError};
use support::{GUARD, MemoryDialer, PASSWORD, connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// `/healthz` requests in the flood.
const FLOOD: usize = 2000;

/// Of which at most this many are in flight at once (two sockets each: a
/// stock soft limit of 1024 open files must do).
const IN_FLIGHT: usize = 400;

/// A small pool, so a flood that reached the store would fill its queue.
const POOL: PoolOptions = PoolOptions {
    connections: 2,
    queue: 16,
};

/// A node on PostgreSQL (database `url`, pool `pool`) with its HTTP door
/// on a loopback port.
async fn node(url: String, pool: PoolOptions) -> (Server, Arc<dyn Store>, SocketAddr) {
    let store = tokio::task::spawn_blocking(move || PgStore::connect_with(&url, pool));
    let store: Arc<dyn Store> = Arc::new(store.await.expect("task").expect("PgStore"));
    let mut config = ServerConfig::for_tests();
    config.http.max_connections_per_addr = FLOOD * 2;
    config.throttle.register_burst = 1e9;
    let server = Server::new(store.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
    let addr = listener.local_addr().expect("http addr");
    let serve = natter_server::serve_http(listener, server.clone(), None, std::future::pending());
    tokio::spawn(serve);
    (server, store, addr)
}

/// `GET path` on a new connection: status code and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    (status.unwrap_or(0), body.to_owned())
}

/// The value of metric `name` in a Prometheus text body.
fn metric(text: &str, name: &str) -> u64 {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")));
    let value = line.unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"));
    value.trim().parse().expect("a number")
}

/// Registers and logs in `name`, waiting for the sync.
async fn user(server: &Server, name: &str) -> natter_client::Client {
    let (client, mut events) = connect(MemoryDialer::new(server.clone())).await;
    client.register(name, PASSWORD).await.expect("register");
    client.login(name, PASSWORD).await.expect("login");
    events.sync().await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthz_flood_shares_one_probe_and_chat_still_gets_its_tick() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let (server, store, http) = node(pg.url_for_new_db(), POOL).await;
    let alice = user(&server, "alice").await;
    user(&server, "bob").await;
    let started = Instant::now();
    let mut flood = JoinSet::new();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    for _ in 0..FLOOD {
        let in_flight = Arc::clone(&in_flight);
        flood.spawn(async move {
            let _place = in_flight.acquire_owned().await.expect("semaphore open");
            get(http, "/healthz").await
        });
    }
    let mut sent = alice
        .send(Target::User("bob".into()), "during the flood")
        .await;
    let tick = tokio::time::timeout(GUARD, sent.stored()).await;
    assert!(matches!(tick, Ok(Ok(_))), "✓ during the flood: {tick:?}");
    let answers = tokio::time::timeout(GUARD, flood.join_all()).await;
    let answers = answers.expect("every /healthz answered");
    let elapsed = started.elapsed();
    let ok = answers
        .iter()
        .filter(|(s, b)| *s == 200 && b == "ok")
        .count();
    assert_eq!(ok, FLOOD, "every /healthz says ok");

    let queue = store.queue_stats().expect("PostgreSQL has a queue");
    assert_eq!(queue.refused, 0, "no store call refused: {queue:?}");
    assert!(queue.peak <= POOL.queue, "{queue:?}");
    let (_, text) = get(http, "/metrics").await;
    assert_eq!(metric(&text, "natter_store_busy_total"), 0);
    assert_eq!(metric(&text, "natter_store_queue_capacity"), 16);
    assert!(metric(&text, "natter_store_queued_peak") <= 16);
    // One store read per second at most (the answer is shared meanwhile).
    let reads = metric(&text, "natter_health_store_reads_total");
    assert!(
        reads <= elapsed.as_secs() + 2,
        "{reads} store reads for {FLOOD} requests in {elapsed:?}"
    );
}

/// The first page of `conv`'s history.
fn first_page(conv: ConversationId) -> HistoryQuery {
    HistoryQuery {
        conv,
        anchor: Anchor::After(0),
        limit: 10,
        order: Order::OldestFirst,
    }
}

/// Polls `ready` until it holds (a failure after [`GUARD`]).
async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let give_up = Instant::now() + GUARD;
    while !ready() {
        assert!(Instant::now() < give_up, "gave up waiting: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await; // polling, bounded by GUARD
    }
}

/// A session holding `LOCK TABLE messages` (the store's one connection
/// then waits on it), on its own thread: the sync client must not run
/// inside the test's runtime.
fn lock_messages(url: String) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("lock session");
        let mut tx = client.transaction().expect("begin");
        tx.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE", &[])
            .expect("lock messages");
        locked.send(()).expect("test waiting");
        let _ = released.recv();
        tx.rollback().expect("unlock");
    });
    is_locked.recv_timeout(GUARD).expect("messages locked");
    (release, holder)
}

/// Clients reading history while the store's one connection is blocked.
const READERS: usize = 10;

/// Waits until a session waits for PostgreSQL's lock on `messages`
/// (polling on one admin connection, a failure after [`GUARD`]).
async fn wait_for_lock_waiter(url: &str) {
    let url = url.to_owned();
    let waited = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("admin");
        let sql = "SELECT count(*) FROM pg_locks \
                   WHERE NOT granted AND relation = 'messages'::regclass";
        let give_up = Instant::now() + GUARD;
        while client
            .query_one(sql, &[])
            .expect("pg_locks")
            .get::<_, i64>(0)
            == 0
        {
            assert!(Instant::now() < give_up, "nothing waits on the lock");
            std::thread::sleep(std::time::Duration::from_millis(5)); // polling, bounded by GUARD
        }
    });
    waited.await.expect("admin task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_queue_answers_rate_limited_and_the_queued_work_completes() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    let tiny = PoolOptions {
        connections: 1,
        queue: 4,
    };
    let (server, store, _) = node(url.clone(), tiny).await;
    let alice = user(&server, "alice").await;
    let mut readers = Vec::new();
    for i in 0..READERS {
        readers.push(user(&server, &format!("reader{i}")).await);
    }
    let mut first = alice.send(Target::Lobby, "before").await;
    let lobby = first.stored().await.expect("first ✓").conv;

    // The writer's commit takes the one connection and waits on the lock;
    // of the history reads four may wait in the queue, the rest are refused.
    let (release, holder) = lock_messages(url.clone());
    let mut blocked = alice.send(Target::Lobby, "while locked").await;
    wait_for_lock_waiter(&url).await;
    // The lock is released once six reads have been answered: while it is
    // held only a refusal answers one. (Counting the store's refusals
    // instead let another client-lane call, refused meanwhile, stand in
    // for a read and release it early.)
    let returned = std::sync::atomic::AtomicUsize::new(0);
    let reads = readers.iter().map(|r| async {
        let out = r.history(first_page(lobby)).await;
        returned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        out
    });
    let reads = futures_util::future::join_all(reads);
    let released = async {
        let enough = || returned.load(std::sync::atomic::Ordering::Relaxed) >= READERS - 4;
        wait_until("refused reads", enough).await;
        release.send(()).expect("lock holder");
    };
    let both = tokio::time::timeout(GUARD, async { tokio::join!(reads, released) });
    let (results, ()) = both.await.expect("every read answered");
    holder.join().expect("lock holder thread");
    let busy = ErrorCode::RateLimited {
        retry_after_ms: 200,
    };
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.code() == Some(busy)));
    assert!(refused.count() >= READERS - 4, "{results:?}");
    let answered = results.iter().filter_map(|r| r.as_ref().ok());
    assert!(answered.flatten().all(|m| m.conv == lobby));
    let tick = tokio::time::timeout(GUARD, blocked.stored()).await;
    assert!(
        matches!(tick, Ok(Ok(_))),
        "✓ once the store is free: {tick:?}"
    );
    // The store serves reads again: other sessions' calls queued after the
    // release may still fill the four places for a moment, and a refusal
    // says "retry in 200 ms", which a client does (within GUARD).
    let give_up = Instant::now() + GUARD;
    let page = loop {
        match readers[0].history(first_page(lobby)).await {
            Err(e) if e.code() == Some(busy) && Instant::now() < give_up => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await; // retry_after_ms
            }
            out => break out.expect("read again"),
        }
    };
    assert!(page.iter().any(|m| m.body == "while locked"), "{page:?}");
    let queue = store.queue_stats().expect("a queue");
    assert!(queue.refused >= READERS as u64 - 4, "{queue:?}");
    // Four client reads, plus one place the writer's calls may reserve.
    assert!(queue.peak <= 4 + 1, "{queue:?}");
}

/// `GET /healthz` until its body is `what` (a failure after [`GUARD`]).
async fn wait_for_health(http: SocketAddr, what: impl Fn(&str) -> bool) -> (u16, String) {
    let give_up = Instant::now() + GUARD;
    loop {
        let (status, body) = get(http, "/healthz").await;
        if what(&body) {
            return (status, body);
        }
        assert!(
            Instant::now() < give_up,
            "gave up waiting, /healthz: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await; // polling, bounded by GUARD
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_the_store_down_while_its_queue_stays_full() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    let tiny = PoolOptions {
        connections: 1,
        queue: 4,
    };
    let (_server, store, http) = node(url.clone(), tiny).await;
    assert_eq!(get(http, "/healthz").await, (200, "ok".to_owned()));
    let lobby = store.lobby();
    let writer = Arc::clone(&store);
    let first = tokio::task::spawn_blocking(move || {
        let alice = writer.create_user("alice", "h", 1)?.id;
        let message = natter_store::NewMessage {
            conv: lobby,
            sender: Some(alice),
            client_id: [1; 16],
            kind: natter_store::MsgKind::Text,
            body: "first".into(),
            ts_ms: 2,
        };
        writer.append(&[message])
    });
    first.await.expect("append task").expect("a first message");

    // The one connection waits on the lock; writer-lane reads (gap fills)
    // fill the
    // queue and its reserve (4 + 1), so every probe is refused as busy.
    let (release, holder) = lock_messages(url.clone());
    let stuck_read = || {
        let store = Arc::clone(&store);
        tokio::task::spawn_blocking(move || store.range(lobby, 0, 10, 10))
    };
    let mut stuck = vec![stuck_read()];
    wait_for_lock_waiter(&url).await;
    // The connection stays taken: top the queue up until it is full.
    let give_up = Instant::now() + GUARD;
    while store.queue_stats().map_or(0, |q| q.queued) < 4 + 1 {
        assert!(Instant::now() < give_up, "queue not full");
        stuck.push(stuck_read());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling, bounded by GUARD
    }
    let (status, body) = wait_for_health(http, |b| b.contains("store: down")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("busy"), "{body}");

    release.send(()).expect("lock holder");
    holder.join().expect("lock holder thread");
    for read in stuck {
        // Ours, unless a call of the server's own took a place first.
        let read = read.await.expect("reader task");
        assert!(matches!(read, Ok(_) | Err(StoreError::Busy)), "{read:?}");
    }
    let healthy = wait_for_health(http, |b| b == "ok").await;
    assert_eq!(healthy, (200, "ok".to_owned()));
}
