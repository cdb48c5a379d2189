//! Hostile-load tests: file transfer (issue 14). A hostile user pipelines
//! hundreds of upload chunks and download requests on the bulk stream
//! without ever reading an answer, and offers more uploads than allowed,
//! while another user chats. The server's memory, open files and queued
//! bytes stay within the caps; the hostile client at most loses its own
//! connections; every chat message of the other user gets its ✓.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use natter_api::{
    ApiError, ClientFrame, ErrorCode, FileId, MAX_FILE_CHUNK, Request, Response, SessionToken,
    Target,
};
use tokio::sync::watch;

use crate::common::{GUARD, ServerProcess, rss_kib};
use crate::queues::wire::{Door, Member, Seen, login, metric, resume};
use crate::support::start_configured;

const CONFIG: &str = "[server]
slow_consumer_grace_ms = 2000

[server.argon2]
memory_kib = 64
iterations = 1

[server.files]
max_size = 4194304
max_concurrent = 2
";
const CHUNK: usize = MAX_FILE_CHUNK as usize;
/// The upload the flood writes into: 16 chunks, never completed (the
/// flood cycles over its first 15).
const BIG: usize = 16 * CHUNK;
/// The complete file the download flood asks for: 4 chunks.
const SHARED: usize = 4 * CHUNK;
/// Upload chunks pipelined: 100 MiB.
const UPLOAD_FLOOD: usize = 400;
/// Download requests pipelined: 250 MiB of answers asked for.
const GET_FLOOD: usize = 1000;
/// Default `max_queued_bytes` per session; four sessions are logged in.
const QUEUED_CAP: f64 = 4.0 * 1024.0 * 1024.0;
/// Server RSS growth allowed under the flood (a server holding what was
/// asked for would need over 300 MiB).
const RSS_GROWTH_CAP_KIB: u64 = 96 * 1024;
/// File descriptors the server may open above its idle count (sockets of
/// the `/metrics` scrapes, one partial file being written, one read).
const FD_GROWTH_CAP: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_chunk_flood_stays_bounded_and_chat_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let http = server.http.expect("http address");
    let victim = Member::join(http, "victim").await.expect("victim");
    let mut door = Door::udp(server.addr).await.expect("hostile connection");
    let mut seen = Seen::default();
    let token = login(&mut door, "hostile", &mut seen).await.expect("login");

    let shared = offer(&mut door, &mut seen, 1, SHARED).await.expect("offer");
    upload_whole(&mut door, &mut seen, shared, 1).await;
    let big = offer(&mut door, &mut seen, 2, BIG)
        .await
        .expect("offer big");
    let extra = extra_offers(&mut door, &mut seen).await;
    assert_eq!(extra, 1, "max_concurrent = 2 unfinished uploads (big + 1)");

    let calm = chat(&victim, || true).await; // the reference, same run
    let pid = server.pid();
    let (rss_base, fd_base) = (rss_kib(pid), fd_count(pid));
    let sampler = Sampler::start(pid, http);
    let uploads = flood(&server, token.clone(), &seen, Flood::Upload(big)).await;
    let gets = flood(&server, token, &seen, Flood::Get(shared)).await;
    let partial = partial_path(dir.path(), big);
    wait_until("the floods reach the server", || {
        file_len(&partial) >= 4 * CHUNK as u64 && gets.sent.load(Ordering::Relaxed) >= 100
    })
    .await;

    // Chat until the server has closed the connection that never reads
    // its chunks (after `write_stall`) and 10 MiB of uploads went in.
    let took = chat(&victim, || {
        gets.conn.close_reason().is_some() && uploads.sent.load(Ordering::Relaxed) >= 40
    })
    .await;
    let peak = sampler.finish().await;
    let closed = [&uploads, &gets].map(|f| f.conn.close_reason().is_some());
    assert!(closed[1], "the connection not reading its chunks is closed");
    uploads.stop();
    gets.stop();
    tick(&victim).await.expect("chat after the flood");
    println!(
        "file flood: {} chunks / {} gets sent; server RSS {} → peak {} MiB, fds {fd_base} → peak {}, \
         queued bytes peak {:.0} KiB, partial {} KiB (≤ {} KiB), hostile closed {closed:?}; \
         victim {} ✓ {} (without a flood: {})",
        uploads.sent.load(Ordering::Relaxed),
        gets.sent.load(Ordering::Relaxed),
        rss_base >> 10,
        peak.rss >> 10,
        peak.fds,
        peak.queued / 1024.0,
        file_len(&partial) >> 10,
        BIG >> 10,
        took.len(),
        percentiles(took),
        percentiles(calm),
    );
    assert!(peak.queued <= QUEUED_CAP, "queued bytes {}", peak.queued);
    assert!(
        peak.rss <= rss_base + RSS_GROWTH_CAP_KIB,
        "RSS peak {} KiB",
        peak.rss
    );
    assert!(peak.fds <= fd_base + FD_GROWTH_CAP, "fds peak {}", peak.fds);
    assert!(
        file_len(&partial) <= BIG as u64,
        "partial beyond the offered size"
    );
}

