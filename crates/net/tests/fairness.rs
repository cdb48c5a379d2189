//! Fairness to TCP on a real rate-limited link: one TCP bulk flow and one Natter
//! bulk flow share an 8 Mbit/s `tbf` bottleneck between two network namespaces, and
//! neither may starve the other.
//!
//! Needs root and `ip`/`tc` (iproute2); without them the test prints why and passes.
//! It takes about 12 s and runs in the normal test run. The parent test builds the
//! namespaces, then re-runs this test binary inside them (`ip netns exec … <this
//! binary> fairness_peer --ignored`) as the sinks (server side) and the sources
//! (client side). The sources' TCP congestion control is `reno` (the reference
//! for TCP-friendliness; this kernel allows only `reno` and `bbr` in a namespace)
//! unless `NATTER_FAIRNESS_TCP=bbr` (or another allowed one) says otherwise; if it
//! cannot be set, the namespace's default is used and printed:
//!
//! ```text
//! cargo test -p natter-net --test fairness -- --nocapture
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_net::{Endpoint, NetConfig, ServerEndpointConfig, ServerKeyPolicy, StaticKeypair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Environment variable naming the role of a re-run of this binary.
const ROLE: &str = "NATTER_FAIRNESS_ROLE";
const SINK_IP: &str = "10.213.0.1";
const SOURCE_IP: &str = "10.213.0.2";
const TCP_PORT: u16 = 5201;
const NATTER_PORT: u16 = 5202;
/// Both flows start, then run this long before the measurement starts…
const WARMUP: Duration = Duration::from_secs(2);
/// …and are measured for this long; the sources stop a bit after.
const MEASURE: Duration = Duration::from_secs(8);
/// Natter messages kept in flight (each waits for its ack): 256 KB, far more than
/// the path holds, so the congestion window is what limits the flow.
const NATTER_SENDERS: usize = 256;
const CHUNK: usize = 1000;

#[test]
fn tcp_and_natter_share_a_rate_limited_link() {
    if let Err(why) = preconditions() {
        println!("skipped: {why}");
        return;
    }
    let net = Namespaces::create().expect("namespaces");
    let mut sinks = Peer::spawn(&net.sink, "sinks");
    sinks.expect_line("ready");
    let mut sources = Peer::spawn(&net.source, "sources");
    let sending = sources.line();
    let algorithm = sending.strip_prefix("sending ").expect("sources started");
    std::thread::sleep(WARMUP); // the measurement window, not synchronization
    sinks.say("mark");
    std::thread::sleep(MEASURE);
    sinks.say("report");
    let report = sinks.line();
    let (tcp, natter) = parse_report(&report);
    let total = (tcp + natter).max(1);
    let rate = |b: u64| b as f64 * 8.0 / MEASURE.as_secs_f64() / 1e6;
    println!(
        "over {MEASURE:?} on an 8 Mbit/s tbf: TCP ({algorithm}) {:.2} Mbit/s ({} %), Natter {:.2} Mbit/s ({} %)",
        rate(tcp),
        tcp * 100 / total,
        rate(natter),
        natter * 100 / total,
    );
    assert!(
        tcp * 10 >= total && natter * 10 >= total,
        "each flow gets at least 10 % of the link: {report}"
    );
}

/// Why the test cannot run here, if it cannot.
fn preconditions() -> Result<(), String> {
    for tool in ["ip", "tc"] {
        let found = Command::new(tool).arg("-V").output();
        if !found.is_ok_and(|o| o.status.success()) {
            return Err(format!("`{tool}` (iproute2) is not available"));
        }
    }
    let probe = format!("natter-probe-{}", std::process::id());
    run("ip", &["netns", "add", &probe]).map_err(|e| format!("needs root: {e}"))?;
    run("ip", &["netns", "del", &probe])
}

/// Two namespaces joined by a veth pair; the source side's egress is an 8 Mbit/s
/// token bucket with a 50 ms queue. Deleted on drop (which removes the veth pair).
struct Namespaces {
    sink: String,
    source: String,
}

impl Namespaces {
    fn create() -> Result<Self, String> {
        let id = std::process::id();
        let net = Self {
            sink: format!("nfair-sink-{id}"),
            source: format!("nfair-src-{id}"),
        };
        run("ip", &["netns", "add", &net.sink])?;
        run("ip", &["netns", "add", &net.source])?;
        let (a, b) = (format!("nfs{id}"), format!("nfc{id}"));
        run(
            "ip",
            &["link", "add", &a, "type", "veth", "peer", "name", &b],
        )?;
        net.configure(&a, &net.sink, SINK_IP)?;
        net.configure(&b, &net.source, SOURCE_IP)?;
        let tbf = "root tbf rate 8mbit burst 32kbit latency 50ms";
        let mut args = vec!["-n", &net.source, "qdisc", "add", "dev", &b];
        args.extend(tbf.split(' '));
        run("tc", &args)?;
        Ok(net)
    }

    fn configure(&self, dev: &str, ns: &str, ip: &str) -> Result<(), String> {
        run("ip", &["link", "set", dev, "netns", ns])?;
        run(
            "ip",
            &["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev],
        )?;
        run("ip", &["-n", ns, "link", "set", dev, "up"])?;
        run("ip", &["-n", ns, "link", "set", "lo", "up"])
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [&self.sink, &self.source] {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd).args(args).output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("{cmd}: {e}")),
    }
}

/// This test binary re-run inside a namespace in one role; killed on drop.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(ns: &str, role: &str) -> Self {
        let me = std::env::current_exe().expect("test binary");
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(me)
            .args(["fairness_peer", "--exact", "--ignored", "--nocapture"])
            .env(ROLE, role)
            .env("NATTER_FAIRNESS_TCP", tcp_algorithm())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn peer");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// The next line the peer printed with the `FAIRNESS ` prefix.
    fn line(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("peer output");
            assert!(n > 0, "peer exited early");
            if let Some(rest) = line.trim().strip_prefix("FAIRNESS ") {
                return rest.to_owned();
            }
        }
    }

    fn expect_line(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    fn say(&mut self, what: &str) {
        writeln!(self.stdin, "{what}").expect("peer input");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tcp_algorithm() -> String {
    std::env::var("NATTER_FAIRNESS_TCP").unwrap_or_else(|_| "reno".into())
}

fn parse_report(report: &str) -> (u64, u64) {
    let field = |name: &str| {
        report
            .split(' ')
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad report {report:?}"))
    };
    (field("tcp="), field("natter="))
}

/// The other half of [`tcp_and_natter_share_a_rate_limited_link`]: run by it
/// inside a namespace, does nothing when run directly.
#[test]
#[ignore = "run by tcp_and_natter_share_a_rate_limited_link inside a namespace"]
fn fairness_peer() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    match role.as_str() {
        "sinks" => rt.block_on(sinks()),
        "sources" => rt.block_on(sources()),
        other => panic!("unknown role {other}"),
    }
}

fn say(what: &str) {
    println!("FAIRNESS {what}");
    std::io::stdout().flush().expect("stdout");
}

/// Counts the bytes each flow delivers; prints them between "mark" and "report".
async fn sinks() {
    let tcp_bytes = Arc::new(AtomicU64::new(0));
    let natter_bytes = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind((SINK_IP, TCP_PORT))
        .await
        .expect("tcp bind");
    let addr: SocketAddr = format!("{SINK_IP}:{NATTER_PORT}").parse().expect("addr");
    let config = NetConfig {
        server: Some(ServerEndpointConfig::new(
            StaticKeypair::generate([5; 32]),
            [6; 32],
        )),
        ..NetConfig::default()
    };
    let endpoint = Endpoint::bind(addr, config).await.expect("natter bind");
    tokio::spawn(count_tcp(listener, tcp_bytes.clone()));
    tokio::spawn(count_natter(endpoint, natter_bytes.clone()));
    say("ready");
    let mut commands = std::io::stdin().lock().lines();
    let mut mark = (0, 0);
    while let Some(Ok(command)) = commands.next() {
        let now = (
            tcp_bytes.load(Ordering::Relaxed),
            natter_bytes.load(Ordering::Relaxed),
        );
        match command.as_str() {
            "mark" => mark = now,
            _ => return say(&format!("tcp={} natter={}", now.0 - mark.0, now.1 - mark.1)),
        }
    }
}

async fn count_tcp(listener: tokio::net::TcpListener, bytes: Arc<AtomicU64>) {
    let (mut stream, _) = listener.accept().await.expect("tcp accept");
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

async fn count_natter(endpoint: Endpoint, bytes: Arc<AtomicU64>) {
    let conn = endpoint.accept().await.expect("natter accept");
    while let Some((_, message)) = conn.recv().await {
        bytes.fetch_add(message.len() as u64, Ordering::Relaxed);
    }
}

/// Runs both bulk flows for the warmup, the measurement and a margin.
async fn sources() {
    let sysctl = "/proc/sys/net/ipv4/tcp_congestion_control";
    let _ = std::fs::write(sysctl, tcp_algorithm()); // else the namespace's default
    let algorithm = std::fs::read_to_string(sysctl).expect("TCP congestion control");
    let deadline = Instant::now() + WARMUP + MEASURE + Duration::from_secs(2);
    let mut tcp = tokio::net::TcpStream::connect((SINK_IP, TCP_PORT))
        .await
        .expect("tcp connect");
    let any: SocketAddr = format!("{SOURCE_IP}:0").parse().expect("addr");
    let endpoint = Endpoint::bind(any, NetConfig::default())
        .await
        .expect("natter bind");
    let sink: SocketAddr = format!("{SINK_IP}:{NATTER_PORT}").parse().expect("addr");
    let conn = endpoint
        .connect(sink, ServerKeyPolicy::AcceptAny)
        .await
        .expect("natter connect");
    say(&format!("sending {}", algorithm.trim()));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..NATTER_SENDERS {
        let conn = conn.clone();
        senders.spawn(async move {
            let body = Bytes::from(vec![7u8; CHUNK]);
            while Instant::now() < deadline && conn.send(0, body.clone()).await.is_ok() {}
        });
    }
    let chunk = vec![7u8; 64 * 1024];
    while Instant::now() < deadline && tcp.write_all(&chunk).await.is_ok() {}
    senders.join_all().await;
}
