//! End-to-end encrypted directs the way a user runs them: `natter keys`,
//! `natter send --to USER --e2e`, `natter history --with USER`, `natter
//! listen` and `natter keys verify USER` against a real `natter serve`,
//! each device in its own `NATTER_HOME`. Afterwards the server's data
//! directory and its log, read byte by byte, hold none of the plaintexts.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::world::{PASSWORD, World, expect_ok};
use common::{GUARD, Output, read_lines, run};
use serde_json::Value;

/// A distinctive plaintext nobody else would write.
fn secret(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::new_v4().simple())
}

struct Device {
    user: &'static str,
    home: PathBuf,
}

impl Device {
    fn new(w: &World, user: &'static str, name: &str) -> Self {
        let home = w.dir.path().join(name);
        Self { user, home }
    }

    fn cmd(&self, w: &World, args: &[&str]) -> Command {
        w.cmd_with(self.user, PASSWORD, &self.home, args)
    }

    fn ok(&self, w: &World, args: &[&str]) -> Output {
        expect_ok(run(self.cmd(w, args)), self.user, args)
    }

    fn json(&self, w: &World, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let out = self.ok(w, &args);
        serde_json::from_str(out.stdout.trim()).expect("one JSON object")
    }

    /// The decrypted bodies `history --with peer` shows.
    fn history(&self, w: &World, peer: &str) -> Vec<(String, String)> {
        let page = self.json(w, &["history", "--with", peer]);
        assert_eq!(page["e2e"], true, "{page}");
        let messages = page["messages"].as_array().expect("messages").clone();
        messages
            .iter()
            .map(|m| {
                let status = m["status"].as_str().unwrap_or("plain").to_owned();
                (status, m["body"].as_str().expect("body").to_owned())
            })
            .collect()
    }
}

fn ok_bodies(rows: &[(String, String)]) -> Vec<&str> {
    rows.iter()
        .filter(|(s, _)| s == "ok")
        .map(|(_, b)| b.as_str())
        .collect()
}

