//! `natter admin`, run as the real binary against a real `natter serve`
//! whose configuration names `root` a server admin: users and statistics,
//! disable/enable (a live `natter listen` is ended at once), password
//! reset, deleting a user's messages (gone from the database file too),
//! online backup while a client writes, and restore into a fresh data
//! directory (refused while a server runs there).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::world::{PASSWORD, ROOT, World, expect_ok, start_server};
use common::{GUARD, run};
use serde_json::Value;

/// The row of `name` in `admin users --json`.
fn user_row<'a>(users: &'a Value, name: &str) -> &'a Value {
    let list = users["users"].as_array().expect("users array");
    list.iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("{name} listed: {users}"))
}

#[test]
fn users_and_stats_for_a_server_admin_and_refused_to_anyone_else() {
    let w = World::new();
    w.register(&[ROOT, "alice", "bob"]);
    w.ok("alice", &["send", "--to", "bob", "hello"]);
    w.ok("alice", &["group", "create", "crew"]);

    // Alice's last sign-off is recorded with the next presence batch, a
    // moment after her command exits: ask until it is there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let users = loop {
        let users = w.json(ROOT, &["admin", "users"]);
        if user_row(&users, "alice")["last_seen_ms"].is_u64() {
            break users;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no last seen: {users}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50)); // polling, deadline above
    };
    let alice = user_row(&users, "alice");
    assert_eq!(alice["sessions"], 1, "{users}");
    assert_eq!(alice["disabled"], false, "{users}");
    assert_eq!(user_row(&users, ROOT)["server_admin"], true, "{users}");
    assert_eq!(user_row(&users, "bob")["server_admin"], false, "{users}");
    let table = w.ok(ROOT, &["admin", "users"]).stdout;
    assert!(
        table.contains("LAST SEEN") && table.contains("alice"),
        "{table}"
    );

    let stats = w.json(ROOT, &["admin", "stats"]);
    assert_eq!(stats["users"], 3, "{stats}");
    assert_eq!(stats["groups"], 1, "{stats}");
    assert!(stats["messages"].as_u64() >= Some(1), "{stats}");
    assert!(stats["db_bytes"].as_u64() > Some(0), "{stats}");
    let text = w.ok(ROOT, &["admin", "stats"]).stdout;
    assert!(
        text.contains("messages") && text.contains("database bytes"),
        "{text}"
    );

    let refused = w.fails("alice", &["admin", "stats"], 4);
    assert!(refused.stderr.contains("server admin"), "{refused:?}");
    w.fails("alice", &["admin", "disable", "bob"], 4);
    w.fails(ROOT, &["admin", "disable", "nobody"], 4);
}

#[test]
fn disable_ends_a_live_listen_at_once_and_refuses_logins_until_enabled() {
    let w = World::new();
    w.register(&[ROOT, "bob"]);
    let listen = w.listen("bob");

    let out = w.ok(ROOT, &["admin", "disable", "bob"]);
    assert!(out.stdout.contains("disabled bob"), "{out:?}");
    let (code, stderr) = listen.exit();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("session") && stderr.contains("disabled"),
        "{stderr}"
    );

    let other_home = w.dir.path().join("other-home");
    let login = run(w.cmd_with("bob", PASSWORD, &other_home, &["users"]));
    assert_eq!(login.code, Some(3), "{login:?}");
    assert!(login.stderr.contains("disabled"), "{login:?}");
    let users = w.json(ROOT, &["admin", "users"]);
    assert_eq!(user_row(&users, "bob")["disabled"], true, "{users}");
    assert_eq!(user_row(&users, "bob")["sessions"], 0, "{users}");
    w.fails(ROOT, &["admin", "disable", ROOT], 1);

    w.ok(ROOT, &["admin", "enable", "bob"]);
    let again = run(w.cmd_with("bob", PASSWORD, &other_home, &["users"]));
    assert_eq!(again.code, Some(0), "{again:?}");
}

