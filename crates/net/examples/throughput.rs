//! Transport benchmark over loopback, with the machine's raw UDP rate as the
//! reference measured in the same run.
//!
//! ```text
//! cargo run --release -p natter-net --example throughput
//! ```
//!
//! Prints, for 100 B and 1 KiB messages: raw UDP datagrams/s (one datagram
//! per message, `send_to` in a loop, what the receiver got), Natter
//! messages/s (reliable, encrypted, acknowledged), and their ratio; then the
//! completion time of 1 000 messages at 0, 5 and 20 % injected loss.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_net::{
    Connection, Endpoint, FaultConfig, NetConfig, ServerEndpointConfig, ServerKeyPolicy,
    StaticKeypair,
};

const RUN: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() {
    println!("| size | raw UDP datagrams/s | Natter messages/s | ratio |");
    println!("|---|---|---|---|");
    for size in [100usize, 1024] {
        let raw = raw_udp_rate(size);
        let natter = natter_rate(size).await;
        println!(
            "| {size} B | {raw:.0} | {natter:.0} | {:.2} |",
            natter / raw
        );
    }
    println!();
    println!("| loss | 1000 × 100 B messages complete in |");
    println!("|---|---|");
    for loss in [0.0, 0.05, 0.2] {
        let t = completion_time(loss, 1000).await;
        println!("| {:.0} % | {} ms |", loss * 100.0, t.as_millis());
    }
}

/// Datagrams/s one sender pushes through loopback to one receiver.
fn raw_udp_rate(size: usize) -> f64 {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("addr");
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = {
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if rx.recv_from(&mut buf).is_ok() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let payload = vec![7u8; size];
    let start = Instant::now();
    while start.elapsed() < RUN {
        let _ = tx.send_to(&payload, to);
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    counter.join().expect("counter");
    received.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

async fn pair(loss: f64) -> (Endpoint, Endpoint, Connection, Connection) {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server_cfg = NetConfig {
        server: Some(ServerEndpointConfig::new(
            StaticKeypair::generate([1; 32]),
            [2; 32],
        )),
        faults: FaultConfig::loss(loss, 1),
        ..NetConfig::default()
    };
    let client_cfg = NetConfig {
        faults: FaultConfig::loss(loss, 2),
        ..NetConfig::default()
    };
    let server = Endpoint::bind(any, server_cfg).await.expect("bind");
    let client = Endpoint::bind(any, client_cfg).await.expect("bind");
    let addr = server.local_addr().expect("addr");
    let accept = tokio::spawn({
        let server = server.clone();
        async move { server.accept().await.expect("accept") }
    });
    let c = client
        .connect(addr, ServerKeyPolicy::AcceptAny)
        .await
        .expect("connect");
    let s = accept.await.expect("join");
    (server, client, c, s)
}

/// Messages/s delivered: the sender keeps a bounded window outstanding.
async fn natter_rate(size: usize) -> f64 {
    let (_server, _client, c, s) = pair(0.0).await;
    let payload = Bytes::from(vec![7u8; size]);
    let received = Arc::new(AtomicU64::new(0));
    let reader = {
        let received = received.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let window = 4096u64;
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < RUN {
        while sent - received.load(Ordering::Relaxed) < window {
            c.send_nowait(0, payload.clone()).expect("send");
            sent += 1;
        }
        tokio::task::yield_now().await;
    }
    let got = received.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    if std::env::var_os("NATTER_BENCH_STATS").is_some() {
        eprintln!("sender stats: {:?}", c.stats());
    }
    reader.abort();
    got as f64 / elapsed.as_secs_f64()
}

/// Time until `n` messages sent at once are all acknowledged.
async fn completion_time(loss: f64, n: usize) -> Duration {
    let (_server, _client, c, s) = pair(loss).await;
    let reader = tokio::spawn(async move {
        for _ in 0..n {
            s.recv().await.expect("message");
        }
        s
    });
    let start = Instant::now();
    for i in 0..n {
        c.send_nowait(i as u64 % 4, Bytes::from(vec![1u8; 100]))
            .expect("send");
    }
    c.flushed().await;
    let elapsed = start.elapsed();
    let _s = reader.await.expect("reader");
    elapsed
}
