//! Hostile-load tests: groups (issue 9, findings 5 and 9).
//!
//! - Attackers put a victim into groups in a loop: the victim ends at the
//!   configured cap (never above, under concurrency), every further attempt
//!   gets `limit_reached` naming the victim, and the victim's `natter groups`
//!   and `natter history` (the real binary) still work.
//! - 300 users each write the victim a DM: with a small page size the
//!   conversation list arrives in parts after login and in pages on request,
//!   whole.
//! - Look-alike and invisible group names are refused; joining an
//!   invite-only group answers exactly like a group that does not exist.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use natter_api::{ConversationKind, ErrorCode, Event, Request, Response, Target};
use natter_client::{ClientError, ClientEvent, EventReceiver};
use tempfile::TempDir;

use crate::common::{GUARD, ServerProcess, fast_reconnecting_client, logged_in_client, run};

const PASSWORD: &str = "correct horse";
/// The configured `max_groups_per_user`.
const GROUP_CAP: usize = 20;
/// The configured `conversation_page`.
const PAGE: usize = 16;

/// A server with cheap hashing, generous rates (the floods here test caps,
/// not rate limits), `max_groups_per_user` 20 and a conversation page of 16.
fn server(dir: &Path) -> ServerProcess {
    let toml = format!(
        "[server]\n\
         max_groups_per_user = {GROUP_CAP}\n\
         conversation_page = {PAGE}\n\
         max_connections_per_addr = 1000\n\
         [server.argon2]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n\
         [server.rate]\nper_second = 10000.0\nburst = 10000.0\n\
         [server.read_rate]\nper_second = 10000.0\nburst = 10000.0\n\
         [server.throttle]\nregister_per_minute = 100000\nregister_burst = 100000\n\
         login_per_minute = 100000\nlogin_burst = 100000\n"
    );
    crate::support::start_configured(dir, &toml, false)
}

