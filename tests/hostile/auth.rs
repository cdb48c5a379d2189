//! Hostile-load tests: authentication (issue 9 findings 1, 2, 7 and the
//! password bound). A real `natter serve` with the default argon2 cost,
//! raw WebSocket clients from chosen 127/8 source addresses:
//! - a `register` flood keeps RSS bounded (argon2 runs at most one per core,
//!   a full queue is refused at once) and other users are still served;
//! - a login flood with huge and line-forging names leaves a small log
//!   without raw newlines or ESC;
//! - guessing from one address never locks the owner out from another,
//!   nor does guessing spread over many addresses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use natter_api::{
    ApiError, ClientFrame, ErrorCode, PROTOCOL_VERSION, Request, Response, ServerFrame,
    SyncRequest, Target,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::common::{GUARD, ServerProcess, rss_kib};
use crate::support::{self, local, scrape, start_configured};

const PASSWORD: &str = "correct horse battery";

/// A server with default settings plus `server_toml` (a `[server]` table).
fn start(dir: &Path, server_toml: &str) -> ServerProcess {
    start_configured(dir, &format!("[server]\n{server_toml}"), true)
}

/// A bare WebSocket client, one request at a time (events are skipped).
struct Ws {
    socket: WebSocketStream<TcpStream>,
    next_id: u64,
}

impl Ws {
    /// Connects to `ws://http/ws` from source address `from`.
    async fn connect(http: SocketAddr, from: IpAddr) -> Self {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::new(from, 0)).expect("bind source");
        let stream = tokio::time::timeout(GUARD, socket.connect(http))
            .await
            .expect("connect in time")
            .expect("connect");
        let url = format!("ws://{http}/ws");
        let (socket, _) = tokio::time::timeout(GUARD, tokio_tungstenite::client_async(url, stream))
            .await
            .expect("handshake in time")
            .expect("websocket handshake");
        Self { socket, next_id: 0 }
    }

    async fn call(&mut self, body: Request) -> Result<Response, ApiError> {
        self.next_id += 1;
        let id = self.next_id;
        let text = serde_json::to_string(&ClientFrame::Request { id, body }).expect("json");
        self.socket
            .send(WsMessage::text(text))
            .await
            .expect("ws send");
        loop {
            let msg = tokio::time::timeout(GUARD, self.socket.next())
                .await
                .expect("an answer in time")
                .expect("socket open")
                .expect("ws receive");
            let WsMessage::Text(text) = msg else { continue };
            let frame: ServerFrame = serde_json::from_str(text.as_str()).expect("server JSON");
            if let ServerFrame::Response { id: got, result } = frame {
                assert_eq!(got, id, "answers come in order");
                return result;
            }
        }
    }

    async fn register(&mut self, name: &str, password: &str) -> Result<Response, ApiError> {
        let (name, password) = (name.to_owned(), password.to_owned());
        self.call(Request::Register { name, password }).await
    }

    async fn login(&mut self, name: &str, password: &str) -> Result<Response, ApiError> {
        self.call(Request::Login {
            version: PROTOCOL_VERSION,
            name: name.to_owned(),
            password: password.to_owned(),
            sync: SyncRequest {
                cursors: vec![],
                device: None,
            },
        })
        .await
    }
}

/// `retry_after_ms` of a `too_many_attempts` answer, else `None`.
fn too_many(result: &Result<Response, ApiError>) -> Option<u64> {
    match result {
        Err(ApiError {
            code: ErrorCode::TooManyAttempts { retry_after_ms },
            ..
        }) => Some(*retry_after_ms),
        _ => None,
    }
}

/// `retry_after_ms` of any refusal with a wait: `too_many_attempts` (the
/// address's bucket or the hash queue) or `rate_limited` (the connection's
/// own request bucket, which a fast enough flood outruns first).
fn refused(result: &Result<Response, ApiError>) -> Option<u64> {
    match result {
        Err(ApiError {
            code: ErrorCode::RateLimited { retry_after_ms },
            ..
        }) => Some(*retry_after_ms),
        _ => too_many(result),
    }
}

