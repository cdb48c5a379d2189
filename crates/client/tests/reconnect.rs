//! Connection loss, reconnect, resume, outbox resend, server restart.

mod support;

use std::sync::Arc;
use std::time::Duration;

use natter_api::{Anchor, Event, HistoryQuery, Message, Order, Target};
use natter_client::{
    BoxFuture, Client, ClientEvent, ClientLink, ConnectError, ConnectionState, DialError, Dialer,
    OutgoingState,
};
use natter_server::Server;
use natter_store::{SqliteStore, Store};
use support::{Backend, Events, Harness, options, user};

async fn connection(events: &mut Events, want: ConnectionState) {
    events
        .until(|e| matches!(e, ClientEvent::Connection(s) if s == want).then_some(()))
        .await;
}

fn seqs(ms: &[Message]) -> Vec<u64> {
    ms.iter().map(|m| m.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_cut_resumes_and_resends_the_outbox() {
    let h = Harness::new(Backend::Memory);
    let (a, mut ea, dialer) = user(&h, "a").await;
    let (b, mut eb, _) = user(&h, "b").await;
    dialer.set_refuse(true);
    dialer.cut();
    connection(&mut ea, ConnectionState::Reconnecting { attempt: 1 }).await;
    let mut queued = Vec::new();
    for i in 0..3 {
        queued.push(a.send(Target::User("b".into()), format!("q{i}")).await);
    }
    assert!(queued.iter().all(|h| h.state() == OutgoingState::Pending));
    b.send(Target::User("a".into()), "while you were away")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(eb.message().await.body, "while you were away");
    dialer.set_refuse(false);
    connection(&mut ea, ConnectionState::Resumed).await;
    for (i, handle) in queued.iter_mut().enumerate() {
        assert_eq!(handle.stored().await.unwrap().seq, i as u64 + 2);
    }
    let got = ea.messages(4).await;
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["while you were away", "q0", "q1", "q2"]);
    assert_eq!(seqs(&eb.messages(3).await), [2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_mid_stream_loses_and_duplicates_nothing() {
    let h = Harness::new(Backend::Sqlite);
    let (a, _ea, dialer) = user(&h, "a").await;
    let (_b, mut eb, _) = user(&h, "b").await;
    let mut handles = Vec::new();
    for i in 0..40 {
        handles.push(a.send(Target::Lobby, format!("m{i}")).await);
        if i == 10 {
            dialer.cut();
        }
    }
    let mut stored = Vec::new();
    for handle in &mut handles {
        stored.push(handle.stored().await.unwrap().seq);
    }
    assert_eq!(
        stored,
        (1..=40).collect::<Vec<_>>(),
        "every message stored once, in order"
    );
    let got = eb.messages(40).await;
    assert_eq!(seqs(&got), (1..=40).collect::<Vec<_>>());
    a.send(Target::Lobby, "marker")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(
        eb.message().await.body,
        "marker",
        "no duplicate before the marker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_on_the_same_sqlite_file() {
    let h = Harness::new(Backend::Sqlite);
    let (a, mut ea, da) = user(&h, "a").await;
    let (_b, mut eb, db) = user(&h, "b").await;
    let mut handles = Vec::new();
    for i in 0..30 {
        handles.push(a.send(Target::Lobby, format!("m{i}")).await);
    }
    handles[4].stored().await.unwrap();
    for d in [&da, &db] {
        d.set_server(None);
    }
    h.server.shutdown().await;
    let mut got = Vec::new();
    eb.until(|e| match e {
        ClientEvent::Server(Event::Message(m)) => {
            got.push(m);
            None
        }
        ClientEvent::Server(Event::ServerClosing { .. }) => Some(()),
        _ => None,
    })
    .await;
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(h.dir.path().join("natter.db")).unwrap());
    let server = Server::new(store, h.config.clone());
    for d in [&da, &db] {
        d.set_server(Some(server.clone()));
    }
    connection(&mut ea, ConnectionState::Resumed).await;
    let mut stored = Vec::new();
    for handle in &mut handles {
        stored.push(handle.stored().await.unwrap().seq);
    }
    assert_eq!(stored, (1..=30).collect::<Vec<_>>());
    got.extend(eb.messages(30 - got.len()).await);
    assert_eq!(
        seqs(&got),
        (1..=30).collect::<Vec<_>>(),
        "b got each once, in order"
    );
    let conv = handles[0].stored().await.unwrap().conv;
    let page = HistoryQuery {
        conv,
        anchor: Anchor::After(0),
        limit: 500,
        order: Order::OldestFirst,
    };
    let history = a.history(page).await.unwrap();
    let ids: Vec<_> = history.iter().map(|m| m.client_id).collect();
    let sent: Vec<_> = handles.iter().map(|h| h.client_id).collect();
    assert_eq!(ids, sent, "each ✓ message exactly once, in order");
    server.shutdown().await;
}

struct NeverDialer;

impl Dialer for NeverDialer {
    fn dial(&self) -> BoxFuture<'static, Result<ClientLink, DialError>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn connect_fails_clearly() {
    let mut opts = options();
    opts.connect_timeout = Duration::from_millis(50);
    let err = Client::connect(Arc::new(NeverDialer), opts)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Timeout(d) if d == Duration::from_millis(50)));
    let h = Harness::new(Backend::Memory);
    let dialer = h.dialer();
    dialer.set_refuse(true);
    let err = Client::connect(dialer, options()).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::Dial(DialError::Unreachable(_))),
        "{err}"
    );
}
