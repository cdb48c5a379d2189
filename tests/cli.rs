//! The one-shot client subcommands, run as the real `natter` binary against
//! a real `natter serve` child process on a loopback port: register, send a
//! DM and a group message, read them back, listen live, exit codes, the
//! session token, the persistent outbox and the known-servers pin.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{GUARD, Output, ServerProcess, natter, read_lines, run};
use serde_json::Value;

const PASSWORD: &str = "correct horse";

/// A server with its data directory and one client home directory.
struct World {
    dir: tempfile::TempDir,
    server: ServerProcess,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = ServerProcess::start(
            &dir.path().join("data"),
            "127.0.0.1:0",
            &dir.path().join("serve.log"),
        );
        Self { dir, server }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `natter ARGS` as `user` with the right password.
    fn cmd(&self, user: &str, args: &[&str]) -> Command {
        self.cmd_with(user, PASSWORD, &self.home(), args)
    }

    fn cmd_with(&self, user: &str, password: &str, home: &Path, args: &[&str]) -> Command {
        let mut cmd = natter();
        cmd.args(args)
            .env("NATTER_HOME", home)
            .env("NATTER_SERVER", self.server.addr.to_string())
            .env("NATTER_USER", user)
            .env("NATTER_PASSWORD", password);
        cmd
    }

    /// Runs `natter ARGS` as `user` and expects exit code 0.
    fn ok(&self, user: &str, args: &[&str]) -> Output {
        let out = run(self.cmd(user, args));
        assert_eq!(
            out.code,
            Some(0),
            "natter {args:?} as {user} failed: {out:?}"
        );
        out
    }

    /// Runs `natter ARGS --json` as `user` and parses the one object printed.
    fn json(&self, user: &str, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let out = self.ok(user, &args);
        serde_json::from_str(out.stdout.trim()).expect("one JSON object")
    }

    fn register(&self, users: &[&str]) {
        for user in users {
            self.ok(user, &["register"]);
        }
    }
}

/// The bodies of a `history --json` answer, in order.
fn bodies(history: &Value) -> Vec<String> {
    let messages = history["messages"].as_array().expect("messages");
    messages
        .iter()
        .map(|m| m["body"].as_str().expect("body").to_owned())
        .collect()
}

#[test]
fn register_send_a_dm_and_a_group_message_and_read_them_back() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    let out = w.ok("alice", &["send", "--to", "bob", "hello", "bob"]);
    assert_eq!(out.stdout.trim(), "✓ @bob #1");
    w.ok("alice", &["group", "create", "team", "--members", "bob"]);
    let sent = w.json("alice", &["send", "--group", "team", "hi team"]);
    assert_eq!(
        (sent["state"].as_str(), sent["conversation"].as_str()),
        (Some("stored"), Some("#team"))
    );

    let dm = w.json("bob", &["history", "--with", "alice"]);
    assert_eq!(bodies(&dm), ["hello bob"]);
    assert_eq!(dm["messages"][0]["from"], "alice");
    assert_eq!(dm["conversation"], "@alice");
    let group = w.json("bob", &["history", "--group", "team"]);
    let last = group["messages"]
        .as_array()
        .and_then(|m| m.last())
        .expect("a message");
    assert_eq!(
        (&last["body"], &last["from"], &last["seq"]),
        (&"hi team".into(), &"alice".into(), &sent["seq"])
    );

    let groups = w.json("bob", &["groups"]);
    assert_eq!(groups["groups"][0]["name"], "team");
    assert_eq!(groups["groups"][0]["member"], true);
    let members = w.json("bob", &["group", "members", "team"]);
    let names: Vec<_> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(names.len(), 2, "{members}");
    let users = w.json("alice", &["users"]);
    assert_eq!(users["users"].as_array().map(Vec::len), Some(2), "{users}");
}