/// The value of metric `name` from `GET /metrics`.
async fn metric(http: SocketAddr, name: &str) -> u64 {
    let text = scrape(http).await;
    let value = support::metric(&text, name);
    value.unwrap_or_else(|| panic!("no metric {name} in:\n{text}")) as u64
}

/// Samples a process's RSS every 20 ms on a thread; the peak in KiB.
struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssPeak {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20)); // sampling period
            }
        });
        Self { stop, peak, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler");
        self.peak.load(Ordering::Relaxed)
    }
}

/// Tallies of a flood's answers.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    ok: u64,
    refused: u64,
    other: u64,
}

impl Tally {
    fn add(&mut self, o: Self) {
        self.ok += o.ok;
        self.refused += o.refused;
        self.other += o.other;
    }
}

/// Registers fresh names on one connection until `end`.
async fn register_until(http: SocketAddr, from: IpAddr, tag: usize, end: Instant) -> Tally {
    let mut ws = Ws::connect(http, from).await;
    let mut tally = Tally::default();
    let mut n = 0;
    while Instant::now() < end {
        n += 1;
        let result = ws.register(&format!("f{tag}_{n}"), PASSWORD).await;
        match (&result, refused(&result)) {
            (Ok(Response::Registered { .. }), _) => tally.ok += 1,
            (_, Some(ms)) => {
                assert!(ms > 0, "retry_after_ms is set");
                tally.refused += 1;
            }
            _ => tally.other += 1,
        }
    }
    tally
}

