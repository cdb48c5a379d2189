//! Hostile-load tests: queues (issue 9, finding 3, and the read rate limit
//! of finding 9). A lobby member that stops reading while others flood the
//! lobby is marked behind and then disconnected; the server's queued bytes
//! stay within the per-session budgets; the slow user resumes and re-syncs
//! and has every message exactly once. Reads are rate-limited too.

pub(crate) mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use natter_api::{ErrorCode, Request, Response, Target};
use tokio::sync::watch;

use crate::common::{GUARD, ServerProcess, rss_kib};
use crate::support::start_configured;
use wire::{Door, Member, Seen, metric};

/// Per-session budget for these tests (small, so the flood stays short).
const MAX_FRAMES: usize = 512;
const MAX_BYTES: usize = 512 * 1024;
const CONFIG: &str = "[server]
max_queued_frames = 512
max_queued_bytes = 524288
slow_consumer_grace_ms = 2000

[server.argon2]
memory_kib = 64
iterations = 1

[server.rate]
per_second = 100000.0
burst = 100000.0
";
const FLOODERS: usize = 3;
const PER_FLOODER: usize = 1500;
const BODY: usize = 2048;

/// One server started with [`CONFIG`]; killed on drop.
struct Lab {
    server: ServerProcess,
    http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Lab {
    async fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (root, config) = (dir.path().to_owned(), config.to_owned());
        let server = tokio::task::spawn_blocking(move || start_configured(&root, &config, true))
            .await
            .expect("start");
        let http = server.http.expect("http address");
        Self {
            server,
            http,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.server.log).unwrap_or_default()
    }

    /// Waits until metric `name` reaches `at_least` (polling `/metrics`).
    async fn wait_metric(&self, name: &str, at_least: f64) -> f64 {
        let reached = async {
            loop {
                let value = metric(self.http, name).await.expect("metrics");
                if value >= at_least {
                    return value;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        match tokio::time::timeout(GUARD, reached).await {
            Ok(value) => value,
            Err(_) => panic!("{name} never reached {at_least}; log:\n{}", self.log()),
        }
    }
}

/// Peak server RSS and peak `natter_queued_bytes` while it runs.
struct Sampler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<(u64, f64)>,
}

impl Sampler {
    fn start(pid: u32, http: SocketAddr) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let (mut rss, mut queued) = (0u64, 0f64);
            while !*stopped.borrow() {
                rss = rss.max(rss_kib(pid));
                let now = metric(http, "natter_queued_bytes").await.unwrap_or(0.0);
                queued = queued.max(now);
                let tick = tokio::time::sleep(Duration::from_millis(100));
                tokio::select! { () = tick => {}, _ = stopped.changed() => {} }
            }
            (rss, queued)
        });
        Self { stop, task }
    }

    async fn finish(self) -> (u64, f64) {
        let _ = self.stop.send(true);
        self.task.await.expect("sampler")
    }
}

/// RSS in KiB, 0 once the process is gone.
fn send(body: &str) -> Request {
    Request::Send {
        target: Target::Lobby,
        client_id: uuid::Uuid::new_v4(),
        body: body.to_owned(),
    }
}

fn seq_of(answer: anyhow::Result<Result<Response, natter_api::ApiError>>) -> u64 {
    match answer.expect("answered") {
        Ok(Response::Sent(sent)) => sent.seq,
        other => panic!("send answered {other:?}"),
    }
}

/// Every flooder sends `per` lobby messages, 16 in flight each; the
/// highest seq stored.
async fn flood(flooders: &[Arc<Member>], per: usize) -> u64 {
    let body = "x".repeat(BODY);
    let each = flooders.iter().map(|m| {
        let body = body.clone();
        async move {
            futures_util::stream::iter(0..per)
                .map(|_| m.call(send(&body)))
                .buffer_unordered(16)
                .fold(0, |top, answer| async move { top.max(seq_of(answer)) })
                .await
        }
    });
    join_all(each).await.into_iter().max().unwrap_or(0)
}

