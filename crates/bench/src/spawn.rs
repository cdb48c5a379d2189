//! `--spawn`: a fresh `natter serve` child on a temporary data directory,
//! and its CPU time and memory read from /proc.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use natter_proto::crypto::{Fingerprint, parse_fingerprint};

/// Server settings for a benchmark: no rate limits, cheap password hashing
/// (the bench registers thousands of users), room for every client, and
/// outgoing budgets no bench client (the instrument) can exceed.
pub(crate) const CONFIG: &str = r#"
[server]
max_connections_per_addr = 1000000
max_group_members = 1000000
max_groups_per_user = 100000
hash_queue = 1000000
max_queued_frames = 1000000
max_queued_bytes = 1073741824
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
[transport]
handshakes_per_second = 1e6
handshake_burst = 1e6
"#;

/// A running `natter serve` child; killed when dropped.
pub(crate) struct ServerChild {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its key.
    pub(crate) key: Fingerprint,
    _dir: tempfile::TempDir,
}

impl ServerChild {
    /// Starts `exe serve` on loopback with `loss` injected, and waits for its
    /// start-up lines.
    pub(crate) fn start(exe: &Path, loss: f64) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temporary data directory")?;
        let config = dir.path().join("natter.toml");
        std::fs::write(&config, CONFIG).context("write the server config")?;
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--udp",
                "127.0.0.1:0",
                "--log-level",
                "warn",
                "--http",
                "off",
            ])
            .args(["--loss", &loss.to_string()])
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(dir.path().join("data"))
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let lines = read_lines(child.stdout.take().context("child stdout")?);
        let Some((addr, key)) = start_up_lines(&lines) else {
            let _ = child.kill();
            bail!("`natter serve` did not print its start-up lines");
        };
        Ok(Self {
            child,
            addr,
            key,
            _dir: dir,
        })
    }

    /// The child's CPU time and memory now.
    pub(crate) fn usage(&self) -> anyhow::Result<ProcUsage> {
        ProcUsage::read(self.child.id())
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of a child's stdout, read by a thread.
pub(crate) fn read_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
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

/// Reads stdout lines until the UDP address and the key were printed
/// (other lines, like further listeners, are skipped).
fn start_up_lines(lines: &mpsc::Receiver<String>) -> Option<(SocketAddr, Fingerprint)> {
    let (mut addr, mut key) = (None, None);
    while addr.is_none() || key.is_none() {
        let line = lines.recv_timeout(Duration::from_secs(30)).ok()?;
        if let Some(a) = line.strip_prefix("natter: listening on udp ") {
            addr = a.trim().parse().ok();
        } else if let Some(k) = line.strip_prefix("natter: server key ") {
            key = parse_fingerprint(k);
        }
    }
    Some((addr?, key?))
}

/// CPU and memory of a process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcUsage {
    /// User + system CPU seconds.
    pub(crate) cpu_s: f64,
    /// Resident memory now.
    pub(crate) rss: u64,
    /// Peak resident memory (VmHWM).
    pub(crate) peak_rss: u64,
}

impl ProcUsage {
    /// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`.
    pub(crate) fn read(pid: u32) -> anyhow::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        Ok(Self {
            cpu_s: cpu_seconds(&stat).context("parse /proc stat")?,
            rss: status_kib(&status, "VmRSS:").context("VmRSS")? * 1024,
            peak_rss: status_kib(&status, "VmHWM:").context("VmHWM")? * 1024,
        })
    }
}

/// utime + stime (fields 14 and 15 of /proc/pid/stat) in seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    use nix::unistd::{SysconfVar, sysconf};
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let usage = ProcUsage::read(std::process::id()).unwrap();
        assert!(usage.rss > 0 && usage.peak_rss >= usage.rss, "{usage:?}");
        assert!(usage.cpu_s >= 0.0);
        let stat = "1 (a) b) S 0 0 0 0 0 0 0 0 0 0 250 150 0";
        assert_eq!(cpu_seconds(stat).map(|s| s * clock_ticks()), Some(400.0));
    }
}
