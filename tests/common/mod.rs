//! Helpers for tests that run the real `natter` binary: a `natter serve`
//! child process on a loopback port, and client subcommands run to
//! completion with a guard against hangs.

#![allow(dead_code, unreachable_pub)]

pub mod world;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Failure guard for anything a test waits for (never synchronization).
pub const GUARD: Duration = Duration::from_secs(60);

/// The `natter` binary under test: this build's, or the one named by
/// `NATTER_BIN_UNDER_TEST` (hand-run measurements of an older build).
pub fn natter() -> Command {
    let bin = std::env::var_os("NATTER_BIN_UNDER_TEST")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_natter").into());
    let mut cmd = Command::new(bin);
    for var in [
        "NATTER_CONFIG",
        "NATTER_SERVER",
        "NATTER_USER",
        "NATTER_PASSWORD",
        "NATTER_NEW_PASSWORD",
        "NATTER_HOME",
        "NATTER_LOG_LEVEL",
        "NATTER_HTTP",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A running `natter serve` child process, killed on drop.
pub struct ServerProcess {
    child: Child,
    /// The UDP address it listens on.
    pub addr: SocketAddr,
    /// The HTTP address (WebSocket API, /healthz, /metrics), when enabled.
    pub http: Option<SocketAddr>,
    /// Its stderr (the log).
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts `natter serve --data DATA --udp UDP` and waits until it
    /// prints its address and key. Logs go to `log`.
    pub fn start(data: &Path, udp: &str, log: &Path) -> Self {
        Self::start_with(data, &["--udp", udp, "--http", "off"], log)
    }

    /// Starts `natter serve --data DATA --idle-timeout 3s ARGS…` and waits
    /// for its start-up lines (the HTTP one too when `--http` is not `off`).
    /// An `--idle-timeout` in `args` replaces the 3 s (clap refuses a flag
    /// given twice).
    pub fn start_with(data: &Path, args: &[&str], log: &Path) -> Self {
        let log_file = std::fs::File::create(log).expect("log file");
        let idle: &[&str] = match args.contains(&"--idle-timeout") {
            true => &[],
            false => &["--idle-timeout", "3s"],
        };
        let mut child = natter()
            .arg("serve")
            .args(idle)
            .args(args)
            .arg("--data")
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn natter serve");
        let lines = read_lines(child.stdout.take().expect("stdout"));
        let want_http = !args.windows(2).any(|w| w == ["--http", "off"]);
        let (mut addr, mut http) = (None, None);
        while addr.is_none() || (want_http && http.is_none()) {
            let line = lines.recv_timeout(GUARD).unwrap_or_else(|_| {
                panic!(
                    "no start-up line; log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            });
            if let Some(a) = line.strip_prefix("natter: listening on udp ") {
                addr = Some(a.parse().expect("udp address"));
            }
            if let Some(a) = line.strip_prefix("natter: listening on http ") {
                http = Some(a.parse().expect("http address"));
            }
        }
        Self {
            child,
            addr: addr.expect("address"),
            http,
            log: log.to_owned(),
        }
    }

    /// The process id (for reading its RSS from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// kill -9, and reap it.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards stdout lines over a channel (a thread, so reads can time out).
pub fn read_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
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

/// What a finished command printed and how it exited.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` (a `Command` or `&mut Command`) to completion (stdin
/// closed), failing the test after [`GUARD`].
pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    let child = cmd
        .borrow_mut()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn natter");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(out) = rx.recv_timeout(GUARD) else {
        // A hung client must not outlive the failed test (one spun for an
        // hour once): kill it, then fail.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("natter did not finish in time (killed pid {pid})");
    };
    let out = out.expect("wait for natter");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A client over UDP that notices a dead server within ~2 s (short idle
/// timeout and keepalive) and reconnects fast; it pins the server key in
/// `known` (a known-servers file).
pub async fn fast_reconnecting_client(
    addr: SocketAddr,
    known: &Path,
) -> (natter_client::Client, natter_client::EventReceiver) {
    use natter_net::{NetConfig, ServerKeyPolicy, TransportConfig};
    let transport = TransportConfig {
        idle_timeout: Duration::from_secs(2),
        keepalive: Duration::from_millis(500),
        ..TransportConfig::default()
    };
    let net = NetConfig {
        transport,
        ..NetConfig::default()
    };
    let policy = ServerKeyPolicy::KnownServers(known.to_owned());
    let dialer = natter_client::UdpDialer::new(addr, policy, net)
        .await
        .expect("client socket");
    let options = natter_client::ClientOptions {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        backoff: natter_client::Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
            factor: 2,
        },
    };
    natter_client::Client::connect(std::sync::Arc::new(dialer), options)
        .await
        .expect("connect")
}

/// A [`fast_reconnecting_client`] registered and logged in as `name`,
/// returned once its first sync ended (the conversation list arrived).
pub async fn logged_in_client(
    addr: SocketAddr,
    known: &Path,
    name: &str,
    password: &str,
) -> (natter_client::Client, natter_client::EventReceiver) {
    let (client, mut events) = fast_reconnecting_client(addr, known).await;
    client.register(name, password).await.expect("register");
    client.login(name, password).await.expect("login");
    let synced = async {
        while !matches!(
            events.recv().await,
            Some(natter_client::ClientEvent::Server(
                natter_api::Event::Conversations(_)
            )) | None
        ) {}
    };
    tokio::time::timeout(GUARD, synced)
        .await
        .expect("sync within the guard");
    (client, events)
}

/// Resident set size of process `pid` in KiB (from /proc), for memory bounds.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS line")
}
