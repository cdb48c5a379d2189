//! A Natter cluster on loopback for end-to-end tests (issue 11): a
//! throwaway PostgreSQL, a `nats-server`, and N `natter serve` nodes
//! sharing both and one server key, each a child process killed when its
//! guard drops (also on panic). Every child also dies with the test
//! binary: nodes and NATS get a parent-death signal (`setpriv
//! --pdeathsig`), PostgreSQL runs under a shell that stops it when the
//! pipe from the test closes.
//!
//! Tests need the PostgreSQL server binaries and `nats-server`; without
//! them they skip with a line on stderr, unless
//! `NATTER_REQUIRE_CLUSTER_TESTS=1` (CI) makes that a failure.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::common::{GUARD, read_lines};

use natter_server::bus::nats_harness::TestNats;
use natter_store::pg_harness::TestPostgres;

/// Every cluster test account's password.
pub const PASSWORD: &str = "correct horse";

/// Node settings: cheap password hashing and no rate limits or
/// registration throttles (the tests register from one address and stream
/// messages; they check delivery, not those bounds).
const NODE_CONFIG: &str = r#"
[server]
[server.rate]
per_second = 1e9
burst = 1e9
[server.read_rate]
per_second = 1e9
burst = 1e9
[server.throttle]
register_per_minute = 1e9
register_burst = 1e9
login_per_minute = 1e9
login_burst = 1e9
[server.argon2]
memory_kib = 64
iterations = 1
parallelism = 1
"#;

/// The server key and retry-token secret every node shares (copied from
/// the first node's data directory into the others before they start).
const SHARED_FILES: [&str; 2] = ["server.key", "token.secret"];

/// The services a cluster runs on: a throwaway PostgreSQL of its own (the
/// tests stop and restart it) and a `nats-server`, both from the shared
/// test harnesses of natter-store and natter-server.
pub struct Tools {
    pg: TestPostgres,
    nats: TestNats,
}

/// The started services, or `None` (test skipped, said on stderr) when a
/// binary is missing; with `NATTER_REQUIRE_CLUSTER_TESTS=1` (CI) that panics.
pub fn tools(test: &str) -> Option<Tools> {
    let pg = TestPostgres::start()?;
    let nats = TestNats::start(test)?;
    Some(Tools { pg, nats })
}

/// A free loopback TCP port (bound, read and released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `setpriv --pdeathsig KILL -- PROGRAM`: the child dies with this thread.
fn with_parent_death(program: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--pdeathsig", "KILL", "--"]).arg(program);
    cmd
}