#[test]
fn group_invite_adds_a_user_by_name() {
    let w = World::new();
    w.register(&["alice", "carol"]);
    w.ok("alice", &["group", "create", "crew", "--invite-only"]);
    let out = w.ok("alice", &["group", "invite", "crew", "carol"]);
    assert_eq!(out.stdout.trim(), "added carol to #crew");
    let groups = w.json("carol", &["groups"]);
    let crew = groups["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "crew"))
        .unwrap_or_else(|| panic!("carol sees crew: {groups}"));
    assert_eq!(crew["member"], true, "{groups}");
}

#[test]
fn listen_prints_a_live_message_and_send_waits_for_delivery() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    let mut listen = w.cmd("bob", &["listen", "--json"]);
    let mut child = listen
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("listen");
    let lines = read_lines(child.stdout.take().expect("stdout"));
    let next = || -> Value {
        let line = lines.recv_timeout(GUARD).expect("a line from listen");
        serde_json::from_str(&line).expect("JSON line")
    };
    while next()["type"] != "synced" {}

    let out = w.ok(
        "alice",
        &["send", "--to", "bob", "--wait-delivered", "live!"],
    );
    assert_eq!(out.stdout.trim(), "✓✓ @bob #1");
    let message = std::iter::repeat_with(next)
        .find(|v| v["type"] == "message")
        .expect("message");
    assert_eq!(
        (message["body"].as_str(), message["from"].as_str()),
        (Some("live!"), Some("alice"))
    );
    assert_eq!(message["conversation"], "@alice");
    child.kill().expect("stop listen");
    child.wait().expect("reaped");
}

#[test]
fn exit_codes_for_bad_password_unknown_user_unreachable_server_and_usage() {
    let w = World::new();
    w.register(&["alice"]);
    let fresh = w.dir.path().join("fresh-home");
    let bad = run(w.cmd_with("alice", "wrong password", &fresh, &["users"]));
    assert_eq!(bad.code, Some(3), "{bad:?}");
    let nobody = run(w.cmd_with("nobody", PASSWORD, &fresh, &["users"]));
    assert_eq!(nobody.code, Some(3), "{nobody:?}");

    let dm = run(w.cmd("alice", &["send", "--to", "ghost", "boo"]));
    assert_eq!(dm.code, Some(4), "{dm:?}");
    assert!(dm.stderr.contains("ghost"), "{dm:?}");
    let history = run(w.cmd("alice", &["history", "--with", "ghost"]));
    assert_eq!(history.code, Some(4), "{history:?}");
    let group = run(w.cmd("alice", &["group", "leave", "nowhere"]));
    assert_eq!(group.code, Some(4), "{group:?}");

    // A socket that never answers: nothing listens behind it.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let started = Instant::now();
    let mut cmd = w.cmd("alice", &["users", "--timeout", "500ms", "--server", &addr]);
    let down = run(cmd.env_remove("NATTER_SERVER"));
    assert_eq!(down.code, Some(5), "{down:?}");
    assert!(down.stderr.contains(&addr), "{down:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    let usage = run(w.cmd("alice", &["send", "hello"]));
    assert_eq!(usage.code, Some(2), "{usage:?}");
    let mut no_user = w.cmd("alice", &["users"]);
    let no_user = run(no_user.env_remove("NATTER_USER"));
    assert_eq!(no_user.code, Some(2), "{no_user:?}");
}

#[test]
fn the_session_token_is_private_and_resumes_without_the_password() {
    let w = World::new();
    w.register(&["alice"]);
    w.ok("alice", &["users"]);
    let port = w.server.addr.port();
    let token = w
        .home()
        .join("sessions")
        .join(format!("alice@127.0.0.1_{port}"));
    let meta = std::fs::metadata(&token).expect("session file");
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let resumed = run(w.cmd_with("alice", "not the password", &w.home(), &["users"]));
    assert_eq!(resumed.code, Some(0), "{resumed:?}");
}

#[test]
fn passwd_ends_other_sessions_and_keeps_this_home_signed_in() {
    let w = World::new();
    w.register(&["alice"]);
    let other_home = w.dir.path().join("other-home");
    let other = |password: &str| run(w.cmd_with("alice", password, &other_home, &["users"]));
    assert_eq!(other(PASSWORD).code, Some(0), "second device signs in");

    let mut passwd = w.cmd("alice", &["passwd"]);
    passwd.env("NATTER_NEW_PASSWORD", "a brand new secret");
    let out = run(passwd);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("password changed for alice"), "{out:?}");

    // This home resumes with the fresh token (a wrong password proves it).
    let resumed = run(w.cmd_with("alice", "not the password", &w.home(), &["users"]));
    assert_eq!(resumed.code, Some(0), "{resumed:?}");
    // The other device's token is gone and the old password is refused.
    let refused = other(PASSWORD);
    assert_eq!(refused.code, Some(3), "{refused:?}");
    assert_eq!(other("a brand new secret").code, Some(0));

    let mut wrong = w.cmd_with("alice", "not the password", &other_home, &["passwd"]);
    wrong.env("NATTER_NEW_PASSWORD", "another new secret");
    assert_eq!(run(wrong).code, Some(3), "the old password is checked");
}

