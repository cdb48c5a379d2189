//! Typing indicators (relayed to the other members, bounded per connection,
//! never stored or synced), "seen" in directs, readers in the receipt view,
//! and search with its authorization, through natter-client against an
//! in-process server on both stores.

#[macro_use]
mod support;

use std::time::Instant;

use natter_api::{
    ConversationId, ConversationKind, ErrorCode, Event, HistoryQuery, Order, TYPING_INTERVAL_MS,
    Target,
};
use natter_client::{Client, ClientEvent};
use support::{Backend, Events, Harness, user};

/// The next typing event: (conversation, who, typing).
async fn typing(events: &mut Events) -> (ConversationId, String, bool) {
    events
        .until(|e| match e {
            ClientEvent::Server(Event::Typing { conv, user, typing }) => {
                Some((conv, user.name, typing))
            }
            _ => None,
        })
        .await
}

/// The next "seen" mark.
async fn seen(events: &mut Events) -> (ConversationId, u64) {
    events
        .until(|e| match e {
            ClientEvent::Server(Event::Seen { conv, seq }) => Some((conv, seq)),
            _ => None,
        })
        .await
}

/// Sends `body` to `to` and returns its conversation and seq once stored.
async fn post(client: &Client, to: Target, body: &str) -> (ConversationId, u64) {
    let sent = client.send(to, body).await.stored().await.expect("stored");
    (sent.conv, sent.seq)
}

async fn typing_is_relayed_bounded_and_never_stored(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, mut ae, _) = user(&h, "alice").await;
    let (_bob, mut be, bob_dialer) = user(&h, "bob").await;
    let (carol, _ce, _) = user(&h, "carol").await;
    let (dm, _) = post(&alice, Target::User("bob".into()), "hi").await;

    alice.typing(dm, true).await.expect("typing");
    assert_eq!(typing(&mut be).await, (dm, "alice".into(), true));
    // A flood of starts: one per interval at most is relayed.
    let flood_started = Instant::now();
    for _ in 0..100 {
        alice.typing(dm, true).await.expect("typing");
    }
    alice.typing(dm, false).await.expect("stop");
    let elapsed = flood_started.elapsed().as_millis() as u64;
    let mut starts = 0;
    while typing(&mut be).await.2 {
        starts += 1;
    }
    let allowed = elapsed / TYPING_INTERVAL_MS + 1;
    assert!(starts <= allowed, "{starts} starts relayed in {elapsed} ms");
    while let Some(e) = ae.0.try_recv() {
        let told = matches!(e, ClientEvent::Server(Event::Typing { .. }));
        assert!(!told, "the typist is not told");
    }
    let err = carol.typing(dm, true).await.expect_err("not a member");
    assert_eq!(err.code(), Some(ErrorCode::NotMember));
    let lobby = alice.conversations().await.unwrap();
    let lobby = lobby.iter().find(|c| c.kind == ConversationKind::Lobby);
    alice
        .typing(lobby.unwrap().id, true)
        .await
        .expect("lobby: ignored");

    // Never stored: the log holds the message only, and a new client of
    // bob's syncs no typing state.
    let page = HistoryQuery {
        conv: dm,
        anchor: natter_api::Anchor::Before(u64::MAX),
        limit: 50,
        order: Order::OldestFirst,
    };
    let log = alice.history(page).await.expect("history");
    assert_eq!(
        log.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["hi"]
    );
    let (again, mut events) = support::connect(bob_dialer).await;
    again.login("bob", support::PASSWORD).await.expect("login");
    events
        .until(|e| match e {
            ClientEvent::Server(Event::Typing { .. }) => panic!("typing was synced"),
            ClientEvent::Server(Event::Conversations(_)) => Some(()),
            _ => None,
        })
        .await;
}

async fn seen_reaches_the_peer_live_and_at_sync(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, mut ae, alice_dialer) = user(&h, "alice").await;
    let (bob, mut be, _) = user(&h, "bob").await;
    let (dm, _) = post(&alice, Target::User("bob".into()), "one").await;
    let (_, two) = post(&alice, Target::User("bob".into()), "two").await;
    be.messages(2).await;
    bob.mark_read(dm, two).await.expect("read");
    assert_eq!(seen(&mut ae).await, (dm, two));
    bob.mark_read(dm, 1).await.expect("lower: no news");
    let (_, three) = post(&bob, Target::User("alice".into()), "three").await;
    alice.mark_read(dm, three).await.expect("read");
    assert_eq!(seen(&mut be).await, (dm, three), "bob sees alice's mark");
    // A new client of alice's learns bob's mark at sync.
    let (again, mut events) = support::connect(alice_dialer).await;
    again
        .login("alice", support::PASSWORD)
        .await
        .expect("login");
    assert_eq!(seen(&mut events).await, (dm, two));
}