/// A victim that stays logged in and sends to the lobby until `end`;
/// returns how many sends were answered and the slowest answer.
async fn victim_until(mut ws: Ws, end: Instant) -> (u64, Duration) {
    let (mut sent, mut slowest) = (0, Duration::ZERO);
    while Instant::now() < end {
        let started = Instant::now();
        let result = ws
            .call(Request::Send {
                target: Target::Lobby,
                client_id: uuid::Uuid::new_v4(),
                body: format!("still here {sent}"),
            })
            .await;
        assert!(matches!(result, Ok(Response::Sent(_))), "{result:?}");
        slowest = slowest.max(started.elapsed());
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await; // pacing, not sync
    }
    (sent, slowest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_flood_keeps_memory_bounded_and_others_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let http = server.http.expect("http");
    let mut victim = Ws::connect(http, local(250)).await;
    victim.register("victim", PASSWORD).await.expect("register");
    victim.login("victim", PASSWORD).await.expect("login");
    let rss_before = rss_kib(server.pid());
    let sampler = RssPeak::start(server.pid());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The gate lets `cores` hash and 4 × `cores` wait: more connections than
    // that, each from its own address (its own register bucket, so the hash
    // gate is what stops them), overflow it on any machine; at least 32.
    let spread_n = (5 * cores + 8).clamp(32, 200);
    let end = Instant::now() + Duration::from_secs(4);
    // ...and 16 more from 127.0.0.1 (its bucket stops them).
    let spread: Vec<_> = (0..spread_n)
        .map(|i| tokio::spawn(register_until(http, local(10 + i as u8), i, end)))
        .collect();
    let one: Vec<_> = (spread_n..spread_n + 16)
        .map(|i| tokio::spawn(register_until(http, local(1), i, end)))
        .collect();
    let victim = tokio::spawn(victim_until(victim, end));
    let mut peak_in_flight = 0;
    while Instant::now() < end {
        peak_in_flight = peak_in_flight.max(metric(http, "natter_hashes_in_flight").await);
        tokio::time::sleep(Duration::from_millis(50)).await; // sampling period
    }
    let (mut spread_tally, mut one_tally) = (Tally::default(), Tally::default());
    for t in spread {
        spread_tally.add(t.await.unwrap());
    }
    for t in one {
        one_tally.add(t.await.unwrap());
    }
    let (victim_sent, victim_slowest) = victim.await.unwrap();
    let peak = sampler.finish();
    let queue_refused = metric(http, "natter_hash_refused_total").await;
    let rate_limited = metric(http, "natter_auth_rate_limited_total").await;
    println!(
        "register flood ({} connections, 4 s): RSS {} → peak {} MiB; {spread_n} addresses: {spread_tally:?}; \
         127.0.0.1: {one_tally:?}; hash queue refused {queue_refused}, rate-limited {rate_limited}; \
         hashes in flight ≤ {peak_in_flight}; victim {victim_sent} sends, slowest {victim_slowest:?}",
        spread_n + 16,
        rss_before / 1024,
        peak / 1024,
    );
    let cores = cores as u64;
    // The server's own needs plus one argon2 block (19 MiB) per hashing
    // thread, generously; unbounded hashing reached 5 GB.
    let bound_mib = 120 + 20 * cores;
    assert!(
        peak < bound_mib * 1024,
        "peak RSS {} MiB > {bound_mib}",
        peak / 1024
    );
    assert!(peak_in_flight <= cores, "{peak_in_flight} hashes at once");
    assert!(
        queue_refused > 0,
        "{spread_n} concurrent registrations overflow the queue"
    );
    assert_eq!(spread_tally.other + one_tally.other, 0);
    assert!(one_tally.ok <= 11, "one address: burst 10 (+1 refill)");
    assert!(one_tally.refused > 0 && rate_limited > 0);
    assert!(victim_sent > 0, "the victim was served during the flood");
    // After the flood another user can still register and log in.
    let mut late = Ws::connect(http, local(251)).await;
    late.register("late", PASSWORD)
        .await
        .expect("register after");
    late.login("late", PASSWORD).await.expect("login after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_with_forged_names_leaves_a_small_clean_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let http = server.http.expect("http");
    let names = [
        "a".repeat(150_000),
        "x\n2026-01-01T00:00:00.000000Z  INFO natter_server: login ok user=admin".to_owned(),
        "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mroot".to_owned(),
        format!("{}\n{}", "b".repeat(70_000), "forged line"),
    ];
    let mut answers = std::collections::BTreeMap::<String, u64>::new();
    let mut tasks = Vec::new();
    for a in 0..8 {
        let names = names.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = Ws::connect(http, local(20 + a)).await;
            let mut seen = Vec::new();
            for i in 0..60 {
                let name = &names[(i + a as usize) % names.len()];
                let result = ws.login(name, PASSWORD).await;
                let label = match (&result, too_many(&result)) {
                    (_, Some(_)) => "too_many_attempts".to_owned(),
                    (Err(e), None) => format!("{:?}", e.code),
                    (Ok(r), None) => panic!("a forged name logged in: {r:?}"),
                };
                seen.push(label);
            }
            seen
        }));
    }
    for t in tasks {
        for label in t.await.unwrap() {
            *answers.entry(label).or_default() += 1;
        }
    }
    let log = std::fs::read(&server.log).expect("log");
    let text = String::from_utf8_lossy(&log);
    let lines = text.lines().count();
    println!(
        "login flood (8 addresses × 60 attempts, names up to 150 KB): answers {answers:?}; \
         log {} bytes, {lines} lines",
        log.len()
    );
    assert!(log.len() < 1024 * 1024, "log is {} bytes", log.len());
    assert!(
        !log.contains(&0x1b) && !log.contains(&0x07),
        "raw ESC/BEL in the log"
    );
    for line in text.lines() {
        assert!(
            !line.starts_with("2026-01-01") && !line.starts_with("forged"),
            "forged line: {line}"
        );
        assert!(line.len() < 2000, "a long line: {} bytes", line.len());
    }
    assert!(
        text.contains("x\\n2026-01-01"),
        "failures are logged, escaped"
    );
    assert!(!text.contains(&"a".repeat(100)), "long names are cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_from_one_address_does_not_lock_out_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    // A long first block, so "still throttled" below is not a race.
    let server = start(dir.path(), "[server.throttle]\nbackoff_base_ms = 60000\n");
    let http = server.http.expect("http");
    let mut setup = Ws::connect(http, local(5)).await;
    setup.register("alice", PASSWORD).await.expect("register");
    let mut attacker = Ws::connect(http, local(1)).await;
    let (mut wrong, mut throttled, mut last_retry) = (0, 0, 0);
    for i in 0..30 {
        let result = attacker.login("alice", &format!("guess number {i}")).await;
        match too_many(&result) {
            Some(ms) => (throttled, last_retry) = (throttled + 1, ms),
            None => {
                assert_eq!(result.unwrap_err().code, ErrorCode::BadCredentials);
                wrong += 1;
            }
        }
    }
    let mut owner = Ws::connect(http, local(2)).await;
    let started = Instant::now();
    let owner_login = owner.login("alice", PASSWORD).await;
    let owner_took = started.elapsed();
    let again = attacker.login("alice", PASSWORD).await;
    println!(
        "30 guesses from 127.0.0.1: {wrong} bad_credentials, {throttled} too_many_attempts \
         (last retry_after_ms {last_retry}); owner from 127.0.0.2: {} in {owner_took:?}; \
         right password from 127.0.0.1: {:?}",
        if owner_login.is_ok() {
            "logged in"
        } else {
            "REFUSED"
        },
        again.as_ref().map_err(|e| e.code),
    );
    assert!(throttled >= 20, "the attacker is throttled early");
    assert!(last_retry > 0);
    assert!(
        matches!(owner_login, Ok(Response::LoggedIn { .. })),
        "{owner_login:?}"
    );
    assert!(too_many(&again).is_some_and(|ms| ms > 0), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_spread_over_many_addresses_does_not_lock_out_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    // A small account allowance keeps the number of (slow) hashes down; the
    // rule is the same at the default of 20.
    let toml = "[server.throttle]\naccount_failures_per_minute = 3\n";
    let server = start(dir.path(), toml);
    let http = server.http.expect("http");
    let mut setup = Ws::connect(http, local(5)).await;
    setup.register("alice", PASSWORD).await.expect("register");
    // 5 addresses, one wrong guess each: over the account's 3 per minute,
    // so the account is guarded. A fresh address's first guess is still
    // checked (and fails).
    let mut guessers = Vec::new();
    for a in 0..5u8 {
        let mut ws = Ws::connect(http, IpAddr::V4(Ipv4Addr::new(127, 0, 1, a))).await;
        let r = ws.login("alice", &format!("guess {a}")).await;
        assert_eq!(r.unwrap_err().code, ErrorCode::BadCredentials);
        guessers.push(ws);
    }
    // A guessing address is refused even with the right password...
    let refused = guessers[0].login("alice", PASSWORD).await;
    // ...the owner from an address without failures is not.
    let mut owner = Ws::connect(http, local(2)).await;
    let owner_login = owner.login("alice", PASSWORD).await;
    println!(
        "5 guesses from 5 addresses: guesser with the right password → {:?}; owner from a clean address → {}",
        refused.as_ref().map_err(|e| e.code),
        if owner_login.is_ok() {
            "logged in"
        } else {
            "REFUSED"
        },
    );
    assert!(too_many(&refused).is_some(), "{refused:?}");
    assert!(
        matches!(owner_login, Ok(Response::LoggedIn { .. })),
        "{owner_login:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_bounded_in_length() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let http = server.http.expect("http");
    let mut ws = Ws::connect(http, local(1)).await;
    let huge = "p".repeat(100_000);
    let max = "p".repeat(natter_api::MAX_PASSWORD_LEN);
    let too_long = ws.register("bob", &huge).await.unwrap_err();
    assert_eq!(too_long.code, ErrorCode::PasswordTooLong, "{too_long}");
    ws.register("bob", &max).await.expect("1024 bytes is fine");
    let login = ws.login("bob", &huge).await.unwrap_err();
    assert_eq!(login.code, ErrorCode::BadCredentials);
    ws.login("bob", &max).await.expect("login with 1024 bytes");
    let change = ws
        .call(Request::ChangePassword {
            old_password: max.clone(),
            new_password: huge.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(change.code, ErrorCode::PasswordTooLong);
    println!("passwords: register 100 000 bytes → {too_long}; login → {login}");
}