#[test]
fn a_message_sent_while_the_server_is_down_is_sent_once_after_restart() {
    let mut w = World::new();
    w.register(&["alice", "bob"]);
    w.ok("alice", &["send", "--to", "bob", "before"]);
    let addr: SocketAddr = w.server.addr;
    w.server.kill_9();

    let down = run(w.cmd(
        "alice",
        &["send", "--to", "bob", "--timeout", "1s", "while down"],
    ));
    assert_eq!(down.code, Some(5), "{down:?}");
    assert!(
        down.stdout.contains('⏳') && down.stderr.contains("queued"),
        "{down:?}"
    );

    let data = w.dir.path().join("data");
    w.server = ServerProcess::start(&data, &addr.to_string(), &w.dir.path().join("serve2.log"));
    let out = w.ok("alice", &["send", "--to", "bob", "after"]);
    assert!(out.stderr.contains("sent queued message"), "{out:?}");
    w.ok("alice", &["send", "--to", "bob", "later"]);
    let history = w.json("bob", &["history", "--with", "alice"]);
    assert_eq!(bodies(&history), ["before", "while down", "after", "later"]);
    let outbox = w
        .home()
        .join("outbox")
        .join(format!("alice@127.0.0.1_{}", addr.port()));
    let left = std::fs::read_dir(&outbox).map_or(0, |d| d.count());
    assert_eq!(left, 0, "outbox not empty");
}

#[test]
fn a_changed_server_key_is_refused_with_an_explanation() {
    let mut w = World::new();
    w.register(&["alice"]);
    let addr = w.server.addr.to_string();
    w.server.kill_9();
    let other = w.dir.path().join("other-data");
    w.server = ServerProcess::start(&other, &addr, &w.dir.path().join("serve2.log"));
    let out = run(w.cmd("alice", &["register"]));
    assert_eq!(out.code, Some(6), "exit 6: the server key changed; {out:?}");
    let known = w.home().join("known_servers");
    assert!(out.stderr.contains("not the key pinned"), "{out:?}");
    let what_to_do = format!("remove the line for {addr} from {}", known.display());
    assert!(out.stderr.contains(&what_to_do), "{out:?}");
}

#[test]
fn a_wrong_pinned_fingerprint_exits_6_naming_both_keys_and_the_file() {
    let w = World::new();
    let addr = w.server.addr.to_string();
    let known = w.home().join("known_servers");
    std::fs::create_dir_all(w.home()).expect("home");
    let wrong = format!("natter1:{}", "a".repeat(32));
    std::fs::write(&known, format!("{addr} {wrong}\n")).expect("pin");
    let out = run(w.cmd("alice", &["register"]));
    assert_eq!(out.code, Some(6), "{out:?}");
    let shown = "natter1:aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa";
    assert!(out.stderr.contains(shown), "the pinned key: {out:?}");
    assert!(out.stderr.contains("presented key natter1:"), "{out:?}");
    assert!(out.stderr.contains(&known.display().to_string()), "{out:?}");
    let pinned = std::fs::read_to_string(&known).expect("known_servers");
    assert_eq!(pinned, format!("{addr} {wrong}\n"), "the pin is left alone");
}

