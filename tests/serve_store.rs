//! `natter serve --store postgres://…` at start-up (issue 11): a node
//! started while its PostgreSQL is down says so in its log, keeps trying
//! and serves once PostgreSQL answers; a database it can never use (here:
//! one that does not exist) is an error at once, with the reason.
//! SIGTERM stops a node waiting for PostgreSQL, even in a connect attempt;
//! an address that accepts and never answers is reported like a stopped
//! PostgreSQL (the handshake has a deadline).
//!
//! Skipped (said on stderr) without the PostgreSQL server binaries unless
//! `NATTER_REQUIRE_CLUSTER_TESTS=1`.

mod common;

use std::time::Instant;

use common::{GUARD, ServerProcess, natter, run};
use natter_store::pg_harness::TestPostgres;

/// Log line of a node waiting for PostgreSQL.
const WAITING: &str = "PostgreSQL unreachable: not serving until it answers";

#[test]
fn a_node_started_before_postgres_waits_for_it_then_serves() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.url_for_new_db();
    pg.stop();
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, log) = (dir.path().join("data"), dir.path().join("serve.log"));
    let args = ["--udp", "127.0.0.1:0", "--http", "off", "--store", &url];
    let node = std::thread::scope(|s| {
        let starting = s.spawn(|| ServerProcess::start_with(&data, &args, &log));
        let give_up = Instant::now() + GUARD;
        while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains(WAITING)) {
            assert!(Instant::now() < give_up, "no waiting line in the log");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        pg.restart();
        starting.join().expect("the node started")
    });
    let text = std::fs::read_to_string(&node.log).expect("log");
    assert!(text.contains("cluster store: PostgreSQL"), "{text}");
}

#[test]
fn a_missing_database_is_an_error_at_once() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = pg.url("no_such_database");
    let mut cmd = natter();
    cmd.args(["serve", "--udp", "127.0.0.1:0", "--http", "off"])
        .args(["--store", &url, "--data"])
        .arg(dir.path().join("data"));
    let out = run(cmd);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("cannot open the store at") && out.stderr.contains("does not exist"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(WAITING), "{}", out.stderr);
}

#[test]
fn sigterm_during_a_postgres_connect_attempt_stops_the_node() {
    // Accepts connections and never answers: the node's connect attempt
    // blocks in the PostgreSQL handshake.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    silent.set_nonblocking(true).expect("nonblocking");
    let url = format!(
        "postgres://natter@{}/natter",
        silent.local_addr().expect("addr")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("serve.log");
    let mut child = spawn_serve(&url, dir.path(), &log);
    let give_up = Instant::now() + GUARD;
    let _held = loop {
        match silent.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < give_up, "the node never connected");
                std::thread::sleep(std::time::Duration::from_millis(20)); // polling, bounded by GUARD
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    let (status, text) = stop(&mut child, &log);
    assert_eq!(status.code(), Some(1), "{status:?}: {text}");
    assert!(
        text.contains("stopped while waiting for PostgreSQL"),
        "{text}"
    );
}

/// Issue 11: a PostgreSQL address that accepts and never answers (a hung
/// server, a wrong port behind a proxy) is reported like a stopped
/// PostgreSQL, not waited on forever: the handshake has a deadline (the
/// URL's `connect_timeout`, here 1 s).
#[test]
fn a_postgres_that_accepts_and_never_answers_is_reported_unreachable() {
    // The kernel completes the TCP handshakes; nobody ever reads or writes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "postgres://natter@{}/natter?connect_timeout=1",
        silent.local_addr().expect("addr")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("serve.log");
    let mut child = spawn_serve(&url, dir.path(), &log);
    let give_up = Instant::now() + GUARD;
    let reported = |l: &String| l.contains(WAITING) && l.contains("did not answer in time");
    while !std::fs::read_to_string(&log).is_ok_and(|l| reported(&l)) {
        if Instant::now() >= give_up {
            let (_, text) = stop(&mut child, &log);
            panic!("the silent PostgreSQL was never reported: {text}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20)); // polling, bounded by GUARD
    }
    let (status, text) = stop(&mut child, &log);
    assert_eq!(status.code(), Some(1), "{status:?}: {text}");
}

/// `natter serve` on `url` with its data under `dir`, its log in `log`.
fn spawn_serve(url: &str, dir: &std::path::Path, log: &std::path::Path) -> std::process::Child {
    natter()
        .args(["serve", "--udp", "127.0.0.1:0", "--http", "off"])
        .args(["--store", url, "--data"])
        .arg(dir.join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn natter serve")
}

/// SIGTERMs `child` and waits for it (killed after [`GUARD`]); its exit
/// status and log.
fn stop(
    child: &mut std::process::Child,
    log: &std::path::Path,
) -> (std::process::ExitStatus, String) {
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let give_up = Instant::now() + GUARD;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20)); // polling, bounded by GUARD
    };
    (status, std::fs::read_to_string(log).expect("log"))
}
