//! End-to-end chat scenarios: in-process server (memory and SQLite stores),
//! clients over the in-memory dialer.

#[macro_use]
mod support;

use natter_api::{Anchor, ErrorCode, Event, HistoryQuery, Order, Target};
use natter_client::ClientEvent;
use support::{Backend, Harness, PASSWORD, connect, user};

both_backends!(
    accounts,
    lobby_broadcast_reaches_everyone,
    direct_messages_both_ways,
    history_pages_both_directions,
    offline_user_gets_everything_in_order,
    resend_with_same_id_returns_same_seq,
    two_clients_of_one_account_both_receive,
    non_member_cannot_read_a_dm,
    limits,
);

async fn accounts(backend: Backend) {
    let h = Harness::new(backend);
    let (c, _events) = connect(h.dialer()).await;
    let alice = c.register("Alice", PASSWORD).await.unwrap();
    assert_eq!(alice.name, "Alice");
    fn code<T: std::fmt::Debug>(r: Result<T, natter_client::ClientError>) -> Option<ErrorCode> {
        r.unwrap_err().code()
    }
    assert_eq!(
        code(c.register("aLICE", PASSWORD).await),
        Some(ErrorCode::NameTaken)
    );
    assert_eq!(
        code(c.register("bad name", PASSWORD).await),
        Some(ErrorCode::InvalidName)
    );
    assert_eq!(
        code(c.register("", PASSWORD).await),
        Some(ErrorCode::InvalidName)
    );
    assert_eq!(
        code(c.register("bob", "short").await),
        Some(ErrorCode::WeakPassword)
    );
    assert_eq!(
        code(c.login("alice", "wrong password").await),
        Some(ErrorCode::BadCredentials)
    );
    assert_eq!(
        code(c.login("nobody", PASSWORD).await),
        Some(ErrorCode::BadCredentials)
    );
    assert_eq!(code(c.users().await), Some(ErrorCode::Unauthenticated));
    let me = c.login("ALICE", PASSWORD).await.unwrap();
    assert_eq!(
        me, alice,
        "login is case-insensitive, display keeps the case"
    );
    assert_eq!(
        code(c.login("alice", PASSWORD).await),
        Some(ErrorCode::AlreadyAuthenticated)
    );
    let users = c.users().await.unwrap();
    assert_eq!(users, vec![alice]);
}

async fn lobby_broadcast_reaches_everyone(backend: Backend) {
    let h = Harness::new(backend);
    let (a, mut ea, _) = user(&h, "a").await;
    let (_b, mut eb, _) = user(&h, "b").await;
    let (_c, mut ec, _) = user(&h, "c").await;
    let sent = a
        .send(Target::Lobby, "hello all")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(sent.seq, 1);
    for events in [&mut ea, &mut eb, &mut ec] {
        let m = events.message().await;
        assert_eq!((m.seq, m.body.as_str()), (1, "hello all"));
        assert_eq!(m.sender.unwrap().name, "a");
        assert_eq!(m.conv, sent.conv);
    }
}

async fn direct_messages_both_ways(backend: Backend) {
    let h = Harness::new(backend);
    let (a, mut ea, _) = user(&h, "ann").await;
    let (b, mut eb, _) = user(&h, "Ben").await;
    let s1 = a
        .send(Target::User("BEN".into()), "hi ben")
        .await
        .stored()
        .await
        .unwrap();
    let got = eb.message().await;
    assert_eq!(
        (got.conv, got.seq, got.body.as_str()),
        (s1.conv, 1, "hi ben")
    );
    let s2 = b
        .send(Target::User("ann".into()), "hi ann")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(
        (s2.conv, s2.seq),
        (s1.conv, 2),
        "same conversation both ways"
    );
    let s3 = b
        .send(Target::Conversation(s1.conv), "again")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(s3.seq, 3);
    let mine_then_theirs = ea.messages(3).await;
    let bodies: Vec<_> = mine_then_theirs.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["hi ben", "hi ann", "again"]);
    let err = a
        .send(Target::User("nobody".into()), "x")
        .await
        .stored()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NoSuchUser));
    let convs = a.conversations().await.unwrap();
    assert_eq!(convs.len(), 2, "lobby + the DM");
    let dm = convs.iter().find(|c| c.id == s1.conv).unwrap();
    assert_eq!(dm.last_seq, 3);
    assert!(
        matches!(&dm.kind, natter_api::ConversationKind::Direct { peer } if peer.name == "Ben")
    );
}

