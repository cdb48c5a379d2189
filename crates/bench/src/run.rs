//! One benchmark run: optional server child, setup, send, drain, check,
//! then the reference in the same run.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use natter_net::ServerKeyPolicy;
use natter_proto::crypto::parse_fingerprint;
use tokio::time::Instant;

use crate::args::{BenchArgs, Reference, format_duration};
use crate::natter::{self, Counters, Dial, Load};
use crate::plan::Plan;
use crate::report::{ReferenceReport, Report};
use crate::spawn::{ProcUsage, ServerChild};
use crate::stats::Latency;
use crate::{progress, quic, raw, sqlite, tcp};

/// How long in-flight messages and deliveries may take after sending stops.
const DRAIN: Duration = Duration::from_secs(60);

/// Runs `natter bench` with `args`; `exe` is the `natter` binary (for
/// `--spawn`). Prints the report (or only runs the relay with `--relay`).
pub fn main(args: BenchArgs, exe: &Path) -> anyhow::Result<()> {
    if args.print_server_config {
        print!("{}", crate::spawn::CONFIG);
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    if let Some(addr) = args.relay {
        return runtime.block_on(tcp::serve_relay(addr));
    }
    if let (Some(addr), Some(cert)) = (args.relay_quic, &args.quic_cert) {
        return runtime.block_on(quic::serve_relay(addr, cert));
    }
    if args.worker {
        return runtime.block_on(crate::idle::worker(&args));
    }
    let server = match (args.server.is_empty(), args.spawn) {
        (false, _) => None,
        (true, true) => Some(ServerChild::start(exe, args.loss)?),
        (true, false) => bail!("give --server ADDR or --spawn"),
    };
    match args.idle {
        Some(idle) if args.processes > 1 => {
            return crate::processes::run(&args, exe, server.as_ref(), idle);
        }
        Some(idle) => return runtime.block_on(crate::idle::run(&args, server.as_ref(), idle)),
        None => {}
    }
    let mut report = runtime.block_on(run(&args, server.as_ref()))?;
    if let Some(kind) = args.reference {
        let reference = runtime.block_on(reference(kind, &args, &report))?;
        report.reference = Some(reference);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

async fn run(args: &BenchArgs, server: Option<&ServerChild>) -> anyhow::Result<Report> {
    let dial = dial(args, server)?;
    let plan = Plan::new(args.clients, args.groups, args.members);
    let setup_start = Instant::now();
    let before = server.map(ServerChild::usage).transpose()?;
    let fleet = natter::setup(&dial, args.clients, &plan).await?;
    let idle = server.map(ServerChild::usage).transpose()?;
    let setup_s = setup_start.elapsed().as_secs_f64();
    let convs = fleet.convs();
    let load = Load {
        rate: args.rate,
        window: args.window,
        size: args.size,
    };
    let mut running = natter::start(fleet, &plan, load);
    let bar = progress::bar(args.duration, args.json);
    let c = running.counters.clone();
    while running.start.elapsed() < args.duration {
        progress::show(&bar, &c, running.start.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop_sending().await;
    drain(&c, |c| {
        c.stored.load(Relaxed) + c.failed.load(Relaxed) >= c.sent.load(Relaxed)
    })
    .await;
    drain(&c, |c| {
        c.deliveries.load(Relaxed) >= c.expected.load(Relaxed)
    })
    .await;
    bar.finish_and_clear();
    let seen = running.finish().await;
    let mut report = summarize(args, &c, &seen, &plan, &convs);
    report.setup_s = setup_s;
    if let (Some(server), Some(before), Some(idle)) = (server, before, idle) {
        server_usage(&mut report, server.usage()?, before, idle, args.clients);
    }
    Ok(report)
}

pub(crate) fn dial(args: &BenchArgs, server: Option<&ServerChild>) -> anyhow::Result<Dial> {
    let (servers, policy) = match (server, args.server.is_empty(), &args.server_key) {
        (Some(s), _, _) => (vec![s.addr], ServerKeyPolicy::Pinned(s.key)),
        (None, false, Some(key)) => {
            let key = parse_fingerprint(key).context("bad --server-key")?;
            (args.server.clone(), ServerKeyPolicy::Pinned(key))
        }
        (None, false, None) => (args.server.clone(), ServerKeyPolicy::AcceptAny),
        (None, true, _) => bail!("give --server ADDR or --spawn"),
    };
    Ok(Dial {
        servers,
        placement: args.placement,
        members: args.members,
        policy,
        loss: args.loss,
        per_socket: args.clients_per_socket,
        parallel: args.connect_parallel,
        local: args.local_addrs.clone(),
    })
}

/// Waits (at most [`DRAIN`]) until `done` holds.
async fn drain(c: &Counters, done: impl Fn(&Counters) -> bool) {
    let give_up = Instant::now() + DRAIN;
    while !done(c) && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn summarize(
    args: &BenchArgs,
    c: &Counters,
    seen: &[natter::Seen],
    plan: &Plan,
    convs: &[natter_api::ConversationId],
) -> Report {
    let (mut e2e, mut ack) = (Latency::default(), Latency::default());
    for s in seen {
        e2e.merge(&s.e2e);
        ack.merge(&s.ack);
    }
    let per_s = |n: u64, ns: u64| n as f64 / (ns.max(1) as f64 / 1e9);
    let deliveries = c.deliveries.load(Relaxed);
    let stored = c.stored.load(Relaxed);
    Report {
        clients: args.clients,
        groups: args.groups,
        members: args.members.min(args.clients),
        rate: args.rate,
        duration: format_duration(args.duration),
        size: args.size,
        loss: args.loss,
        sent: c.sent.load(Relaxed),
        stored,
        failed: c.failed.load(Relaxed),
        deliveries,
        expected_deliveries: c.expected.load(Relaxed),
        deliveries_per_s: per_s(deliveries, c.last_delivery_ns.load(Relaxed)),
        stored_per_s: per_s(stored, c.last_stored_ns.load(Relaxed)),
        lost: natter::count_lost(seen, plan, convs),
        duplicates: seen.iter().map(|s| s.duplicates).sum(),
        latency_ms: e2e.summary(),
        stored_latency_ms: ack.summary(),
        ..Report::default()
    }
}

fn server_usage(r: &mut Report, end: ProcUsage, before: ProcUsage, idle: ProcUsage, n: usize) {
    r.server_cpu_s = Some(end.cpu_s);
    r.server_peak_rss_bytes = Some(end.peak_rss);
    let growth = idle.rss.saturating_sub(before.rss) as f64;
    r.server_rss_per_client_bytes = Some(growth / n.max(1) as f64);
}

async fn reference(
    kind: Reference,
    args: &BenchArgs,
    natter: &Report,
) -> anyhow::Result<ReferenceReport> {
    let plan = Plan::new(args.clients, args.groups, args.members);
    Ok(match kind {
        Reference::Raw => {
            let mut r = raw::run(args, &plan).await?;
            r.ratio = natter.deliveries_per_s / r.deliveries_per_s.max(f64::MIN_POSITIVE);
            r
        }
        Reference::Tcp => {
            let mut r = tcp::run(args, &plan).await?;
            r.ratio = natter.latency_ms.p99 / r.latency_ms.p99.max(f64::MIN_POSITIVE);
            r
        }
        Reference::Quic => {
            let mut r = quic::run(args, &plan).await?;
            r.ratio = natter.latency_ms.p99 / r.latency_ms.p99.max(f64::MIN_POSITIVE);
            r
        }
        Reference::Sqlite => {
            let (size, duration) = (args.size, args.duration);
            let mut r = tokio::task::spawn_blocking(move || sqlite::run(size, duration)).await??;
            r.ratio = natter.stored_per_s / r.deliveries_per_s.max(f64::MIN_POSITIVE);
            r
        }
    })
}
