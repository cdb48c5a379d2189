//! `--idle`: the footprint of idle clients. The clients are set up as for
//! every run (connect, register, log in), then held idle; the report is the
//! memory each client costs this process (the client library and the
//! transport) and, with `--spawn`, the server, and the CPU both spend while
//! nothing is sent (keepalives only).

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::args::{BenchArgs, format_duration};
use crate::natter;
use crate::plan::Plan;
use crate::spawn::{ProcUsage, ServerChild};

/// What a `--worker` prints when it is ready to connect (then it waits for
/// a line on stdin).
pub(crate) const WORKER_STARTED: &str = "natter bench worker: started";
/// What a `--worker` prints when its clients are set up (then it holds
/// them until stdin closes).
pub(crate) const WORKER_SET_UP: &str = "natter bench worker: set up";

/// Sets the clients up, holds them idle for `idle`, prints the figures.
pub(crate) async fn run(
    args: &BenchArgs,
    server: Option<&ServerChild>,
    idle: Duration,
) -> anyhow::Result<()> {
    let dial = crate::run::dial(args, server)?;
    let plan = Plan::new(args.clients, args.groups, args.members);
    let me = || ProcUsage::read(std::process::id());
    let usage = || server.map(ServerChild::usage).transpose();
    let (me_before, server_before) = (me()?, usage()?);
    let started = Instant::now();
    let fleet = natter::setup(&dial, args.clients, &plan).await?;
    let setup_s = started.elapsed().as_secs_f64();
    let (me_idle, server_idle) = (me()?, usage()?);
    tokio::time::sleep(idle).await;
    let (me_end, server_end) = (me()?, usage()?);
    let n = args.clients;
    println!(
        "natter bench --idle: {n} clients set up in {setup_s:.1} s, then idle for {}",
        format_duration(idle)
    );
    print_side(
        "this process (client library)",
        n,
        idle,
        &me_before,
        &me_idle,
        &me_end,
    );
    if let (Some(before), Some(at_idle), Some(end)) = (server_before, server_idle, server_end) {
        print_side("server", n, idle, &before, &at_idle, &end);
    }
    drop(fleet);
    Ok(())
}

/// `--worker`: one of the bench processes of `--processes` (see
/// `crate::processes`). Says it started, connects when a line arrives on
/// stdin, says its clients are set up, and holds them until stdin closes.
pub(crate) async fn worker(args: &BenchArgs) -> anyhow::Result<()> {
    let dial = crate::run::dial(args, None)?;
    let plan = Plan::new(args.clients, args.groups, args.members);
    say(WORKER_STARTED)?;
    let go = from_stdin(|s| s.read_line(&mut String::new())).await?;
    anyhow::ensure!(go > 0, "stdin closed before the go line (parent gone?)");
    let fleet = natter::setup(&dial, args.clients, &plan).await?;
    say(WORKER_SET_UP)?;
    from_stdin(|s| std::io::copy(s, &mut std::io::sink())).await?;
    drop(fleet);
    Ok(())
}

/// One line on stdout, flushed (the parent waits for it).
fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("write to stdout")
}

/// Runs a blocking read of stdin off the runtime's threads.
async fn from_stdin<T: Send + 'static>(
    read: impl FnOnce(&mut std::io::StdinLock<'static>) -> std::io::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let task = tokio::task::spawn_blocking(move || read(&mut std::io::stdin().lock()));
    task.await?.context("read stdin")
}

/// RSS growth per client from `before` to `idle`, and CPU from `idle` to `end`.
pub(crate) fn print_side(
    who: &str,
    n: usize,
    idle: Duration,
    before: &ProcUsage,
    at_idle: &ProcUsage,
    end: &ProcUsage,
) {
    let per_client = at_idle.rss.saturating_sub(before.rss) as f64 / n.max(1) as f64;
    let cpu = end.cpu_s - at_idle.cpu_s;
    let share = 100.0 * cpu / idle.as_secs_f64().max(f64::MIN_POSITIVE);
    println!(
        "  {who}: RSS {:.1} MiB idle ({:.2} KiB per client), CPU {cpu:.2} s while idle ({share:.2} % of a core)",
        at_idle.rss as f64 / 1048576.0,
        per_client / 1024.0,
    );
    let peak = end.peak_rss as f64 / 1048576.0;
    println!("  {who}: peak RSS {peak:.1} MiB");
}
