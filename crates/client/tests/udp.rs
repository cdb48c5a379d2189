//! The client library against an in-process server over real loopback UDP
//! (natter-net on both sides, `natter_server::run` on the server), without
//! and with 20 % injected loss in both directions.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use natter_api::Target;
use natter_client::{Client, UdpDialer};
use natter_net::{
    Endpoint, FaultConfig, NetConfig, ServerEndpointConfig, ServerKeyPolicy, StaticKeypair,
};
use natter_store::{SqliteStore, Store};
use support::{Events, PASSWORD, options};
use tokio::sync::oneshot;

/// A `natter_server::run` task on a loopback UDP socket.
struct UdpServer {
    addr: SocketAddr,
    /// A handle on the server's endpoint (for its counters).
    endpoint: Endpoint,
    /// Every client's dialer (for their counters).
    dialers: std::sync::Mutex<Vec<Arc<UdpDialer>>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    loss: f64,
    _dir: tempfile::TempDir,
}

impl UdpServer {
    async fn start(loss: f64) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("natter.db")).expect("open"));
        let net = NetConfig {
            server: Some(ServerEndpointConfig::new(
                StaticKeypair::generate([7; 32]),
                [8; 32],
            )),
            faults: FaultConfig::loss(loss, 21),
            seed: Some([9; 32]),
            ..NetConfig::default()
        };
        let endpoint = Endpoint::bind(([127, 0, 0, 1], 0).into(), net)
            .await
            .expect("bind");
        let addr = endpoint.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel();
        let config = natter_server::ServerConfig::for_tests();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(natter_server::run(
            endpoint.clone(),
            store,
            config,
            shutdown,
        ));
        Self {
            addr,
            endpoint,
            dialers: std::sync::Mutex::default(),
            stop: Some(stop),
            task,
            loss,
            _dir: dir,
        }
    }

    /// A new client (own socket, own fault seed) connected over UDP.
    async fn connect(&self, seed: u64) -> (Client, Events) {
        let net = NetConfig {
            faults: FaultConfig::loss(self.loss, seed),
            seed: Some([seed as u8; 32]),
            ..NetConfig::default()
        };
        let dialer = UdpDialer::new(self.addr, ServerKeyPolicy::AcceptAny, net)
            .await
            .expect("bind client");
        let dialer = Arc::new(dialer);
        self.dialers.lock().unwrap().push(dialer.clone());
        let (client, events) = Client::connect(dialer, options())
            .await
            .unwrap_or_else(|e| panic!("connect (fault seed {seed}): {e}"));
        (client, Events(events))
    }

    /// Connects, registers `name` if new, logs in and waits for the sync to end.
    async fn user(&self, name: &str, seed: u64) -> (Client, Events) {
        let (client, mut events) = self.connect(seed).await;
        let _ = client.register(name, PASSWORD).await;
        client.login(name, PASSWORD).await.expect("login");
        events.sync().await;
        (client, events)
    }

    /// With loss configured, checks that datagrams were really dropped on
    /// both sides.
    fn assert_loss_was_injected(&self) {
        if self.loss == 0.0 {
            return;
        }
        let dialers = self.dialers.lock().unwrap();
        let client_drops: u64 = dialers.iter().map(|d| d.endpoint().injected_drops()).sum();
        let server_drops = self.endpoint.injected_drops();
        assert!(
            client_drops > 0 && server_drops > 0,
            "{client_drops} {server_drops}"
        );
    }

    async fn stop(mut self) {
        self.assert_loss_was_injected();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("server task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_login_over_udp() {
    let server = UdpServer::start(0.0).await;
    let (c, _events) = server.connect(1).await;
    let me = c.register("Alice", PASSWORD).await.expect("register");
    assert_eq!(me.name, "Alice");
    let err = c.register("ALICE", PASSWORD).await.unwrap_err();
    assert_eq!(err.code(), Some(natter_api::ErrorCode::NameTaken));
    let err = c.login("alice", "wrong password").await.unwrap_err();
    assert_eq!(err.code(), Some(natter_api::ErrorCode::BadCredentials));
    assert_eq!(c.login("alice", PASSWORD).await.expect("login"), me);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_both_ways_over_udp() {
    direct_messages_both_ways(0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_both_ways_at_20_percent_loss() {
    direct_messages_both_ways(0.2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_user_gets_everything_in_order_over_udp() {
    offline_user_gets_everything_in_order(0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_user_gets_everything_in_order_at_20_percent_loss() {
    offline_user_gets_everything_in_order(0.2).await;
}

/// Ten DMs each way, interleaved; each side sees all twenty in seq order.
async fn direct_messages_both_ways(loss: f64) {
    let server = UdpServer::start(loss).await;
    let (ann, mut ea) = server.user("ann", 31).await;
    let (ben, mut eb) = server.user("ben", 32).await;
    let mut sent = Vec::new();
    for i in 0..10 {
        let to_ben = ann.send(Target::User("ben".into()), format!("a{i}")).await;
        let to_ann = ben.send(Target::User("ann".into()), format!("b{i}")).await;
        sent.extend([to_ben, to_ann]);
    }
    let mut seqs = Vec::new();
    for handle in &mut sent {
        seqs.push(handle.stored().await.expect("stored").seq);
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<_>>(),
        "loss {loss}: one seq each"
    );
    for events in [&mut ea, &mut eb] {
        let got = events.messages(20).await;
        let order: Vec<_> = got.iter().map(|m| m.seq).collect();
        assert_eq!(
            order,
            (1..=20).collect::<Vec<_>>(),
            "loss {loss}: in order, once"
        );
        let from_ann = got.iter().filter(|m| m.body.starts_with('a'));
        let bodies: Vec<_> = from_ann.map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, (0..10).map(|i| format!("a{i}")).collect::<Vec<_>>());
    }
    server.stop().await;
}

/// A user who is offline gets lobby and DM messages on login, per
/// conversation in seq order, and nothing twice.
async fn offline_user_gets_everything_in_order(loss: f64) {
    let server = UdpServer::start(loss).await;
    let (a, _ea) = server.user("a", 41).await;
    let (b, _eb) = server.user("b", 42).await;
    b.logout().await.expect("logout");
    drop(b);
    let mut handles = Vec::new();
    for i in 0..12 {
        let target = if i % 2 == 0 {
            Target::Lobby
        } else {
            Target::User("b".into())
        };
        handles.push(a.send(target, format!("m{i}")).await);
    }
    for handle in &mut handles {
        handle.stored().await.expect("stored");
    }
    let (b2, mut eb2) = server.connect(43).await;
    b2.login("b", PASSWORD).await.expect("login");
    let (got, convs) = eb2.sync().await;
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    let lobby = (0..12).step_by(2).map(|i| format!("m{i}"));
    let dm = (1..12).step_by(2).map(|i| format!("m{i}"));
    assert_eq!(bodies, lobby.chain(dm).collect::<Vec<_>>(), "loss {loss}");
    assert_eq!(convs.len(), 2, "lobby + the DM");
    a.send(Target::User("b".into()), "live")
        .await
        .stored()
        .await
        .expect("stored");
    assert_eq!(
        eb2.message().await.body,
        "live",
        "no duplicate before the live message"
    );
    server.stop().await;
}

/// `close` sends the transport's CLOSE: the server forgets the connection
/// long before its idle timeout, and every later call fails with `Closed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_the_connection_on_the_server_at_once() {
    let server = UdpServer::start(0.0).await;
    let (cleo, _events) = server.user("cleo", 51).await;
    assert_eq!(server.endpoint.connection_count(), 1);
    let idle = natter_net::TransportConfig::default().idle_timeout;
    let started = std::time::Instant::now();
    cleo.close().await;
    while server.endpoint.connection_count() > 0 {
        assert!(
            started.elapsed() < idle / 2,
            "still open after {idle:?} / 2"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await; // polling a state
    }
    println!(
        "server forgot the connection {:?} after close",
        started.elapsed()
    );
    let after = cleo.users().await;
    assert!(
        matches!(after, Err(natter_client::ClientError::Closed)),
        "{after:?}"
    );
    server.stop().await;
}
