//! The end-to-end encryption device of a home, the way a user meets it:
//! created and published at the first login (`natter register`, or the
//! first command of a new home), removed with `natter keys remove`
//! (contacts are told), and nothing under `NATTER_HOME` — read byte by
//! byte after a session of encrypted directs — holds a plaintext or a
//! secret key.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::world::{PASSWORD, World, expect_ok};
use common::{GUARD, Output, read_lines, run};
use natter_client::e2e::E2eDevice;
use serde_json::Value;

fn secret(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::new_v4().simple())
}

/// One user in one home (one device).
struct Home {
    user: &'static str,
    home: PathBuf,
}

impl Home {
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

    /// This home's device file (`e2e/USER@ADDRESS.db`), if any.
    fn device_file(&self) -> Option<PathBuf> {
        let dir = std::fs::read_dir(self.home.join("e2e")).ok()?;
        dir.filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "db"))
    }

    /// The curve25519 keys `natter keys` lists, and which one is this.
    fn devices(&self, w: &World) -> (Vec<String>, String) {
        let v = self.json(w, &["keys"]);
        let list = v["devices"].as_array().expect("devices").clone();
        let key = |d: &Value| d["curve25519"].as_str().expect("key").to_owned();
        let this = list.iter().find(|d| d["this_device"] == true).map(key);
        (list.iter().map(key).collect(), this.expect("this device"))
    }

    /// The decrypted bodies of `history --with peer`.
    fn read(&self, w: &World, peer: &str) -> Vec<String> {
        let page = self.json(w, &["history", "--with", peer]);
        let messages = page["messages"].as_array().expect("messages").clone();
        let ok = messages.iter().filter(|m| m["status"] == "ok");
        ok.map(|m| m["body"].as_str().expect("body").to_owned())
            .collect()
    }
}

#[test]
fn the_first_login_creates_and_publishes_the_device() {
    let w = World::new();
    let alice = Home::new(&w, "alice", "alice-home");
    let bob = Home::new(&w, "bob", "bob-home");
    for h in [&alice, &bob] {
        h.ok(&w, &["register"]);
        assert!(h.device_file().is_some(), "register made the device");
    }
    // Nobody ran `natter keys` or `--e2e`: bob can be written to at once.
    let hello = secret("hello");
    let sent = alice.ok(&w, &["send", "--to", "bob", "--e2e", &hello]);
    assert_eq!(sent.stdout.trim(), "✓ @bob #1 🔒");
    assert_eq!(bob.read(&w, "alice"), [hello]);
    // The first command of a new home (here `users`) creates its device.
    let bob_phone = Home::new(&w, "bob", "bob-phone");
    assert!(bob_phone.device_file().is_none());
    bob_phone.ok(&w, &["users"]);
    assert!(bob_phone.device_file().is_some(), "first login made it");
    let (all, this) = bob_phone.devices(&w);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.contains(&this));
    let again = secret("again");
    alice.ok(&w, &["send", "--to", "bob", "--e2e", &again]);
    assert_eq!(bob_phone.read(&w, "alice"), [again]);
}

/// `natter chat` in a new home logs in and creates the device: `/e2e on`
/// works in the same session, without `natter keys` first.
#[test]
fn the_chat_login_of_a_new_home_creates_the_device() {
    let w = World::new();
    let alice = Home::new(&w, "alice", "alice-chat");
    let bob = Home::new(&w, "bob", "bob-home");
    w.ok("alice", &["register"]);
    bob.ok(&w, &["register"]);
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
    let expect = |needle: &str| loop {
        let line = lines.recv_timeout(GUARD).expect("a line from chat");
        if line.contains(needle) {
            return line;
        }
    };
    type_line("/msg bob");
    type_line("/e2e on");
    expect("end-to-end encrypted from now on");
    let typed = secret("typed");
    type_line(&typed);
    expect(&format!("{typed} ✓"));
    type_line("/quit");
    let _ = chat.wait();
    assert!(alice.device_file().is_some());
    assert_eq!(bob.read(&w, "alice"), [typed]);
}

