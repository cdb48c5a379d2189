//! The real `natter serve` binary: kill -9 mid-stream and restart on the same
//! data directory, SIGTERM, a bad config file, and the HTTP door.
//!
//! The server runs as a child process on a free loopback port; clients use
//! the client library over UDP and pin the server key in a known-servers
//! file, so a restart with another key would fail their reconnect.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use natter_api::{Anchor, ClientMsgId, ConversationId, Event, HistoryQuery, Order, Target};
use natter_client::{
    Client, ClientEvent, ConnectionState, EventReceiver, OutgoingHandle, OutgoingState,
};

/// Failure guard for anything a test waits for (never synchronization).
const GUARD: Duration = Duration::from_secs(60);
const PASSWORD: &str = "correct horse";

/// A running `natter serve` child process.
struct ServerProcess {
    /// `None` once [`Self::wait`] took it.
    child: Option<Child>,
    addr: SocketAddr,
    fingerprint: String,
    /// The HTTP listener (`/ws`, `/healthz`, `/metrics`).
    http: SocketAddr,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `natter serve` on `data` listening on `udp` (and HTTP on a free
    /// port), and waits for its three start-up lines. Logs go to `log`.
    fn start(data: &Path, udp: &str, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_natter"))
            .args([
                "serve",
                "--udp",
                udp,
                "--idle-timeout",
                "3s",
                "--log-level",
                "info",
                "--http",
                "127.0.0.1:0",
            ])
            .arg("--data")
            .arg(data)
            .env_remove("NATTER_CONFIG")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn natter");
        let lines = read_lines(child.stdout.take().expect("stdout"));
        let next = || {
            lines.recv_timeout(GUARD).unwrap_or_else(|_| {
                panic!(
                    "no start-up line; log: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
        };
        let addr = field(&next(), "natter: listening on udp ")
            .parse()
            .expect("address");
        let fingerprint = field(&next(), "natter: server key ").to_owned();
        let http = field(&next(), "natter: listening on http ")
            .parse()
            .expect("http address");
        Self {
            child: Some(child),
            addr,
            fingerprint,
            http,
            log: log.to_owned(),
        }
    }

    /// kill -9, and reap it.
    fn kill_9(&mut self) {
        let child = self.child.as_mut().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([
                format!("-{name}"),
                self.child.as_ref().expect("running").id().to_string(),
            ])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit (guarded).
    fn wait(mut self) -> ExitStatus {
        let (tx, rx) = mpsc::channel();
        let mut child = self.child.take().expect("running");
        std::thread::spawn(move || tx.send(child.wait()));
        let waited = rx.recv_timeout(GUARD);
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        waited
            .unwrap_or_else(|_| panic!("server did not exit; log:\n{log}"))
            .expect("wait")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Forwards stdout lines over a channel (a thread, so reads can time out).
fn read_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn field<'a>(line: &'a str, prefix: &str) -> &'a str {
    line.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected `{prefix}…`, got `{line}`"))
}

/// Registers and logs in `name`, waiting for the end of its sync.
async fn user(addr: SocketAddr, known: &Path, name: &str) -> (Client, EventReceiver) {
    common::logged_in_client(addr, known, name, PASSWORD).await
}

async fn guard<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .expect("guard timed out")
}

/// What a client received after the restart started.
#[derive(Default)]
struct Received {
    /// (conversation, seq) of every message event, in arrival order.
    messages: Vec<(ConversationId, u64)>,
    resumed: bool,
}

/// Reads events until every message of `want` (count per conversation)
/// arrived and the client resumed its session.
async fn receive(events: &mut EventReceiver, want: &BTreeMap<ConversationId, usize>) -> Received {
    let total: usize = want.values().sum();
    let mut got = Received::default();
    let mut unique = BTreeSet::new();
    guard(async {
        while unique.len() < total || !got.resumed {
            match events.recv().await.expect("client stopped") {
                ClientEvent::Server(Event::Message(m)) => {
                    got.messages.push((m.conv, m.seq));
                    unique.insert((m.conv, m.seq));
                }
                ClientEvent::Connection(ConnectionState::Resumed) => got.resumed = true,
                _ => {}
            }
        }
    })
    .await;
    got
}

/// One sender's messages: its handles, by conversation target.
async fn send_batch(
    client: &Client,
    target: &Target,
    tag: &str,
    range: std::ops::Range<u32>,
) -> Vec<OutgoingHandle> {
    let mut handles = Vec::new();
    for i in range {
        handles.push(client.send(target.clone(), format!("{tag} {i}")).await);
    }
    handles
}

async fn full_history(client: &Client, conv: ConversationId) -> Vec<natter_api::Message> {
    let query = HistoryQuery {
        conv,
        anchor: Anchor::After(0),
        limit: 500,
        order: Order::OldestFirst,
    };
    client.history(query).await.expect("history")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, known) = (dir.path().join("data"), dir.path().join("known_servers"));
    let mut server = ServerProcess::start(&data, "127.0.0.1:0", &dir.path().join("run1.log"));
    let addr = server.addr;
    let (alice, mut ea) = user(addr, &known, "alice").await;
    let (bob, mut eb) = user(addr, &known, "bob").await;
    let (carol, mut ec) = user(addr, &known, "carol").await;
    let dm = Target::User("alice".into());
    // Three senders stream; the server dies once some of it is acknowledged.
    let mut sent = send_batch(&alice, &Target::Lobby, "alice", 0..100).await;
    sent.extend(send_batch(&bob, &Target::Lobby, "bob", 0..100).await);
    sent.extend(send_batch(&carol, &dm, "carol", 0..50).await);
    guard(sent[10].stored())
        .await
        .expect("stored before the crash");
    server.kill_9();
    let pending = sent
        .iter()
        .filter(|h| h.state() == OutgoingState::Pending)
        .count();
    assert!(pending > 0, "the crash must hit mid-stream");
    // While it is down, more messages wait in the outboxes (⏳).
    sent.extend(send_batch(&alice, &Target::Lobby, "alice", 100..110).await);
    sent.extend(send_batch(&bob, &Target::Lobby, "bob", 100..110).await);
    sent.extend(send_batch(&carol, &dm, "carol", 50..55).await);
    let restarted = ServerProcess::start(&data, &addr.to_string(), &dir.path().join("run2.log"));
    assert_eq!(
        (restarted.addr, &restarted.fingerprint),
        (addr, &server.fingerprint),
        "same key"
    );

    let mut acked: Vec<(ConversationId, u64, ClientMsgId)> = Vec::new();
    for handle in &mut sent {
        let ok = guard(handle.stored())
            .await
            .expect("every message is ✓ eventually");
        acked.push((ok.conv, ok.seq, handle.client_id));
    }
    let mut per_conv: BTreeMap<ConversationId, Vec<(u64, ClientMsgId)>> = BTreeMap::new();
    for (conv, seq, id) in acked {
        per_conv.entry(conv).or_default().push((seq, id));
    }
    assert_eq!(per_conv.len(), 2, "the lobby and one DM");
    for (conv, mut acks) in per_conv.clone() {
        let history = full_history(&alice, conv).await;
        let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            (1..=history.len() as u64).collect::<Vec<_>>(),
            "{conv:?}: contiguous"
        );
        let mut stored: Vec<_> = history.iter().map(|m| (m.seq, m.client_id)).collect();
        acks.sort();
        stored.sort();
        assert_eq!(
            stored, acks,
            "{conv:?}: every ✓ message exactly once, at its ✓ seq"
        );
    }
    let count = |conv: &ConversationId| per_conv[conv].len();
    let lobby = *per_conv
        .keys()
        .find(|c| count(c) == 220)
        .expect("lobby has 220 messages");
    let direct = *per_conv
        .keys()
        .find(|c| count(c) == 55)
        .expect("the DM has 55 messages");
    let everything = BTreeMap::from([(lobby, 220), (direct, 55)]);
    for (name, events, want) in [
        ("alice", &mut ea, everything.clone()),
        ("bob", &mut eb, BTreeMap::from([(lobby, 220)])),
        ("carol", &mut ec, everything),
    ] {
        let got = receive(events, &want).await;
        let unique: BTreeSet<_> = got.messages.iter().collect();
        assert_eq!(
            unique.len(),
            got.messages.len(),
            "{name} got a message twice"
        );
        let convs: BTreeSet<_> = got.messages.iter().map(|(c, _)| *c).collect();
        assert!(
            convs.iter().all(|c| want.contains_key(c)),
            "{name}: only its conversations"
        );
        assert!(got.resumed, "{name} resumed on its own");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sessions_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, known) = (dir.path().join("data"), dir.path().join("known_servers"));
    let server = ServerProcess::start(&data, "127.0.0.1:0", &dir.path().join("run.log"));
    let (alice, mut events) = user(server.addr, &known, "alice").await;
    let sent = alice
        .send(Target::Lobby, "before the end")
        .await
        .stored()
        .await;
    assert_eq!(sent.expect("stored").seq, 1);
    server.signal("TERM");
    let reason = guard(async {
        loop {
            if let Some(ClientEvent::Server(Event::ServerClosing { reason })) = events.recv().await
            {
                return reason;
            }
        }
    })
    .await;
    assert!(!reason.is_empty());
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
}

/// A minimal HTTP/1.1 GET; returns the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: natter\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = String::new();
    guard(stream.read_to_string(&mut raw)).await.expect("read");
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok());
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status.expect("status line"), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_door_serves_health_and_metrics_with_transport_counters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, known) = (dir.path().join("data"), dir.path().join("known_servers"));
    let server = ServerProcess::start(&data, "127.0.0.1:0", &dir.path().join("run.log"));
    assert_eq!(http_get(server.http, "/healthz").await, (200, "ok".into()));
    let (alice, _events) = user(server.addr, &known, "alice").await;
    alice
        .send(Target::Lobby, "counted")
        .await
        .stored()
        .await
        .expect("stored");
    let (status, metrics) = http_get(server.http, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "natter_messages_stored_total 1",
        "natter_transport_connections_open 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    assert!(metrics.contains("natter_transport_retransmits_total "));
}

