//! The line-mode REPL (`natter chat --plain`) accepts the original
//! design's spellings: `!private USER TEXT`, `!online`, `!bye`. Run as the
//! real binary against a real server.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use common::world::World;
use common::{GUARD, read_lines};

#[test]
fn private_online_and_bye_work_in_line_mode() {
    let w = World::new();
    w.register(&["alice", "bob"]);
    let listen = w.listen("bob");
    let mut chat = w
        .cmd("alice", &["chat", "--plain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn natter chat");
    let lines = read_lines(chat.stdout.take().expect("stdout"));
    let mut stdin = chat.stdin.take().expect("stdin");
    let pid = chat.id();
    let _guard = KillOnDrop(pid);
    expect_line(&lines, "-- connected");

    writeln!(stdin, "!private bob hello via alias").expect("type");
    expect_line(&lines, "@bob alice: hello via alias ✓");
    let message = std::iter::repeat_with(|| listen.next())
        .find(|v| v["type"] == "message")
        .expect("bob gets it");
    assert_eq!(message["body"], "hello via alias", "{message}");
    assert_eq!(message["from"], "alice", "{message}");

    writeln!(stdin, "!online").expect("type");
    let users = expect_line(&lines, "-- users:");
    assert!(
        users.contains("alice (online)") && users.contains("bob (online)"),
        "{users}"
    );

    // `!bye` quits while stdin is still open.
    writeln!(stdin, "!bye").expect("type");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(chat.wait()));
    let status = rx.recv_timeout(GUARD).expect("chat exits after !bye");
    assert!(status.expect("wait").success());
    drop(stdin);
}

/// Waits (guarded) for an output line containing `needle`.
fn expect_line(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + GUARD;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            panic!("no line with `{needle}` in:\n{}", seen.join("\n"));
        };
        if line.contains(needle) {
            return line;
        }
        seen.push(line);
    }
}

/// Kills a child by pid if the test fails before it exited.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("kill")
                .args(["-9", &self.0.to_string()])
                .status();
        }
    }
}
