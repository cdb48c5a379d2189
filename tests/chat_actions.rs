//! `/edit` and `/delete` in `natter chat --plain`, run as the real binary
//! against a real server: the line changes in place for the author, and a
//! listening member gets the edit and the delete.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use common::world::World;
use common::{GUARD, read_lines};

#[test]
fn edit_and_delete_my_last_message_in_line_mode() {
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
    let _guard = KillOnDrop(chat.id());
    expect_line(&lines, "-- connected");

    writeln!(stdin, "helo wrld").expect("type");
    expect_line(&lines, "alice: helo wrld ✓");
    let sent = next_of(&listen, |v| v["body"] == "helo wrld");
    writeln!(stdin, "/edit hello world").expect("type");
    expect_line(&lines, "alice: hello world (edited)");
    let edit = next_of(&listen, |v| !v["action"].is_null());
    assert_eq!(edit["action"]["edit"], sent["seq"], "{edit}");
    assert_eq!(edit["body"], "hello world", "{edit}");

    writeln!(stdin, "/delete").expect("type");
    expect_line(&lines, "alice: (message deleted)");
    let delete = next_of(&listen, |v| !v["action"].is_null());
    assert_eq!(delete["action"]["delete"], sent["seq"], "{delete}");
    assert_eq!(delete["deleted"], true, "{delete}");
    writeln!(stdin, "/delete").expect("type");
    expect_line(&lines, "no message of yours here");

    writeln!(stdin, "/quit").expect("type");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(chat.wait()));
    let status = rx.recv_timeout(GUARD).expect("chat exits after /quit");
    assert!(status.expect("wait").success());
}

/// The next `listen --json` message line matching `pick`.
fn next_of(
    listen: &common::world::Listener,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    std::iter::repeat_with(|| listen.next())
        .find(|v| v["type"] == "message" && pick(v))
        .expect("a matching message")
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
