//! Editing and deleting messages end to end (natter-client against an
//! in-process server, both store backends): live events, history, the
//! sync after being offline, authorization and the edit window.

#[macro_use]
mod support;

use natter_api::{
    Anchor, ConversationId, ErrorCode, HistoryQuery, Message, MessageAction, Order, Role, Target,
};
use natter_client::{Client, ClientError};
use natter_server::ServerConfig;
use natter_store::{MsgKind, NewMessage};
use support::{Backend, Events, Harness, user};

both_backends!(
    edits_and_deletes_reach_live_clients_history_and_the_offline_sync,
    only_authors_edit_and_only_group_admins_delete_others_messages,
    members_who_joined_later_do_not_see_older_text_through_an_edit,
    search_finds_only_the_current_text,
);

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.expect_err("expected an error").code()
}

async fn history(c: &Client, conv: ConversationId) -> Vec<Message> {
    let query = HistoryQuery {
        conv,
        anchor: Anchor::After(0),
        limit: 100,
        order: Order::OldestFirst,
    };
    c.history(query).await.expect("history")
}

/// The message `seq` of a history page.
fn at(page: &[Message], seq: u64) -> &Message {
    page.iter().find(|m| m.seq == seq).expect("seq in the page")
}

/// The next message event that edits or deletes something.
async fn action(events: &mut Events) -> Message {
    loop {
        let m = events.message().await;
        if m.action.is_some() {
            return m;
        }
    }
}

/// Sends `text` to `conv` and waits for ✓ (its seq).
async fn send(c: &Client, conv: ConversationId, text: &str) -> u64 {
    let mut handle = c.send(Target::Conversation(conv), text).await;
    handle.stored().await.expect("stored").seq
}

async fn edits_and_deletes_reach_live_clients_history_and_the_offline_sync(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, mut ae, _) = user(&h, "alice").await;
    let (bob, _be, _) = user(&h, "bob").await;
    let conv = alice.create_group("crew", true, &["bob"]).await.unwrap().id;
    let seq = send(&bob, conv, "helo").await;
    let sent = bob.edit_message(conv, seq, "hello").await.expect("edited");
    assert_eq!(sent.seq, seq + 1, "an edit takes the next seq");
    let entry = action(&mut ae).await;
    assert_eq!(entry.action, Some(MessageAction::Edit { seq }));
    assert_eq!((entry.body.as_str(), entry.deleted), ("hello", false));
    assert!(entry.edited_ms.is_some());
    let page = history(&alice, conv).await;
    assert_eq!(at(&page, seq).body, "hello");
    assert!(at(&page, seq).edited_ms.is_some() && at(&page, seq).action.is_none());
    // The same client id again is the same edit, not a second one.
    let id = uuid::Uuid::new_v4();
    let first = bob
        .edit_message_with_id(conv, seq, "hello!", id)
        .await
        .unwrap();
    let again = bob
        .edit_message_with_id(conv, seq, "other", id)
        .await
        .unwrap();
    assert_eq!(first.seq, again.seq);
    assert_eq!(at(&history(&bob, conv).await, seq).body, "hello!");
    bob.close().await;
    drop(bob);
    // Offline: the owner deletes bob's message; bob's next login syncs it.
    let deleted = alice.delete_message(conv, seq).await.expect("deleted");
    let (bob, _be, _) = user(&h, "bob").await;
    let page = history(&bob, conv).await;
    let original = at(&page, seq);
    assert!(original.deleted && original.body.is_empty(), "{original:?}");
    let entry = at(&page, deleted.seq);
    assert_eq!(entry.action, Some(MessageAction::Delete { seq }));
    assert!(entry.deleted && entry.body.is_empty());
    assert_eq!(
        code(bob.edit_message(conv, seq, "back").await),
        Some(ErrorCode::MessageDeleted)
    );
    assert_eq!(
        code(alice.delete_message(conv, seq).await),
        Some(ErrorCode::MessageDeleted)
    );
    offline_sync_carries_the_current_state(&h, conv, seq).await;
}