#[test]
fn encrypted_directs_between_alice_and_two_bob_devices() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    let alice = Device::new(&w, "alice", "alice-home");
    let bob1 = Device::new(&w, "bob", "bob-laptop");
    let bob2 = Device::new(&w, "bob", "bob-phone");
    for d in [&alice, &bob1, &bob2] {
        let keys = d.ok(&w, &["keys"]);
        assert!(keys.stdout.contains("* curve25519 "), "{keys:?}");
    }
    let mut plaintexts = Vec::new();
    let first = secret("first");
    let out = alice.ok(&w, &["send", "--to", "bob", "--e2e", &first]);
    assert_eq!(out.stdout.trim(), "✓ @bob #1 🔒");
    plaintexts.push(first.clone());

    // Bob's phone listens; a second message arrives live, decrypted.
    let mut listen = bob2
        .cmd(&w, &["listen", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("listen");
    let lines = read_lines(listen.stdout.take().expect("stdout"));
    let next = || -> Value {
        let line = lines.recv_timeout(GUARD).expect("a line from listen");
        serde_json::from_str(&line).expect("JSON line")
    };
    let mut synced = Vec::new();
    loop {
        let v = next();
        if v["type"] == "synced" {
            break;
        }
        synced.push(v);
    }
    let second = secret("second");
    alice.ok(&w, &["send", "--to", "bob", "--e2e", &second]);
    plaintexts.push(second.clone());
    let live = std::iter::repeat_with(next)
        .find(|v| v["type"] == "message" && v["seq"] == 2)
        .expect("message");
    assert_eq!(
        (live["body"].as_str(), live["e2e"].as_bool()),
        (Some(second.as_str()), Some(true))
    );
    assert_eq!(live["status"], "ok");
    let _ = listen.kill();
    let _ = listen.wait();
    let from_sync: Vec<&str> = synced.iter().filter_map(|v| v["body"].as_str()).collect();
    assert!(
        from_sync.contains(&first.as_str()),
        "the sync brought the first: {synced:?}"
    );

    // Bob's laptop was offline for both: its history decrypts them once,
    // in order, and reads them from its local store the second time.
    assert_eq!(
        ok_bodies(&bob1.history(&w, "alice")),
        [first.as_str(), second.as_str()]
    );
    assert_eq!(
        ok_bodies(&bob1.history(&w, "alice")),
        [first.as_str(), second.as_str()]
    );
    let reply = secret("reply");
    bob1.ok(&w, &["send", "--to", "alice", "--e2e", &reply]);
    plaintexts.push(reply.clone());
    assert_eq!(
        ok_bodies(&alice.history(&w, "bob")),
        [first.as_str(), second.as_str(), reply.as_str()]
    );
    assert_eq!(
        ok_bodies(&bob2.history(&w, "alice")),
        [first.as_str(), second.as_str(), reply.as_str()]
    );

    // Plain text no longer goes into the encrypted direct.
    let plain = run(alice.cmd(&w, &["send", "--to", "bob", "plain text"]));
    assert_eq!(plain.code, Some(1), "{plain:?}");
    assert!(plain.stderr.contains("end-to-end encrypted"), "{plain:?}");

    // Safety numbers agree; a new device of a verified contact is flagged.
    let a = alice.json(&w, &["keys", "verify", "bob"]);
    let b = bob1.json(&w, &["keys", "verify", "alice"]);
    assert_eq!(a["safety_number"], b["safety_number"]);
    let bob3 = Device::new(&w, "bob", "bob-tablet");
    bob3.ok(&w, &["keys"]);
    let news = alice.ok(&w, &["send", "--to", "bob", "--e2e", "after a new device"]);
    plaintexts.push("after a new device".into());
    assert!(news.stderr.contains("bob added a new device"), "{news:?}");
    assert!(news.stderr.contains("NOT VERIFIED"), "{news:?}");
    let rows = bob3.history(&w, "alice");
    assert_eq!(ok_bodies(&rows), ["after a new device"]);
    assert!(
        rows.iter().any(|(s, _)| s == "not_for_this_device"),
        "{rows:?}"
    );

    assert_nothing_holds(&w.data(), &w.server.log, &plaintexts);
}

/// Neither the server's data directory nor its log contains a plaintext.
fn assert_nothing_holds(data: &Path, log: &Path, plaintexts: &[String]) {
    let mut files = vec![log.to_owned()];
    for entry in std::fs::read_dir(data).expect("data dir") {
        files.push(entry.expect("entry").path());
    }
    for file in files.iter().filter(|f| f.is_file()) {
        let bytes = std::fs::read(file).expect("read");
        for p in plaintexts {
            let found = bytes.windows(p.len()).any(|w| w == p.as_bytes());
            assert!(!found, "{} holds {p:?}", file.display());
        }
    }
}

/// `natter chat --plain` with this device: `/e2e on` in the direct with
/// bob, a typed line goes out encrypted, and bob's encrypted reply shows
/// decrypted with its 🔒.
#[test]
fn chat_e2e_on_sends_encrypted_and_shows_replies_decrypted() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    let alice = Device::new(&w, "alice", "alice-home");
    let bob = Device::new(&w, "bob", "bob-home");
    alice.ok(&w, &["keys"]);
    bob.ok(&w, &["keys"]);
    let mut chat = alice
        .cmd(&w, &["chat", "--plain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chat");
    let lines = read_lines(chat.stdout.take().expect("stdout"));
    let mut stdin = chat.stdin.take().expect("stdin");
    let mut type_line = |line: &str| {
        use std::io::Write;
        writeln!(stdin, "{line}").expect("type");
    };
    let expect = |needle: &str| -> String {
        let deadline = std::time::Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line with {needle}"));
            if line.contains(needle) {
                return line;
            }
        }
    };
    type_line("/msg bob");
    type_line("/e2e on");
    expect("end-to-end encrypted from now on");
    let typed = secret("typed");
    type_line(&typed);
    let stored = expect(&format!("{typed} ✓"));
    assert!(stored.contains("@bob 🔒"), "{stored}");
    let rows = bob.history(&w, "alice");
    assert_eq!(ok_bodies(&rows), [typed.as_str()]);
    let reply = secret("reply");
    bob.ok(&w, &["send", "--to", "alice", "--e2e", &reply]);
    let shown = expect(&reply);
    assert!(shown.contains("🔒"), "{shown}");
    type_line("/quit");
    let _ = chat.wait();
}

