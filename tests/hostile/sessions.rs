//! Hostile-load tests: sessions (issue 9, finding 4). A stolen token must
//! not outlive logout, password change or revocation, and a login flood
//! must not grow one user's sessions without limit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use natter_api::{
    ClientFrame, ErrorCode, Event, PROTOCOL_VERSION, Request, Response, ServerFrame, SessionToken,
    SyncRequest,
};
use natter_client::{Client, ClientEvent, EventReceiver};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::common::{
    GUARD, ServerProcess, fast_reconnecting_client, logged_in_client, natter, rss_kib, run,
};

const PASSWORD: &str = "correct horse";
/// The per-user session cap the servers of these tests run with.
const CAP: usize = 20;

/// A server (UDP and HTTP) with cheap hashing, no login rate limits in the
/// way of a flood, and [`CAP`] sessions per user.
struct World {
    dir: tempfile::TempDir,
    server: ServerProcess,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml = format!(
            "[server]\nmax_sessions_per_user = {CAP}\n\
             [server.argon2]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n\
             [server.throttle]\nlogin_per_minute = 1000000.0\nlogin_burst = 1000000.0\n"
        );
        let server = crate::support::start_configured(dir.path(), &toml, true);
        Self { dir, server }
    }

    fn known(&self) -> PathBuf {
        self.dir.path().join("known_servers")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A natter-client registered and logged in as `name`.
    async fn user(&self, name: &str) -> (Client, EventReceiver) {
        logged_in_client(self.server.addr, &self.known(), name, PASSWORD).await
    }

    /// A natter-client connected but not logged in.
    async fn anonymous(&self) -> (Client, EventReceiver) {
        fast_reconnecting_client(self.server.addr, &self.known()).await
    }

    /// `natter ARGS` as `user` (password in the environment).
    fn cli(&self, user: &str, home: &Path, args: &[&str]) -> crate::common::Output {
        let mut cmd = natter();
        cmd.args(args)
            .env("NATTER_HOME", home)
            .env("NATTER_SERVER", self.server.addr.to_string())
            .env("NATTER_USER", user)
            .env("NATTER_PASSWORD", PASSWORD);
        run(cmd)
    }

    /// `natter sessions --json` as `user`: the listed sessions.
    fn sessions(&self, user: &str) -> Vec<Value> {
        let out = self.cli(user, &self.home(), &["sessions", "--json"]);
        assert_eq!(out.code, Some(0), "natter sessions: {out:?}");
        let value: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
        value["sessions"]
            .as_array()
            .expect("sessions array")
            .clone()
    }
}

/// Waits (within the guard) for `SessionEnded` and returns its reason.
async fn session_ended(events: &mut EventReceiver) -> String {
    let wait = async {
        loop {
            match events.recv().await {
                Some(ClientEvent::Server(Event::SessionEnded { reason })) => return reason,
                Some(_) => {}
                None => panic!("events ended before session_ended"),
            }
        }
    };
    tokio::time::timeout(GUARD, wait)
        .await
        .expect("session_ended within the guard")
}

/// Resumes `token` on a fresh connection: the server's answer.
async fn resume_fresh(w: &World, token: SessionToken) -> Result<(), Option<ErrorCode>> {
    let (client, _events) = w.anonymous().await;
    client.resume(token).await.map(drop).map_err(|e| e.code())
}

