//! Hostile-load tests: output and files (issue 9, findings 8 and 9).
//!
//! - Message bodies full of terminal escapes (ESC [2J, an OSC title, BEL,
//!   CR + a forged "bob: …" line, a bidi override, an 8-bit CSI) reach
//!   `natter listen` and `natter history` (the real binary) with no raw
//!   control byte on stdout and the forged line never at a line start.
//! - `natter serve` refuses an empty or foreign `natter.db`, untouched.
//! - The server's data and the client's NATTER_HOME are private (0700
//!   directories, 0600 files), also when an older version left them open.
//! - One-shot commands close their connection: with a 60 s idle timeout the
//!   server's open-connection gauge still returns to 0 at once.

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use natter_api::{Anchor, HistoryQuery, Order, Target};

use crate::common::{GUARD, Output, ServerProcess, logged_in_client, natter, run};

const PASSWORD: &str = "correct horse";

/// Everything a hostile peer would put in a body, ending in a marker.
const HOSTILE: &str =
    "\u{1b}[2J\u{1b}]0;pwned\u{7}hi\r\nbob: forged\u{202e}evil\u{9b}31m\u{7f} END";

/// Bytes that must never reach a terminal from a peer's text.
const RAW: [u8; 4] = [0x1b, 0x07, 0x0d, 0x9b];

/// A server (UDP and HTTP on loopback) with its data and a client home.
struct World {
    dir: tempfile::TempDir,
    server: ServerProcess,
}

impl World {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut args = vec!["--udp", "127.0.0.1:0", "--http", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let server = ServerProcess::start_with(
            &dir.path().join("data"),
            &args,
            &dir.path().join("serve.log"),
        );
        Self { dir, server }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `natter ARGS` as `user` (password in the environment).
    fn cmd(&self, user: &str, args: &[&str]) -> Command {
        let mut cmd = natter();
        cmd.args(args)
            .env("NATTER_HOME", self.home())
            .env("NATTER_SERVER", self.server.addr.to_string())
            .env("NATTER_USER", user)
            .env("NATTER_PASSWORD", PASSWORD);
        cmd
    }

    fn ok(&self, user: &str, args: &[&str]) -> Output {
        let out = run(self.cmd(user, args));
        assert_eq!(out.code, Some(0), "natter {args:?} as {user}: {out:?}");
        out
    }
}

/// Fails unless `out` is safe for a terminal: no raw control byte, no bidi
/// override, and (human output) the forged line only ever as an indented
/// continuation.
fn assert_terminal_safe(what: &str, out: &[u8]) {
    assert_no_raw_bytes(what, out);
    let text = String::from_utf8_lossy(out);
    for line in text.lines().filter(|l| l.contains("bob: forged")) {
        assert!(line.starts_with("    │ bob: forged"), "{what}: {line:?}");
    }
}

/// No raw control byte, no bidi override and no line starting with the
/// forged text in `out` (JSON output too).
fn assert_no_raw_bytes(what: &str, out: &[u8]) {
    for byte in RAW {
        let at = out.iter().position(|&b| b == byte);
        assert!(
            at.is_none(),
            "{what}: byte {byte:#04x} at {at:?} in\n{}",
            String::from_utf8_lossy(out)
        );
    }
    let text = String::from_utf8_lossy(out);
    assert!(
        !text.contains('\u{202e}'),
        "{what}: bidi override in\n{text}"
    );
    let forged = text.lines().any(|l| l.starts_with("bob: forged"));
    assert!(!forged, "{what}: a forged line in\n{text}");
}

/// Reads a child's stdout as raw bytes on a thread.
fn raw_reader(mut stdout: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collects chunks from `rx` into `seen` until `done(seen)` (guarded).
fn read_until(rx: &mpsc::Receiver<Vec<u8>>, seen: &mut Vec<u8>, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + GUARD;
    while !done(&String::from_utf8_lossy(seen)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!("output so far:\n{}", String::from_utf8_lossy(seen));
        });
        seen.extend(chunk);
    }
}

#[test]
fn escapes_in_bodies_never_reach_stdout_raw() {
    let w = World::start(&[]);
    w.ok("bob", &["register"]);
    let mut listen = w
        .cmd("bob", &["listen"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("listen");
    let chunks = raw_reader(listen.stdout.take().expect("stdout"));
    let mut seen = Vec::new();
    read_until(&chunks, &mut seen, |s| s.contains("-- up to date --"));

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let known = w.dir.path().join("mallory_known");
        let (mallory, _events) = logged_in_client(w.server.addr, &known, "mallory", PASSWORD).await;
        for target in [Target::Lobby, Target::User("bob".into())] {
            let mut sent = mallory.send(target, HOSTILE).await;
            sent.stored().await.expect("stored");
        }
        let query = HistoryQuery {
            conv: natter_api::ConversationId(1),
            anchor: Anchor::Before(u64::MAX),
            limit: 5,
            order: Order::NewestFirst,
        };
        let page = mallory.history(query).await.expect("history");
        assert!(page.iter().any(|m| m.body == HOSTILE), "stored as sent");
        mallory.close().await;
    });

    read_until(&chunks, &mut seen, |s| s.matches(" END").count() >= 2);
    listen.kill().expect("stop listen");
    let _ = listen.wait();
    println!("listen printed:\n{}", String::from_utf8_lossy(&seen));
    assert_terminal_safe("natter listen", &seen);

    for args in [
        &["history", "--lobby"][..],
        &["history", "--with", "mallory"],
    ] {
        let out = w.ok("bob", args);
        assert!(out.stdout.contains("END"), "{args:?}: {}", out.stdout);
        assert_terminal_safe(&format!("natter {args:?}"), out.stdout.as_bytes());
    }
    let json = w.ok("bob", &["history", "--lobby", "--json"]).stdout;
    assert_no_raw_bytes("natter history --json", json.as_bytes());
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    let body = &value["messages"][0]["body"];
    assert_eq!(body.as_str(), Some(HOSTILE), "JSON keeps the exact body");
}

