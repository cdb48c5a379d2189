//! `--processes K` with `--idle`: the clients spread over K bench processes,
//! for more clients than one process holds comfortably (100 000 and more).
//!
//! This process starts the others as `natter bench --worker` against the
//! same server and measures each of them and the server from /proc, as
//! `--idle` does for one process: memory from "started, not connected" to
//! "every client of every process set up", divided by the clients; CPU
//! while every client idles. The workers connect at the same time, each
//! `--connect-parallel` at once.
//!
//! The conversation with a worker, on its stdin and stdout: it prints
//! [`WORKER_STARTED`] and waits for a line; it connects, prints
//! [`WORKER_SET_UP`] and holds its clients until stdin closes.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::args::{BenchArgs, format_duration};
use crate::idle::{WORKER_SET_UP, WORKER_STARTED, print_side};
use crate::spawn::{ProcUsage, ServerChild, read_lines};

/// How long a worker may take to start, or to set its clients up.
const SETUP_LIMIT: Duration = Duration::from_secs(3600);
/// How long a worker may take to close its clients and exit.
const EXIT_LIMIT: Duration = Duration::from_secs(60);

/// Runs `args.processes` workers, holds their clients idle for `idle`,
/// prints the figures of each and of the server.
pub(crate) fn run(
    args: &BenchArgs,
    exe: &Path,
    server: Option<&ServerChild>,
    idle: Duration,
) -> anyhow::Result<()> {
    let server_usage = || server.map(ServerChild::usage).transpose();
    let server_before = server_usage()?;
    let started = Instant::now();
    let mut workers = start_all(args, exe, server)?;
    let mut before = Vec::with_capacity(workers.len());
    for w in &workers {
        w.wait_for(WORKER_STARTED)?;
        before.push(w.usage()?);
    }
    workers.iter_mut().try_for_each(Worker::go)?;
    workers.iter().try_for_each(|w| w.wait_for(WORKER_SET_UP))?;
    let setup_s = started.elapsed().as_secs_f64();
    let (at_idle, server_idle) = (usage_all(&workers)?, server_usage()?);
    std::thread::sleep(idle);
    let (end, server_end) = (usage_all(&workers)?, server_usage()?);
    println!(
        "natter bench --idle: {} clients in {} processes set up in {setup_s:.1} s, then idle for {}",
        args.clients,
        workers.len(),
        format_duration(idle)
    );
    for (i, w) in workers.iter().enumerate() {
        let who = format!("bench process {} (client library)", i + 1);
        print_side(&who, w.clients, idle, &before[i], &at_idle[i], &end[i]);
    }
    if let (Some(b), Some(i), Some(e)) = (server_before, server_idle, server_end) {
        print_side("server", args.clients, idle, &b, &i, &e);
    }
    finish(workers);
    Ok(())
}

/// Starts one worker per process with its share of the clients.
fn start_all(
    args: &BenchArgs,
    exe: &Path,
    server: Option<&ServerChild>,
) -> anyhow::Result<Vec<Worker>> {
    let k = args.processes.max(1);
    (0..k)
        .map(|i| {
            let clients = args.clients / k + usize::from(i < args.clients % k);
            Worker::start(exe, worker_args(args, server, clients), clients)
        })
        .collect()
}

/// The command line of a worker: the same server and settings as ours.
fn worker_args(args: &BenchArgs, server: Option<&ServerChild>, clients: usize) -> Vec<String> {
    let join = |items: Vec<String>| items.join(",");
    let (servers, key) = match server {
        Some(s) => (s.addr.to_string(), Some(s.key.to_string())),
        None => {
            let list = args.server.iter().map(ToString::to_string).collect();
            (join(list), args.server_key.clone())
        }
    };
    let placement = args.placement.to_possible_value();
    let mut out: Vec<String> = vec!["bench".into(), "--worker".into()];
    let mut flag = |name: &str, value: String| out.extend([format!("--{name}"), value]);
    flag("server", servers);
    flag("clients", clients.to_string());
    flag("groups", args.groups.to_string());
    flag("members", args.members.to_string());
    flag("loss", args.loss.to_string());
    flag("clients-per-socket", args.clients_per_socket.to_string());
    flag("connect-parallel", args.connect_parallel.to_string());
    if let Some(p) = placement {
        flag("placement", p.get_name().to_owned());
    }
    if let Some(key) = key {
        flag("server-key", key);
    }
    if !args.local_addrs.is_empty() {
        flag(
            "local-addrs",
            join(args.local_addrs.iter().map(ToString::to_string).collect()),
        );
    }
    out
}

fn usage_all(workers: &[Worker]) -> anyhow::Result<Vec<ProcUsage>> {
    workers.iter().map(Worker::usage).collect()
}

/// Closes every worker's stdin (they close their clients and exit), then
/// waits for them; one that does not exit in time is killed.
fn finish(mut workers: Vec<Worker>) {
    for w in &mut workers {
        drop(w.child.stdin.take());
    }
    let deadline = Instant::now() + EXIT_LIMIT;
    for w in &mut workers {
        while matches!(w.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A `natter bench --worker` child; killed when dropped.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
    clients: usize,
}

impl Worker {
    fn start(exe: &Path, args: Vec<String>, clients: usize) -> anyhow::Result<Self> {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let lines = read_lines(child.stdout.take().context("worker stdout")?);
        Ok(Self {
            child,
            lines,
            clients,
        })
    }

    /// Waits until the worker prints `line` (other lines are skipped).
    fn wait_for(&self, line: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETUP_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l == line => return Ok(()),
                Ok(_) => {}
                Err(_) => bail!(
                    "bench process {} ended (see its error above) or took over {:?} before `{line}`",
                    self.child.id(),
                    SETUP_LIMIT
                ),
            }
        }
    }

    /// Lets the worker connect.
    fn go(&mut self) -> anyhow::Result<()> {
        let stdin = self.child.stdin.as_mut().context("worker stdin")?;
        writeln!(stdin, "go")
            .and_then(|()| stdin.flush())
            .context("write to a bench process")
    }

    fn usage(&self) -> anyhow::Result<ProcUsage> {
        ProcUsage::read(self.child.id())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