async fn start(dir: &Path) -> ServerProcess {
    let root = dir.to_owned();
    tokio::task::spawn_blocking(move || start_configured(&root, CONFIG, true))
        .await
        .expect("start")
}

/// Deterministic content of file number `seed`.
fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// Offers `len` bytes of [`content`] `seed` to the victim.
async fn offer(
    door: &mut Door,
    seen: &mut Seen,
    seed: u8,
    len: usize,
) -> Result<FileId, ErrorCode> {
    let hash = blake3::hash(&content(seed, len)).to_hex().to_string();
    let body = Request::FileOffer {
        target: Target::User("victim".into()),
        client_id: uuid::Uuid::new_v4(),
        name: format!("f{seed}.bin"),
        size: len as u64,
        media_type: "application/octet-stream".into(),
        hash,
    };
    match door
        .call(100 + u64::from(seed), body, seen)
        .await
        .expect("answered")
    {
        Ok(Response::File(info)) => Ok(info.offer.id),
        Ok(other) => panic!("offer answered {other:?}"),
        Err(e) => Err(e.code),
    }
}

/// Uploads file `seed` whole, reading every answer.
async fn upload_whole(door: &mut Door, seen: &mut Seen, id: FileId, seed: u8) {
    let data = content(seed, SHARED);
    for (n, chunk) in data.chunks(CHUNK).enumerate() {
        let body = Request::FileUpload {
            id,
            offset: (n * CHUNK) as u64,
            data: chunk.to_vec(),
        };
        let answer = door
            .call(200 + n as u64, body, seen)
            .await
            .expect("answered");
        assert!(
            matches!(answer, Ok(Response::FileUploaded { .. })),
            "{answer:?}"
        );
    }
}

/// Offers ten more files; how many the server accepted.
async fn extra_offers(door: &mut Door, seen: &mut Seen) -> usize {
    let mut accepted = 0;
    for seed in 10..20 {
        match offer(door, seen, seed, CHUNK).await {
            Ok(_) => accepted += 1,
            Err(code) => assert_eq!(code, ErrorCode::LimitReached, "offer {seed}"),
        }
    }
    accepted
}

/// What a flooding connection pipelines.
#[derive(Clone, Copy)]
enum Flood {
    /// [`UPLOAD_FLOOD`] chunks of upload `FileId`, cycling over its first
    /// 15 chunks (it never completes).
    Upload(FileId),
    /// [`GET_FLOOD`] requests for whole chunks of complete file `FileId`.
    Get(FileId),
}

impl Flood {
    fn request(self, n: usize) -> Request {
        match self {
            Self::Upload(id) => {
                let offset = (n % 15) * CHUNK;
                let data = content(2, BIG)[offset..offset + CHUNK].to_vec();
                Request::FileUpload {
                    id,
                    offset: offset as u64,
                    data,
                }
            }
            Self::Get(id) => Request::FileGet {
                id,
                offset: ((n % 4) * CHUNK) as u64,
                len: MAX_FILE_CHUNK,
            },
        }
    }

    fn count(self) -> usize {
        match self {
            Self::Upload(_) => UPLOAD_FLOOD,
            Self::Get(_) => GET_FLOOD,
        }
    }
}

