//! Failover between the nodes of a cluster: two in-process server nodes on
//! loopback UDP sharing one store and one server key; the client is given
//! both addresses (`FailoverDialer`). Node A is cut off abruptly (its
//! socket drops everything from then on, as if the machine vanished, and
//! its process then stops) in the middle of a message stream.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use natter_api::{ClientEvent, ConnectionState, Event, Message, OutgoingState, Target};
use natter_client::{Client, ConnectError, DialError, FailoverDialer};
use natter_net::{
    DatagramSocket, Endpoint, NetConfig, ServerEndpointConfig, ServerKeyPolicy, StaticKeypair,
    TransportConfig,
};
use natter_store::{MemoryStore, Store};
use rand::{Rng, SeedableRng};
use support::{Events, GUARD, PASSWORD, options};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

/// The cluster's key (every node has it).
const CLUSTER_KEY: [u8; 32] = [7; 32];

/// A loopback UDP socket that can be cut off: from then on it neither
/// sends nor receives anything (no CLOSE leaves, like a node whose
/// machine died).
struct Killable {
    socket: UdpSocket,
    dead: AtomicBool,
}

impl Killable {
    fn dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }
}

impl DatagramSocket for Killable {
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<(usize, SocketAddr)>> {
        loop {
            let mut rb = ReadBuf::new(buf);
            match self.socket.poll_recv_from(cx, &mut rb) {
                Poll::Ready(Ok(_)) if self.dead() => continue,
                Poll::Ready(Ok(from)) => return Poll::Ready(Ok((rb.filled().len(), from))),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn try_recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        loop {
            match self.socket.try_recv_from(buf) {
                Ok(_) if self.dead() => continue,
                other => return other,
            }
        }
    }

    fn try_send_to(&self, buf: &[u8], to: SocketAddr) -> std::io::Result<usize> {
        if self.dead() {
            return Ok(buf.len());
        }
        self.socket.try_send_to(buf, to)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// One server node (`natter_server::run`) on a [`Killable`] socket.
struct Node {
    addr: SocketAddr,
    socket: Arc<Killable>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Node {
    async fn start(store: Arc<dyn Store>, key: [u8; 32]) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let socket = Arc::new(Killable {
            socket,
            dead: AtomicBool::new(false),
        });
        let net = NetConfig {
            server: Some(ServerEndpointConfig::new(
                StaticKeypair::generate(key),
                [8; 32],
            )),
            ..NetConfig::default()
        };
        let endpoint = Endpoint::with_socket(socket.clone(), net);
        let addr = endpoint.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let config = natter_server::ServerConfig::for_tests();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(natter_server::run(endpoint, store, config, shutdown));
        Self {
            addr,
            socket,
            stop: Some(stop),
            task,
        }
    }

    /// Cuts the node off at once, then lets its process stop (what it
    /// commits meanwhile is in the store, its answers are lost).
    fn kill(&mut self) {
        self.socket.dead.store(true, Ordering::SeqCst);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let stopped = tokio::time::timeout(GUARD, self.task).await;
        stopped.expect("node stops in time").expect("node task");
    }
}

/// Client transport settings that notice a silent node within a second
/// (the defaults take the 15 s idle timeout).
fn quick_net() -> NetConfig {
    NetConfig {
        transport: TransportConfig {
            keepalive: Duration::from_millis(200),
            idle_timeout: Duration::from_secs(1),
            ..TransportConfig::default()
        },
        ..NetConfig::default()
    }
}

/// A client given every address of `nodes`, pinning in `known`.
async fn connect(nodes: &[SocketAddr], known: &Path) -> Result<(Client, Events), ConnectError> {
    let policy = ServerKeyPolicy::KnownServers(known.to_path_buf());
    let dialer = FailoverDialer::udp(nodes, policy, quick_net())
        .await
        .expect("bind client");
    let (client, events) = Client::connect(Arc::new(dialer), options()).await?;
    Ok((client, Events(events)))
}

async fn user(nodes: &[SocketAddr], known: &Path, name: &str) -> (Client, Events) {
    let (client, mut events) = connect(nodes, known).await.expect("connect");
    let _ = client.register(name, PASSWORD).await;
    client.login(name, PASSWORD).await.expect("login");
    events.sync().await;
    (client, events)
}

/// The seed of this run: `NATTER_TEST_SEED` or a fixed one, printed.
fn seed() -> u64 {
    let seed = std::env::var("NATTER_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    eprintln!("failover seed {seed} (rerun with NATTER_TEST_SEED={seed})");
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_the_next_node_when_its_node_dies_and_nothing_is_lost() {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut a = Node::start(store.clone(), CLUSTER_KEY).await;
    let b = Node::start(store.clone(), CLUSTER_KEY).await;
    let home = tempfile::tempdir().expect("tempdir");
    let known = home.path().join("known_servers");
    let nodes = [a.addr, b.addr];
    let (alice, mut alice_events) = user(&nodes, &known, "alice").await;
    let (bob, mut bob_events) = user(&nodes, &known, "bob").await;
    let total = 60;
    let kill_at = rng.random_range(5..total - 5);
    let mut handles = Vec::new();
    for i in 0..total {
        let handle = alice
            .send(Target::User("bob".into()), format!("m{i}"))
            .await;
        handles.push(handle);
    }
    // Mid-stream: once message `kill_at` is stored on A, the later ones
    // are on their way (committed or not; a lost ✓ makes the client
    // resend them to B).
    let stored = tokio::time::timeout(GUARD, handles[kill_at as usize].stored());
    stored.await.expect("stored in time").expect("stored on A");
    a.kill();
    let acked = handles
        .iter()
        .filter(|h| h.state() != OutgoingState::Pending);
    eprintln!("killed A with {} of {total} messages ✓", acked.count());
    let mut seqs = Vec::new();
    for handle in &mut handles {
        let stored = tokio::time::timeout(GUARD, handle.stored()).await;
        let sent = stored.expect("stored in time").expect("stored");
        seqs.push(sent.seq);
    }
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "seed {seed}: each ✓ once, in order, contiguous"
    );
    // Both clients noticed the death and resumed on their own.
    resumed(&mut alice_events, &mut Vec::new()).await;
    let mut got = Vec::new();
    resumed(&mut bob_events, &mut got).await;
    let rest = total as usize - got.len();
    got.extend(bob_events.messages(rest).await);
    assert_delivered_once(&got, total, seed);
    let history = bob
        .history(natter_api::HistoryQuery {
            conv: got[0].conv,
            anchor: natter_api::Anchor::After(0),
            limit: 200,
            order: natter_api::Order::OldestFirst,
        })
        .await
        .expect("history");
    assert_delivered_once(&history, total, seed);
    drop((alice, bob));
    a.stop().await;
    b.stop().await;
}

/// Waits for `Resumed`, keeping the messages that come before it.
async fn resumed(events: &mut Events, messages: &mut Vec<Message>) {
    events
        .until(|e| match e {
            ClientEvent::Connection(ConnectionState::Resumed) => Some(()),
            ClientEvent::Server(Event::Message(m)) => {
                messages.push(m);
                None
            }
            _ => None,
        })
        .await;
}

/// `messages` are m0…m{total-1} with seqs 1…total, each once.
fn assert_delivered_once(messages: &[Message], total: u64, seed: u64) {
    let seqs: Vec<_> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "seed {seed}");
    let bodies: Vec<_> = messages.iter().map(|m| m.body.clone()).collect();
    let expected: Vec<_> = (0..total).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected, "seed {seed}: every message exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_key_is_refused_on_any_address_of_the_list() {
    let a = Node::start(Arc::new(MemoryStore::new()), CLUSTER_KEY).await;
    let impostor = Node::start(Arc::new(MemoryStore::new()), [9; 32]).await;
    let home = tempfile::tempdir().expect("tempdir");
    let known = home.path().join("known_servers");
    // First contact: the key of the node that answers first is pinned for
    // both addresses.
    let (client, _events) = connect(&[a.addr, impostor.addr], &known)
        .await
        .expect("connect");
    client.close().await;
    let pins = std::fs::read_to_string(&known).expect("pins");
    assert_eq!(pins.lines().count(), 2, "{pins}");
    // The impostor answers first now: refused, without moving on to A.
    let refused = connect(&[impostor.addr, a.addr], &known).await;
    let Err(ConnectError::Dial(DialError::KeyMismatch { expected, got, .. })) = refused else {
        panic!("the other key was not refused");
    };
    assert_ne!(expected, got);
    // A fresh list naming only the impostor and a pinned node is refused too.
    let refused = connect(&[impostor.addr], &known).await;
    assert!(matches!(
        refused,
        Err(ConnectError::Dial(DialError::KeyMismatch { .. }))
    ));
    a.stop().await;
    impostor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_address_is_skipped() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let live = Node::start(store, CLUSTER_KEY).await;
    let mut dead = Node::start(Arc::new(MemoryStore::new()), CLUSTER_KEY).await;
    dead.kill();
    let home = tempfile::tempdir().expect("tempdir");
    let known = home.path().join("known_servers");
    let (client, mut events) = user(&[dead.addr, live.addr], &known, "carol").await;
    let mut sent = client.send(Target::Lobby, "hello").await;
    sent.stored().await.expect("stored");
    let got = events.message().await;
    assert_eq!(got.body, "hello");
    assert!(events.no_message_queued());
    live.stop().await;
    dead.stop().await;
}