impl Device {
    /// This home's device file (`NATTER_HOME/e2e/USER@ADDRESS.db`).
    fn file(&self) -> PathBuf {
        let dir = std::fs::read_dir(self.home.join("e2e")).expect("e2e dir");
        let files = dir.map(|e| e.expect("entry").path());
        let mut dbs = files.filter(|p| p.extension().is_some_and(|x| x == "db"));
        dbs.next().expect("a device file")
    }

    /// Spawns `listen --json`; returns the child and its JSON lines.
    fn listen(&self, w: &World) -> (std::process::Child, impl FnMut() -> Value) {
        let mut child = self
            .cmd(w, &["listen", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("listen");
        let lines = read_lines(child.stdout.take().expect("stdout"));
        let next = move || -> Value {
            let line = lines.recv_timeout(GUARD).expect("a line from listen");
            serde_json::from_str(&line).expect("JSON line")
        };
        (child, next)
    }
}

/// Bob's device loses its Olm sessions; Alice's next message is shown as
/// undecryptable, and Bob's device repairs the session by itself (a hidden
/// message, shown nowhere), so Alice's message after it decrypts without
/// Bob typing anything.
#[test]
fn a_broken_session_is_repaired_without_anyone_typing() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    let alice = Device::new(&w, "alice", "alice-home");
    let bob = Device::new(&w, "bob", "bob-home");
    alice.ok(&w, &["keys"]);
    bob.ok(&w, &["keys"]);
    alice.ok(&w, &["send", "--to", "bob", "--e2e", "one"]);
    assert_eq!(ok_bodies(&bob.history(&w, "alice")), ["one"]);
    let db = rusqlite::Connection::open(bob.file()).expect("device file");
    db.execute("DELETE FROM sessions", [])
        .expect("forget sessions");
    drop(db);
    alice.ok(&w, &["send", "--to", "bob", "--e2e", "two"]);
    let rows = bob.history(&w, "alice");
    assert_eq!(rows[1].0, "undecryptable", "{rows:?}");
    let three = secret("three");
    alice.ok(&w, &["send", "--to", "bob", "--e2e", &three]);
    let rows = bob.history(&w, "alice");
    assert_eq!(ok_bodies(&rows), ["one", three.as_str()], "{rows:?}");
    assert_eq!(rows.len(), 3, "the repair is not shown: {rows:?}");
    let alice_rows = alice.history(&w, "bob");
    assert_eq!(alice_rows.len(), 3, "nor on Alice's side: {alice_rows:?}");
    let text = bob.ok(&w, &["history", "--with", "alice"]).stdout;
    assert!(text.contains("unable to decrypt"), "{text}");
    assert_nothing_holds(&w.data(), &w.server.log, &[three]);
}

/// `natter listen` on a device that was offline while another device of
/// the same user took a message (moving the user's cursor past it): the
/// catch-up prints it decrypted, the sync and live messages too, each once.
#[test]
fn listen_decrypts_what_another_device_took_first() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    let alice = Device::new(&w, "alice", "alice-home");
    let (laptop, phone) = (
        Device::new(&w, "bob", "laptop"),
        Device::new(&w, "bob", "phone"),
    );
    for d in [&alice, &laptop, &phone] {
        d.ok(&w, &["keys"]);
    }
    let first = secret("first");
    alice.ok(&w, &["send", "--to", "bob", "--e2e", &first]);
    let (mut child, mut next) = laptop.listen(&w);
    let got = std::iter::repeat_with(&mut next).find(|v| v["type"] == "message");
    assert_eq!(got.expect("message")["body"], first.as_str());
    wait_delivered(&w, &alice, 1);
    let _ = child.kill();
    let _ = child.wait();
    let second = secret("second");
    alice.ok(&w, &["send", "--to", "bob", "--e2e", &second]);
    let (mut child, mut next) = phone.listen(&w);
    let mut seen = Vec::new();
    loop {
        let v = next();
        if v["type"] == "synced" {
            break;
        }
        seen.push(v);
    }
    let third = secret("third");
    alice.ok(&w, &["send", "--to", "bob", "--e2e", &third]);
    let live = std::iter::repeat_with(&mut next).find(|v| v["seq"] == 3);
    seen.push(live.expect("live message"));
    let _ = child.kill();
    let _ = child.wait();
    let mut bodies: Vec<(&str, &str)> = seen
        .iter()
        .filter(|v| v["type"] == "message")
        .map(|v| (v["status"].as_str().unwrap(), v["body"].as_str().unwrap()))
        .collect();
    bodies.sort_by_key(|(_, b)| [&first, &second, &third].iter().position(|t| t == b));
    let expected = [("ok", first.as_str()), ("ok", &second), ("ok", &third)];
    assert_eq!(bodies, expected, "each once, decrypted: {seen:?}");
}

