//! Floods: `register` from 64 connections, 150 KB login names into the
//! log, and a lobby member that never reads while four senders fill it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;

use super::probe::Tally;
use super::wire::{self, CALL_WAIT, Conn, Reply, req};
use super::{ATTACKER_ADDR, Lab, Row};

/// How long the register and slow-consumer floods run.
const FLOOD: Duration = Duration::from_secs(15);
/// How long the log flood runs, and the log size that stops it early.
const LOG_FLOOD: Duration = Duration::from_secs(10);
const LOG_CEILING: u64 = 3 << 30;
/// The login name of the log flood (fits the old gateway's 160 KiB frames).
const LONG_NAME: usize = 150_000;

/// Waits until `limit` has passed since the attack began, the server's RSS
/// passes the ceiling, or `also` names a reason; returns why it stopped
/// early (empty if it did not).
async fn flood_until(lab: &Lab, limit: Duration, also: impl Fn() -> Option<String>) -> String {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if lab.elapsed() >= limit.as_secs_f64() {
            return String::new();
        }
        if lab.over_ceiling() {
            let at = lab.elapsed();
            return format!(" (stopped at {at:.1} s: RSS ceiling)");
        }
        if let Some(why) = also() {
            return format!(" (stopped at {:.1} s: {why})", lab.elapsed());
        }
    }
}

/// 64 WebSocket connections sending `register` with fresh names as fast
/// as they are answered (default argon2 cost), from one address or from
/// 64 (`spread`).
pub(crate) async fn register(spread: bool) -> anyhow::Result<Row> {
    let mut lab = Lab::start().await?;
    lab.baseline_then_attack().await;
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut workers = JoinSet::new();
    for w in 0..64u8 {
        let from = match spread {
            true => IpAddr::V4(Ipv4Addr::new(127, 0, 1, w + 1)),
            false => ATTACKER_ADDR,
        };
        let (stop, tally) = (stop.clone(), tally.clone());
        workers.spawn(register_worker(lab.http, from, w, stop, tally));
    }
    let why = flood_until(&lab, FLOOD, || None).await;
    stop.store(true, Ordering::Relaxed);
    workers.abort_all();
    let secs = lab.elapsed();
    println!("RSS each second: {}", lab.rss_series());
    let kept = lab.attack_over().await;
    let figure = format!(
        "{} accounts in {secs:.0} s{why}; answers: {}; RSS 2 s after: {kept} MiB",
        tally.get("ok"),
        tally.summary()
    );
    let name = match spread {
        true => "register flood (64 WS from 64 addresses)",
        false => "register flood (64 WS from 1 address)",
    };
    Ok(lab.finish(name, figure).await)
}

async fn register_worker(
    http: SocketAddr,
    from: IpAddr,
    worker: u8,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok(conn) = Conn::connect(http, from).await else {
            tally.add("connect failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let name = format!("f{worker}n{i}");
            let reply = conn
                .call(req::register(&name, "attacker password"), CALL_WAIT)
                .await;
            tally.add(reply.label());
            if matches!(reply, Reply::Closed) {
                break;
            }
        }
    }
}

