//! Hostile-load measurements for BENCHMARKS.md ("Hostile load"): ignored
//! in the normal run; run by hand against any build:
//!
//! ```text
//! NATTER_BIN_UNDER_TEST=/path/to/natter cargo test --release --test hostile \
//!     measure:: -- --ignored --nocapture --test-threads 1
//! ```
//!
//! (`scripts/hostile-bench.sh` runs it for several builds in turn.) Each
//! attack gets a fresh server with default limits and a victim — a user on
//! its own WebSocket sending one lobby message every 50 ms — whose ✓ p50/p99
//! is measured first without attack, then during the attack, on the same
//! server. The server's RSS is sampled every 100 ms. Only requests that
//! existed before issue 9 are sent, as raw WebSocket JSON, so the same
//! harness measures the old and the new server; new errors and disconnects
//! are counted, never fatal. `HOSTILE_ATTACKS=register,log` picks attacks;
//! `HOSTILE_RSS_CEILING_MIB` (default 4096) stops a flood whose server
//! grows past it, so the shared machine is never pushed into swap or OOM.

mod abuse;
mod flood;
mod probe;
mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::common::ServerProcess;
use probe::{AFTER, ATTACK, BASELINE, RssSampler, Victim};

/// The attacker's usual source address.
const ATTACKER_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// How long the victim is timed before the attack.
const BASELINE_WINDOW: Duration = Duration::from_secs(8);
/// Longest one attack (setup, baseline, flood, drain) may take.
const ATTACK_GUARD: Duration = Duration::from_secs(240);

/// One server with a timed victim and an RSS sampler; killed on drop.
pub(crate) struct Lab {
    server: ServerProcess,
    rss: RssSampler,
    victim: Option<Victim>,
    _dir: tempfile::TempDir,
    /// The HTTP address (`/ws`, `/healthz`).
    http: SocketAddr,
    /// RSS when the attack began, MiB.
    pub(crate) rss_start: u64,
    began: Option<Instant>,
    ended: Option<Instant>,
    /// Bytes the victim had read when the attack began and ended.
    victim_read: (u64, u64),
}

impl Lab {
    /// Starts a server with default limits (`--idle-timeout 15s` restores
    /// the server's default over the test helper's 3 s) and a logged-in
    /// victim; the victim's sends do not count yet.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("server.log");
        let args = [
            "--udp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--idle-timeout",
            "15s",
        ];
        let data = dir.path().to_owned();
        let server =
            tokio::task::spawn_blocking(move || ServerProcess::start_with(&data, &args, &log))
                .await?;
        let http = server
            .http
            .ok_or_else(|| anyhow::anyhow!("no http address"))?;
        let rss = RssSampler::start(server.pid());
        wire::account(http, "victim").await?;
        let victim = tokio::task::spawn_blocking(move || Victim::start(http, "victim")).await??;
        Ok(Self {
            _dir: dir,
            server,
            rss,
            victim: Some(victim),
            http,
            rss_start: 0,
            began: None,
            ended: None,
            victim_read: (0, 0),
        })
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// The server's log file.
    pub(crate) fn log(&self) -> &std::path::Path {
        &self.server.log
    }

    /// Times the victim without attack for [`BASELINE_WINDOW`], then
    /// starts counting its sends as "during the attack".
    pub(crate) async fn baseline_then_attack(&mut self) {
        self.victim().set_phase(BASELINE);
        tokio::time::sleep(BASELINE_WINDOW).await;
        self.rss_start = self.rss.now_mib();
        self.victim().set_phase(ATTACK);
        self.victim_read.0 = self.victim().bytes_read();
        self.began = Some(Instant::now());
    }

    /// The attack is over; returns the RSS 2 s later (what the server kept).
    pub(crate) async fn attack_over(&mut self) -> u64 {
        self.victim().set_phase(AFTER);
        self.victim_read.1 = self.victim().bytes_read();
        self.ended = Some(Instant::now());
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.rss.now_mib()
    }

    /// Seconds since the attack began.
    pub(crate) fn elapsed(&self) -> f64 {
        self.began.map_or(0.0, |b| b.elapsed().as_secs_f64())
    }