#[test]
fn garbage_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("natter.toml");
    std::fs::write(&config, "udp = = 'this is not toml\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["serve", "--udp", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(dir.path().join("data"))
        .output()
        .expect("run natter");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a bad config must fail: {stderr}");
    assert!(stderr.contains("invalid config file"), "{stderr}");
    assert!(
        stderr.contains(&config.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing was served");
}

#[test]
fn bad_flag_values_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["serve", "--idle-timeout", "soon", "--loss", "0.1"])
        .output()
        .expect("run natter");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--idle-timeout") && stderr.contains("unit"),
        "{stderr}"
    );
}

/// `natter bench --print-server-config` (used by scripts/quic-lossy.sh for a
/// server started by hand) prints settings the real server starts with.
#[test]
fn the_bench_server_config_is_one_the_server_starts_with() {
    let out = common::run(common::natter().args(["bench", "--print-server-config"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = &out.stdout;
    assert!(text.contains("[server.rate]"), "{text}");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, text).expect("write config");
    let args = ["--udp", "127.0.0.1:0", "--http", "off"];
    let config = config.to_str().expect("utf-8 path");
    let args = [&args[..], &["--config", config]].concat();
    let (data, log) = (dir.path().join("d"), dir.path().join("log"));
    let server = common::ServerProcess::start_with(&data, &args, &log);
    assert_ne!(server.addr.port(), 0);
}
