//! `--reference raw`: the same fan-out with plain UDP datagrams — the
//! kernel's limit on this machine, measured in the same run.
//!
//! One sender thread sends each message (`[group u32][sender u32][nanos u64]`
//! padded to the body size) to a relay socket with `sendmmsg`; a relay
//! thread fans every datagram out to the other members' sockets with
//! `sendmmsg` (one socket per client, like Natter's clients). Messages in
//! flight are bounded like Natter's window. Nothing is retransmitted: what
//! the kernel drops is reported as lost.

use std::io::IoSlice;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, sendmmsg};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::args::BenchArgs;
use crate::plan::{Plan, pace};
use crate::report::ReferenceReport;
use crate::stats::{Latency, Totals};

/// Datagrams per `sendmmsg` call.
const BATCH: usize = 64;

/// Runs the raw reference for the same plan, rate, window and duration.
pub(crate) async fn run(args: &BenchArgs, plan: &Plan) -> anyhow::Result<ReferenceReport> {
    raise_fd_limit(args.clients as u64 + 256);
    let start = Instant::now();
    let totals = Arc::new(Totals::default());
    let (finish, finish_rx) = watch::channel(false);
    let mut receivers = JoinSet::new();
    let mut addrs = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let socket = UdpSocket::bind("127.0.0.1:0").context("bind a receiver")?;
        addrs.push(v4(socket.local_addr()?)?);
        socket.set_nonblocking(true)?;
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        receivers.spawn(receive(socket, totals.clone(), start, finish_rx.clone()));
    }
    let relay = UdpSocket::bind("127.0.0.1:0").context("bind the relay")?;
    let relay_addr = v4(relay.local_addr()?)?;
    let stop_relay = Arc::new(AtomicBool::new(false));
    let fanout = Fanout {
        plan: plan.clone(),
        addrs,
    };
    let relay_thread = {
        let stop = stop_relay.clone();
        std::thread::spawn(move || fanout.run(&relay, &stop))
    };
    let job = SendJob::new(args, plan, relay_addr, start);
    let sender = {
        let totals = totals.clone();
        tokio::task::spawn_blocking(move || job.run(&totals))
    };
    sender.await??;
    settle(&totals).await;
    stop_relay.store(true, Relaxed);
    let _ = relay_thread.join();
    let _ = finish.send(true);
    let mut latency = Latency::default();
    while let Some(done) = receivers.join_next().await {
        latency.merge(&done?);
    }
    Ok(totals.report("raw", &latency))
}

/// Waits until every expected delivery arrived or nothing moved for 200 ms.
async fn settle(t: &Totals) {
    let mut last = (t.deliveries.load(Relaxed), Instant::now());
    while t.deliveries.load(Relaxed) < t.expected.load(Relaxed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = t.deliveries.load(Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_millis(200) {
            return;
        }
    }
}

fn v4(addr: SocketAddr) -> anyhow::Result<SockaddrIn> {
    match addr {
        SocketAddr::V4(a) => Ok(SockaddrIn::from(SocketAddrV4::new(*a.ip(), a.port()))),
        SocketAddr::V6(_) => anyhow::bail!("the raw reference runs on IPv4 loopback"),
    }
}

/// Lets the process open one socket per client.
fn raise_fd_limit(want: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < want
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard);
    }
}

async fn receive(
    socket: tokio::net::UdpSocket,
    totals: Arc<Totals>,
    start: Instant,
    mut finish: watch::Receiver<bool>,
) -> Latency {
    let mut latency = Latency::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = tokio::select! {
            r = socket.recv(&mut buf) => r,
            _ = finish.wait_for(|f| *f) => break,
        };
        let Some(sent) = n.ok().and_then(|n| buf.get(8..16.min(n))) else {
            continue;
        };
        let Ok(sent) = <[u8; 8]>::try_from(sent) else {
            continue;
        };
        let now = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        latency.record(Duration::from_nanos(
            now.saturating_sub(u64::from_le_bytes(sent)),
        ));
        totals.deliveries.fetch_add(1, Relaxed);
        totals.last_delivery_ns.fetch_max(now, Relaxed);
    }
    latency
}