/// ✓ latencies of `n` lobby messages sent one at a time, 20 ms apart.
async fn ticks(victim: &Member, n: usize) -> (Vec<Duration>, u64) {
    let (mut took, mut top) = (Vec::new(), 0);
    for _ in 0..n {
        let t = Instant::now();
        top = top.max(seq_of(victim.call(send("tick")).await));
        took.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (took, top)
}

fn percentiles(mut took: Vec<Duration>) -> String {
    took.sort();
    let at = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize];
    format!("p50 {:.1} ms, p99 {:.1} ms", ms(at(0.5)), ms(at(0.99)))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Reads `door` until the user has every lobby message up to `upto`.
async fn read_upto(door: &mut Door, seen: &mut Seen, upto: u64) {
    let caught_up = async {
        while seen.cursor() < upto {
            match door.recv().await {
                Some(natter_api::ServerFrame::Event(e)) => {
                    seen.event(e);
                }
                Some(_) => {}
                None => panic!("closed while reading"),
            }
        }
    };
    tokio::time::timeout(GUARD, caught_up)
        .await
        .expect("caught up within the guard");
}

/// Reads what is left on a connection the server closed.
async fn drain(door: &mut Door, seen: &mut Seen) {
    let rest = async {
        while let Some(frame) = door.recv().await {
            if let natter_api::ServerFrame::Event(e) = frame {
                seen.event(e);
            }
        }
    };
    tokio::time::timeout(GUARD, rest)
        .await
        .expect("closed connection drained within the guard");
}

/// The slow user's lobby view is `1..=last`, each message once.
fn assert_exactly_once(seen: &Seen, last: u64) {
    let mut seqs = seen.seqs.clone();
    seqs.sort_unstable();
    let dups = seqs.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(dups, 0, "duplicated messages");
    let want: Vec<u64> = (1..=last).collect();
    assert!(seqs == want, "lost messages: have {} of {last}", seqs.len());
}

async fn members(http: SocketAddr, prefix: &str, n: usize) -> Vec<Arc<Member>> {
    let mut all = Vec::new();
    for i in 0..n {
        let member = Member::join(http, &format!("{prefix}{i}")).await;
        all.push(Arc::new(member.expect("member")));
    }
    all
}

/// Floods while `slow` is not read; returns the last lobby seq, and (with
/// a victim) its ✓ figures.
async fn attack(lab: &Lab, slow: &mut Door, seen: &mut Seen, victim: Option<&Member>) -> u64 {
    let flooders = members(lab.http, "flood", FLOODERS).await;
    let mut last = 0;
    if let Some(victim) = victim {
        let (baseline, top) = ticks(victim, 30).await;
        println!(
            "slow consumer: victim ✓ without attack {}",
            percentiles(baseline)
        );
        last = top;
    }
    // The slow user reads everything so far, then stops reading.
    last = last.max(flood(&flooders, 20).await);
    read_upto(slow, seen, last).await;
    let before = seen.seqs.len();
    let rss_start = rss_kib(lab.server.pid());
    let sampler = Sampler::start(lab.server.pid(), lab.http);
    let started = Instant::now();
    let during = async {
        match victim {
            Some(v) => Some(ticks(v, 30).await),
            None => None,
        }
    };
    let (top, during) = tokio::join!(flood(&flooders, PER_FLOODER), during);
    last = last.max(top);
    if let Some((took, top)) = during {
        println!(
            "slow consumer: victim ✓ during attack {}",
            percentiles(took)
        );
        last = last.max(top);
    }
    let behind = lab
        .wait_metric("natter_slow_consumers_behind_total", 1.0)
        .await;
    let cut = lab
        .wait_metric("natter_slow_consumers_disconnected_total", 1.0)
        .await;
    let (rss_peak, queued_peak) = sampler.finish().await;
    let sent = FLOODERS * PER_FLOODER * BODY;
    println!(
        "slow consumer: {} MiB flooded in {:.1} s; server RSS {} → peak {} MiB; \
         queued bytes peak {:.0} KiB; behind {behind}, disconnected {cut}; \
         read {before} messages before stalling",
        sent >> 20,
        started.elapsed().as_secs_f64(),
        rss_start >> 10,
        rss_peak >> 10,
        queued_peak / 1024.0,
    );
    // Every session (the slow one, the flooders, the victim) is within its
    // budget, plus one frame each admitted at the edge.
    let sessions = FLOODERS + 2;
    let bound = sessions * (MAX_BYTES + BODY + 1024);
    assert!(
        queued_peak <= bound as f64,
        "queued {queued_peak} > {bound}"
    );
    assert!(
        rss_peak < 1024 * 1024,
        "server RSS peaked at {rss_peak} KiB"
    );
    const {
        assert!(
            MAX_FRAMES * BODY > MAX_BYTES,
            "the byte budget is what binds"
        )
    };
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_user_that_stops_reading_is_cut_off_and_resyncs_without_loss() {
    let lab = Lab::start(CONFIG).await;
    let mut slow = Door::ws(lab.http, true).await.expect("slow socket");
    let mut seen = Seen::default();
    let token = wire::login(&mut slow, "slow", &mut seen)
        .await
        .expect("login");
    let victim = Member::join(lab.http, "victim").await.expect("victim");
    let last = attack(&lab, &mut slow, &mut seen, Some(&victim)).await;
    drain(&mut slow, &mut seen).await;
    assert!(seen.seqs.is_sorted(), "in order on the first connection");
    println!(
        "slow consumer (ws): {} messages before the cut, markers {:?}",
        seen.seqs.len(),
        seen.behind
    );
    let mut again = Door::ws(lab.http, false).await.expect("reconnect");
    wire::resume(&mut again, token, &mut seen)
        .await
        .expect("resume");
    assert_exactly_once(&seen, last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_connection_that_stops_reading_is_cut_off_and_resyncs_without_loss() {
    let lab = Lab::start(CONFIG).await;
    let mut slow = Door::udp(lab.server.addr).await.expect("slow connection");
    let mut seen = Seen::default();
    let token = wire::login(&mut slow, "slow", &mut seen)
        .await
        .expect("login");
    let last = attack(&lab, &mut slow, &mut seen, None).await;
    let Door::Udp(_, conn) = &slow else {
        unreachable!()
    };
    let reason = tokio::time::timeout(GUARD, conn.closed())
        .await
        .expect("the server closed the connection");
    println!("slow consumer (udp): closed: {reason:?}");
    assert!(
        matches!(reason, natter_net::CloseReason::Remote { .. }),
        "{reason:?}"
    );
    drain(&mut slow, &mut seen).await;
    assert!(seen.seqs.is_sorted(), "in order on the first connection");
    let mut again = Door::udp(lab.server.addr).await.expect("reconnect");
    // A fresh pipe reads as fast as the sync comes.
    wire::resume(&mut again, token, &mut seen)
        .await
        .expect("resume");
    assert_exactly_once(&seen, last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_rate_limited_and_the_connection_stays_up() {
    let lab = Lab::start("").await;
    let mut door = Door::ws(lab.http, false).await.expect("socket");
    const N: u64 = 1000;
    for id in 1..=N {
        door.send(id, Request::Ping).await.expect("send");
    }
    let (mut ok, mut limited, mut retry) = (0, 0, 0);
    for _ in 0..N {
        let frame = tokio::time::timeout(GUARD, door.recv())
            .await
            .expect("answer");
        match frame.expect("connection up") {
            natter_api::ServerFrame::Response { result: Ok(_), .. } => ok += 1,
            natter_api::ServerFrame::Response { result: Err(e), .. } => match e.code {
                ErrorCode::RateLimited { retry_after_ms } => {
                    limited += 1;
                    retry = retry_after_ms;
                }
                other => panic!("unexpected error {other:?}"),
            },
            natter_api::ServerFrame::Event(_) => {}
        }
    }
    let counted = metric(
        lab.http,
        "natter_rate_limited_requests_total{kind=\"read\"}",
    )
    .await
    .expect("metric");
    println!("read flood: {N} pings: {ok} answered, {limited} rate_limited (metric {counted})");
    assert!(limited > 0 && ok >= 200, "{ok} ok, {limited} limited");
    assert_eq!(counted, f64::from(limited));
    // After the advertised wait, the same connection is served again.
    tokio::time::sleep(Duration::from_millis(retry.max(1) + 20)).await;
    let answer = door
        .call(N + 1, Request::Ping, &mut Seen::default())
        .await
        .expect("answered");
    assert_eq!(answer, Ok(Response::Done));
}
