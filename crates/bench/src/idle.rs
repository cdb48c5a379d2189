//! `--idle`: the footprint of idle clients. The clients are set up as for
//! every run (connect, register, log in), then held idle; the report is the
//! memory each client costs this process (the client library and the
//! transport) and, with `--spawn`, the server, and the CPU both spend while
//! nothing is sent (keepalives only).

use std::time::Duration;

use crate::args::{BenchArgs, format_duration};
use crate::natter;
use crate::plan::Plan;
use crate::spawn::{ProcUsage, ServerChild};

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
    let fleet = natter::setup(&dial, args.clients, &plan).await?;
    let (me_idle, server_idle) = (me()?, usage()?);
    tokio::time::sleep(idle).await;
    let (me_end, server_end) = (me()?, usage()?);
    let n = args.clients;
    println!(
        "natter bench --idle: {n} clients set up, then idle for {}",
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

/// RSS growth per client from `before` to `idle`, and CPU from `idle` to `end`.
fn print_side(
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
