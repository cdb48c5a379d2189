//! Abuse that is not about volume alone: groups forced on a victim,
//! guessing that locks the owner out, half-open HTTP connections.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::task::JoinSet;

use super::probe::{Tally, VICTIM_ADDR, fd_count, nofile_limits};
use super::wire::{self, CALL_WAIT, Conn, PASSWORD, Reply, req};
use super::{ATTACKER_ADDR, Lab, Row};

/// `create_group` attempts with the victim as initial member.
const GROUP_ATTEMPTS: u64 = 1000;
/// Connections (sessions of one attacker account) making them.
const GROUP_CONNS: usize = 8;
/// Guard on the group attack.
const GROUP_LIMIT: Duration = Duration::from_secs(40);

/// One attacker creates groups with the victim as initial member and
/// leaves each at once (so its own 100-group cap never binds): how many
/// groups the victim ends up in, and whether its lists still load.
pub(crate) async fn group_add() -> anyhow::Result<Row> {
    let mut lab = Lab::start().await?;
    let http = lab.http;
    wire::account(http, "mallory").await?;
    let mut conns = Vec::new();
    for _ in 0..GROUP_CONNS {
        conns.push(wire::logged_in(http, ATTACKER_ADDR, "mallory").await?);
    }
    lab.baseline_then_attack().await;
    let next = Arc::new(AtomicU64::new(0));
    let (created, left) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
    let mut workers = JoinSet::new();
    for conn in conns {
        let (next, created, left) = (next.clone(), created.clone(), left.clone());
        workers.spawn(group_worker(conn, next, created, left));
    }
    let all_done = async { while workers.join_next().await.is_some() {} };
    let finished = tokio::time::timeout(GROUP_LIMIT, all_done).await.is_ok();
    let secs = lab.elapsed();
    lab.attack_over().await;
    let lists = victim_lists(http).await;
    let figure = format!(
        "{} create_group in {secs:.0} s{}: {}; leave_group: {}; {lists}; the victim's live \
         session read {:.0} MB meanwhile",
        created.total(),
        if finished { "" } else { " (guard hit)" },
        created.summary(),
        left.summary(),
        lab.victim_read_mb()
    );
    Ok(lab
        .finish("group add (victim as initial member)", figure)
        .await)
}

/// Sends `body`, waiting out `rate_limited` (both builds limit writes per
/// connection; the attacker respects that and uses more connections).
async fn patient_call(conn: &Conn, body: &Value) -> Reply {
    loop {
        let reply = conn.call(body.clone(), CALL_WAIT).await;
        match (reply.label().as_str(), reply.retry_after()) {
            ("rate_limited", Some(wait)) => tokio::time::sleep(wait).await,
            _ => return reply,
        }
    }
}

async fn group_worker(conn: Conn, next: Arc<AtomicU64>, created: Arc<Tally>, left: Arc<Tally>) {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= GROUP_ATTEMPTS {
            return;
        }
        let reply = patient_call(&conn, &req::create_group(&format!("m{i}"), &["victim"])).await;
        created.add(reply.label());
        let conv = match &reply {
            Reply::Ok(v) => v["group"]["id"].as_u64(),
            Reply::Closed => return,
            _ => None,
        };
        if let Some(conv) = conv {
            left.add(patient_call(&conn, &req::leave_group(conv)).await.label());
        }
    }
}

/// The victim's view, from a second session: `my_groups` and `conversations`.
async fn victim_lists(http: SocketAddr) -> String {
    let conn = match wire::logged_in(http, VICTIM_ADDR, "victim").await {
        Ok(conn) => conn,
        Err(e) => return format!("victim could not log in again: {e}"),
    };
    let groups = match conn.call(req::unit("my_groups"), CALL_WAIT).await {
        Reply::Ok(v) => v["groups"].as_array().map_or(0, Vec::len).to_string(),
        other => other.label(),
    };
    let convs = match conn.call(req::unit("conversations"), CALL_WAIT).await {
        Reply::Ok(v) => {
            let n = v["conversations"].as_array().map_or(0, Vec::len);
            format!(
                "{n} conversations, {} KB of JSON",
                v.to_string().len() / 1000
            )
        }
        other => other.label(),
    };
    format!("victim is in **{groups} groups**; its conversation list: {convs}")
}

