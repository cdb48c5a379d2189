//! Several server addresses with the real binary (`-s A,B` /
//! `NATTER_SERVER=A,B`): a dead first address does not stop a one-shot
//! command, and `natter listen` carries on on the next address after its
//! node is killed with SIGKILL.
//!
//! Two `natter serve` processes cannot share one SQLite data directory, so
//! the second node here is a standby: it starts on the dead node's data
//! directory (same key, same sessions and messages) at another address
//! once the first one was killed. Two live nodes on PostgreSQL are the
//! cluster tests' part.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::world::PASSWORD;
use common::{GUARD, Output, ServerProcess, natter, read_lines, run};
use serde_json::Value;

/// A loopback UDP port that swallows every datagram (a node whose machine
/// is gone), held open so nothing else binds it.
fn silent_port() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind")
}

/// A free loopback UDP port (for a node started later).
fn free_port() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr")
}

fn cmd(home: &Path, servers: &str, user: &str, args: &[&str]) -> Command {
    let mut cmd = natter();
    cmd.args(args)
        .env("NATTER_HOME", home)
        .env("NATTER_SERVER", servers)
        .env("NATTER_USER", user)
        .env("NATTER_PASSWORD", PASSWORD);
    cmd
}

fn ok(home: &Path, servers: &str, user: &str, args: &[&str]) -> Output {
    let out = run(cmd(home, servers, user, args));
    assert_eq!(out.code, Some(0), "natter {args:?} -s {servers}: {out:?}");
    out
}

fn start(data: &Path, udp: &str, log: &Path) -> ServerProcess {
    ServerProcess::start_with(data, &["--udp", udp, "--http", "off"], log)
}

#[test]
fn a_dead_first_address_does_not_stop_a_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = start(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &dir.path().join("serve.log"),
    );
    let dead = silent_port();
    let dead_addr = dead.local_addr().expect("addr");
    let home = dir.path().join("home");
    let both = format!("{dead_addr},{}", live.addr);
    for user in ["alice", "bob"] {
        ok(&home, &both, user, &["register"]);
    }
    let started = Instant::now();
    let out = ok(&home, &both, "alice", &["send", "--to", "bob", "hello"]);
    let with_dead = started.elapsed();
    assert!(out.stdout.contains("✓"), "{out:?}");
    // The same with the flag, and the live node alone for reference.
    let flag = ["send", "-s", &both, "--to", "bob", "again"];
    let mut by_flag = cmd(&home, "127.0.0.1:9", "alice", &flag);
    let out = run(&mut by_flag);
    assert_eq!(out.code, Some(0), "{out:?}");
    let started = Instant::now();
    let live_only = live.addr.to_string();
    ok(
        &home,
        &live_only,
        "alice",
        &["send", "--to", "bob", "once more"],
    );
    let alone = started.elapsed();
    eprintln!("natter send: dead first address {with_dead:?}, live address alone {alone:?}");
    // The key learnt from the live node is pinned for both addresses.
    let pins = std::fs::read_to_string(home.join("known_servers")).expect("pins");
    let fingerprint = |addr: &str| {
        let line = pins.lines().find(|l| l.starts_with(addr));
        line.and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    let (a, b) = (fingerprint(&dead_addr.to_string()), fingerprint(&live_only));
    assert!(a.is_some() && a == b, "{pins}");
    let history = ok(
        &home,
        &both,
        "bob",
        &["history", "--with", "alice", "--json"],
    );
    let page: Value = serde_json::from_str(history.stdout.trim()).expect("json");
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(3), "{page}");
}

#[test]
fn listen_carries_on_on_the_next_address_after_its_node_is_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut a = start(&data, "127.0.0.1:0", &dir.path().join("a.log"));
    let b_addr = free_port();
    let home = dir.path().join("home");
    let both = format!("{},{b_addr}", a.addr);
    for user in ["alice", "bob"] {
        ok(&home, &both, user, &["register"]);
    }
    let child = cmd(&home, &both, "bob", &["listen", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("listen");
    let mut listen = KillOnDrop(child);
    let lines = read_lines(listen.0.stdout.take().expect("stdout"));
    let next = || -> Value {
        let line = lines.recv_timeout(GUARD).expect("a line from listen");
        serde_json::from_str(&line).expect("JSON line")
    };
    while next()["type"] != "synced" {}
    ok(&home, &both, "alice", &["send", "--to", "bob", "before"]);
    while next()["body"] != "before" {}
    a.kill_9();
    let killed = Instant::now();
    let _b = start(&data, &b_addr.to_string(), &dir.path().join("b.log"));
    ok(&home, &both, "alice", &["send", "--to", "bob", "after"]);
    let mut states = Vec::new();
    loop {
        let line = next();
        if line["type"] == "connection" {
            states.push(line.clone());
        }
        if line["body"] == "after" {
            break;
        }
        assert_ne!(line["body"], "before", "delivered twice");
    }
    eprintln!(
        "listen: `after` shown {:?} after the kill",
        killed.elapsed()
    );
    assert!(
        !states.is_empty(),
        "listen said nothing about the reconnect"
    );
}

/// Kills a child process when dropped (also when the test panics).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
