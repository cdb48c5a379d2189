//! `--reference tcp`: the same workload through a minimal TCP relay.
//!
//! Wire format (all integers little endian): a client opens with
//! `[client u32][n u32][group u32 × n]`, then sends frames
//! `[len u32][group u32][sender u32][nanos u64][body]`; the relay forwards
//! each frame unchanged to every other member of the group.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::args::BenchArgs;
use crate::plan::{Plan, pace};
use crate::report::ReferenceReport;
use crate::stats::{Latency, Totals};

/// Largest frame the relay accepts.
const MAX_FRAME: usize = 1 << 20;
/// Frames queued towards one receiver before the relay waits.
const QUEUE: usize = 1024;

type Frame = Arc<[u8]>;
type Groups = Arc<Mutex<HashMap<u32, Vec<(u32, mpsc::Sender<Frame>)>>>>;

/// Runs the relay on `addr` until the process ends (`natter bench --relay`).
pub(crate) async fn serve_relay(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.context("bind the relay")?;
    eprintln!("natter bench: tcp relay on {}", listener.local_addr()?);
    relay(listener).await;
    Ok(())
}

async fn relay(listener: TcpListener) {
    let groups = Groups::default();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(relay_conn(stream, groups.clone()));
    }
}

async fn relay_conn(stream: TcpStream, groups: Groups) -> std::io::Result<()> {
    let (mut rd, wr) = stream.into_split();
    let me = rd.read_u32_le().await?;
    let n = rd.read_u32_le().await?;
    let (tx, rx) = mpsc::channel(QUEUE);
    for _ in 0..n.min(1 << 16) {
        let g = rd.read_u32_le().await?;
        let mut map = groups.lock().expect("groups lock");
        map.entry(g).or_default().push((me, tx.clone()));
    }
    tokio::spawn(write_frames(wr, rx));
    while let Some(frame) = read_frame(&mut rd).await? {
        let group = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes"));
        let targets: Vec<_> = {
            let map = groups.lock().expect("groups lock");
            let members = map.get(&group).map_or(&[][..], |v| v.as_slice());
            members
                .iter()
                .filter(|(m, _)| *m != me)
                .map(|(_, t)| t.clone())
                .collect()
        };
        for t in targets {
            let _ = t.send(frame.clone()).await;
        }
    }
    Ok(())
}

/// One frame's payload, or `None` at the end of the stream.
async fn read_frame(rd: &mut OwnedReadHalf) -> std::io::Result<Option<Frame>> {
    let len = match rd.read_u32_le().await {
        Ok(len) => len as usize,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    if !(16..=MAX_FRAME).contains(&len) {
        return Err(std::io::Error::other("bad frame length"));
    }
    let mut buf = vec![0; len];
    rd.read_exact(&mut buf).await?;
    Ok(Some(buf.into()))
}

/// Writes queued frames, flushing when the queue is empty.
async fn write_frames(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Frame>) -> std::io::Result<()> {
    let mut wr = BufWriter::new(wr);
    while let Some(frame) = rx.recv().await {
        write_frame(&mut wr, &frame).await?;
        while let Ok(more) = rx.try_recv() {
            write_frame(&mut wr, &more).await?;
        }
        wr.flush().await?;
    }
    Ok(())
}

async fn write_frame(wr: &mut BufWriter<OwnedWriteHalf>, frame: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(frame.len()).map_err(std::io::Error::other)?;
    wr.write_u32_le(len).await?;
    wr.write_all(frame).await
}

/// Runs the workload through a relay (in-process, or `--tcp-relay`).
pub(crate) async fn run(args: &BenchArgs, plan: &Plan) -> anyhow::Result<ReferenceReport> {
    let addr = match args.tcp_relay {
        Some(addr) => addr,
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(relay(listener));
            addr
        }
    };
    let totals = Arc::new(Totals::default());
    let start = Instant::now();
    let (stop, stop_rx) = watch::channel(false);
    let (finish, finish_rx) = watch::channel(false);
    let spacing = pace(args.rate, plan.senders(args.clients));
    let (mut senders, mut readers) = (JoinSet::new(), JoinSet::new());
    let mut jobs = Vec::new();
    for me in 0..args.clients {
        let groups = plan.groups_of(me);
        let stream = TcpStream::connect(addr)
            .await
            .context("connect to the relay")?;
        stream.set_nodelay(true)?;
        let (rd, mut wr) = stream.into_split();
        hello(&mut wr, me, &groups).await?;
        readers.spawn(read_deliveries(
            rd,
            totals.clone(),
            start,
            finish_rx.clone(),
        ));
        if !groups.is_empty() {
            let sizes: Vec<u64> = groups
                .iter()
                .map(|&g| plan.groups[g].len() as u64)
                .collect();
            let job = SendJob {
                me,
                groups,
                sizes,
                size: args.size,
                spacing,
                start,
            };
            jobs.push((job, wr));
        }
    }
    // Everyone is connected before anyone sends (connecting over a lossy
    // link can take seconds).
    for (job, wr) in jobs {
        senders.spawn(job.run(wr, totals.clone(), stop_rx.clone()));
    }
    tokio::time::sleep(args.duration).await;
    let _ = stop.send(true);
    while senders.join_next().await.is_some() {}
    let give_up = Instant::now() + Duration::from_secs(30);
    while totals.deliveries.load(Relaxed) < totals.expected.load(Relaxed)
        && Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = finish.send(true);
    let mut latency = Latency::default();
    while let Some(done) = readers.join_next().await {
        if let Ok(l) = done {
            latency.merge(&l);
        }
    }
    Ok(totals.report("tcp", &latency))
}