#[test]
fn a_port_with_nothing_listening_exits_5_naming_the_address() {
    let w = World::new();
    // Bound and closed again: nothing listens there now.
    let addr = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .to_string();
    let mut cmd = w.cmd("alice", &["users", "--timeout", "1s", "--server", &addr]);
    let out = run(cmd.env_remove("NATTER_SERVER"));
    assert_eq!(out.code, Some(5), "{out:?}");
    let said = format!("cannot reach the server at {addr}");
    assert!(out.stderr.contains(&said), "{out:?}");
}

/// A fake server on loopback that answers every Initial (PROTOCOL.md,
/// "Initial (`0x01`)") with a VersionNegotiation packet offering only
/// `offered`, built byte by byte from PROTOCOL.md ("VersionNegotiation
/// (`0x04`)"): type, version 0, dcid = the Initial's scid, scid = the
/// Initial's dcid, count, then the versions (`u32` big-endian). Returns the
/// address and a handle that stops it and reports how many Initials it
/// answered, or what it got instead of an Initial (it stops answering then;
/// the test asserts on the report).
fn version_negotiator(offered: u32) -> (String, impl FnOnce() -> Result<usize, String>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr").to_string();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || -> Result<usize, String> {
        let mut answered = 0;
        let mut buf = [0u8; 2048];
        while !stopped.load(Ordering::Relaxed) {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue; // the read timeout: look at `stop` again
            };
            let initial = &buf[..len];
            let head = &initial[..len.min(21)];
            if len < 1200 {
                return Err(format!(
                    "a datagram of {len} bytes, not an Initial's ≥ 1200 (starts {head:02x?})"
                ));
            }
            if initial[0] != 0x01 {
                return Err(format!(
                    "packet type {:#04x}, not an Initial (0x01)",
                    initial[0]
                ));
            }
            if initial[1..5] != 0x4E41_5401_u32.to_be_bytes() {
                return Err(format!(
                    "an Initial of version {:02x?}, not 4e415401",
                    &initial[1..5]
                ));
            }
            let (dcid, scid) = (&initial[5..13], &initial[13..21]);
            let mut answer = vec![0x04];
            answer.extend_from_slice(&0u32.to_be_bytes());
            answer.extend_from_slice(scid);
            answer.extend_from_slice(dcid);
            answer.push(1);
            answer.extend_from_slice(&offered.to_be_bytes());
            socket
                .send_to(&answer, from)
                .map_err(|e| format!("sending the VersionNegotiation: {e}"))?;
            answered += 1;
        }
        Ok(answered)
    });
    let finish = move || {
        stop.store(true, Ordering::Relaxed);
        thread.join().expect("negotiator thread")
    };
    (addr, finish)
}

#[test]
fn a_server_of_another_protocol_version_exits_7_saying_so() {
    let (addr, finish) = version_negotiator(0x4E41_5402);
    let home = tempfile::tempdir().expect("home");
    let mut cmd = natter();
    cmd.args(["users", "--timeout", "10s", "--server", &addr])
        .env("NATTER_HOME", home.path())
        .env("NATTER_USER", "alice")
        .env("NATTER_PASSWORD", PASSWORD);
    let out = run(cmd);
    let answered = match finish() {
        Ok(answered) => answered,
        Err(got) => panic!("the fake server got {got}; the client: {out:?}"),
    };
    assert!(
        answered >= 1,
        "the fake server answered no Initial; the client: {out:?}"
    );
    assert_eq!(out.code, Some(7), "exit 7: version mismatch; {out:?}");
    let said = format!("cannot talk to the server at {addr}");
    assert!(out.stderr.contains(&said), "names the server: {out:?}");
    assert!(
        out.stderr.contains("protocol versions") && out.stderr.contains("4e415402"),
        "names the versions it offered: {out:?}"
    );
    assert!(
        out.stderr.contains("upgrade natter"),
        "says what to do: {out:?}"
    );
}