/// A client that was offline during an edit and a delete gets both
/// entries in its sync, carrying the target's current state.
async fn offline_sync_carries_the_current_state(h: &Harness, conv: ConversationId, old: u64) {
    let (carol, _ce, _) = user(h, "carol").await;
    carol.join_group("crew").await.expect("join");
    let (alice, _ae, _) = user(h, "alice").await;
    let seq = send(&alice, conv, "typo").await;
    carol.close().await;
    drop(carol);
    alice.edit_message(conv, seq, "fixed").await.unwrap();
    let second = send(&alice, conv, "gone soon").await;
    alice.delete_message(conv, second).await.unwrap();
    let (_carol, mut ce, _) = {
        let dialer = h.dialer();
        let (client, events) = support::connect(dialer.clone()).await;
        client
            .login("carol", support::PASSWORD)
            .await
            .expect("login");
        (client, events, dialer)
    };
    let (synced, _) = ce.sync().await;
    let synced: Vec<_> = synced.into_iter().filter(|m| m.conv == conv).collect();
    let entries: Vec<_> = synced.iter().filter(|m| m.action.is_some()).collect();
    assert_eq!(entries.len(), 2, "{synced:?}");
    assert_eq!(entries[0].action, Some(MessageAction::Edit { seq }));
    assert_eq!(entries[0].body, "fixed");
    assert_eq!(
        entries[1].action,
        Some(MessageAction::Delete { seq: second })
    );
    assert!(entries[1].deleted && entries[1].body.is_empty());
    let deleted = synced.iter().find(|m| m.seq == second).expect("synced");
    assert!(deleted.deleted && deleted.body.is_empty());
    assert!(
        synced.iter().all(|m| m.seq > old),
        "only what carol may read"
    );
}

async fn only_authors_edit_and_only_group_admins_delete_others_messages(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (bob, _be, _) = user(&h, "bob").await;
    let (carol, _ce, _) = user(&h, "carol").await;
    let (dave, _de, _) = user(&h, "dave").await;
    let crew = alice
        .create_group("crew", false, &["bob", "carol"])
        .await
        .unwrap()
        .id;
    let by_carol = send(&carol, crew, "carol's").await;
    let forbidden = Some(ErrorCode::Forbidden { needs: Role::Admin });
    assert_eq!(
        code(bob.edit_message(crew, by_carol, "x").await),
        Some(ErrorCode::NotAuthor)
    );
    assert_eq!(
        code(alice.edit_message(crew, by_carol, "x").await),
        Some(ErrorCode::NotAuthor)
    );
    assert_eq!(code(bob.delete_message(crew, by_carol).await), forbidden);
    assert_eq!(
        code(dave.delete_message(crew, by_carol).await),
        Some(ErrorCode::NotMember)
    );
    assert_eq!(
        code(dave.edit_message(crew, by_carol, "x").await),
        Some(ErrorCode::NotMember)
    );
    for seq in [1, 999] {
        let got = code(carol.edit_message(crew, seq, "x").await);
        assert_eq!(got, Some(ErrorCode::NoSuchMessage), "seq {seq}");
    }
    let max = h.config.max_body;
    let long = "x".repeat(max + 1);
    assert_eq!(
        code(carol.edit_message(crew, by_carol, long).await),
        Some(ErrorCode::TooLarge)
    );
    let empty = code(carol.edit_message(crew, by_carol, "").await);
    assert_eq!(empty, Some(ErrorCode::BadRequest));
    let gone = code(carol.edit_message(ConversationId(u64::MAX), 1, "x").await);
    assert_eq!(gone, Some(ErrorCode::NoSuchConversation));
    alice
        .delete_message(crew, by_carol)
        .await
        .expect("the owner deletes");
    // The lobby and directs have no admins: only the author deletes there.
    let mut lobby_msg = bob.send(Target::Lobby, "in the lobby").await;
    let lobby = lobby_msg.stored().await.unwrap();
    assert_eq!(
        code(alice.delete_message(lobby.conv, lobby.seq).await),
        forbidden
    );
    let mut dm = bob.send(Target::User("alice".into()), "psst").await;
    let dm = dm.stored().await.unwrap();
    assert_eq!(code(alice.delete_message(dm.conv, dm.seq).await), forbidden);
    let entry = bob.delete_message(dm.conv, dm.seq).await.expect("own");
    assert_eq!(
        code(bob.delete_message(dm.conv, entry.seq).await),
        Some(ErrorCode::NoSuchMessage)
    );
}

