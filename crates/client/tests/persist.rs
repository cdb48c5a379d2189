//! What outlives a client process: the session token (resume), the outbox
//! directory (resend after a restart, stored once), and delivery acks left
//! off by one-shot clients.

mod support;

use natter_api::{Anchor, ErrorCode, HistoryQuery, Order, SessionToken, Target};
use natter_client::{ClientEvent, ConnectionState, OutboxDir, OutgoingState};
use support::{Backend, Harness, PASSWORD, connect, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_resumes_with_the_saved_token() {
    let h = Harness::new(Backend::Memory);
    let (a, _ea, _) = user(&h, "a").await;
    let token = a.session_token().expect("token after login");
    drop(a);

    let (again, mut events) = connect(h.dialer()).await;
    assert_eq!(again.resume(token).await.expect("resume").name, "a");
    assert!(again.session_token().is_some());
    events.sync().await;

    let (stranger, _) = connect(h.dialer()).await;
    let bad = stranger.resume(SessionToken("00".repeat(32))).await;
    assert_eq!(
        bad.expect_err("unknown token").code(),
        Some(ErrorCode::BadCredentials)
    );
    assert_eq!(stranger.session_token(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_directory_survives_a_client_restart_and_sends_once() {
    let h = Harness::new(Backend::Memory);
    let (_b, _eb, _) = user(&h, "b").await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = OutboxDir::new(tmp.path().join("outbox"));

    // First process: logged in, then the server becomes unreachable.
    let (a, mut ea, dialer) = user(&h, "a").await;
    assert!(
        a.attach_outbox(dir.clone())
            .await
            .expect("attach")
            .is_empty()
    );
    dialer.set_refuse(true);
    dialer.cut();
    ea.until(|e| {
        matches!(
            e,
            ClientEvent::Connection(ConnectionState::Reconnecting { .. })
        )
        .then_some(())
    })
    .await;
    let handle = a.send(Target::User("b".into()), "queued").await;
    assert_eq!(handle.state(), OutgoingState::Pending);
    // Commands run in order: once this (failing) call returns, the send was queued.
    assert!(a.users().await.is_err());
    let saved = dir.load().expect("load");
    assert_eq!(saved.len(), 1);
    drop(a);

    // Second process: restores it and sends it once logged in.
    for _ in 0..2 {
        let (a, _ea) = connect(h.dialer()).await;
        let mut restored = a.attach_outbox(dir.clone()).await.expect("attach");
        assert_eq!(restored.len(), 1);
        a.login("a", PASSWORD).await.expect("login");
        let sent = restored[0].stored().await.expect("stored");
        assert_eq!(sent.seq, 1, "the same client id is stored once");
        assert_eq!(dir.load().expect("load"), []);
        // Simulate a crash between "stored" and "file removed": resend it.
        dir.save(&saved[0]).expect("save");
    }
    let (b, _eb, _) = user(&h, "b").await;
    let conv = b
        .conversations()
        .await
        .expect("list")
        .iter()
        .find(|c| c.last_seq > 0)
        .map(|c| c.id);
    let query = HistoryQuery {
        conv: conv.expect("the direct conversation"),
        anchor: Anchor::After(0),
        limit: 10,
        order: Order::OldestFirst,
    };
    let bodies: Vec<_> = b
        .history(query)
        .await
        .expect("history")
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies, ["queued"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_delivery_acks_messages_are_synced_again() {
    let h = Harness::new(Backend::Memory);
    let (a, _ea, _) = user(&h, "a").await;
    let (quiet, mut eq) = connect(h.dialer()).await;
    quiet.register("b", PASSWORD).await.expect("register");
    quiet.set_delivery_acks(false).await;
    quiet.login("b", PASSWORD).await.expect("login");
    eq.sync().await;
    a.send(Target::User("b".into()), "hi")
        .await
        .stored()
        .await
        .expect("stored");
    assert_eq!(eq.message().await.body, "hi");
    drop(quiet);

    let (again, mut events) = connect(h.dialer()).await;
    again.login("b", PASSWORD).await.expect("login");
    let (messages, _) = events.sync().await;
    assert!(
        messages.iter().any(|m| m.body == "hi"),
        "not synced again: {messages:?}"
    );
}
