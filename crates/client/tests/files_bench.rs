//! File transfer figures (issue 14), `#[ignore]`d: run them in release,
//! one at a time, on an otherwise idle machine:
//!
//! ```text
//! cargo test --release -p natter-client --test files_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - `a_100_mib_transfer_through_the_server_against_plain_tcp`: upload and
//!   download of 100 MiB through an in-process server over loopback UDP,
//!   against the same bytes copied over a loopback TCP connection in the
//!   same run.
//! - `chat_p99_with_and_without_a_50_mib_upload_on_the_same_connection`:
//!   the ✓ latency of chat messages sent at 10/s, with no transfer and
//!   while a 50 MiB upload runs on the same connection (same client).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_api::Target;
use natter_client::files::LocalFile;
use natter_client::{Client, UdpDialer};
use natter_net::{Endpoint, NetConfig, ServerEndpointConfig, ServerKeyPolicy, StaticKeypair};
use natter_store::{SqliteStore, Store};
use support::{Events, PASSWORD, options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

struct Bench {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Bench {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("natter.db")).expect("open"));
        let net = NetConfig {
            server: Some(ServerEndpointConfig::new(
                StaticKeypair::generate([7; 32]),
                [8; 32],
            )),
            ..NetConfig::default()
        };
        let endpoint = Endpoint::bind(([127, 0, 0, 1], 0).into(), net)
            .await
            .expect("bind");
        let addr = endpoint.local_addr().expect("addr");
        let mut config = natter_server::ServerConfig::for_tests();
        config.files.dir = Some(dir.path().join("files"));
        config.files.quota_per_user = 1 << 40;
        config.files.max_size = 200 * MIB as u64;
        // Chat at 100 messages a second for enough samples during a transfer.
        config.rate.per_second = 1000.0;
        config.rate.burst = 1000.0;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shutdown = async {
            let _ = stopped.await;
        };
        tokio::spawn(natter_server::run(endpoint, store, config, shutdown));
        Self {
            addr,
            dir,
            stop: Some(stop),
        }
    }

    async fn user(&self, name: &str) -> (Client, Events) {
        let dialer = UdpDialer::new(self.addr, ServerKeyPolicy::AcceptAny, NetConfig::default())
            .await
            .expect("client socket");
        let (client, events) = Client::connect(Arc::new(dialer), options())
            .await
            .expect("connect");
        let mut events = Events(events);
        client.register(name, PASSWORD).await.expect("register");
        client.login(name, PASSWORD).await.expect("login");
        events.sync().await;
        (client, events)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Chat p99 is measured over this many 50 MiB uploads in a row.
const UPLOADS: usize = 3;

fn make_file(path: &Path, len: usize, seed: u64) {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, data).expect("write");
}

/// Seconds to copy `len` bytes over one loopback TCP connection (64 KiB
/// writes), read into a buffer and dropped, or (`to`) written to a file
/// with an fsync every 256 KiB, as the server does with upload chunks.
async fn tcp_copy(len: usize, to: Option<std::path::PathBuf>) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0; 64 * 1024];
        let mut file = to.map(|p| std::fs::File::create(p).expect("create"));
        let (mut got, mut synced) = (0, 0);
        while got < len {
            let n = sock.read(&mut buf).await.expect("read");
            got += n;
            if let Some(file) = file.as_mut() {
                std::io::Write::write_all(file, &buf[..n]).expect("write");
                if got - synced >= 256 * 1024 || got == len {
                    file.sync_data().expect("fsync");
                    synced = got;
                }
            }
        }
    });
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        let n = chunk.len().min(len - sent);
        sock.write_all(&chunk[..n]).await.expect("write");
        sent += n;
    }
    reader.await.expect("reader");
    started.elapsed().as_secs_f64()
}

fn mib_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / MIB as f64 / secs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn a_100_mib_transfer_through_the_server_against_plain_tcp() {
    let size = 100 * MIB;
    let bench = Bench::start().await;
    let (alice, _a) = bench.user("alice").await;
    let (bob, _b) = bench.user("bob").await;
    let src = bench.dir.path().join("src.bin");
    make_file(&src, size, 99);
    let local = LocalFile::read(&src).expect("hash");

    let started = Instant::now();
    let (info, _) = alice
        .send_file(Target::User("bob".into()), &local, |_| {})
        .await
        .expect("upload");
    let up = started.elapsed().as_secs_f64();
    let out = bench.dir.path().join("out.bin");
    let started = Instant::now();
    bob.download_file(info.offer.id, &out, |_| {})
        .await
        .expect("download");
    let down = started.elapsed().as_secs_f64();
    let tcp = tcp_copy(size, None).await;
    let tcp_disk = tcp_copy(size, Some(bench.dir.path().join("tcp.bin"))).await;
    println!(
        "100 MiB: upload {up:.2} s ({:.0} MiB/s, fsync per {} KiB chunk), download {down:.2} s \
         ({:.0} MiB/s, BLAKE3 verified), plain TCP copy {tcp:.2} s ({:.0} MiB/s), \
         TCP into a file with fsync per 256 KiB {tcp_disk:.2} s ({:.0} MiB/s)",
        mib_s(size, up),
        natter_client::files::CHUNK / 1024,
        mib_s(size, down),
        mib_s(size, tcp),
        mib_s(size, tcp_disk),
    );
}

/// The ✓ latency (ms) of one chat message, sent at the next tick.
async fn chat_latency(client: &Client, tick: &mut tokio::time::Interval) -> f64 {
    tick.tick().await;
    let started = Instant::now();
    let mut handle = client.send(Target::User("bob".into()), "ping").await;
    handle.stored().await.expect("✓");
    started.elapsed().as_secs_f64() * 1000.0
}

/// A tick every 10 ms (100 messages a second; the bench server's write
/// limit is raised for it).
fn ticks() -> tokio::time::Interval {
    tokio::time::interval(Duration::from_millis(10))
}

fn p99(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    (at(0.5), at(0.99))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn chat_p99_with_and_without_a_50_mib_upload_on_the_same_connection() {
    let bench = Bench::start().await;
    let (alice, _a) = bench.user("alice").await;
    let (_bob, _b) = bench.user("bob").await;
    let n = 300;
    let mut tick = ticks();
    let mut idle = Vec::new();
    for _ in 0..n {
        idle.push(chat_latency(&alice, &mut tick).await);
    }
    let (idle50, idle99) = p99(idle);

    let (mut during, mut secs) = (Vec::new(), Vec::new());
    for round in 0..UPLOADS {
        let src = bench.dir.path().join(format!("src{round}.bin"));
        make_file(&src, 50 * MIB, round as u64);
        let local = LocalFile::read(&src).expect("hash");
        let uploader = alice.clone();
        let started = Instant::now();
        let upload = tokio::spawn(async move {
            let done = uploader
                .send_file(Target::User("bob".into()), &local, |_| {})
                .await;
            done.expect("upload");
            started.elapsed().as_secs_f64()
        });
        while !upload.is_finished() {
            during.push(chat_latency(&alice, &mut tick).await);
        }
        secs.push(format!("{:.2}", upload.await.expect("upload task")));
    }
    let (secs, count) = (secs.join(", "), during.len());
    let (busy50, busy99) = p99(during);
    println!(
        "chat ✓ latency, no transfer: p50 {idle50:.2} ms p99 {idle99:.2} ms ({n} messages); \
         during {UPLOADS} uploads of 50 MiB on the same connection ({secs} s): p50 {busy50:.2} ms \
         p99 {busy99:.2} ms ({count} messages)"
    );
}