async fn history_pages_both_directions(backend: Backend) {
    let h = Harness::new(backend);
    let (a, _ea, _) = user(&h, "a").await;
    let (_b, _eb, _) = user(&h, "b").await;
    let mut handles = Vec::new();
    for i in 1..=25 {
        handles.push(a.send(Target::User("b".into()), format!("m{i}")).await);
    }
    let mut conv = None;
    for (i, handle) in handles.iter_mut().enumerate() {
        let sent = handle.stored().await.unwrap();
        assert_eq!(sent.seq, i as u64 + 1, "seq follows send order");
        conv = Some(sent.conv);
    }
    let conv = conv.unwrap();
    let page = |anchor, order| HistoryQuery {
        conv,
        anchor,
        limit: 10,
        order,
    };
    let seqs = |ms: Vec<natter_api::Message>| ms.iter().map(|m| m.seq).collect::<Vec<_>>();
    let newest = a
        .history(page(Anchor::Before(u64::MAX), Order::NewestFirst))
        .await
        .unwrap();
    assert_eq!(seqs(newest), (16..=25).rev().collect::<Vec<_>>());
    let older = a
        .history(page(Anchor::Before(16), Order::NewestFirst))
        .await
        .unwrap();
    assert_eq!(seqs(older), (6..=15).rev().collect::<Vec<_>>());
    let oldest = a
        .history(page(Anchor::After(0), Order::OldestFirst))
        .await
        .unwrap();
    assert_eq!(seqs(oldest), (1..=10).collect::<Vec<_>>());
    let next = a
        .history(page(Anchor::After(20), Order::OldestFirst))
        .await
        .unwrap();
    assert_eq!(seqs(next), (21..=25).collect::<Vec<_>>());
    let asc = a
        .history(page(Anchor::Before(4), Order::OldestFirst))
        .await
        .unwrap();
    assert_eq!(seqs(asc), vec![1, 2, 3]);
    assert!(
        a.history(page(Anchor::After(25), Order::OldestFirst))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn offline_user_gets_everything_in_order(backend: Backend) {
    let h = Harness::new(backend);
    let (a, _ea, _) = user(&h, "a").await;
    let (b, _eb, _) = user(&h, "b").await;
    b.logout().await.unwrap();
    drop(b);
    let mut last = None;
    for i in 0..6 {
        let target = if i % 2 == 0 {
            Target::Lobby
        } else {
            Target::User("b".into())
        };
        last = Some(a.send(target, format!("m{i}")).await);
    }
    last.unwrap().stored().await.unwrap();
    let (b2, mut eb2) = connect(h.dialer()).await;
    b2.login("b", PASSWORD).await.unwrap();
    let (got, convs) = eb2.sync().await;
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    // Per conversation, in seq order (lobby first: it has the lower id).
    assert_eq!(bodies, ["m0", "m2", "m4", "m1", "m3", "m5"]);
    assert_eq!(convs.len(), 2);
    // The client acknowledged: a second client logging in later gets nothing again.
    let delivered = |c: &natter_api::ConversationInfo| c.delivered;
    let list = wait_for_acks(&b2, 2).await;
    assert!(list.iter().all(|c| delivered(c) == c.last_seq), "{list:?}");
    let (b3, mut eb3) = connect(h.dialer()).await;
    b3.login("b", PASSWORD).await.unwrap();
    let (again, _) = eb3.sync().await;
    assert!(again.is_empty(), "stored cursors advanced: {again:?}");
}

/// Polls the conversation list until every cursor caught up (acks are asynchronous).
async fn wait_for_acks(c: &natter_client::Client, n: usize) -> Vec<natter_api::ConversationInfo> {
    let wait = async {
        loop {
            let list = c.conversations().await.unwrap();
            if list.len() == n && list.iter().all(|x| x.delivered == x.last_seq) {
                return list;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(support::GUARD, wait)
        .await
        .expect("acks never landed")
}

async fn resend_with_same_id_returns_same_seq(backend: Backend) {
    let h = Harness::new(backend);
    let (a, _ea, _) = user(&h, "a").await;
    let (_b, mut eb, _) = user(&h, "b").await;
    let id = uuid::Uuid::new_v4();
    let first = a
        .send_with_id(Target::Lobby, "once", id)
        .await
        .stored()
        .await
        .unwrap();
    let again = a
        .send_with_id(Target::Lobby, "once", id)
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(first, again);
    let next = a.send(Target::Lobby, "twice").await.stored().await.unwrap();
    assert_eq!(next.seq, first.seq + 1);
    let got = eb.messages(2).await;
    assert_eq!((got[0].seq, got[1].seq), (1, 2), "no duplicate delivered");
    assert_eq!(got[0].client_id, id);
}

async fn two_clients_of_one_account_both_receive(backend: Backend) {
    let h = Harness::new(backend);
    let (a1, mut ea1, _) = user(&h, "a").await;
    let (_a2, mut ea2, _) = user(&h, "a").await;
    let (b, _eb, _) = user(&h, "b").await;
    b.send(Target::User("a".into()), "to both")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(ea1.message().await.body, "to both");
    assert_eq!(ea2.message().await.body, "to both");
    a1.send(Target::User("b".into()), "from a1")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(
        ea2.message().await.body,
        "from a1",
        "the sender's other client sees it"
    );
    assert_eq!(
        ea1.message().await.body,
        "from a1",
        "and so does the sender itself"
    );
}

async fn non_member_cannot_read_a_dm(backend: Backend) {
    let h = Harness::new(backend);
    let (a, _ea, _) = user(&h, "a").await;
    let (_b, _eb, _) = user(&h, "b").await;
    let (c, mut ec, _) = user(&h, "c").await;
    let dm = a
        .send(Target::User("b".into()), "secret")
        .await
        .stored()
        .await
        .unwrap()
        .conv;
    let q = |anchor, order| HistoryQuery {
        conv: dm,
        anchor,
        limit: 10,
        order,
    };
    for query in [
        q(Anchor::Before(u64::MAX), Order::NewestFirst),
        q(Anchor::After(0), Order::OldestFirst),
    ] {
        let err = c.history(query).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::NotMember));
    }
    let err = c
        .send(Target::Conversation(dm), "intrude")
        .await
        .stored()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotMember));
    let missing = natter_api::ConversationId(9999);
    let err = c
        .history(q(Anchor::After(0), Order::OldestFirst))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotMember));
    let err = c
        .history(HistoryQuery {
            conv: missing,
            anchor: Anchor::After(0),
            limit: 1,
            order: Order::OldestFirst,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NoSuchConversation));
    assert!(ec.no_message_queued(), "c never receives the DM");
}