#[test]
fn reset_password_ends_every_session_and_only_the_new_password_works() {
    let w = World::new();
    w.register(&[ROOT, "bob"]);
    let listen = w.listen("bob");

    let mut reset = w.cmd(ROOT, &["admin", "reset-password", "bob"]);
    reset.env("NATTER_NEW_PASSWORD", "a fresh secret");
    let out = expect_ok(run(reset), ROOT, &["admin", "reset-password"]);
    assert!(out.stdout.contains("password of bob reset"), "{out:?}");
    let (code, stderr) = listen.exit();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("password reset"), "{stderr}");

    // bob's saved session is gone: the old password is refused, the new works.
    w.fails("bob", &["users"], 3);
    let home = w.home();
    let new = run(w.cmd_with("bob", "a fresh secret", &home, &["users"]));
    assert_eq!(new.code, Some(0), "{new:?}");

    let mut weak = w.cmd(ROOT, &["admin", "reset-password", "bob"]);
    weak.env("NATTER_NEW_PASSWORD", "short");
    assert_eq!(run(weak).code, Some(1), "a weak password is refused");
}

#[test]
fn delete_messages_removes_a_users_text_from_history_and_the_database_file() {
    let w = World::new();
    w.register(&[ROOT, "alice", "bob"]);
    let secret = "unmistakable-secret-phrase";
    w.ok("alice", &["send", "--to", "bob", secret]);
    w.ok("alice", &["send", "--lobby", secret]);
    w.ok("bob", &["send", "--to", "alice", "bob keeps this"]);

    let out = w.ok(ROOT, &["admin", "delete-messages", "alice"]);
    assert!(
        out.stdout.contains("deleted 2 messages of alice"),
        "{out:?}"
    );

    let history = w.json("bob", &["history", "--with", "alice"]);
    let text = history.to_string();
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains("bob keeps this"), "{text}");
    for file in ["natter.db", "natter.db-wal"] {
        let bytes = std::fs::read(w.data().join(file)).unwrap_or_default();
        let found = bytes.windows(secret.len()).any(|b| b == secret.as_bytes());
        assert!(!found, "the text is still in {file}");
    }
}

#[test]
fn backup_while_a_client_writes_then_restore_into_a_fresh_data_dir() {
    let w = World::new();
    w.register(&[ROOT, "alice", "bob"]);
    let (stop, stored) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let writer = spawn_writer(&w, stop.clone(), stored.clone());
    while stored.load(Ordering::SeqCst) < 20 {
        assert!(!writer.is_finished(), "the writer stopped early");
        std::thread::yield_now();
    }
    let before = stored.load(Ordering::SeqCst);
    let backup = w.dir.path().join("backup.db");
    let data = w.data();
    let args = ["admin", "backup", "--data", data.to_str().unwrap()];
    let out = w.ok(ROOT, &[&args[..], &[backup.to_str().unwrap()]].concat());
    assert!(out.stdout.contains("backed up"), "{out:?}");
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let again = w.fails(ROOT, &[&args[..], &[backup.to_str().unwrap()]].concat(), 2);
    assert!(again.stderr.contains("exists"), "{again:?}");

    let busy = ["admin", "restore", "--data", data.to_str().unwrap()];
    let refused = w.fails(ROOT, &[&busy[..], &[backup.to_str().unwrap()]].concat(), 1);
    assert!(refused.stderr.contains("running server"), "{refused:?}");

    let fresh = w.dir.path().join("fresh");
    let restore = ["admin", "restore", "--data", fresh.to_str().unwrap()];
    w.ok(ROOT, &[&restore[..], &[backup.to_str().unwrap()]].concat());
    let restored = start_server(w.dir.path(), &fresh, "restored.log");
    let home = w.dir.path().join("home-restored");
    let mut history = natter_cmd(&restored, &home, &["history", "--lobby", "--limit", "500"]);
    history.arg("--json");
    let out = expect_ok(run(history), "alice", &["history"]);
    let history: Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    let seqs: Vec<u64> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    let n = seqs.len() as u64;
    assert!(
        n >= before,
        "every message stored before the backup: {n} < {before}"
    );
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "a consistent prefix");
}