/// Waits (by asking, with the test's deadline) until `seq` of the direct
/// with bob counts as delivered to bob.
fn wait_delivered(w: &World, alice: &Device, seq: u64) {
    let deadline = std::time::Instant::now() + GUARD;
    let seq = seq.to_string();
    while std::time::Instant::now() < deadline {
        let r = alice.json(w, &["receipt", "--with", "bob", &seq]);
        if r["delivered"].as_array().is_some_and(|d| !d.is_empty()) {
            return;
        }
    }
    panic!("#{seq} never delivered to bob");
}

/// A new device of bob's: `history` and `natter chat` say that an
/// encrypted message from before the device was added cannot be read
/// here, and show the ones sent since.
#[test]
fn a_new_device_says_older_encrypted_messages_are_not_readable_here() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    let alice = Device::new(&w, "alice", "alice-home");
    let (old, new) = (Device::new(&w, "bob", "old"), Device::new(&w, "bob", "new"));
    alice.ok(&w, &["keys"]);
    old.ok(&w, &["keys"]);
    alice.ok(&w, &["send", "--to", "bob", "--e2e", "before"]);
    new.ok(&w, &["keys"]);
    let after = secret("after");
    alice.ok(&w, &["send", "--to", "bob", "--e2e", &after]);
    let text = new.ok(&w, &["history", "--with", "alice"]).stdout;
    let said = "before this device was added: not readable here";
    let header = "this device reads messages sent since it was added";
    assert!(
        text.lines().next().is_some_and(|l| l.contains(header)),
        "{text}"
    );
    assert!(
        text.lines().nth(1).is_some_and(|l| l.contains(said)),
        "{text}"
    );
    assert!(!text.contains("🔒: before"), "{text}");
    let mut chat = new
        .cmd(&w, &["chat", "--plain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chat");
    let lines = read_lines(chat.stdout.take().expect("stdout"));
    let mut stdin = chat.stdin.take().expect("stdin");
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + GUARD;
    while !seen.iter().any(|l: &String| l.contains(&after)) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        seen.push(
            lines
                .recv_timeout(left)
                .expect("chat shows the new message"),
        );
    }
    use std::io::Write;
    let _ = writeln!(stdin, "/quit");
    let _ = chat.wait();
    let note = "[encrypted before this device was added]";
    assert!(seen.iter().any(|l| l.contains(note)), "{seen:#?}");
}