async fn limits(backend: Backend) {
    let h = Harness::new(backend);
    let (a, _ea, _) = user(&h, "a").await;
    let max = h.config.max_body;
    let ok = a.send(Target::Lobby, "x".repeat(max)).await.stored().await;
    assert!(ok.is_ok());
    let err = a
        .send(Target::Lobby, "x".repeat(max + 1))
        .await
        .stored()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TooLarge));
    let err = a
        .send(Target::User("a".into()), "me")
        .await
        .stored()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest));
}

#[tokio::test]
async fn failed_logins_are_throttled() {
    let h = Harness::with_config(Backend::Memory, natter_server::ServerConfig::for_tests());
    let (c, _events) = connect(h.dialer()).await;
    c.register("victim", PASSWORD).await.unwrap();
    for _ in 0..6 {
        let err = c.login("victim", "wrong password").await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::BadCredentials));
    }
    let err = c.login("victim", PASSWORD).await.unwrap_err();
    match err.code() {
        Some(ErrorCode::TooManyAttempts { retry_after_ms }) => {
            assert!((1..=1000).contains(&retry_after_ms), "{retry_after_ms}")
        }
        other => panic!("expected too_many_attempts, got {other:?}"),
    }
    // Another address is throttled too, through the account key.
    let (other, _e) = connect(h.dialer()).await;
    let err = other.login("VICTIM", PASSWORD).await.unwrap_err();
    assert!(matches!(
        err.code(),
        Some(ErrorCode::TooManyAttempts { .. })
    ));
}

#[tokio::test]
async fn change_password_ends_other_sessions() {
    let h = Harness::new(Backend::Memory);
    let (a1, _e1, _) = user(&h, "a").await;
    let (_a2, mut e2, _) = user(&h, "a").await;
    a1.change_password(PASSWORD, "new password").await.unwrap();
    let reason = e2
        .until(|e| match e {
            ClientEvent::Server(Event::SessionEnded { reason }) => Some(reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, "password changed");
    let (c, _e) = connect(h.dialer()).await;
    assert!(c.login("a", PASSWORD).await.is_err());
    c.login("a", "new password").await.unwrap();
    a1.users()
        .await
        .expect("the changing session stays logged in");
}
