//! The relay and workload shared by the stream references (`tcp`, `quic`):
//! one ordered byte stream per client in each direction, length-prefixed
//! frames, the relay forwarding each frame to the group's other members.
//!
//! Wire format (all integers little endian): a client opens with
//! `[client u32][n u32][group u32 × n]`, the relay answers `[n u32]` once
//! the client is in its groups (no one sends before every client has that
//! answer, so no frame reaches a group before all its members), then the
//! client sends frames `[len u32][group u32][sender u32][nanos u64][body]`;
//! the relay forwards each frame unchanged to every other member of the
//! group.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
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
/// Groups one client may announce in its hello.
const MAX_GROUPS: u32 = 1 << 16;

type Frame = Arc<[u8]>;

/// The relay's membership table: group → (client, its frame queue).
pub(crate) type Groups = Arc<Mutex<HashMap<u32, Vec<(u32, mpsc::Sender<Frame>)>>>>;

/// Serves one client's stream pair: reads its hello, then forwards each of
/// its frames to the other members of the frame's group.
pub(crate) async fn relay_conn<R, W>(mut rd: R, mut wr: W, groups: Groups) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let me = rd.read_u32_le().await?;
    let n = rd.read_u32_le().await?;
    let (tx, rx) = mpsc::channel(QUEUE);
    for _ in 0..n.min(MAX_GROUPS) {
        let g = rd.read_u32_le().await?;
        let mut map = groups.lock().expect("groups lock");
        map.entry(g).or_default().push((me, tx.clone()));
    }
    wr.write_u32_le(n).await?;
    wr.flush().await?;
    tokio::spawn(write_frames(wr, rx));
    while let Some(frame) = read_frame(&mut rd).await? {
        for t in targets(&groups, &frame, me) {
            let _ = t.send(frame.clone()).await;
        }
    }
    Ok(())
}

/// The queues of the other members of `frame`'s group.
fn targets(groups: &Groups, frame: &[u8], me: u32) -> Vec<mpsc::Sender<Frame>> {
    let group = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes"));
    let map = groups.lock().expect("groups lock");
    let members = map.get(&group).map_or(&[][..], |v| v.as_slice());
    members
        .iter()
        .filter(|(m, _)| *m != me)
        .map(|(_, t)| t.clone())
        .collect()
}

/// One frame's payload, or `None` at the end of the stream.
async fn read_frame<R: AsyncRead + Unpin>(rd: &mut R) -> std::io::Result<Option<Frame>> {
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
async fn write_frames<W: AsyncWrite + Unpin>(
    wr: W,
    mut rx: mpsc::Receiver<Frame>,
) -> std::io::Result<()> {
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

async fn write_frame<W: AsyncWrite + Unpin>(wr: &mut W, frame: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(frame.len()).map_err(std::io::Error::other)?;
    wr.write_u32_le(len).await?;
    wr.write_all(frame).await
}

/// Runs the workload over `streams` (client `i` owns `streams[i]`, already
/// connected to a relay) and reports it as reference `kind`.
pub(crate) async fn drive<R, W>(
    args: &BenchArgs,
    plan: &Plan,
    kind: &str,
    streams: Vec<(R, W)>,
) -> anyhow::Result<ReferenceReport>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let totals = Arc::new(Totals::default());
    let start = Instant::now();
    let (stop, stop_rx) = watch::channel(false);
    let (finish, finish_rx) = watch::channel(false);
    let spacing = pace(args.rate, plan.senders(args.clients));
    let (mut senders, mut readers) = (JoinSet::new(), JoinSet::new());
    let mut jobs = Vec::new();
    let mut streams = streams;
    for (me, (_, wr)) in streams.iter_mut().enumerate() {
        hello(wr, me, &plan.groups_of(me)).await?;
    }
    for (me, (mut rd, wr)) in streams.into_iter().enumerate() {
        rd.read_u32_le()
            .await
            .context("the relay's answer to hello")?;
        let groups = plan.groups_of(me);
        readers.spawn(read_deliveries(
            rd,
            totals.clone(),
            start,
            finish_rx.clone(),
        ));
        if !groups.is_empty() {
            let sizes = groups.iter().map(|&g| plan.groups[g].len() as u64);
            let job = SendJob {
                me,
                sizes: sizes.collect(),
                groups,
                size: args.size,
                spacing,
                start,
            };
            jobs.push((job, wr));
        }
    }
    // Everyone is connected and in its groups before anyone sends
    // (connecting over a lossy link can take seconds).
    for (job, wr) in jobs {
        senders.spawn(job.run(wr, totals.clone(), stop_rx.clone()));
    }
    tokio::time::sleep(args.duration).await;
    let _ = stop.send(true);
    while senders.join_next().await.is_some() {}
    wait_for_deliveries(&totals).await;
    let _ = finish.send(true);
    let mut latency = Latency::default();
    while let Some(done) = readers.join_next().await {
        if let Ok(l) = done {
            latency.merge(&l);
        }
    }
    Ok(totals.report(kind, &latency))
}

/// Waits (at most 60 s, like Natter's drain) until every expected delivery
/// has arrived.
async fn wait_for_deliveries(totals: &Totals) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while totals.deliveries.load(Relaxed) < totals.expected.load(Relaxed)
        && Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn hello<W: AsyncWrite + Unpin>(
    wr: &mut W,
    me: usize,
    groups: &[usize],
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    buf.extend_from_slice(&u32::try_from(me)?.to_le_bytes());
    buf.extend_from_slice(&u32::try_from(groups.len())?.to_le_bytes());
    for &g in groups {
        buf.extend_from_slice(&u32::try_from(g)?.to_le_bytes());
    }
    wr.write_all(&buf).await?;
    wr.flush().await?;
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
    async fn run<W: AsyncWrite + Unpin>(
        self,
        wr: W,
        totals: Arc<Totals>,
        stop: watch::Receiver<bool>,
    ) {
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

async fn read_deliveries<R: AsyncRead + Unpin>(
    mut rd: R,
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