async fn the_receipt_view_lists_readers(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (bob, mut be, _) = user(&h, "bob").await;
    let (_carol, _ce, _) = user(&h, "carol").await;
    let group = alice.create_group("crew", false, &["bob", "carol"]);
    let group = group.await.expect("group");
    let (conv, seq) = post(&alice, Target::Conversation(group.id), "read me").await;
    be.until(|e| match e {
        ClientEvent::Server(Event::Message(m)) if m.seq == seq => Some(()),
        _ => None,
    })
    .await;
    bob.mark_read(conv, seq).await.expect("read");
    let view = alice.receipt_view(conv, seq).await.expect("receipt");
    let names = |list: &[natter_api::UserInfo]| -> Vec<String> {
        list.iter().map(|u| u.name.clone()).collect()
    };
    assert_eq!(names(&view.read), ["bob"]);
    let mut everyone = names(&view.delivered);
    everyone.extend(names(&view.pending));
    everyone.sort();
    assert_eq!(everyone, ["bob", "carol"]);
}

async fn search_finds_only_what_the_user_may_read(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (bob, _be, _) = user(&h, "bob").await;
    let (carol, _ce, _) = user(&h, "carol").await;
    let group = alice.create_group("crew", false, &["bob"]).await.unwrap();
    let to = Target::Conversation(group.id);
    post(&alice, to.clone(), "Привет, план на завтра").await;
    post(&bob, to.clone(), "東京の計画 plan B").await;
    bob.leave_group(group.id).await.expect("leave");
    post(&alice, to.clone(), "secret plan after bob left").await;
    post(&alice, Target::User("carol".into()), "plan for carol").await;

    let page = alice.search("PLAN", None, None, 2).await.expect("search");
    let bodies: Vec<&str> = page.hits.iter().map(|h| h.snippet.as_str()).collect();
    assert_eq!(bodies, ["plan for carol", "secret plan after bob left"]);
    let next = alice.search("plan", None, page.next, 10).await.unwrap();
    assert_eq!(next.hits.len(), 1, "{next:?}");
    assert_eq!(next.next, None);
    let hit = &next.hits[0];
    let crew = ConversationKind::Group {
        name: "crew".into(),
        public: false,
    };
    assert_eq!(
        (&hit.kind, hit.snippet.as_str()),
        (&crew, "東京の計画 plan B")
    );
    assert_eq!(hit.sender.as_ref().map(|u| u.name.as_str()), Some("bob"));
    assert_eq!(
        alice
            .search("ПЛАН", None, None, 10)
            .await
            .unwrap()
            .hits
            .len(),
        1
    );
    assert_eq!(
        alice
            .search("東京の", None, None, 10)
            .await
            .unwrap()
            .hits
            .len(),
        1
    );

    let bob_sees = bob.search("plan", Some(group.id), None, 10).await.unwrap();
    let seqs: Vec<u64> = bob_sees.hits.iter().map(|h| h.seq).collect();
    assert_eq!(seqs.len(), 1, "only up to the leave point: {bob_sees:?}");
    let err = carol.search("plan", Some(group.id), None, 10).await;
    assert_eq!(
        err.expect_err("stranger").code(),
        Some(ErrorCode::NotMember)
    );
    let carol_sees = carol.search("plan", None, None, 10).await.unwrap();
    assert_eq!(carol_sees.hits.len(), 1, "only her direct");
    let short = alice.search(" pl ", None, None, 10).await;
    assert_eq!(
        short.expect_err("short").code(),
        Some(ErrorCode::BadRequest)
    );
    let long = "x".repeat(natter_api::MAX_SEARCH_CHARS + 1);
    let long = alice.search(&long, None, None, 10).await;
    assert_eq!(long.expect_err("long").code(), Some(ErrorCode::BadRequest));
}

both_backends!(
    typing_is_relayed_bounded_and_never_stored,
    seen_reaches_the_peer_live_and_at_sync,
    the_receipt_view_lists_readers,
    search_finds_only_what_the_user_may_read,
);
