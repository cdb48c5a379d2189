//! Fairness to TCP on a real rate-limited link: one TCP bulk flow and one Natter
//! bulk flow share an 8 Mbit/s `tbf` bottleneck on a router namespace between a
//! source and a sink namespace, and each gets a fair share: at least 30 % of the
//! bytes (TCP Reno measured 47–61 % over nine runs, BENCHMARKS.md). Natter's
//! redundancy (copies of small packets on a randomly lossy path) is set to copy any
//! packet at any loss rate, and must stay off all the same: the loss here comes with
//! a standing queue, which is congestion.
//!
//! Needs root and `ip`/`tc` (iproute2); without them the test prints why and passes,
//! unless `NATTER_REQUIRE_NETNS_TESTS=1` (set by `.ci/run`) makes that a failure.
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
use natter_net::{
    Endpoint, NetConfig, ServerEndpointConfig, ServerKeyPolicy, StaticKeypair, TransportConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Environment variable naming the role of a re-run of this binary.
const ROLE: &str = "NATTER_FAIRNESS_ROLE";
/// Set to `1`, a missing precondition (root, `ip`, `tc`) fails the test instead of
/// skipping it.
const REQUIRE: &str = "NATTER_REQUIRE_NETNS_TESTS";
const SINK_IP: &str = "10.213.0.1";
const SINK_ROUTER_IP: &str = "10.213.0.254";
const SOURCE_IP: &str = "10.213.1.2";
const SOURCE_ROUTER_IP: &str = "10.213.1.254";
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
        assert!(
            std::env::var(REQUIRE).as_deref() != Ok("1"),
            "cannot run ({why}), and {REQUIRE}=1"
        );
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
        tcp * 10 >= total * 3 && natter * 10 >= total * 3,
        "each flow gets at least 30 % of the link: {report}"
    );
    let copies = sources.line();
    println!("Natter source: {copies}");
    let (redundant, sent) = parse_copies(&copies);
    assert!(
        redundant * 100 <= sent,
        "redundancy stays off on a congested path (≤ 1 % of the bytes): {copies}"
    );
}

/// `(redundant_bytes, bytes_sent)` from the sources' last line.
fn parse_copies(line: &str) -> (u64, u64) {
    let field = |name: &str| -> u64 {
        let (_, rest) = line.split_once(&format!("{name}=")).expect("field");
        let value = rest.split_whitespace().next().expect("value");
        value.parse().expect("number")
    };
    (field("redundant_bytes"), field("bytes_sent"))
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

/// Three namespaces in a line, source — router — sink, joined by veth pairs; the
/// router's egress towards the sink is an 8 Mbit/s token bucket with a 50 ms queue.
/// The bottleneck sits on a router, as on a real path, not in the sources' own
/// qdisc: there TCP would see its drops at once (local congestion) and TCP Small
/// Queues would cap its share of the queue, while a UDP flow sees neither, which
/// measures the host's stack rather than the congestion controllers. Deleted on
/// drop (which removes the veth pairs).
struct Namespaces {
    sink: String,
    router: String,
    source: String,
}

impl Namespaces {
    fn create() -> Result<Self, String> {
        let id = std::process::id();
        let net = Self {
            sink: format!("nfair-sink-{id}"),
            router: format!("nfair-rtr-{id}"),
            source: format!("nfair-src-{id}"),
        };
        for ns in [&net.sink, &net.router, &net.source] {
            run("ip", &["netns", "add", ns])?;
        }
        let sink_side = net.link(&net.sink, SINK_IP, "s", SINK_ROUTER_IP)?;
        net.link(&net.source, SOURCE_IP, "c", SOURCE_ROUTER_IP)?;
        run(
            "ip",
            &[
                "netns",
                "exec",
                &net.router,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        )?;
        let tbf = "root tbf rate 8mbit burst 32kbit latency 50ms";
        let mut args = vec!["-n", &net.router, "qdisc", "add", "dev", &sink_side];
        args.extend(tbf.split(' '));
        run("tc", &args)?;
        Ok(net)
    }

    /// Joins `ns` (address `ip`) to the router (address `router_ip` on that link),
    /// routes everything else through the router; returns the router's device.
    fn link(&self, ns: &str, ip: &str, tag: &str, router_ip: &str) -> Result<String, String> {
        let id = std::process::id();
        let (outer, inner) = (format!("nf{tag}r{id}"), format!("nf{tag}{id}"));
        run(
            "ip",
            &[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ],
        )?;
        configure(&outer, &self.router, router_ip)?;
        configure(&inner, ns, ip)?;
        run(
            "ip",
            &["-n", ns, "route", "add", "default", "via", router_ip],
        )?;
        Ok(outer)
    }
}

/// Moves `dev` into `ns` with address `ip`/24 and brings it (and `lo`) up.
fn configure(dev: &str, ns: &str, ip: &str) -> Result<(), String> {
    run("ip", &["link", "set", dev, "netns", ns])?;
    run(
        "ip",
        &["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev],
    )?;
    run("ip", &["-n", ns, "link", "set", dev, "up"])?;
    run("ip", &["-n", ns, "link", "set", "lo", "up"])
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [&self.sink, &self.router, &self.source] {
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
    // Copies for any loss rate and any packet size: only the congestion signals
    // (the tbf queue) may keep redundancy off.
    let transport = TransportConfig {
        redundancy_min_loss: 1,
        redundancy_max_size: 1200,
        ..TransportConfig::default()
    };
    let config = NetConfig {
        transport,
        ..NetConfig::default()
    };
    let endpoint = Endpoint::bind(any, config).await.expect("natter bind");
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
    // The sink closes the Natter connection when it reports, so its counters are
    // read while the flows run.
    let mut stats = conn.stats();
    while Instant::now() < deadline && tcp.write_all(&chunk).await.is_ok() {
        let now = conn.stats();
        if now.bytes_sent >= stats.bytes_sent {
            stats = now; // a closed connection reads as all zeros
        }
    }
    senders.join_all().await;
    say(&format!(
        "redundant_bytes={} bytes_sent={} redundant_packets={} packets_lost={}",
        stats.redundant_bytes, stats.bytes_sent, stats.redundant_packets, stats.packets_lost
    ));
}
