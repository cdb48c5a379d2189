//! `natter group kick|ban|unban|mute|unmute|promote|demote|transfer|
//! settings|delete|bans`, run as the real `natter` binary against a real
//! `natter serve` child process on a loopback port, the way a user runs
//! them: output, exit codes and what the others see.

mod common;

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use common::{GUARD, Output, ServerProcess, natter, read_lines, run};
use serde_json::Value;

const PASSWORD: &str = "correct horse";

struct World {
    dir: tempfile::TempDir,
    server: ServerProcess,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let server = ServerProcess::start(&data, "127.0.0.1:0", &dir.path().join("serve.log"));
        Self { dir, server }
    }

    fn cmd(&self, user: &str, args: &[&str]) -> Command {
        let mut cmd = natter();
        cmd.args(args)
            .env("NATTER_HOME", self.dir.path().join("home"))
            .env("NATTER_SERVER", self.server.addr.to_string())
            .env("NATTER_USER", user)
            .env("NATTER_PASSWORD", PASSWORD);
        cmd
    }

    /// Runs `natter ARGS` as `user`; expects exit code `code`.
    fn code(&self, code: i32, user: &str, args: &[&str]) -> Output {
        let out = run(self.cmd(user, args));
        assert_eq!(out.code, Some(code), "natter {args:?} as {user}: {out:?}");
        out
    }

    /// Runs `natter ARGS` as `user`, expects success, returns stdout.
    fn ok(&self, user: &str, args: &[&str]) -> String {
        self.code(0, user, args).stdout.trim().to_owned()
    }

    fn json(&self, user: &str, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        serde_json::from_str(&self.ok(user, &args)).expect("one JSON object")
    }
}

fn bodies(history: &Value) -> Vec<String> {
    let messages = history["messages"].as_array().expect("messages");
    let body = |m: &Value| m["body"].as_str().expect("body").to_owned();
    messages.iter().map(body).collect()
}

#[test]
fn kick_ban_unban_mute_and_the_ban_list() {
    let w = World::new();
    for user in ["olga", "adam", "mia", "kim"] {
        w.ok(user, &["register"]);
    }
    w.ok(
        "olga",
        &["group", "create", "club", "--members", "adam,mia,kim"],
    );
    let out = w.ok("olga", &["group", "promote", "club", "adam"]);
    assert_eq!(out, "promoted to admin: adam in #club");
    let out = w.ok(
        "adam",
        &["group", "mute", "club", "mia", "--reason", "calm down"],
    );
    assert_eq!(out, "muted mia in #club");
    let muted = w.code(4, "mia", &["send", "--group", "club", "hi"]);
    assert!(muted.stderr.contains("muted"), "{muted:?}");
    let list = w.ok("adam", &["group", "members", "club"]);
    let mia = list.lines().find(|l| l.contains("mia")).unwrap_or_default();
    assert!(mia.ends_with("member (muted)"), "{list}");
    let json = w.json("adam", &["group", "members", "club"]);
    let flags: Vec<(&str, bool)> = json["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["name"].as_str().unwrap_or(""), m["muted"] == true))
        .filter(|(_, muted)| *muted)
        .collect();
    assert_eq!(flags, [("mia", true)], "{json}");
    assert_eq!(
        w.ok("adam", &["group", "unmute", "club", "mia"]),
        "unmuted mia in #club"
    );
    w.ok("mia", &["send", "--group", "club", "thanks"]);

    let out = w.ok(
        "adam",
        &["group", "kick", "club", "kim", "--reason", "spam"],
    );
    assert_eq!(out, "kicked and banned kim in #club");
    let banned = w.code(4, "kim", &["group", "join", "club"]);
    assert!(banned.stderr.contains("banned"), "{banned:?}");
    let bans = w.json("adam", &["group", "bans", "club"]);
    assert_eq!(bans["bans"][0]["user"], "kim", "{bans}");
    assert_eq!(bans["bans"][0]["reason"], "spam", "{bans}");
    assert!(w.ok("adam", &["group", "bans", "club"]).starts_with("kim"));
    let forbidden = w.code(4, "mia", &["group", "bans", "club"]);
    assert!(forbidden.stderr.contains("only admins"), "{forbidden:?}");
    assert_eq!(
        w.ok("adam", &["group", "unban", "club", "kim"]),
        "unbanned kim in #club"
    );
    w.ok("kim", &["group", "join", "club"]);
    let out = w.ok("adam", &["group", "kick", "club", "kim", "--no-ban"]);
    assert_eq!(out, "kicked kim in #club");
    w.ok("kim", &["group", "join", "club"]);
    assert_eq!(
        w.ok("adam", &["group", "ban", "club", "kim"]),
        "banned kim in #club"
    );
    let admin = w.code(4, "adam", &["group", "kick", "club", "olga"]);
    assert!(admin.stderr.contains("owner"), "{admin:?}");

    let log = bodies(&w.json("mia", &["history", "--group", "club"]));
    for line in [
        "olga made adam an admin",
        "adam muted mia (reason: calm down)",
        "adam kicked kim and banned them (reason: spam)",
        "adam unbanned kim",
        "adam banned kim",
    ] {
        assert!(log.iter().any(|b| b == line), "{line:?} not in {log:?}");
    }
}

#[test]
fn settings_transfer_leave_and_delete() {
    let w = World::new();
    for user in ["olga", "mia", "nora"] {
        w.ok(user, &["register"]);
    }
    w.ok("olga", &["group", "create", "club", "--members", "mia"]);
    let args = [
        "group",
        "settings",
        "club",
        "--topic",
        "chess",
        "--invites",
        "admins",
    ];
    let now = w.json("olga", &args);
    assert_eq!(
        (&now["topic"], &now["invites"]),
        (&"chess".into(), &"admins".into())
    );
    assert_eq!(w.json("mia", &["group", "settings", "club"]), now);
    let shown = w.ok("mia", &["group", "settings", "club"]);
    assert!(shown.contains("topic:   chess"), "{shown}");
    let refused = w.code(4, "mia", &["group", "invite", "club", "nora"]);
    assert!(
        refused.stderr.contains("only admins may invite"),
        "{refused:?}"
    );

    let stays = w.code(1, "olga", &["group", "leave", "club"]);
    assert!(
        stays.stderr.contains("transfer ownership first"),
        "{stays:?}"
    );
    w.ok("olga", &["group", "promote", "club", "mia"]);
    let out = w.ok("olga", &["group", "demote", "club", "mia"]);
    assert_eq!(out, "demoted to member: mia in #club");
    let out = w.ok("olga", &["group", "transfer", "club", "mia"]);
    assert_eq!(out, "made the owner: mia in #club");
    w.ok("olga", &["group", "leave", "club"]);

    w.ok(
        "mia",
        &[
            "group",
            "settings",
            "club",
            "--rename",
            "Chess club",
            "--invite-only",
        ],
    );
    let careful = w.code(2, "mia", &["group", "delete", "Chess club"]);
    assert!(careful.stderr.contains("--yes"), "{careful:?}");
    assert_eq!(
        w.ok("mia", &["group", "delete", "chess CLUB", "--yes"]),
        "deleted #Chess club"
    );
    w.code(4, "mia", &["history", "--group", "Chess club"]);
    let groups = w.json("mia", &["groups"]);
    assert_eq!(
        groups["groups"].as_array().map(Vec::len),
        Some(0),
        "{groups}"
    );
}

/// Kills the child (a `natter listen`) however the test ends.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn listen_shows_who_removed_me_and_why() {
    let w = World::new();
    for user in ["olga", "kim"] {
        w.ok(user, &["register"]);
    }
    w.ok("olga", &["group", "create", "club", "--members", "kim"]);
    let mut listen = w.cmd("kim", &["listen", "--json"]);
    let child = listen.stdout(Stdio::piped()).stderr(Stdio::null()).spawn();
    let mut child = Reaper(child.expect("listen"));
    let lines = read_lines(child.0.stdout.take().expect("stdout"));
    let next = || -> Value {
        let line = lines.recv_timeout(GUARD).expect("a line from listen");
        serde_json::from_str(&line).expect("JSON line")
    };
    while next()["type"] != "synced" {}
    w.ok(
        "olga",
        &["group", "kick", "club", "kim", "--reason", "spam"],
    );
    let removed = std::iter::repeat_with(next)
        .find(|v| v["type"] == "removed")
        .expect("removed");
    assert_eq!(removed["conversation"], "#club", "{removed}");
    assert_eq!(
        (&removed["by"], &removed["kind"]),
        (&"olga".into(), &"banned".into())
    );
    assert_eq!(removed["reason"], "spam", "{removed}");
}