/// Wrong passwords before the owner tries, and the owner's tries.
const GUESSES: usize = 25;
const OWNER_TRIES: usize = 20;
/// The guesser's pace while the owner tries, unless told to wait longer.
const GUESS_PERIOD: Duration = Duration::from_millis(100);
/// The longest `retry_after` the guesser waits out.
const GUESS_WAIT_MAX: Duration = Duration::from_secs(10);

/// 25 wrong passwords for `alice` from 127.0.0.1, then 20 logins with the
/// right password from 127.0.0.2, one every 500 ms, while the guesser goes
/// on: it waits out each `retry_after` (so its next guess lands as the
/// block expires) and otherwise guesses every 100 ms. How many of the
/// owner's logins succeed.
pub(crate) async fn lockout() -> anyhow::Result<Row> {
    let mut lab = Lab::start().await?;
    let http = lab.http;
    wire::account(http, "alice").await?;
    lab.baseline_then_attack().await;
    let (first, later) = (Tally::default(), Arc::new(Tally::default()));
    let mut guesser = None;
    for _ in 0..GUESSES {
        guess(http, &mut guesser, &first).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (s, l) = (stop.clone(), later.clone());
    let going_on = tokio::spawn(async move {
        while !s.load(Ordering::Relaxed) {
            let wait = guess(http, &mut guesser, &l).await;
            tokio::time::sleep(wait.map_or(GUESS_PERIOD, |w| w.min(GUESS_WAIT_MAX))).await;
        }
    });
    let owner = Tally::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    for _ in 0..OWNER_TRIES {
        tick.tick().await;
        owner.add(match Conn::connect(http, VICTIM_ADDR).await {
            Ok(conn) => conn.login("alice", PASSWORD).await.label(),
            Err(_) => "connect failed".into(),
        });
    }
    stop.store(true, Ordering::Relaxed);
    going_on.abort();
    lab.attack_over().await;
    let figure = format!(
        "right password from another address: **{}/{OWNER_TRIES}** ({}); the 25 guesses: {}; \
         guesses meanwhile: {}",
        owner.get("ok"),
        owner.summary(),
        first.summary(),
        later.summary()
    );
    Ok(lab
        .finish("lockout (25 wrong passwords, then the owner)", figure)
        .await)
}

/// One wrong-password login for `alice` from the attacker's address;
/// returns the `retry_after` of the answer, if any.
async fn guess(http: SocketAddr, conn: &mut Option<Conn>, tally: &Tally) -> Option<Duration> {
    if conn.is_none() {
        *conn = Conn::connect(http, ATTACKER_ADDR).await.ok();
    }
    let Some(c) = conn.as_ref() else {
        tally.add("connect failed");
        return None;
    };
    let reply = c.login("alice", "wrong password").await;
    tally.add(reply.label());
    if matches!(reply, Reply::Closed) {
        *conn = None;
    }
    reply.retry_after()
}

/// How long the half-open connections are held once opened.
const HOLD: Duration = Duration::from_secs(10);
/// Longest the opening phase may take.
const OPENING: Duration = Duration::from_secs(30);
/// Connections opened at once.
const OPEN_BATCH: u64 = 500;

/// Half-open HTTP connections (request headers never finished) from one
/// address or 64 (`spread`), 1 000 more than the server's descriptor limit:
/// does `/healthz` answer (from another address), how many descriptors the
/// server holds, and how many of the connections it closes. This process
/// may not raise its own limit, so the server's is lowered (`prlimit`) to
/// leave room: 3 000 below this process's.
pub(crate) async fn half_open(spread: bool) -> anyhow::Result<Row> {
    let mut lab = Lab::start().await?;
    let (http, pid) = (lab.http, lab.pid());
    let (own, _) = nofile_limits("self").unwrap_or((1024, 1024));
    let server_fds = set_nofile(pid, own.saturating_sub(3000).max(256))?;
    let n = server_fds + 1000;
    lab.baseline_then_attack().await;
    let probes = Arc::new(Probes::default());
    let prober = tokio::spawn(probe_loop(http, pid, probes.clone()));
    let held = open_half(http, n, spread).await;
    let opened_in = lab.elapsed();
    probes.holding.store(true, Ordering::Relaxed);
    tokio::time::sleep(HOLD).await;
    let (closed, answered) = closed_by_server(&held);
    probes.stop.store(true, Ordering::Relaxed);
    let _ = prober.await;
    let opened = held.len();
    drop(held);
    lab.attack_over().await;
    let emfile = std::fs::read_to_string(lab.log()).unwrap_or_default();
    let emfile = emfile.matches("Too many open files").count();
    let figure = format!(
        "{opened} of {n} opened in {opened_in:.0} s (server fd limit {server_fds}); /healthz \
         answered {}/{} probes while opening, **{}/{}** while holding them {} s; server fds \
         peak {}; closed by the server {closed}, answered {answered}; \"Too many open \
         files\" in its log: {emfile}",
        probes.opening.get("ok"),
        probes.opening.total(),
        probes.hold.get("ok"),
        probes.hold.total(),
        HOLD.as_secs(),
        probes.peak_fds.load(Ordering::Relaxed),
    );
    let name = match spread {
        true => "half-open HTTP (64 addresses)",
        false => "half-open HTTP (1 address)",
    };
    Ok(lab.finish(name, figure).await)
}

/// Sets the soft limit on open files of process `pid` (lowering needs no
/// privilege); returns the limit now in force.
fn set_nofile(pid: u32, soft: u64) -> anyhow::Result<u64> {
    let (_, hard) = nofile_limits(&pid.to_string()).unwrap_or((soft, soft));
    let soft = soft.min(hard);
    let status = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={soft}:{hard}"),
        ])
        .status()?;
    anyhow::ensure!(status.success(), "prlimit failed: {status}");
    let (now, _) = nofile_limits(&pid.to_string()).unwrap_or_default();
    Ok(now)
}