/// Sends a batch of `(payload, destination)` with as few `sendmmsg` calls as possible.
fn send_batch(socket: &UdpSocket, batch: &[(Vec<u8>, SockaddrIn)]) {
    let mut done = 0;
    while done < batch.len() {
        let rest = &batch[done..];
        let slices: Vec<[IoSlice<'_>; 1]> = rest.iter().map(|(p, _)| [IoSlice::new(p)]).collect();
        let addrs: Vec<Option<SockaddrIn>> = rest.iter().map(|(_, a)| Some(*a)).collect();
        let mut headers = MultiHeaders::<SockaddrIn>::preallocate(rest.len(), None);
        let fd = socket.as_raw_fd();
        match sendmmsg(fd, &mut headers, &slices, &addrs, [], MsgFlags::empty()) {
            Ok(results) => done += results.count().max(1),
            Err(_) => done += 1, // the datagram is lost, like any other UDP drop
        }
    }
}

/// The relay: fans each datagram out to the other members of its group.
struct Fanout {
    plan: Plan,
    addrs: Vec<SockaddrIn>,
}

impl Fanout {
    fn run(self, socket: &UdpSocket, stop: &AtomicBool) {
        if socket.set_nonblocking(true).is_err() {
            return;
        }
        let mut buf = vec![0u8; 65536];
        let mut out: Vec<(Vec<u8>, SockaddrIn)> = Vec::with_capacity(BATCH * 2);
        while !stop.load(Relaxed) {
            match socket.recv(&mut buf) {
                Ok(n) => self.fan_out(&buf[..n], &mut out),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    flush(socket, &mut out);
                    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
                    let _ = poll(&mut fds, PollTimeout::from(10u8));
                }
                Err(_) => {}
            }
            if out.len() >= BATCH {
                flush(socket, &mut out);
            }
        }
    }

    fn fan_out(&self, datagram: &[u8], out: &mut Vec<(Vec<u8>, SockaddrIn)>) {
        let header = |i: usize| {
            let bytes = datagram.get(i..i + 4)?;
            Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
        };
        let (Some(group), Some(sender)) = (header(0), header(4)) else {
            return;
        };
        let Some(members) = self.plan.groups.get(group) else {
            return;
        };
        for &m in members.iter().filter(|&&m| m != sender) {
            out.push((datagram.to_vec(), self.addrs[m]));
        }
    }
}

fn flush(socket: &UdpSocket, out: &mut Vec<(Vec<u8>, SockaddrIn)>) {
    if !out.is_empty() {
        send_batch(socket, out);
        out.clear();
    }
}

/// The sender: every (member, group) pair in turn, paced or windowed.
struct SendJob {
    pairs: Vec<(usize, usize, u64)>,
    size: usize,
    spacing: Option<Duration>,
    /// Expected deliveries allowed in flight.
    window: u64,
    relay: SockaddrIn,
    duration: Duration,
    start: Instant,
}

impl SendJob {
    fn new(args: &BenchArgs, plan: &Plan, relay: SockaddrIn, start: Instant) -> Self {
        let mut pairs = Vec::new();
        for c in 0..args.clients {
            for g in plan.groups_of(c) {
                pairs.push((c, g, plan.groups[g].len() as u64 - 1));
            }
        }
        let senders = plan.senders(args.clients);
        let fanout = pairs.iter().map(|p| p.2).max().unwrap_or(1);
        Self {
            pairs,
            size: args.size,
            spacing: pace(args.rate, senders).map(|d| d / senders.max(1) as u32),
            window: (args.window * senders) as u64 * fanout,
            relay,
            duration: args.duration,
            start,
        }
    }

    fn run(self, totals: &Totals) -> anyhow::Result<()> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let mut next = 0usize;
        let mut due = Instant::now();
        while self.start.elapsed() < self.duration && !self.pairs.is_empty() {
            let n = self.room(totals, &mut due);
            let batch: Vec<_> = (0..n).map(|k| self.message(next + k)).collect();
            send_batch(&socket, &batch);
            for k in 0..n {
                let fan = self.pairs[(next + k) % self.pairs.len()].2;
                totals.expected.fetch_add(fan, Relaxed);
            }
            totals.sent.fetch_add(n as u64, Relaxed);
            next += n;
        }
        Ok(())
    }

    /// How many messages to send now: waits for the pace or for room in the
    /// window (at most 2 ms, then the missing deliveries count as lost).
    fn room(&self, totals: &Totals, due: &mut Instant) -> usize {
        if let Some(spacing) = self.spacing {
            let now = Instant::now();
            if *due > now {
                std::thread::sleep(*due - now);
            }
            *due += spacing;
            return 1;
        }
        let waited = Instant::now();
        while totals.expected.load(Relaxed) > totals.deliveries.load(Relaxed) + self.window
            && waited.elapsed() < Duration::from_millis(2)
        {
            std::thread::yield_now();
        }
        BATCH
    }

    fn message(&self, i: usize) -> (Vec<u8>, SockaddrIn) {
        let (sender, group, _) = self.pairs[i % self.pairs.len()];
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut m = Vec::with_capacity(16 + self.size);
        m.extend_from_slice(&(group as u32).to_le_bytes());
        m.extend_from_slice(&(sender as u32).to_le_bytes());
        m.extend_from_slice(&nanos.to_le_bytes());
        m.resize(16 + self.size, b'x');
        (m, self.relay)
    }
}
