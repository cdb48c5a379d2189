//! The web client in a real browser: runs the scenarios of
//! `tests/web/run.mjs` (Node + playwright-core driving Debian's headless
//! Chromium) against a real `natter serve`, and kills and restarts that
//! server when the scenarios ask for it.
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM`), `node`, and `npm ci` in
//! `tests/web` (`.ci/run` does all three). `NATTER_SKIP_BROWSER_TESTS=1`
//! skips it. Screenshots land in `target/web-screenshots/`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use common::{ServerProcess, read_lines};

/// Guard for the whole browser run (a failure guard, not synchronization).
const RUN_GUARD: Duration = Duration::from_secs(300);

/// The server's settings for the scenarios: a `max_body` other than the
/// default (the page must take it from the server), and registration and
/// login buckets wide enough for every scenario's fresh accounts from one
/// address (the failed-login throttle keeps its defaults: a scenario
/// meets it).
const CONFIG: &str = "[server]\nmax_body = 4096\n\n[server.throttle]\n\
    register_per_minute = 600.0\nregister_burst = 100.0\n\
    login_per_minute = 600.0\nlogin_burst = 100.0\n";

/// The bench (`NATTER_WEB_BENCH=1`) also lifts the write rate limit, so its
/// pipelined sender stores 10 000 messages in seconds, not minutes.
const BENCH_CONFIG: &str = "\n[server.rate]\nper_second = 100000.0\nburst = 100000.0\n";

fn config_toml() -> String {
    let bench = std::env::var_os("NATTER_WEB_BENCH").is_some_and(|v| v == "1");
    let extra = if bench { BENCH_CONFIG } else { "" };
    format!("{CONFIG}{extra}")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why the browser tests cannot run here, if they cannot.
fn missing_tools() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let web = repo().join("tests/web");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut missing = Vec::new();
    if !Path::new(&chromium).exists() {
        missing.push(format!("{chromium} (apt-get install -y chromium)"));
    }
    if !node_ok {
        missing.push("node (apt-get install -y nodejs npm)".to_owned());
    }
    if !web.join("node_modules/playwright-core").exists() {
        missing.push(format!("playwright-core (cd {} && npm ci)", web.display()));
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

#[test]
fn web_client_scenarios_in_chromium() {
    if std::env::var_os("NATTER_SKIP_BROWSER_TESTS").is_some_and(|v| v == "1") {
        eprintln!("browser tests skipped (NATTER_SKIP_BROWSER_TESTS=1)");
        return;
    }
    if let Some(missing) = missing_tools() {
        panic!(
            "the web client's browser tests need: {missing}; \
             or set NATTER_SKIP_BROWSER_TESTS=1 to skip them"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let config = dir.path().join("natter.toml");
    std::fs::write(&config, config_toml()).expect("config");
    let config = config.to_str().expect("utf-8 path");
    let args = [
        "--udp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--config",
        config,
    ];
    let mut server = ServerProcess::start_with(&data, &args, &log);
    let (udp, http) = (
        server.addr.to_string(),
        server.http.expect("http").to_string(),
    );

    let mut node = Command::new("node")
        .arg("run.mjs")
        .current_dir(repo().join("tests/web"))
        .env("NATTER_URL", format!("http://{http}/"))
        .env("NATTER_UDP", &udp)
        .env("NATTER_BIN", env!("CARGO_BIN_EXE_natter"))
        .env("NATTER_SCREENSHOTS", repo().join("target/web-screenshots"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let mut answer = node.stdin.take().expect("stdin");
    let lines = read_lines(node.stdout.take().expect("stdout"));
    let mut output = Vec::new();
    loop {
        let line = match lines.recv_timeout(RUN_GUARD) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let _ = node.kill();
                panic!("the browser scenarios hung: {output:#?}");
            }
        };
        println!("{line}");
        match line.as_str() {
            "natter-web: kill" => server.kill_9(),
            "natter-web: restart" => {
                let again = ["--udp", &udp, "--http", &http, "--config", config];
                server = ServerProcess::start_with(&data, &again, &log.with_extension("2.log"));
            }
            _ => {
                output.push(line);
                continue;
            }
        }
        writeln!(answer, "done").expect("answer node");
    }
    drop(answer);
    let status = node.wait().expect("node exits");
    let failures: Vec<&String> = output.iter().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        status.success() && failures.is_empty(),
        "browser scenarios failed ({status}): {failures:#?}\nserver log: {}",
        log.display()
    );
    let passed = output.iter().filter(|l| l.starts_with("ok ")).count();
    assert!(passed >= 20, "only {passed} scenarios ran: {output:#?}");
}

/// The status line and headers of a raw HTTP/1.1 request to `addr`.
fn raw_request(addr: &str, request: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(common::GUARD))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).expect("read") == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

fn upgrade_with_origin(addr: &str, origin: &str) -> String {
    raw_request(
        addr,
        &format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        ),
    )
}

#[test]
fn the_page_is_served_with_csp_and_ws_refuses_foreign_origins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--udp", "127.0.0.1:0", "--http", "127.0.0.1:0"];
    let server = ServerProcess::start_with(&dir.path().join("d"), &args, &dir.path().join("log"));
    let addr = server.http.expect("http").to_string();
    let page = raw_request(
        &addr,
        &format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: gzip\r\n\r\n"),
    );
    assert!(page.starts_with("http/1.1 200"), "{page}");
    assert!(page.contains("content-encoding: gzip"), "{page}");
    assert!(page.contains("content-security-policy: default-src 'none'; script-src 'self'"));
    let foreign = upgrade_with_origin(&addr, "http://evil.example");
    assert!(foreign.starts_with("http/1.1 403"), "{foreign}");
    let own = upgrade_with_origin(&addr, &format!("http://{addr}"));
    assert!(own.starts_with("http/1.1 101"), "{own}");
}