/// `natter ARGS` as `user`, with its own home under `dir`.
fn cli(dir: &Path, addr: SocketAddr, user: &str, args: &[&str]) -> Command {
    let mut cmd = crate::common::natter();
    cmd.args(args)
        .env("NATTER_HOME", dir.join("home"))
        .env("NATTER_SERVER", addr.to_string())
        .env("NATTER_USER", user)
        .env("NATTER_PASSWORD", PASSWORD);
    cmd
}

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Api(e)) => e.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_victim_to_groups_stops_at_the_cap() {
    let dir = TempDir::new().expect("temp dir");
    let server = server(dir.path());
    let known = dir.path().join("known");
    let (victim, _victim_events) = logged_in_client(server.addr, &known, "victim", PASSWORD).await;
    let mut attackers = Vec::new();
    for i in 0..3 {
        let name = format!("mallory{i}");
        attackers.push(
            logged_in_client(server.addr, &known, &name, PASSWORD)
                .await
                .0,
        );
    }
    // 150 attempts, three attackers at once: each creates a group with the
    // victim as initial member, 50 times.
    let floods = attackers
        .iter()
        .enumerate()
        .map(|(i, attacker)| async move {
            let (mut created, mut refused) = (0, 0);
            for n in 0..50 {
                let name = format!("trap {i}-{n}");
                match attacker.create_group(&name, true, &["victim"]).await {
                    Ok(_) => created += 1,
                    Err(ClientError::Api(e)) => {
                        assert_eq!(e.code, ErrorCode::LimitReached, "{e}");
                        // An attacker whose requests all came first holds
                        // every group itself and is named before the victim.
                        let itself = created == GROUP_CAP && e.message.starts_with("you are");
                        assert!(
                            e.message.contains("victim") || itself,
                            "names the victim: {e}"
                        );
                        refused += 1;
                    }
                    Err(e) => panic!("create_group: {e}"),
                }
            }
            (created, refused)
        });
    let results = futures_util::future::join_all(floods).await;
    let created: usize = results.iter().map(|r| r.0).sum();
    let refused: usize = results.iter().map(|r| r.1).sum();
    let mine = victim.my_groups().await.expect("my groups");
    println!(
        "group flood: 150 attempts, {created} created, {refused} limit_reached, victim in {} groups",
        mine.len()
    );
    assert_eq!(mine.len(), GROUP_CAP, "the victim ends exactly at the cap");
    assert_eq!(created, GROUP_CAP);
    assert_eq!(refused, 150 - GROUP_CAP);

    // Inviting and joining respect the cap too.
    let fresh = logged_in_client(server.addr, &known, "trent", PASSWORD)
        .await
        .0;
    let open = fresh
        .create_group("open door", true, &[])
        .await
        .expect("create");
    let invite = fresh.invite(open.id, "victim").await;
    assert_eq!(code(invite), ErrorCode::LimitReached);
    assert_eq!(
        code(victim.join_group("open door").await),
        ErrorCode::LimitReached
    );
    assert_eq!(
        victim.my_groups().await.expect("my groups").len(),
        GROUP_CAP
    );

    // The victim's CLI still works and lists them.
    let out = run(cli(
        dir.path(),
        server.addr,
        "victim",
        &["groups", "--json"],
    ));
    assert_eq!(out.code, Some(0), "natter groups: {out:?}");
    let listed: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let members = listed["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter(|g| g["member"] == true)
        .count();
    assert_eq!(members, GROUP_CAP);
    println!("group flood: `natter groups` listed {members} groups of the victim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_conversation_list_arrives_whole_in_pages() {
    const WRITERS: usize = 300;
    let dir = TempDir::new().expect("temp dir");
    let server = server(dir.path());
    let known = dir.path().join("known");
    let victim = logged_in_client(server.addr, &known, "victim", PASSWORD)
        .await
        .0;
    victim.close().await;
    // 300 users each write the victim one DM (4 connections, one after
    // the other on each).
    let started = std::time::Instant::now();
    let writes = (0..4).map(|w| {
        let writers = (0..WRITERS).filter(|i| i % 4 == w).collect();
        write_once_each(server.addr, &known, writers)
    });
    futures_util::future::join_all(writes).await;
    println!(
        "conversation list: {WRITERS} users wrote the victim in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // After login the list arrives in parts and ends whole (lobby + 300).
    let (victim, mut events) = fast_reconnecting_client(server.addr, &known).await;
    victim.login("victim", PASSWORD).await.expect("login");
    let list = synced_list(&mut events).await;
    assert_eq!(list.len(), WRITERS + 1, "lobby and one DM per writer");
    assert!(ordered_and_unique(&list));

    // On request: every page, gathered by the client library.
    let pages = victim.conversations().await.expect("conversations");
    assert_eq!(pages.len(), WRITERS + 1);
    assert!(ordered_and_unique(&pages));
    // The old request answers one page only, never more than fits.
    let old = victim
        .request(Request::Conversations)
        .await
        .expect("old request");
    let Response::Conversations(first) = old else {
        panic!("unexpected answer {old:?}")
    };
    assert_eq!(first.len(), PAGE);
    let bytes = natter_api::encode(&Response::ConversationsPage {
        list: pages,
        more: false,
    });
    println!(
        "conversation list: {} entries in pages of {PAGE} ({} bytes if sent at once)",
        WRITERS + 1,
        bytes.expect("encode").len()
    );

    // The real CLI finds the last DM (it pages through the whole list).
    let last = format!("writer{}", WRITERS - 1);
    let args = ["history", "--with", last.as_str(), "--json"];
    let out = run(cli(dir.path(), server.addr, "victim", &args));
    assert_eq!(out.code, Some(0), "natter history: {out:?}");
    assert!(
        out.stdout.contains(&format!("hello from {last}")),
        "{}",
        out.stdout
    );
}

/// On one connection, for each of `writers`: registers `writer{i}`, logs
/// in, writes the victim one message (waiting for ✓) and logs out.
async fn write_once_each(addr: SocketAddr, known: &Path, writers: Vec<usize>) {
    let (client, _events) = fast_reconnecting_client(addr, known).await;
    for i in writers {
        let name = format!("writer{i}");
        client.register(&name, PASSWORD).await.expect("register");
        client.login(&name, PASSWORD).await.expect("login");
        let target = Target::User("victim".into());
        let mut sent = client.send(target, format!("hello from {name}")).await;
        tokio::time::timeout(GUARD, sent.stored())
            .await
            .expect("stored within the guard")
            .expect("stored");
        client.logout().await.expect("logout");
    }
    client.close().await;
}

/// Waits for the end of the sync; returns the conversation list.
async fn synced_list(events: &mut EventReceiver) -> Vec<natter_api::ConversationInfo> {
    let wait = async {
        loop {
            match events.recv().await {
                Some(ClientEvent::Server(Event::Conversations(list))) => return list,
                Some(_) => {}
                None => panic!("client closed before the sync ended"),
            }
        }
    };
    tokio::time::timeout(GUARD, wait)
        .await
        .expect("sync within the guard")
}

fn ordered_and_unique(list: &[natter_api::ConversationInfo]) -> bool {
    list.windows(2).all(|w| w[0].id < w[1].id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_and_invisible_names_are_refused_and_private_groups_hidden() {
    let dir = TempDir::new().expect("temp dir");
    let server = server(dir.path());
    let known = dir.path().join("known");
    let alice = logged_in_client(server.addr, &known, "alice", PASSWORD)
        .await
        .0;
    let (bob, _bob_events) = logged_in_client(server.addr, &known, "bob", PASSWORD).await;
    alice.create_group("team", true, &[]).await.expect("team");
    for alike in [
        "t\u{435}am",
        "TEAM",
        "\u{ff54}\u{ff45}\u{ff41}\u{ff4d}",
        "Team",
    ] {
        let code = code(alice.create_group(alike, true, &[]).await);
        assert_eq!(code, ErrorCode::NameTaken, "{alike:?}");
    }
    for invisible in [
        "team\u{200b}",
        "\u{202e}team",
        "te\u{2066}am",
        "\u{feff}x",
        "a\u{3164}",
    ] {
        let code = code(alice.create_group(invisible, true, &[]).await);
        assert_eq!(code, ErrorCode::InvalidName, "{invisible:?}");
    }
    // NFKC: full-width letters are stored as plain ones.
    let wide = alice
        .create_group("\u{ff52}\u{ff55}\u{ff53}\u{ff54}", true, &[])
        .await;
    assert_eq!(wide.expect("rust").name, "rust");

    // An invite-only group: joining it is answered like no group at all.
    alice
        .create_group("secret", false, &[])
        .await
        .expect("secret");
    let hidden = error(bob.join_group("secret").await);
    let missing = error(bob.join_group("nothing").await);
    assert_eq!(hidden.code, ErrorCode::NoSuchGroup);
    assert_eq!(missing.code, ErrorCode::NoSuchGroup);
    assert_eq!(
        hidden.message.replace("secret", "NAME"),
        missing.message.replace("nothing", "NAME")
    );
    let public = bob.public_groups().await.expect("public groups");
    assert!(
        public.iter().all(|g| g.public),
        "only public groups are listed"
    );
    assert!(!public.iter().any(|g| g.name == "secret"));

    // The CLI prints the same refusal.
    let out = run(cli(
        dir.path(),
        server.addr,
        "bob",
        &["group", "join", "secret"],
    ));
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("no group named secret"),
        "{}",
        out.stderr
    );
    let list = bob.conversations().await.expect("conversations");
    let in_groups = list
        .iter()
        .filter(|c| matches!(c.kind, ConversationKind::Group { .. }))
        .count();
    assert_eq!(in_groups, 0);
}

fn error(result: Result<impl std::fmt::Debug, ClientError>) -> natter_api::ApiError {
    match result {
        Err(ClientError::Api(e)) => e,
        other => panic!("expected a server error, got {other:?}"),
    }
}
