//! Login sessions through the client library, in-process server (memory and
//! SQLite stores): the fresh token after a password change, listing and
//! revoking, idle expiry, the per-user cap.

#[macro_use]
mod support;

use natter_api::{ErrorCode, Event};
use natter_client::{ClientEvent, ConnectionState};
use natter_server::ServerConfig;
use natter_store::UserId;
use support::{Backend, Events, Harness, PASSWORD, connect, user};

both_backends!(
    password_change_gives_this_session_a_fresh_token,
    sessions_are_listed_and_revoked_by_their_owner,
    an_idle_token_expires_and_is_deleted,
    logins_beyond_the_cap_end_the_least_recently_used,
);

async fn ended(events: &mut Events) -> String {
    events
        .until(|e| match e {
            ClientEvent::Server(Event::SessionEnded { reason }) => Some(reason),
            _ => None,
        })
        .await
}

async fn password_change_gives_this_session_a_fresh_token(backend: Backend) {
    let h = Harness::new(backend);
    let (a, mut events, dialer) = user(&h, "a").await;
    let old = a.session_token().expect("token");
    a.change_password(PASSWORD, "new password").await.unwrap();
    let fresh = a.session_token().expect("still a token");
    assert!(fresh != old, "a fresh token replaces the old one");

    dialer.cut();
    events
        .until(|e| (e == ClientEvent::Connection(ConnectionState::Resumed)).then_some(()))
        .await;
    a.users().await.expect("resumed with the fresh token");

    let (c, _e) = connect(h.dialer()).await;
    let refused = c.resume(old).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::BadCredentials));
    let (d, _e) = connect(h.dialer()).await;
    d.resume(fresh).await.expect("the fresh token resumes");
}

async fn sessions_are_listed_and_revoked_by_their_owner(backend: Backend) {
    let h = Harness::new(backend);
    let (a1, mut e1, _) = user(&h, "a").await;
    let (a2, mut e2, _) = user(&h, "a").await;
    let (b, _eb, _) = user(&h, "b").await;
    let list = a1.sessions().await.unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list.iter().filter(|s| s.current).count(), 1);
    assert!(list[0].last_used_ms >= list[1].last_used_ms, "newest first");
    let mine = list.iter().find(|s| s.current).expect("current").id;
    let other = list.iter().find(|s| !s.current).expect("other").id;
    assert!(list.iter().all(|s| s.last_addr.is_some()));

    let err = b.revoke_session(other).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NoSuchSession), "not b's");
    let err = a1.revoke_session(u64::MAX).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NoSuchSession));
    a2.users().await.expect("untouched");

    a1.revoke_session(other).await.unwrap();
    assert_eq!(ended(&mut e2).await, "session revoked");
    assert!(a2.session_token().is_none());
    let ids: Vec<u64> = a1.sessions().await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![mine]);

    a1.revoke_session(mine)
        .await
        .expect("answered before it ends");
    assert_eq!(ended(&mut e1).await, "session revoked");
    let (c, _e) = connect(h.dialer()).await;
    c.login("a", PASSWORD)
        .await
        .expect("the password still works");
}

async fn an_idle_token_expires_and_is_deleted(backend: Backend) {
    let config = ServerConfig {
        session_idle_secs: 0,
        ..ServerConfig::for_tests()
    };
    let h = Harness::with_config(backend, config);
    let (a, _e, _) = user(&h, "a").await;
    let token = a.session_token().expect("token");
    let logged_in_at = now_ms();
    // The session was last used at or before `logged_in_at`; with no idle
    // time allowed it is expired as soon as the clock moved past it.
    while now_ms() <= logged_in_at {
        std::hint::spin_loop();
    }
    let (c, _e) = connect(h.dialer()).await;
    let err = c.resume(token).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadCredentials));
    assert!(err.to_string().contains("expired"), "{err}");
    let user = h.store.user_by_name("a").unwrap().expect("a").id;
    assert_eq!(h.store.sessions_of(user).unwrap(), vec![], "deleted");
}

async fn logins_beyond_the_cap_end_the_least_recently_used(backend: Backend) {
    let config = ServerConfig {
        max_sessions_per_user: 3,
        ..ServerConfig::for_tests()
    };
    let h = Harness::with_config(backend, config);
    let (_first, mut first_events, _) = user(&h, "a").await;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(user(&h, "a").await);
    }
    let reason = ended(&mut first_events).await;
    assert!(reason.contains("too many sessions"), "{reason}");
    let newest = &clients.last().expect("clients").0;
    assert_eq!(newest.sessions().await.unwrap().len(), 3);
    let stored = h.store.sessions_of(UserId(1)).unwrap();
    assert_eq!(stored.len(), 3, "the cap holds in the store");
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.expect("clock after 1970").as_millis() as i64
}