/// What the prober saw: `/healthz` while the connections were being
/// opened and while they were held, and the server's peak descriptors.
#[derive(Default)]
struct Probes {
    stop: AtomicBool,
    holding: AtomicBool,
    opening: Tally,
    hold: Tally,
    peak_fds: AtomicUsize,
}

/// Every 500 ms: `/healthz` from the victim's address (2 s to answer),
/// and the server's descriptor count.
async fn probe_loop(http: SocketAddr, pid: u32, probes: Arc<Probes>) {
    while !probes.stop.load(Ordering::Relaxed) {
        let answered = tokio::time::timeout(Duration::from_secs(2), healthz(http)).await;
        let tally = match probes.holding.load(Ordering::Relaxed) {
            true => &probes.hold,
            false => &probes.opening,
        };
        tally.add(match answered {
            Ok(Ok(true)) => "ok",
            _ => "no answer",
        });
        probes.peak_fds.fetch_max(fd_count(pid), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn healthz(http: SocketAddr) -> anyhow::Result<bool> {
    let mut stream = wire::tcp_from(http, VICTIM_ADDR).await?;
    let request = "GET /healthz HTTP/1.1\r\nHost: natter\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(answer.starts_with(b"HTTP/1.1 200"))
}

/// Opens up to `n` connections, [`OPEN_BATCH`] in flight, each sending
/// the start of a request and never its end; stops early after
/// [`OPEN_BATCH`] failures in a row or after [`OPENING`].
async fn open_half(http: SocketAddr, n: u64, spread: bool) -> Vec<std::net::TcpStream> {
    let started = Instant::now();
    let (mut held, mut failed_in_a_row) = (Vec::new(), 0);
    let mut opening = JoinSet::new();
    let mut i = 0u64;
    loop {
        let go_on = started.elapsed() < OPENING && failed_in_a_row < OPEN_BATCH;
        while go_on && i < n && (opening.len() as u64) < OPEN_BATCH {
            i += 1;
            let from = match spread {
                true => IpAddr::V4(Ipv4Addr::new(127, 0, 2, (i % 64) as u8 + 1)),
                false => ATTACKER_ADDR,
            };
            opening.spawn(half_request(http, from));
        }
        match opening.join_next().await {
            Some(Ok(Ok(stream))) => {
                held.push(stream);
                failed_in_a_row = 0;
            }
            Some(_) => failed_in_a_row += 1,
            None => return held,
        }
    }
}

async fn half_request(http: SocketAddr, from: IpAddr) -> anyhow::Result<std::net::TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let connect = socket.connect(http);
    let mut stream = tokio::time::timeout(Duration::from_secs(2), connect).await??;
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: natter\r\n")
        .await?;
    Ok(stream.into_std()?)
}

/// (closed, answered): connections the server closed (or reset), and
/// those it sent something on (an error status) — read without blocking.
fn closed_by_server(held: &[std::net::TcpStream]) -> (usize, usize) {
    let (mut closed, mut answered) = (0, 0);
    let mut buf = [0u8; 512];
    for mut stream in held {
        match stream.read(&mut buf) {
            Ok(0) => closed += 1,
            Ok(_) => answered += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => closed += 1,
        }
    }
    (closed, answered)
}