fn stop(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// One `natter serve --store postgres://… --bus nats://…` node.
pub struct Node {
    child: Option<Child>,
    /// Its UDP address (kept across restarts).
    pub udp: SocketAddr,
    /// Its HTTP address (`/healthz`, `/metrics`; a new port per run).
    pub http: SocketAddr,
    /// The server key fingerprint it printed (`natter1:…`).
    pub key: String,
    /// Its data directory (server key, token secret, files).
    pub data: PathBuf,
    /// The log of its current run.
    pub log: PathBuf,
    dir: PathBuf,
    name: String,
    store: String,
    bus: String,
    runs: usize,
}

impl Node {
    /// Starts node `name` with its data directory, config and logs in
    /// `dir/name*`; `udp` is `127.0.0.1:0` or a fixed address.
    pub fn start(dir: &Path, name: &str, store: &str, bus: &str) -> Self {
        let mut node = Self {
            child: None,
            udp: ([127, 0, 0, 1], 0).into(),
            http: ([127, 0, 0, 1], 0).into(),
            key: String::new(),
            data: dir.join(format!("{name}-data")),
            log: PathBuf::new(),
            dir: dir.to_owned(),
            name: name.to_owned(),
            store: store.to_owned(),
            bus: bus.to_owned(),
            runs: 0,
        };
        std::fs::write(node.config(), NODE_CONFIG).expect("node config");
        node.restart();
        node
    }

    fn config(&self) -> PathBuf {
        self.dir.join(format!("{}.toml", self.name))
    }

    /// Starts it again on the same UDP address and data directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "node {} is running", self.name);
        self.runs += 1;
        self.log = self.dir.join(format!("{}-run{}.log", self.name, self.runs));
        let log_file = std::fs::File::create(&self.log).expect("node log");
        let mut cmd = with_parent_death(Path::new(crate::common::natter().get_program()));
        for var in [
            "NATTER_CONFIG",
            "NATTER_DATA",
            "NATTER_STORE",
            "NATTER_BUS",
            "NATTER_LOG_LEVEL",
        ] {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .args(["serve", "--idle-timeout", "3s", "--http", "127.0.0.1:0"])
            .args([
                "--udp",
                &self.udp.to_string(),
                "--store",
                &self.store,
                "--bus",
                &self.bus,
            ])
            .arg("--config")
            .arg(self.config())
            .arg("--data")
            .arg(&self.data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn natter serve");
        let lines = read_lines(child.stdout.take().expect("stdout"));
        self.child = Some(child);
        self.read_start_up(&lines);
    }

    fn read_start_up(&mut self, lines: &mpsc::Receiver<String>) {
        let (mut udp, mut http, mut key) = (None, None, None);
        while udp.is_none() || http.is_none() || key.is_none() {
            let Ok(line) = lines.recv_timeout(GUARD) else {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("node {} printed no start-up lines; log:\n{log}", self.name);
            };
            if let Some(a) = line.strip_prefix("natter: listening on udp ") {
                udp = Some(a.trim().parse().expect("udp address"));
            } else if let Some(a) = line.strip_prefix("natter: listening on http ") {
                http = Some(a.trim().parse().expect("http address"));
            } else if let Some(k) = line.strip_prefix("natter: server key ") {
                key = Some(k.trim().to_owned());
            }
        }
        (self.udp, self.http) = (udp.expect("udp"), http.expect("http"));
        self.key = key.expect("key");
    }

    /// kill -9, and reap it.
    pub fn kill_9(&mut self) {
        stop(&mut self.child);
    }

    /// Whether the process is running.
    pub fn is_up(&self) -> bool {
        self.child.is_some()
    }

    /// `GET /healthz`: status code and body.
    pub fn healthz(&self) -> (u16, String) {
        http_get(self.http, "/healthz")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A plain HTTP/1.1 GET on loopback: status code and body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, GUARD).expect("connect");
    stream.set_read_timeout(Some(GUARD)).expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad HTTP response: {response:?}"));
    (status, body.to_owned())
}

/// PostgreSQL, NATS and N nodes sharing them and one server key (dropped
/// in this order: nodes, NATS, PostgreSQL, files).
pub struct Cluster {
    /// The nodes, `n0`, `n1`, …
    pub nodes: Vec<Node>,
    /// The bus.
    pub nats: TestNats,
    /// The store.
    pub pg: TestPostgres,
    /// Logs, data directories, configs and client homes.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes on `tools`' PostgreSQL and NATS. The first node
    /// creates the server key and token secret; they are copied into the
    /// other nodes' data directories before those start.
    pub fn start(tools: Tools, n: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let Tools { pg, nats } = tools;
        let (store, bus) = (pg.url_for_new_db(), nats.url());
        let mut nodes = vec![Node::start(dir.path(), "n0", &store, &bus)];
        for i in 1..n {
            let name = format!("n{i}");
            let data = dir.path().join(format!("{name}-data"));
            provision(&nodes[0].data, &data);
            nodes.push(Node::start(dir.path(), &name, &store, &bus));
        }
        for node in &nodes[1..] {
            assert_eq!(node.key, nodes[0].key, "every node has the same key");
        }
        Self {
            nodes,
            nats,
            pg,
            dir,
        }
    }

    /// Every node's UDP address.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.udp).collect()
    }

    /// `a,b,c`: every node, for `-s` / `NATTER_SERVER`.
    pub fn server_list(&self) -> String {
        let addrs: Vec<String> = self.addrs().iter().map(ToString::to_string).collect();
        addrs.join(",")
    }

    /// The one server key fingerprint of the cluster.
    pub fn key(&self) -> &str {
        &self.nodes[0].key
    }

    /// `natter ARGS` as `user` against `servers` (one address or a list),
    /// with client home `home` (a directory under the cluster's).
    pub fn cli(&self, servers: &str, home: &str, user: &str, args: &[&str]) -> Command {
        let mut cmd = crate::common::natter();
        cmd.args(args)
            .env("NATTER_HOME", self.dir.path().join(home))
            .env("NATTER_SERVER", servers)
            .env("NATTER_USER", user)
            .env("NATTER_PASSWORD", PASSWORD);
        cmd
    }

    /// Every node's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out.push_str(&format!("--- {} (last 30 lines)\n", node.log.display()));
            tail.iter()
                .rev()
                .for_each(|l| out.push_str(&format!("{l}\n")));
        }
        out
    }
}

impl Drop for Cluster {
    /// On a failing test: the tail of every node's log on stderr.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// Copies the shared secrets from one node's data directory into another's
/// (created mode 0700, files 0600, as `natter serve` makes them).
pub fn provision(from: &Path, to: &Path) {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(to)
        .expect("data dir");
    for file in SHARED_FILES {
        std::fs::copy(from.join(file), to.join(file)).expect("copy a shared secret");
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(to.join(file), private).expect("chmod 0600");
    }
}
