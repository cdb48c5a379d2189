//! Memory per idle connection: opens N connections between two in-process
//! endpoints (no sockets), lets them go idle, and reports the growth of the
//! process's resident memory per connection, next to `size_of::<Connection>()`.
//!
//! ```text
//! cargo run --release -p natter-proto --example footprint -- 20000
//! ```
#![allow(clippy::disallowed_methods)] // a measuring tool, not the state machine

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use natter_proto::{
    ClientConfig, Connection, Endpoint, EndpointConfig, ServerEndpointConfig, StaticKeypair,
};

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .expect("rss")
        .parse()
        .expect("number");
    pages * 4
}

fn pump(a: &mut Endpoint, b: &mut Endpoint, a_addr: SocketAddr, b_addr: SocketAddr, now: Instant) {
    let mut buf = Vec::new();
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            b.handle(now, a_addr, &mut buf[..t.size]);
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            a.handle(now, b_addr, &mut buf[..t.size]);
            moved = true;
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let server_addr: SocketAddr = "127.0.0.1:7700".parse().expect("addr");
    let mut scfg = ServerEndpointConfig::new(StaticKeypair::generate([1; 32]), [2; 32]);
    scfg.handshakes_per_second = 1e9;
    scfg.handshake_burst = 1e9;
    scfg.load_threshold = usize::MAX;
    let mut server = Endpoint::new(EndpointConfig::server([3; 32], scfg));
    let mut clients: Vec<(SocketAddr, Endpoint)> = Vec::new();
    let before = rss_kib();
    let mut now = Instant::now();
    for i in 0..n {
        let addr = SocketAddr::from(([127, 0, (i / 250) as u8, (i % 250) as u8 + 1], 4000));
        if clients.len() <= i / 1000 {
            let seed = [(i / 1000) as u8 + 10; 32];
            clients.push((addr, Endpoint::new(EndpointConfig::client(seed))));
        }
        let (_, client) = clients.last_mut().expect("client");
        client
            .connect(now, server_addr, ClientConfig::default())
            .expect("connect");
        pump(client, &mut server, addr, server_addr, now);
    }
    // Let every connection go idle: acks exchanged, timers settled.
    now += Duration::from_millis(200);
    for (addr, client) in &mut clients {
        client.handle_timeout(now);
        server.handle_timeout(now);
        pump(client, &mut server, *addr, server_addr, now);
    }
    let after = rss_kib();
    println!("connections on the server: {}", server.connection_count());
    println!("size_of::<Connection>(): {} B", size_of::<Connection>());
    let per_conn = (after - before) as f64 * 1024.0 / (2 * n) as f64;
    println!(
        "RSS growth: {} KiB for {n} connections on each side = {per_conn:.0} B per connection (both ends in this process)",
        after - before
    );
}