async fn hello(wr: &mut OwnedWriteHalf, me: usize, groups: &[usize]) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    buf.extend_from_slice(&u32::try_from(me)?.to_le_bytes());
    buf.extend_from_slice(&u32::try_from(groups.len())?.to_le_bytes());
    for &g in groups {
        buf.extend_from_slice(&u32::try_from(g)?.to_le_bytes());
    }
    wr.write_all(&buf).await?;
    Ok(())
}

struct SendJob {
    me: usize,
    groups: Vec<usize>,
    /// Members of each of `groups`.
    sizes: Vec<u64>,
    size: usize,
    spacing: Option<Duration>,
    start: Instant,
}

impl SendJob {
    async fn run(self, wr: OwnedWriteHalf, totals: Arc<Totals>, stop: watch::Receiver<bool>) {
        let mut wr = BufWriter::new(wr);
        let mut ticker = self.spacing.map(tokio::time::interval);
        for n in 0.. {
            if *stop.borrow() {
                break;
            }
            if let Some(t) = ticker.as_mut() {
                t.tick().await;
            }
            let i = n % self.groups.len();
            if write_frame(&mut wr, &self.frame(self.groups[i]))
                .await
                .is_err()
            {
                break;
            }
            if ticker.is_some() && wr.flush().await.is_err() {
                break;
            }
            totals.sent.fetch_add(1, Relaxed);
            totals
                .expected
                .fetch_add(self.sizes[i].saturating_sub(1), Relaxed);
        }
        let _ = wr.flush().await;
    }

    fn frame(&self, group: usize) -> Vec<u8> {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut f = Vec::with_capacity(16 + self.size);
        f.extend_from_slice(&(group as u32).to_le_bytes());
        f.extend_from_slice(&(self.me as u32).to_le_bytes());
        f.extend_from_slice(&nanos.to_le_bytes());
        f.resize(16 + self.size, b'x');
        f
    }
}

async fn read_deliveries(
    mut rd: OwnedReadHalf,
    totals: Arc<Totals>,
    start: Instant,
    mut finish: watch::Receiver<bool>,
) -> Latency {
    let mut latency = Latency::default();
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd) => f,
            _ = finish.wait_for(|f| *f) => break,
        };
        let Ok(Some(frame)) = frame else { break };
        let sent = u64::from_le_bytes(frame[8..16].try_into().expect("8 bytes"));
        let now = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        latency.record(Duration::from_nanos(now.saturating_sub(sent)));
        totals.deliveries.fetch_add(1, Relaxed);
        totals.last_delivery_ns.fetch_max(now, Relaxed);
    }
    latency
}