async fn members_who_joined_later_do_not_see_older_text_through_an_edit(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, mut ae, _) = user(&h, "alice").await;
    let (carol, mut ce, _) = user(&h, "carol").await;
    let conv = alice.create_group("crew", true, &[]).await.unwrap().id;
    let seq = send(&alice, conv, "before carol").await;
    carol.join_group("crew").await.expect("join");
    let edit = alice
        .edit_message(conv, seq, "still before carol")
        .await
        .unwrap();
    assert_eq!(action(&mut ae).await.body, "still before carol");
    let live = action(&mut ce).await;
    assert_eq!(
        (live.seq, live.body.as_str()),
        (edit.seq, ""),
        "stripped live"
    );
    let page = history(&carol, conv).await;
    assert!(page.iter().all(|m| m.seq != seq));
    assert_eq!(at(&page, edit.seq).body, "", "stripped in history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edit_window_is_a_server_setting() {
    let config = ServerConfig {
        edit_window_secs: Some(60),
        ..ServerConfig::for_tests()
    };
    let h = Harness::with_config(Backend::Memory, config);
    let (alice, _ae, _) = user(&h, "alice").await;
    let lobby = h.store.lobby();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let hour_ago = now.expect("clock").as_millis() as i64 - 3_600_000;
    let me = h.store.user_by_name("alice").unwrap().expect("alice").id;
    let old = NewMessage {
        conv: lobby,
        sender: Some(me),
        client_id: [7; 16],
        kind: MsgKind::Text,
        body: "an hour ago".into(),
        ts_ms: hour_ago,
    };
    let old = h.store.append(&[old]).unwrap().remove(0).message.seq;
    let api_lobby = ConversationId(lobby.0 as u64);
    let err = alice
        .edit_message(api_lobby, old, "late")
        .await
        .expect_err("closed");
    assert_eq!(err.code(), Some(ErrorCode::EditWindowClosed));
    assert!(err.to_string().contains("60 s"), "{err}");
    alice
        .delete_message(api_lobby, old)
        .await
        .expect("deleting has no window");
    let fresh = send(&alice, api_lobby, "now").await;
    alice
        .edit_message(api_lobby, fresh, "just now")
        .await
        .expect("in the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_admin_deletes_in_any_group_member_or_not_but_edits_nothing() {
    let config = ServerConfig {
        admins: vec!["root".into()],
        ..ServerConfig::for_tests()
    };
    let h = Harness::with_config(Backend::Sqlite, config);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (root, _re, _) = user(&h, "root").await;
    let crew = alice.create_group("crew", false, &[]).await.unwrap().id;
    let seq = send(&alice, crew, "spam").await;
    let edit = code(root.edit_message(crew, seq, "x").await);
    assert_eq!(edit, Some(ErrorCode::NotAuthor));
    root.delete_message(crew, seq)
        .await
        .expect("a server admin deletes");
    assert!(at(&history(&alice, crew).await, seq).deleted);
}

/// Edits and deletes pass the write rate limit: a flood of them from one
/// connection is refused past the burst, and a refused one stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_edits_is_rate_limited() {
    let h = Harness::new(Backend::Memory);
    let (alice, _ae, _) = user(&h, "alice").await;
    let mut first = alice.send(Target::Lobby, "v0").await;
    let sent = first.stored().await.expect("stored");
    let flood = (0..300).map(|i| alice.edit_message(sent.conv, sent.seq, format!("v{i}")));
    let results = futures_util::future::join_all(flood).await;
    let stored = results.iter().filter(|r| r.is_ok()).count();
    let limited = results
        .iter()
        .filter(|r| matches!(r, Err(e) if matches!(e.code(), Some(ErrorCode::RateLimited { .. }))));
    assert!(stored < 300, "some edits are refused");
    assert_eq!(
        limited.count(),
        300 - stored,
        "refused only by the rate limit"
    );
    let last = h.store.last_seq(h.store.lobby()).unwrap();
    assert_eq!(
        last as usize,
        stored + 1,
        "one log entry per stored edit, none else"
    );
}

async fn search_finds_only_the_current_text(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, _ae, _) = user(&h, "alice").await;
    let conv = alice.create_group("crew", true, &[]).await.unwrap().id;
    let seq = send(&alice, conv, "findable apricot").await;
    let hits = |c: &Client, text: &'static str| {
        let c = c.clone();
        async move {
            let page = c.search(text, Some(conv), None, 20).await.expect("search");
            page.hits.iter().map(|hit| hit.seq).collect::<Vec<_>>()
        }
    };
    assert_eq!(hits(&alice, "apricot").await, [seq]);
    alice.edit_message(conv, seq, "plain banana").await.unwrap();
    assert_eq!(hits(&alice, "apricot").await, Vec::<u64>::new());
    assert_eq!(
        hits(&alice, "banana").await,
        [seq],
        "the message, not the entry"
    );
    alice.delete_message(conv, seq).await.unwrap();
    assert_eq!(hits(&alice, "banana").await, Vec::<u64>::new());
}