/// What a careless operator types changes nothing: a mistyped backup name
/// creates no data directory, a file that is no database is refused, a
/// stray `FILE.tmp` is neither deleted nor overwritten; paths with spaces
/// work.
#[test]
fn careless_backups_and_restores_change_nothing() {
    let w = World::new();
    w.register(&[ROOT]);
    let fresh = w.dir.path().join("fresh dir");
    let fresh_arg = fresh.to_str().unwrap();
    let missing = w.dir.path().join("no such.db");
    let restore = ["admin", "restore", "--data", fresh_arg];
    let out = w.fails(
        ROOT,
        &[&restore[..], &[missing.to_str().unwrap()]].concat(),
        4,
    );
    assert!(out.stderr.contains("no such backup file"), "{out:?}");
    assert!(!fresh.exists(), "a mistyped name creates no directory");
    let notes = w.dir.path().join("notes.txt");
    std::fs::write(&notes, "not a database").unwrap();
    let out = w.fails(
        ROOT,
        &[&restore[..], &[notes.to_str().unwrap()]].concat(),
        4,
    );
    assert!(out.stderr.contains("not a database"), "{out:?}");
    assert!(!fresh.join("natter.db").exists());

    let backups = w.dir.path().join("my backups");
    std::fs::create_dir(&backups).unwrap();
    let (out_file, stray) = (backups.join("b 1.db"), backups.join("b 1.db.tmp"));
    std::fs::write(&stray, "someone else's").unwrap();
    let data = w.data();
    let backup = ["admin", "backup", "--data", data.to_str().unwrap()];
    let out = w.fails(
        ROOT,
        &[&backup[..], &[out_file.to_str().unwrap()]].concat(),
        2,
    );
    assert!(out.stderr.contains(".tmp"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&stray).unwrap(), "someone else's");
    std::fs::remove_file(&stray).unwrap();
    w.ok(ROOT, &[&backup[..], &[out_file.to_str().unwrap()]].concat());
    w.ok(
        ROOT,
        &[&restore[..], &[out_file.to_str().unwrap()]].concat(),
    );
    assert!(fresh.join("natter.db").is_file());
}

/// `natter ARGS` as alice against `server` with client home `home`.
fn natter_cmd(
    server: &common::ServerProcess,
    home: &std::path::Path,
    args: &[&str],
) -> std::process::Command {
    let mut cmd = common::natter();
    cmd.args(args)
        .env("NATTER_HOME", home)
        .env("NATTER_SERVER", server.addr.to_string())
        .env("NATTER_USER", "alice")
        .env("NATTER_PASSWORD", PASSWORD);
    cmd
}

/// A client (the library, as alice) sending lobby messages one after the
/// other (each once the previous one is stored) until `stop`; `stored`
/// counts the ✓s.
fn spawn_writer(
    w: &World,
    stop: Arc<AtomicBool>,
    stored: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let (addr, known) = (w.server.addr, w.dir.path().join("writer-known"));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async move {
            let (client, _events) = common::fast_reconnecting_client(addr, &known).await;
            client.login("alice", PASSWORD).await.expect("login");
            // Paced under the server's write rate (20/s): a writer, not a flood.
            let mut pace = tokio::time::interval(std::time::Duration::from_millis(60));
            while !stop.load(Ordering::SeqCst) {
                pace.tick().await;
                let target = natter_api::Target::Lobby;
                let mut sent = client.send(target, "tick").await;
                tokio::time::timeout(GUARD, sent.stored())
                    .await
                    .expect("✓ within the guard")
                    .expect("stored");
                stored.fetch_add(1, Ordering::SeqCst);
            }
            client.close().await;
        });
    })
}

#[test]
fn a_server_admin_kicks_from_a_group_it_is_not_in() {
    let w = World::new();
    w.register(&[ROOT, "alice", "bob", "carol"]);
    w.ok(
        "alice",
        &[
            "group",
            "create",
            "crew",
            "--members",
            "bob",
            "--invite-only",
        ],
    );
    let refused = w.fails("carol", &["group", "kick", "crew", "bob"], 4);
    assert!(refused.stderr.contains("not a member"), "{refused:?}");

    let out = w.ok(ROOT, &["group", "kick", "crew", "bob", "--reason", "spam"]);
    assert!(out.stdout.contains("kicked and banned bob"), "{out:?}");
    let members = w.json("alice", &["group", "members", "crew"]);
    let names: Vec<&str> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, vec!["alice"], "{members}");
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let w = World::new();
    let data = w.data();
    let mut second = common::natter();
    second
        .args(["serve", "--udp", "127.0.0.1:0", "--http", "off", "--data"])
        .arg(&data);
    let out = run(second);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("in use by a running server"), "{out:?}");
    w.register(&["alice"]);
}