/// `natter serve` on `data`: must fail; returns its stderr.
fn serve_refused(data: &Path) -> String {
    let out = run(natter()
        .args(["serve", "--udp", "127.0.0.1:0", "--http", "off", "--data"])
        .arg(data));
    assert_ne!(out.code, Some(0), "serve started: {out:?}");
    out.stderr
}

#[test]
fn serve_refuses_an_empty_or_foreign_database_and_leaves_it_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("dir");
    std::fs::write(empty.join("natter.db"), b"").expect("empty db");
    let err = serve_refused(&empty);
    println!("0-byte natter.db: {err}");
    assert!(
        err.contains("not a Natter database") && err.contains("empty"),
        "{err}"
    );
    assert_eq!(std::fs::read(empty.join("natter.db")).expect("db"), b"");

    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).expect("dir");
    let db = foreign.join("natter.db");
    let conn = rusqlite::Connection::open(&db).expect("sqlite");
    conn.execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine');")
        .expect("foreign schema");
    drop(conn);
    let before = std::fs::read(&db).expect("db");
    let err = serve_refused(&foreign);
    println!("foreign natter.db: {err}");
    assert!(err.contains("not a Natter database"), "{err}");
    assert_eq!(std::fs::read(&db).expect("db"), before, "untouched");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Every directory under `root` (and `root`) is 0700, every file 0600.
fn assert_private_tree(root: &Path) -> usize {
    assert_eq!(mode(root), 0o700, "{}", root.display());
    let mut files = 0;
    for entry in std::fs::read_dir(root).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files += assert_private_tree(&path);
        } else {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            files += 1;
        }
    }
    files
}

#[test]
fn server_data_and_client_home_are_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = ServerProcess::start_with(
        &data,
        &["--udp", "127.0.0.1:0", "--http", "off"],
        &dir.path().join("serve.log"),
    );
    let w = World { dir, server };
    w.ok("alice", &["register"]);
    w.ok("alice", &["send", "--lobby", "a private body"]);
    let files = assert_private_tree(&data);
    println!("server data: {files} files, all 0600 in 0700");
    for name in ["natter.db", "server.key", "token.secret"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }

    // The server is gone: the message waits in the outbox (its body on disk).
    let dead = UdpSocket::bind("127.0.0.1:0").expect("socket");
    let dead_addr = dead.local_addr().expect("addr").to_string();
    drop(dead);
    let out = run(w
        .cmd(
            "alice",
            &["send", "--lobby", "--timeout", "1s", "queued body"],
        )
        .env("NATTER_SERVER", &dead_addr));
    assert_eq!(out.code, Some(5), "{out:?}");
    let home = w.home();
    let outbox = home.join("outbox");
    assert!(outbox.is_dir(), "no outbox: {out:?}");
    let files = assert_private_tree(&home);
    println!("client home: {files} files, all 0600 in 0700");

    // Files an older version left open are tightened by the next command.
    let known = home.join("known_servers");
    std::fs::set_permissions(&known, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::set_permissions(&outbox, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    w.ok("alice", &["users"]);
    assert_private_tree(&home);
}

/// The value of metric `name` from `GET /metrics`.
fn metric(http: SocketAddr, name: &str) -> u64 {
    let text = crate::support::scrape_blocking(http);
    let value = crate::support::metric(&text, name);
    value.unwrap_or_else(|| panic!("no metric {name} in:\n{text}")) as u64
}

/// Polls the server's open-connection gauge until it is 0; how long it took.
fn wait_no_connections(http: SocketAddr, guard: Duration) -> Duration {
    let start = Instant::now();
    while metric(http, "natter_connections_open") > 0 {
        assert!(
            start.elapsed() < guard,
            "connections still open after {guard:?}: the CLI did not close"
        );
        std::thread::sleep(Duration::from_millis(20)); // polling interval, not a wait for an event
    }
    start.elapsed()
}

#[test]
fn one_shot_commands_close_their_connection_at_once() {
    // With a 60 s idle timeout, only a CLOSE ends a connection within 30 s.
    let w = World::start(&["--idle-timeout", "60s"]);
    let http = w.server.http.expect("http");
    let guard = Duration::from_secs(30);
    for (what, args) in [
        ("register", &["register"][..]),
        ("send", &["send", "--lobby", "hello"]),
        ("history", &["history", "--lobby"]),
        ("users", &["users"]),
    ] {
        w.ok("carol", args);
        let took = wait_no_connections(http, guard);
        println!("natter {what}: server saw the connection end {took:?} after exit");
    }
    let total = metric(http, "natter_connections_total");
    assert!(total >= 4, "every command connected ({total})");
}