    /// The server grew past the RSS ceiling: stop the flood.
    pub(crate) fn over_ceiling(&self) -> bool {
        self.rss.now_mib() >= rss_ceiling_mib()
    }

    /// (lowest, latest) RSS since the attack began, MiB.
    pub(crate) fn rss_low_and_now(&self) -> (u64, u64) {
        let began = self.began.unwrap_or_else(Instant::now);
        (self.rss.low_mib(began, Instant::now()), self.rss.now_mib())
    }

    /// MB the victim read from its socket during the attack.
    pub(crate) fn victim_read_mb(&self) -> f64 {
        self.victim_read.1.saturating_sub(self.victim_read.0) as f64 / 1e6
    }

    /// RSS samples once a second since the attack began.
    pub(crate) fn rss_series(&self) -> String {
        let began = self.began.unwrap_or_else(Instant::now);
        self.rss.series(began, Duration::from_secs(1))
    }

    fn victim(&self) -> &Victim {
        self.victim.as_ref().expect("victim")
    }

    /// Collects the victim's figures and the RSS peak into a table row.
    pub(crate) async fn finish(mut self, attack: &str, figure: String) -> Row {
        let victim = self.victim.take().expect("victim");
        let (base, during) = tokio::task::spawn_blocking(move || victim.finish())
            .await
            .unwrap_or_default();
        let began = self.began.unwrap_or_else(Instant::now);
        let peak = self
            .rss
            .peak_mib(began, self.ended.unwrap_or_else(Instant::now));
        let row = Row {
            attack: attack.to_owned(),
            rss: format!("{} → {}", self.rss_start, peak),
            base: base.summary(),
            during: during.summary(),
            figure,
        };
        println!("{attack}: {}", row.markdown());
        row
    }
}

/// See the module doc.
fn rss_ceiling_mib() -> u64 {
    std::env::var("HOSTILE_RSS_CEILING_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096)
}

/// One line of the summary table.
pub(crate) struct Row {
    attack: String,
    rss: String,
    base: String,
    during: String,
    figure: String,
}

impl Row {
    fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} |",
            self.attack, self.rss, self.base, self.during, self.figure
        )
    }
}

/// Every attack, by the key `HOSTILE_ATTACKS` selects it with.
const ATTACKS: [&str; 8] = [
    "register",
    "register-spread",
    "log",
    "slow-consumer",
    "group-add",
    "lockout",
    "half-open",
    "half-open-spread",
];

async fn run(key: &str) -> anyhow::Result<Row> {
    match key {
        "register" => flood::register(false).await,
        "register-spread" => flood::register(true).await,
        "log" => flood::log().await,
        "slow-consumer" => flood::slow_consumer().await,
        "group-add" => abuse::group_add().await,
        "lockout" => abuse::lockout().await,
        "half-open" => abuse::half_open(false).await,
        "half-open-spread" => abuse::half_open(true).await,
        other => anyhow::bail!("unknown attack {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "hand-run measurement for BENCHMARKS.md (minutes, floods the machine)"]
async fn hostile_load_table() {
    let wanted = std::env::var("HOSTILE_ATTACKS").unwrap_or_default();
    let bin = std::env::var("NATTER_BIN_UNDER_TEST").unwrap_or_else(|_| "this build".into());
    println!("hostile load: server {bin}");
    let mut rows = Vec::new();
    for key in ATTACKS {
        if !wanted.is_empty() && !wanted.split(',').any(|w| w.trim() == key) {
            continue;
        }
        println!("--- {key}");
        let outcome = tokio::time::timeout(ATTACK_GUARD, run(key)).await;
        rows.push(match outcome {
            Ok(Ok(row)) => row.markdown(),
            Ok(Err(e)) => format!("| {key} | — | — | — | failed: {e:#} |"),
            Err(_) => format!("| {key} | — | — | — | did not finish in {ATTACK_GUARD:?} |"),
        });
    }
    println!(
        "\n| attack | server RSS MiB (start → peak) | victim ✓ p50 / p99, no attack | during attack | attack's own figure |"
    );
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