/// A `natter chat --plain` with its stdin and its stdout lines.
struct PlainChat {
    child: Reaper,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl PlainChat {
    fn start(w: &World, user: &str) -> Self {
        let mut cmd = w.cmd(user, &["chat", "--plain"]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = Reaper(cmd.spawn().expect("natter chat"));
        let lines = read_lines(child.0.stdout.take().expect("stdout"));
        let stdin = child.0.stdin.take().expect("stdin");
        Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to chat");
    }

    /// Waits (guarded) for an output line containing `needle`.
    fn expect(&mut self, needle: &str) -> String {
        self.expect_any(&[needle])
    }

    /// Waits (guarded) for an output line containing one of `needles`.
    fn expect_any(&mut self, needles: &[&str]) -> String {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                panic!("no line with {needles:?} in:\n{}", self.seen.join("\n"));
            };
            self.seen.push(line.clone());
            if needles.iter().any(|n| line.contains(n)) {
                return line;
            }
        }
    }
}

#[test]
fn slash_commands_moderate_in_natter_chat() {
    let w = World::new();
    for user in ["olga", "kim"] {
        w.ok(user, &["register"]);
    }
    w.ok("olga", &["group", "create", "club", "--members", "kim"]);
    let mut kim = PlainChat::start(&w, "kim");
    kim.expect("-- connected");
    let mut olga = PlainChat::start(&w, "olga");
    olga.expect("-- connected");
    // The group's log came with the sync: the app knows #club now.
    olga.expect("olga created the group");
    // The system message can come before the group's list entry: until the
    // app lists #club, `/join` asks the server (`already a member`) and
    // `/topic` has no group; try again, each round waiting for an answer.
    let deadline = Instant::now() + GUARD;
    loop {
        olga.type_line("/join club");
        olga.type_line("/topic chess");
        let line = olga.expect_any(&["topic:   chess", "not in a group"]);
        if line.contains("topic:   chess") {
            break;
        }
        assert!(Instant::now() < deadline, "#club never listed");
    }
    olga.type_line("/kick kim spam");
    olga.expect("olga kicked kim and banned them (reason: spam)");
    kim.expect("olga removed and banned you from #club (reason: spam)");
    olga.type_line("/bans");
    olga.expect("kim");
    olga.type_line("/transfer kim");
    olga.expect("kim is not a member of this group");
    olga.type_line("/quit");
    kim.type_line("/quit");
    for chat in [olga, kim] {
        let mut child = chat.child;
        let status = child.0.wait().expect("chat exits");
        assert!(status.success(), "{status}");
    }
}
