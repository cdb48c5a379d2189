//! Server operators' requests through the client library, in-process
//! server (memory and SQLite stores): only server admins may send them; a
//! disabled account's connections end at once and its logins and resumes
//! are refused; a password reset ends every session; a user's message
//! bodies are removed; statistics count what is stored.

#[macro_use]
mod support;

use natter_api::{ErrorCode, Event, Target};
use natter_client::ClientEvent;
use natter_server::ServerConfig;
use support::{Backend, Events, Harness, PASSWORD, connect, user};

both_backends!(
    only_server_admins_may_operate,
    disabling_ends_every_connection_and_refuses_logins_until_enabled,
    a_password_reset_ends_every_session,
    a_users_messages_lose_their_bodies_and_stats_count,
    a_server_admin_moderates_a_group_it_is_not_in,
);

fn harness(backend: Backend) -> Harness {
    let config = ServerConfig {
        admins: vec!["Root".into()],
        ..ServerConfig::for_tests()
    };
    Harness::with_config(backend, config)
}

async fn ended(events: &mut Events) -> String {
    events
        .until(|e| match e {
            ClientEvent::Server(Event::SessionEnded { reason }) => Some(reason),
            _ => None,
        })
        .await
}

async fn only_server_admins_may_operate(backend: Backend) {
    let h = harness(backend);
    let (root, _r, _) = user(&h, "root").await;
    let (a, _a, _) = user(&h, "a").await;
    let refused = a.admin_stats().await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::NotServerAdmin));
    let refused = a.admin_set_disabled("root", true).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::NotServerAdmin));
    let users = root.admin_users().await.expect("names compare in any case");
    let names: Vec<(&str, bool, bool)> = users
        .iter()
        .map(|u| (u.user.name.as_str(), u.server_admin, u.online))
        .collect();
    assert_eq!(names, vec![("root", true, true), ("a", false, true)]);
    assert!(users.iter().all(|u| u.sessions == 1 && !u.disabled));
    let unknown = root.admin_set_disabled("nobody", true).await.unwrap_err();
    assert_eq!(unknown.code(), Some(ErrorCode::NoSuchUser));
    let myself = root.admin_set_disabled("ROOT", true).await.unwrap_err();
    assert_eq!(myself.code(), Some(ErrorCode::BadRequest));
}

async fn disabling_ends_every_connection_and_refuses_logins_until_enabled(backend: Backend) {
    let h = harness(backend);
    let (root, _r, _) = user(&h, "root").await;
    let (b1, mut e1, _) = user(&h, "b").await;
    let (_b2, mut e2, _) = user(&h, "b").await;
    let token = b1.session_token().expect("token");
    root.admin_set_disabled("b", true).await.unwrap();
    assert!(ended(&mut e1).await.contains("disabled"));
    assert!(ended(&mut e2).await.contains("disabled"));

    let (c, _e) = connect(h.dialer()).await;
    let refused = c.login("b", PASSWORD).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::AccountDisabled));
    let (c, _e) = connect(h.dialer()).await;
    let refused = c.resume(token).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Some(ErrorCode::BadCredentials),
        "sessions gone"
    );
    let (c, _e) = connect(h.dialer()).await;
    let wrong = c.login("b", "not the password").await.unwrap_err();
    assert_eq!(wrong.code(), Some(ErrorCode::BadCredentials), "no hint");
    let listed = root.admin_users().await.unwrap();
    let b = listed.iter().find(|u| u.user.name == "b").expect("b");
    assert!(b.disabled && !b.online && b.sessions == 0, "{b:?}");

    root.admin_set_disabled("b", false).await.unwrap();
    let (c, _e) = connect(h.dialer()).await;
    c.login("b", PASSWORD).await.expect("enabled again");
}

async fn a_password_reset_ends_every_session(backend: Backend) {
    let h = harness(backend);
    let (root, _r, _) = user(&h, "root").await;
    let (_b, mut eb, _) = user(&h, "b").await;
    let weak = root.admin_reset_password("b", "short").await.unwrap_err();
    assert_eq!(weak.code(), Some(ErrorCode::WeakPassword));
    root.admin_reset_password("b", "brand new secret")
        .await
        .unwrap();
    assert!(ended(&mut eb).await.contains("password reset"));
    let (c, _e) = connect(h.dialer()).await;
    let old = c.login("b", PASSWORD).await.unwrap_err();
    assert_eq!(old.code(), Some(ErrorCode::BadCredentials));
    let (c, _e) = connect(h.dialer()).await;
    c.login("b", "brand new secret")
        .await
        .expect("new password");
}

async fn a_users_messages_lose_their_bodies_and_stats_count(backend: Backend) {
    let h = harness(backend);
    let (root, _r, _) = user(&h, "root").await;
    let (a, _a, _) = user(&h, "a").await;
    let (b, _eb, _) = user(&h, "b").await;
    for text in ["one", "two"] {
        a.send(Target::User("b".into()), text)
            .await
            .stored()
            .await
            .unwrap();
    }
    b.send(Target::User("a".into()), "kept")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(root.admin_delete_messages("a").await.unwrap(), 2);
    let list = b.conversations().await.unwrap();
    let dm = list
        .iter()
        .find(|c| matches!(c.kind, natter_api::ConversationKind::Direct { .. }))
        .expect("dm")
        .id;
    let query = natter_api::HistoryQuery {
        conv: dm,
        anchor: natter_api::Anchor::After(0),
        limit: 10,
        order: natter_api::Order::OldestFirst,
    };
    let page = b.history(query).await.unwrap();
    let bodies: Vec<(&str, bool)> = page.iter().map(|m| (m.body.as_str(), m.deleted)).collect();
    assert_eq!(bodies, vec![("", true), ("", true), ("kept", false)]);

    let stats = root.admin_stats().await.unwrap();
    assert_eq!((stats.users, stats.conversations, stats.groups), (3, 2, 0));
    assert_eq!((stats.messages, stats.sessions), (3, 3));
    assert_eq!(stats.online_connections, 3);
}

async fn a_server_admin_moderates_a_group_it_is_not_in(backend: Backend) {
    let h = harness(backend);
    let (root, _r, _) = user(&h, "root").await;
    let (a, _a, _) = user(&h, "a").await;
    let (_b, _eb, _) = user(&h, "b").await;
    let (c, _ec, _) = user(&h, "c").await;
    a.create_group("crew", false, &["b"]).await.unwrap();

    let refused = c.admin_group("crew").await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::NotServerAdmin));
    let missing = root.admin_group("nope").await.unwrap_err();
    assert_eq!(missing.code(), Some(ErrorCode::NoSuchGroup));
    let crew = root
        .admin_group("CREW")
        .await
        .expect("found by a non-member");
    assert_eq!(
        (crew.name.as_str(), crew.public, crew.members),
        ("crew", false, 2)
    );
    let not_member = c.kick(crew.id, "b", true, None).await.unwrap_err();
    assert_eq!(not_member.code(), Some(ErrorCode::NotMember));

    root.kick(crew.id, "b", true, Some("spam"))
        .await
        .expect("server admin kicks");
    let members = a.members(crew.id).await.unwrap();
    let names: Vec<&str> = members
        .iter()
        .map(|m| m.presence.user.name.as_str())
        .collect();
    assert_eq!(names, vec!["a"], "b is out");
    let owner = root.kick(crew.id, "a", false, None).await.unwrap_err();
    let nobody_kicks_the_owner = matches!(owner.code(), Some(ErrorCode::Forbidden { .. }));
    assert!(nobody_kicks_the_owner, "{owner:?}");
}
