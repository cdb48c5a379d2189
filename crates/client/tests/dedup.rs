//! The client library is the one place that de-duplicates messages and
//! reports ✓✓: a message the server sends twice (same conversation and
//! seq, e.g. a resume's sync overlapping what arrived live) reaches the
//! application once, and ✓✓ comes once, as the `Delivered` watermark.

#[macro_use]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use natter_api::{Event, OutgoingState, ServerFrame, Target};
use natter_client::{BoxFuture, Client, ClientEvent, ClientLink, DialError, Dialer};
use natter_server::Server;
use natter_server::gateway::memory as memory_door;
use support::{Backend, Events, Harness, PASSWORD, options, user};
use tokio::sync::mpsc;

both_backends!(
    a_message_sent_twice_by_the_server_reaches_the_application_once,
    delivered_is_reported_once_as_the_watermark,
    a_gap_in_what_a_session_got_is_read_from_the_store_before_the_next_message,
    a_conversation_newer_than_the_sync_starts_from_its_first_message,
);

/// Dials the in-process server and sends every message event it pushes
/// twice, back to back.
struct Doubling(Server);

impl Dialer for Doubling {
    fn dial(&self) -> BoxFuture<'static, Result<ClientLink, DialError>> {
        let conn = memory_door::connect(&self.0, SocketAddr::from(([127, 0, 0, 1], 9_999)));
        Box::pin(async move { Ok(doubling_relay(conn)) })
    }
}

fn doubling_relay(conn: memory_door::MemoryConn) -> ClientLink {
    let (to_server, mut from_client) = mpsc::channel::<Bytes>(64);
    let (to_client, from_server) = mpsc::channel::<Bytes>(64);
    let memory_door::MemoryConn { tx, mut rx } = conn;
    tokio::spawn(async move {
        while let Some(frame) = from_client.recv().await {
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let copies = if is_message(&frame) { 2 } else { 1 };
            for _ in 0..copies {
                if to_client.send(frame.clone()).await.is_err() {
                    return;
                }
            }
        }
    });
    ClientLink::from_channels(to_server, from_server)
}

fn is_message(frame: &[u8]) -> bool {
    matches!(
        natter_api::decode::<ServerFrame>(frame),
        Ok(ServerFrame::Event(Event::Message(_)))
    )
}

async fn a_message_sent_twice_by_the_server_reaches_the_application_once(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, _alice_events, _) = user(&h, "alice").await;
    let dialer = Arc::new(Doubling(h.server.clone()));
    let (bob, events) = Client::connect(dialer, options()).await.expect("connect");
    let mut bob_events = Events(events);
    bob.register("bob", PASSWORD).await.expect("register");
    bob.login("bob", PASSWORD).await.expect("login");
    bob_events.sync().await;
    for text in ["one", "two", "three"] {
        let mut sent = alice.send(Target::User("bob".into()), text).await;
        sent.stored().await.expect("stored");
    }
    let got = bob_events.messages(3).await;
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["one", "two", "three"], "each once, in order");
    let seqs: Vec<_> = got.iter().map(|m| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // The copy of "three" came before anything sent later: once "four"
    // arrives, every copy was seen and dropped.
    let mut sent = alice.send(Target::User("bob".into()), "four").await;
    sent.stored().await.expect("stored");
    assert_eq!(bob_events.message().await.body, "four");
}

async fn delivered_is_reported_once_as_the_watermark(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, mut alice_events, _) = user(&h, "alice").await;
    let (_bob, mut bob_events, _) = user(&h, "bob").await;
    let mut handle = alice.send(Target::User("bob".into()), "hi").await;
    let sent = handle.stored().await.expect("stored");
    assert_eq!(bob_events.message().await.body, "hi");
    let mut outgoing = Vec::new();
    let watermark = alice_events
        .until(|e| match e {
            ClientEvent::Server(Event::Delivered { conv, seq }) if conv == sent.conv => Some(seq),
            ClientEvent::Outgoing { state, .. } => {
                outgoing.push(state);
                None
            }
            _ => None,
        })
        .await;
    assert!(watermark >= sent.seq);
    assert_eq!(
        outgoing,
        [OutgoingState::Stored(sent)],
        "✓ as an event, ✓✓ not"
    );
    assert_eq!(handle.delivered().await.expect("✓✓"), sent);
    assert_eq!(handle.state(), OutgoingState::Delivered(sent));
}

/// A message committed without reaching the sessions (its fan-out failed;
/// on a cluster node, one overtaken by a later message from another node)
/// is read from the store by each member's session before the next live
/// message of that conversation: the reader gets both, in order, at once.
async fn a_gap_in_what_a_session_got_is_read_from_the_store_before_the_next_message(
    backend: Backend,
) {
    let h = Harness::new(backend);
    let (alice, _alice_events, _) = user(&h, "alice").await;
    let (_bob, mut bob_events, _) = user(&h, "bob").await;
    let mut sent = alice.send(Target::User("bob".into()), "one").await;
    let one = sent.stored().await.expect("stored");
    assert_eq!(bob_events.message().await.body, "one");
    let sender = h
        .store
        .user_by_name("alice")
        .expect("store")
        .expect("alice");
    let behind_the_servers_back = natter_store::NewMessage {
        conv: natter_store::ConvId(one.conv.0 as i64),
        sender: Some(sender.id),
        client_id: [7; 16],
        kind: natter_store::MsgKind::Text,
        body: "two".into(),
        ts_ms: 1,
    };
    h.store
        .append(&[behind_the_servers_back])
        .expect("appended");
    let mut sent = alice.send(Target::User("bob".into()), "three").await;
    sent.stored().await.expect("stored");
    let got = bob_events.messages(2).await;
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["two", "three"], "the gap first, then the live one");
    let seqs: Vec<_> = got.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [one.seq + 1, one.seq + 2]);
}

/// Issue 11: a conversation that began after the reader's sync (here a
/// direct whose first message was committed without reaching anyone; on a
/// cluster, one overtaken by the second from another node): the session
/// has sent nothing of it, so the second message is not taken as the
/// start. The reader gets the first from the store, then the second.
async fn a_conversation_newer_than_the_sync_starts_from_its_first_message(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, _alice_events, _) = user(&h, "alice").await;
    let (_bob, mut bob_events, _) = user(&h, "bob").await;
    let id = |name: &str| {
        let user = h.store.user_by_name(name).expect("store").expect("user");
        user.id
    };
    let direct = h.store.direct(id("alice"), id("bob"), 1).expect("direct");
    let first = natter_store::NewMessage {
        conv: direct.id,
        sender: Some(id("alice")),
        client_id: [9; 16],
        kind: natter_store::MsgKind::Text,
        body: "one".into(),
        ts_ms: 1,
    };
    h.store.append(&[first]).expect("appended");
    let mut sent = alice.send(Target::User("bob".into()), "two").await;
    let two = sent.stored().await.expect("stored");
    assert_eq!(two.seq, 2);
    let got = bob_events.messages(2).await;
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["one", "two"],
        "the first from the store, then the live one"
    );
}