/// A hostile connection pipelining on the bulk stream and never reading.
struct Flooding {
    conn: natter_net::Connection,
    sent: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Flooding {
    fn stop(&self) {
        self.task.abort();
        self.conn.close(0, "done");
    }
}

/// A new connection of the hostile user (resumed with `token`) that
/// pipelines `what` on the bulk stream.
async fn flood(server: &ServerProcess, token: SessionToken, seen: &Seen, what: Flood) -> Flooding {
    let mut door = Door::udp(server.addr).await.expect("connect");
    let mut mine = Seen {
        lobby: seen.lobby,
        ..Seen::default()
    };
    resume(&mut door, token, &mut mine).await.expect("resume");
    let Door::Udp(_, conn) = door else {
        unreachable!("a udp door")
    };
    let pipe = conn
        .clone()
        .into_pipe(natter_net::BULK_STREAM, Duration::ZERO, "bye");
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let task = tokio::spawn(async move {
        for n in 0..what.count() {
            let frame = ClientFrame::Request {
                id: 1000 + n as u64,
                body: what.request(n),
            };
            let bytes = natter_api::encode(&frame).expect("encode");
            if pipe.send(bytes.into()).await.is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    Flooding { conn, sent, task }
}

/// Lobby messages of the victim, one at a time, at least 30 and until
/// `done` (panics after the guard): their ✓ latencies.
async fn chat(victim: &Member, mut done: impl FnMut() -> bool) -> Vec<Duration> {
    let deadline = Instant::now() + GUARD;
    let mut took = Vec::new();
    while took.len() < 30 || !done() {
        assert!(
            Instant::now() < deadline,
            "the floods did not end within the guard"
        );
        match tick(victim).await {
            Ok(latency) => took.push(latency),
            Err(e) => panic!("message {} during the flood: {e}", took.len()),
        }
    }
    took
}

/// Sends one lobby message (again after `retry_after_ms` while the
/// victim's own write rate is exceeded): the ✓ latency of the attempt that
/// was stored, or what came back instead.
async fn tick(victim: &Member) -> Result<Duration, String> {
    let body = Request::Send {
        target: Target::Lobby,
        client_id: uuid::Uuid::new_v4(),
        body: "still here".into(),
    };
    loop {
        let t = Instant::now();
        match victim.call(body.clone()).await {
            Ok(Ok(Response::Sent(_))) => return Ok(t.elapsed()),
            Ok(Err(ApiError {
                code: ErrorCode::RateLimited { retry_after_ms },
                ..
            })) => tokio::time::sleep(Duration::from_millis(retry_after_ms)).await,
            other => return Err(format!("{other:?}")),
        }
    }
}

fn percentiles(mut took: Vec<Duration>) -> String {
    took.sort();
    let at = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    format!("p50 {:.1} ms, max {:.1} ms", at(0.5), at(1.0))
}

fn partial_path(dir: &Path, id: FileId) -> PathBuf {
    dir.join("data/files/partial")
        .join(format!("{}.part", id.0))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Open file descriptors of process `pid`.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Polls `done` until it holds (panics after the guard).
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + GUARD;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within the guard");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Peaks seen by the [`Sampler`].
#[derive(Debug, Default, Clone, Copy)]
struct Peak {
    rss: u64,
    fds: usize,
    queued: f64,
}

/// Samples the server's RSS, open files and `natter_queued_bytes` every
/// 100 ms until finished.
struct Sampler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Peak>,
}

impl Sampler {
    fn start(pid: u32, http: SocketAddr) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut peak = Peak::default();
            while !*stopped.borrow() {
                peak.rss = peak.rss.max(rss_kib(pid));
                peak.fds = peak.fds.max(fd_count(pid));
                let queued = metric(http, "natter_queued_bytes").await.unwrap_or(0.0);
                peak.queued = peak.queued.max(queued);
                let tick = tokio::time::sleep(Duration::from_millis(100));
                tokio::select! { () = tick => {}, _ = stopped.changed() => {} }
            }
            peak
        });
        Self { stop, task }
    }

    async fn finish(self) -> Peak {
        let _ = self.stop.send(true);
        self.task.await.expect("sampler")
    }
}