fn token_of(client: &Client) -> SessionToken {
    client.session_token().expect("logged in: a token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_every_connection_using_the_token() {
    let w = World::new();
    let (a, _a_events) = w.user("alice").await;
    let token = token_of(&a);
    let (b, mut b_events) = w.anonymous().await;
    b.resume(token.clone()).await.expect("B resumes A's token");
    b.users().await.expect("B works as alice");

    a.logout().await.expect("logout");
    let reason = session_ended(&mut b_events).await;
    println!("logout: the other connection got session_ended ({reason:?})");
    assert!(reason.contains("logged out"), "{reason}");
    assert!(b.users().await.is_err(), "B's next request is refused");
    assert_eq!(
        resume_fresh(&w, token).await,
        Err(Some(ErrorCode::BadCredentials)),
        "the token no longer resumes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_ends_other_sessions_and_renews_the_token() {
    let w = World::new();
    let (a, _a_events) = w.user("alice").await;
    let old_a = token_of(&a);
    let (b, mut b_events) = w.anonymous().await;
    b.login("alice", PASSWORD)
        .await
        .expect("B logs in: another token");
    let token_b = token_of(&b);
    let (a2, mut a2_events) = w.anonymous().await;
    a2.resume(old_a.clone())
        .await
        .expect("A2 resumes A's token");

    a.change_password(PASSWORD, "a new password")
        .await
        .expect("change password");
    assert_eq!(session_ended(&mut b_events).await, "password changed");
    assert_eq!(session_ended(&mut a2_events).await, "password changed");
    assert!(b.users().await.is_err(), "B is refused");
    assert!(a2.users().await.is_err(), "A2 (old token of A) is refused");
    a.users().await.expect("A itself stays logged in");

    let fresh = token_of(&a);
    assert!(fresh != old_a, "A got a fresh token");
    let refused = Err(Some(ErrorCode::BadCredentials));
    assert_eq!(resume_fresh(&w, token_b).await, refused, "B's token");
    assert_eq!(resume_fresh(&w, old_a).await, refused, "A's old token");
    assert_eq!(
        resume_fresh(&w, fresh).await,
        Ok(()),
        "A's fresh token resumes"
    );
    println!("password change: 2 connections ended, fresh token resumes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natter_sessions_lists_and_revokes_and_the_revoked_connection_ends() {
    let w = World::new();
    let (live, mut live_events) = w.user("alice").await;
    let live_token = token_of(&live);
    w.user("bob").await;

    let list = w.sessions("alice");
    assert_eq!(list.len(), 2, "the live client's and the CLI's: {list:?}");
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "one current: {list:?}");
    let other = list.iter().find(|s| s["current"] == false).expect("other");
    let id = other["id"].as_u64().expect("id").to_string();
    assert_eq!(other["last_addr"], "127.0.0.1");

    let table = w.cli("alice", &w.home(), &["sessions"]);
    assert_eq!(table.code, Some(0), "{table:?}");
    let marked = table.stdout.lines().filter(|l| l.starts_with('*')).count();
    assert_eq!(marked, 1, "the current session is marked: {}", table.stdout);
    assert!(
        table.stdout.contains(&format!(" {id} ")),
        "{}",
        table.stdout
    );

    let bob_home = w.dir.path().join("bob-home");
    let theirs = w.cli("bob", &bob_home, &["sessions", "revoke", &id]);
    assert_eq!(theirs.code, Some(4), "not bob's session: {theirs:?}");
    assert!(theirs.stderr.contains("no such session"), "{theirs:?}");
    live.users().await.expect("untouched by bob's attempt");

    let revoked = w.cli("alice", &w.home(), &["sessions", "revoke", &id]);
    assert_eq!(revoked.code, Some(0), "{revoked:?}");
    let reason = session_ended(&mut live_events).await;
    println!("revoke: the live connection got session_ended ({reason:?})");
    assert_eq!(reason, "session revoked");
    assert!(live.users().await.is_err());
    assert_eq!(
        resume_fresh(&w, live_token).await,
        Err(Some(ErrorCode::BadCredentials))
    );
    let again = w.cli("alice", &w.home(), &["sessions", "revoke", &id]);
    assert_eq!(again.code, Some(4), "already revoked: {again:?}");
    let left = w.sessions("alice");
    assert_eq!(left.len(), 1, "only the CLI's is left: {left:?}");

    let own = left[0]["id"].as_u64().expect("id").to_string();
    let out = w.cli("alice", &w.home(), &["sessions", "revoke", &own]);
    assert_eq!(out.code, Some(0), "revoking its own session: {out:?}");
    assert!(out.stdout.contains("this one"), "{out:?}");
    let relogged = w.sessions("alice");
    assert_eq!(relogged.len(), 1, "logged in again: {relogged:?}");
    assert_ne!(relogged[0]["id"].as_u64(), left[0]["id"].as_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_keeps_at_most_the_cap_of_sessions() {
    const LOGINS: usize = 300;
    let w = World::new();
    let (first, mut first_events) = w.user("alice").await;
    let http = w.server.http.expect("http address");
    let started = Instant::now();
    for _ in 0..LOGINS {
        ws_login(http, "alice").await;
    }
    let elapsed = started.elapsed();
    let rss = rss_kib(w.server.pid());
    let list = w.sessions("alice");
    println!(
        "login flood: {LOGINS} logins in {elapsed:?}, {} sessions listed (cap {CAP}), \
         server RSS {} MiB",
        list.len(),
        rss / 1024
    );
    assert_eq!(list.len(), CAP, "the cap holds, never more");
    let reason = session_ended(&mut first_events).await;
    assert!(reason.contains("too many sessions"), "{reason}");
    assert!(first.users().await.is_err(), "the evicted connection ended");
}

/// Logs in as `name` over a raw WebSocket (JSON frames), then closes it.
async fn ws_login(http: SocketAddr, name: &str) {
    let url = format!("ws://{http}/ws");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect");
    let login = ClientFrame::Request {
        id: 1,
        body: Request::Login {
            version: PROTOCOL_VERSION,
            name: name.to_owned(),
            password: PASSWORD.to_owned(),
            sync: SyncRequest::default(),
        },
    };
    let text = natter_api::encode_json(&login).expect("json");
    ws.send(WsMessage::Text(text.into())).await.expect("send");
    let answer = async {
        while let Some(frame) = ws.next().await {
            let Ok(WsMessage::Text(text)) = frame else {
                continue;
            };
            if let Ok(ServerFrame::Response { id: 1, result }) = natter_api::decode_json(&text) {
                return result;
            }
        }
        panic!("ws closed before the login answer");
    };
    let result = tokio::time::timeout(GUARD, answer).await.expect("answer");
    assert!(
        matches!(result, Ok(Response::LoggedIn { .. })),
        "{result:?}"
    );
    let _ = ws.close(None).await;
}
