//! The transport under the chat server's fan-out, without the server:
//! `natter bench`'s workload reduced to natter-net over loopback.
//!
//! ```text
//! cargo run --release -p natter-net --example fanout [messages]
//! ```
//!
//! 64 client connections share one client socket (as `natter bench`'s
//! do); 16 groups of 8 members are filled round robin. Each client keeps
//! up to 32 messages of 100 B unconfirmed. The server, on each message,
//! sends it to the group's 7 other members and a 16 B confirmation back to
//! the sender. Prints deliveries/s and the server's datagrams per delivery
//! (coalescing) once `messages` (default 20 000) were all delivered. Run it
//! under `valgrind --tool=callgrind` for a repeatable instruction count per
//! delivery.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use natter_net::{
    Connection, Endpoint, NetConfig, ServerEndpointConfig, ServerKeyPolicy, StaticKeypair,
};
use tokio::sync::{Notify, Semaphore};

const CLIENTS: usize = 64;
const GROUPS: usize = 16;
const MEMBERS: usize = 8;
const WINDOW: usize = 32;
const SIZE: usize = 100;

/// Group `g`'s members: slots `g * MEMBERS..` filled round robin.
fn members(g: usize) -> impl Iterator<Item = usize> {
    (0..MEMBERS).map(move |k| (g * MEMBERS + k) % CLIENTS)
}

/// The groups client `c` is a member of.
fn groups_of(c: usize) -> Vec<usize> {
    (0..GROUPS)
        .filter(|&g| members(g).any(|m| m == c))
        .collect()
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    delivered: AtomicU64,
    done: Notify,
}

#[tokio::main]
async fn main() {
    let total: u64 = std::env::args()
        .nth(1)
        .map_or(20_000, |s| s.parse().expect("a message count"));
    let (server, client, clients, accepted) = setup().await;
    let expected = total * (MEMBERS as u64 - 1);
    let counters = Arc::new(Counters::default());
    let accepted = Arc::new(accepted);
    for (i, c) in accepted.iter().enumerate() {
        tokio::spawn(relay(i, c.clone(), accepted.clone()));
    }
    let before = server.transport_totals();
    let start = Instant::now();
    for (i, c) in clients.into_iter().enumerate() {
        let window = Arc::new(Semaphore::new(WINDOW));
        tokio::spawn(receive(
            c.clone(),
            window.clone(),
            counters.clone(),
            expected,
        ));
        tokio::spawn(send(i, c, window, counters.clone(), total));
    }
    counters.done.notified().await;
    let elapsed = start.elapsed().as_secs_f64();
    let after = server.transport_totals();
    let sent = after.packets_sent - before.packets_sent;
    let received = after.packets_received - before.packets_received;
    println!(
        "{total} messages, {expected} deliveries in {elapsed:.2} s: {:.0} deliveries/s; \
         server sent {sent} datagrams ({:.3} per delivery+confirmation), received {received} \
         ({:.3} per message), retransmits {}, lost {}",
        expected as f64 / elapsed,
        sent as f64 / (expected + total) as f64,
        received as f64 / total as f64,
        after.retransmits - before.retransmits,
        after.packets_lost - before.packets_lost,
    );
    drop(client);
}

type Setup = (Endpoint, Endpoint, Vec<Connection>, Vec<Connection>);

async fn setup() -> Setup {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut server_cfg = ServerEndpointConfig::new(StaticKeypair::generate([1; 32]), [2; 32]);
    server_cfg.handshake_burst = 1e6;
    let server = NetConfig {
        server: Some(server_cfg),
        seed: Some([3; 32]),
        ..NetConfig::default()
    };
    let server = Endpoint::bind(any, server).await.expect("bind");
    let client_cfg = NetConfig {
        seed: Some([4; 32]),
        ..NetConfig::default()
    };
    let client = Endpoint::bind(any, client_cfg).await.expect("bind");
    let addr = server.local_addr().expect("addr");
    let (mut clients, mut accepted) = (Vec::new(), Vec::new());
    for _ in 0..CLIENTS {
        let c = client.connect(addr, ServerKeyPolicy::AcceptAny);
        let (c, s) = tokio::join!(c, server.accept());
        clients.push(c.expect("connect"));
        accepted.push(s.expect("accept"));
    }
    (server, client, clients, accepted)
}

/// Server side of client `me`: fan each message out to its group.
async fn relay(me: usize, conn: Connection, all: Arc<Vec<Connection>>) {
    while let Some((_, msg)) = conn.recv().await {
        let group = usize::from(msg[0]);
        for m in members(group).filter(|&m| m != me) {
            let _ = all[m].send_nowait(0, msg.clone());
        }
        let _ = conn.send_nowait(0, Bytes::from_static(b"confirmed-------"));
    }
}

/// Client `me` sends `total / CLIENTS` messages (spread round robin over
/// its groups), at most `WINDOW` unconfirmed.
async fn send(me: usize, conn: Connection, window: Arc<Semaphore>, c: Arc<Counters>, total: u64) {
    let groups = groups_of(me);
    let mine = total / CLIENTS as u64 + u64::from((me as u64) < total % CLIENTS as u64);
    for n in 0..mine as usize {
        window.acquire().await.expect("open").forget();
        let mut body = BytesMut::with_capacity(SIZE);
        body.put_u8(groups[n % groups.len()] as u8);
        body.put_bytes(b'x', SIZE - 1);
        conn.send_nowait(0, body.freeze()).expect("send");
        c.sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts deliveries; a confirmation opens the window by one.
async fn receive(conn: Connection, window: Arc<Semaphore>, c: Arc<Counters>, expected: u64) {
    while let Some((_, msg)) = conn.recv().await {
        if msg.len() == SIZE {
            if c.delivered.fetch_add(1, Ordering::Relaxed) + 1 == expected {
                c.done.notify_one();
            }
        } else {
            window.add_permits(1);
        }
    }
}