/// Logins with 150 KB names, 8 in flight on one connection: how many
/// bytes the server's log grows by per second.
pub(crate) async fn log() -> anyhow::Result<Row> {
    let mut lab = Lab::start().await?;
    lab.baseline_then_attack().await;
    let log = lab.log().to_owned();
    let before = file_len(&log);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let flood = tokio::spawn(login_flood(lab.http, stop.clone(), tally.clone()));
    let big_log = || (file_len(&log) >= LOG_CEILING).then(|| "log ceiling".to_owned());
    let why = flood_until(&lab, LOG_FLOOD, big_log).await;
    stop.store(true, Ordering::Relaxed);
    flood.abort();
    let secs = lab.elapsed();
    let grown = file_len(&log).saturating_sub(before);
    lab.attack_over().await;
    let figure = format!(
        "log +{} MB in {secs:.0} s{why} = **{} MB/s** from 1 connection; logins answered: {}",
        grown / 1_000_000,
        (grown as f64 / secs / 1e6).round(),
        tally.summary()
    );
    Ok(lab.finish("log flood (150 KB login names)", figure).await)
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

async fn login_flood(http: SocketAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let name: Arc<str> = "a".repeat(LONG_NAME).into();
    while !stop.load(Ordering::Relaxed) {
        let Ok(conn) = Conn::connect(http, ATTACKER_ADDR).await else {
            tally.add("connect failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let conn = Arc::new(conn);
        let mut inflight = JoinSet::new();
        loop {
            while inflight.len() < 8 && !stop.load(Ordering::Relaxed) {
                let (conn, name) = (conn.clone(), name.clone());
                inflight.spawn(async move {
                    conn.call(req::login(&name, "wrong password"), CALL_WAIT)
                        .await
                });
            }
            match inflight.join_next().await {
                Some(Ok(Reply::Closed)) | None => break,
                Some(Ok(reply)) => tally.add(reply.label()),
                Some(Err(_)) => {}
            }
        }
        tally.add("reconnect");
    }
}

/// Four senders flood the lobby (19 messages/s each, 16 000-byte bodies,
/// under the per-connection limit of both builds) while one member never
/// reads its socket: the server's RSS over time, and whether the
/// non-reader was cut off.
pub(crate) async fn slow_consumer() -> anyhow::Result<Row> {
    let mut lab = Lab::start().await?;
    let http = lab.http;
    for name in ["sloth", "s0", "s1", "s2", "s3"] {
        wire::account(http, name).await?;
    }
    let sloth = wire::silent_login(http, ATTACKER_ADDR, "sloth").await?;
    let mut senders = Vec::new();
    for name in ["s0", "s1", "s2", "s3"] {
        senders.push(Arc::new(wire::logged_in(http, ATTACKER_ADDR, name).await?));
    }
    lab.baseline_then_attack().await;
    let tally = Arc::new(Tally::default());
    let mut tasks = JoinSet::new();
    for conn in senders {
        tasks.spawn(lobby_sender(conn, tally.clone()));
    }
    let why = flood_until(&lab, FLOOD, || None).await;
    tasks.abort_all();
    let secs = lab.elapsed();
    let fanned = tally.get("ok") as f64 * 16_000.0 / secs / 1e6;
    let (low, end) = lab.rss_low_and_now();
    println!("RSS each second: {}", lab.rss_series());
    let kept = lab.attack_over().await;
    let drained = wire::drain(sloth).await;
    println!("the non-reader then read: {drained:?}");
    let state = match drained.closed {
        true => "**cut off**",
        false => "still connected",
    };
    let figure = format!(
        "RSS {low} → {end} MiB during the flood{why}, {fanned:.1} MB/s fanned out to the \
         non-reader; 2 s after: {kept} MiB; non-reader {state} after {} frames ({} MB) \
         queued; senders: {}",
        drained.frames,
        drained.bytes / 1_000_000,
        tally.summary()
    );
    Ok(lab
        .finish("slow consumer (1 non-reader, 4 senders)", figure)
        .await)
}

async fn lobby_sender(conn: Arc<Conn>, tally: Arc<Tally>) {
    let body: Arc<str> = "x".repeat(16_000).into();
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / 19));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut inflight = JoinSet::new();
    loop {
        tick.tick().await;
        while inflight.len() >= 64 {
            if let Some(Ok(label)) = inflight.join_next().await {
                tally.add(label);
            }
        }
        while let Some(Ok(label)) = inflight.try_join_next() {
            tally.add(label);
        }
        let (conn, body) = (conn.clone(), body.clone());
        inflight.spawn(async move { conn.call(req::send_lobby(&body), CALL_WAIT).await.label() });
    }
}
