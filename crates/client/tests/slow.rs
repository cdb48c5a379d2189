//! A client that stops reading its link is marked behind by the server; when
//! it reads again it sees the marker, resumes on a new connection and
//! re-syncs: every message once, none lost.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use natter_api::{Event, Target};
use natter_client::{BoxFuture, ClientEvent, ClientLink, ConnectionState, DialError, Dialer};
use natter_server::{Server, ServerConfig, gateway::memory};
use support::{Backend, Events, GUARD, Harness, PASSWORD, options, user};
use tokio::sync::{mpsc, watch};

/// Dials the in-process server; while `paused`, nothing is read from the
/// server's side of any link (the client looks like it stopped reading).
struct PausableDialer {
    server: Server,
    paused: watch::Sender<bool>,
}

impl Dialer for PausableDialer {
    fn dial(&self) -> BoxFuture<'static, Result<ClientLink, DialError>> {
        let conn = memory::connect(&self.server, ([127, 0, 0, 9], 9).into());
        let link = relay(conn, self.paused.subscribe());
        Box::pin(async move { Ok(link) })
    }
}

fn relay(conn: memory::MemoryConn, mut paused: watch::Receiver<bool>) -> ClientLink {
    let (to_server, mut from_client) = mpsc::channel::<Bytes>(8);
    let (to_client, from_server) = mpsc::channel::<Bytes>(8);
    let memory::MemoryConn { tx, mut rx } = conn;
    tokio::spawn(async move {
        while let Some(b) = from_client.recv().await {
            if tx.send(b).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        loop {
            if paused.wait_for(|p| !*p).await.is_err() {
                break;
            }
            let Some(b) = rx.recv().await else { break };
            if to_client.send(b).await.is_err() {
                break;
            }
        }
    });
    ClientLink::from_channels(to_server, from_server)
}

fn config() -> ServerConfig {
    let mut config = ServerConfig::for_tests();
    config.link_buffer = 8;
    config.max_queued_frames = 64;
    config.rate.per_second = 1e9;
    config.rate.burst = 1e9;
    // Long: the client, not the grace period, ends the slow session.
    config.slow_consumer_grace_ms = 60_000;
    config
}

fn metric(server: &Server, name: &str) -> u64 {
    let text = server.metrics_text();
    let line = text.lines().find(|l| l.starts_with(name));
    let value = line.and_then(|l| l.rsplit(' ').next());
    value.and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_fell_behind_resyncs_on_a_new_connection_without_loss() {
    let h = Harness::with_config(Backend::Memory, config());
    let (alice, _alice_events, _) = user(&h, "alice").await;
    let dialer = Arc::new(PausableDialer {
        server: h.server.clone(),
        paused: watch::Sender::new(false),
    });
    let (bob, events) = natter_client::Client::connect(dialer.clone(), options())
        .await
        .expect("connect");
    let mut events = Events(events);
    bob.register("bob", PASSWORD).await.expect("register");
    bob.login("bob", PASSWORD).await.expect("login");
    events.sync().await;

    dialer.paused.send_replace(true);
    const N: usize = 300;
    let mut last = 0;
    for i in 0..N {
        let mut sent = alice.send(Target::Lobby, format!("m{i}")).await;
        last = sent.stored().await.expect("stored").seq;
    }
    assert_eq!(metric(&h.server, "natter_slow_consumers_behind_total"), 1);
    dialer.paused.send_replace(false);

    let mut seqs = BTreeSet::new();
    let mut resumed = false;
    let mut count = 0;
    let caught_up = async {
        while seqs.last() != Some(&last) {
            match events.0.recv().await.expect("client alive") {
                ClientEvent::Server(Event::Message(m)) => {
                    count += 1;
                    seqs.insert(m.seq);
                }
                ClientEvent::Connection(ConnectionState::Resumed) => resumed = true,
                _ => {}
            }
        }
    };
    tokio::time::timeout(GUARD, caught_up)
        .await
        .expect("bob caught up within the guard");
    println!("bob: {count} messages, resumed: {resumed}");
    assert!(
        resumed,
        "the marker made the client resume on a new connection"
    );
    assert_eq!(count, seqs.len(), "no message twice");
    assert_eq!(seqs.len(), N, "no message lost");
    assert_eq!(
        metric(&h.server, "natter_slow_consumers_disconnected_total"),
        0
    );
}