#[test]
fn keys_remove_removes_a_device_and_contacts_are_told() {
    let w = World::new();
    let alice = Home::new(&w, "alice", "alice-home");
    let laptop = Home::new(&w, "bob", "bob-laptop");
    let phone = Home::new(&w, "bob", "bob-phone");
    alice.ok(&w, &["register"]);
    laptop.ok(&w, &["register"]);
    phone.ok(&w, &["keys"]);
    alice.ok(&w, &["send", "--to", "bob", "--e2e", "to both"]);
    let (_, phone_key) = phone.devices(&w);
    // Bob removes his phone from his laptop by a prefix of its key.
    let prefix: String = phone_key.chars().take(12).collect();
    let out = laptop.ok(&w, &["keys", "remove", &prefix]);
    assert!(
        out.stdout.starts_with("removed the device curve25519 "),
        "{out:?}"
    );
    let (left, laptop_key) = laptop.devices(&w);
    assert_eq!(left, std::slice::from_ref(&laptop_key));
    // Alice's next message tells her, once.
    let out = alice.ok(&w, &["send", "--to", "bob", "--e2e", "to the laptop"]);
    assert!(out.stderr.contains("bob removed a device"), "{out:?}");
    let out = alice.ok(&w, &["send", "--to", "bob", "--e2e", "again"]);
    assert!(!out.stderr.contains("removed"), "{out:?}");
    // Too short a prefix, or no match: a usage error, nothing removed.
    let short = run(laptop.cmd(&w, &["keys", "remove", "abc"]));
    assert_eq!(short.code, Some(2), "{short:?}");
    // The laptop removes itself: its local keys go too.
    let v = laptop.json(&w, &["keys", "remove"]);
    assert_eq!(
        (v["removed"].as_str(), v["this_device"].as_bool()),
        (Some(laptop_key.as_str()), Some(true))
    );
    assert!(laptop.device_file().is_none(), "local device deleted");
    let none = run(alice.cmd(&w, &["send", "--to", "bob", "--e2e", "nobody"]));
    assert_ne!(none.code, Some(0));
    assert!(none.stderr.contains("bob has no device"), "{none:?}");
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `secret` as it could be written down: as given (the device lists
/// each secret raw and in base64) and in hex.
fn spellings(secret: &[u8]) -> Vec<Vec<u8>> {
    vec![secret.to_vec(), hex::encode(secret).into_bytes()]
}

#[test]
fn nothing_under_natter_home_holds_a_plaintext_or_a_secret_key() {
    let w = World::new();
    let alice = Home::new(&w, "alice", "alice-home");
    let bob = Home::new(&w, "bob", "bob-home");
    alice.ok(&w, &["register"]);
    bob.ok(&w, &["register"]);
    let mut plaintexts = Vec::new();
    for i in 0..3 {
        let (a, b) = (
            secret(&format!("from-alice-{i}")),
            secret(&format!("from-bob-{i}")),
        );
        alice.ok(&w, &["send", "--to", "bob", "--e2e", &a]);
        bob.ok(&w, &["send", "--to", "alice", "--e2e", &b]);
        plaintexts.extend([a, b]);
    }
    assert_eq!(bob.read(&w, "alice").len(), 6);
    assert_eq!(alice.read(&w, "bob").len(), 6);
    for h in [&alice, &bob] {
        let file = h.device_file().expect("device");
        let device = E2eDevice::open(&file, h.user, PASSWORD).expect("open");
        let secrets = device.secret_material().expect("secrets");
        assert!(
            secrets.len() >= 3,
            "key, identity and session keys: {}",
            secrets.len()
        );
        drop(device);
        let files = files_under(&h.home);
        assert!(files.len() >= 3, "{files:?}");
        for f in files {
            let bytes = std::fs::read(&f).expect("read");
            for p in &plaintexts {
                assert!(!contains(&bytes, p.as_bytes()), "{p} in {}", f.display());
            }
            for s in secrets.iter().flat_map(|s| spellings(s)) {
                assert!(
                    !contains(&bytes, &s),
                    "secret key material in {}",
                    f.display()
                );
            }
        }
    }
}
