//! The Natter workload: clients over natter-net sharing sockets, groups,
//! paced or windowed senders, and receivers that check every delivery.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use natter_api::{ClientMsgId, ConversationId, Event, Seq, Target};
use natter_client::{
    Client, ClientEvent, ClientOptions, Dialer, EventReceiver, FailoverDialer, OutgoingState,
    UdpDialer,
};
use natter_net::{Endpoint, FaultConfig, NetConfig, ServerKeyPolicy};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::args::Placement;
use crate::plan::{Plan, body, pace, parse_body};
use crate::stats::Latency;

const PASSWORD: &str = "bench-password";

/// Counters shared by every task (read by the progress bar).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) stored: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) expected: AtomicU64,
    /// Nanoseconds after the start of the last ✓ and the last delivery.
    pub(crate) last_stored_ns: AtomicU64,
    pub(crate) last_delivery_ns: AtomicU64,
}

/// Connected, logged-in clients and their groups' conversations.
pub(crate) struct Fleet {
    clients: Vec<(Client, EventReceiver)>,
    convs: Vec<ConversationId>,
    /// Kept alive for the clients that share them.
    _endpoints: Vec<Endpoint>,
}

/// Where and how clients connect.
pub(crate) struct Dial {
    /// The server, or the nodes of a cluster (clients spread by `placement`).
    pub(crate) servers: Vec<SocketAddr>,
    pub(crate) placement: Placement,
    /// Members per group (for [`Placement::ByGroup`]).
    pub(crate) members: usize,
    pub(crate) policy: ServerKeyPolicy,
    pub(crate) loss: f64,
    pub(crate) per_socket: usize,
    pub(crate) parallel: usize,
    /// Local addresses the client sockets bind to, round robin; empty:
    /// the unspecified address of the server's family.
    pub(crate) local: Vec<IpAddr>,
}

/// Connects `n` clients (sharing sockets), registers and logs them in, and
/// creates the plan's groups.
pub(crate) async fn setup(t: &Dial, n: usize, plan: &Plan) -> anyhow::Result<Fleet> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let endpoints = endpoints(t, n).await?;
    let gate = Arc::new(Semaphore::new(t.parallel.max(1)));
    let mut set = JoinSet::new();
    for i in 0..n {
        let ep = endpoints[i / t.per_socket.max(1)].clone();
        let dialer = t.dialer(ep, i);
        let (gate, name) = (gate.clone(), user_name(&run, i));
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            (i, join(dialer, &name).await)
        });
    }
    let mut clients: Vec<Option<(Client, EventReceiver)>> = (0..n).map(|_| None).collect();
    while let Some(done) = set.join_next().await {
        let (i, result) = done.context("setup task")?;
        clients[i] = Some(result.with_context(|| format!("client {i}"))?);
    }
    let clients: Vec<_> = clients.into_iter().flatten().collect();
    let convs = create_groups(&clients, plan, &run).await?;
    Ok(Fleet {
        clients,
        convs,
        _endpoints: endpoints,
    })
}

impl Dial {
    /// Where client socket `i` binds: the next of `local`, round robin, or
    /// the unspecified address of the server's family.
    fn local_addr(&self, i: usize) -> SocketAddr {
        let ip = match self.local.get(i % self.local.len().max(1)) {
            Some(ip) => *ip,
            None if self.servers.first().is_none_or(SocketAddr::is_ipv4) => {
                Ipv4Addr::UNSPECIFIED.into()
            }
            None => Ipv6Addr::UNSPECIFIED.into(),
        };
        (ip, 0).into()
    }

    /// The node client `i` connects to.
    fn node(&self, i: usize) -> SocketAddr {
        let n = self.servers.len().max(1);
        let slot = match self.placement {
            Placement::RoundRobin => i % n,
            Placement::ByGroup => (i / self.members.max(1)) % n,
        };
        self.servers[slot]
    }

    /// Client `i`'s dialer: its node first, then the others in list order
    /// after it (where it goes when its node dies).
    fn dialer(&self, ep: Endpoint, i: usize) -> FailoverDialer {
        let first = self.servers.iter().position(|a| *a == self.node(i));
        let n = self.servers.len();
        let order = (0..n).map(|k| self.servers[(first.unwrap_or(0) + k) % n]);
        let nodes = order.map(|addr| {
            let dialer = UdpDialer::with_endpoint(ep.clone(), addr, self.policy.clone());
            Arc::new(dialer) as Arc<dyn Dialer>
        });
        FailoverDialer::new(nodes.collect())
    }
}

fn user_name(run: &str, i: usize) -> String {
    format!("b{run}u{i}")
}

async fn endpoints(t: &Dial, n: usize) -> anyhow::Result<Vec<Endpoint>> {
    let count = n.div_ceil(t.per_socket.max(1)).max(1);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let config = NetConfig {
            faults: FaultConfig::loss(t.loss, 0xbe5c_0000 + i as u64),
            ..NetConfig::default()
        };
        let local = t.local_addr(i);
        let ep = Endpoint::bind(local, config).await;
        out.push(ep.with_context(|| format!("bind a client socket on {local}"))?);
    }
    Ok(out)
}

/// Connects, registers, logs in and waits for the end of the sync.
async fn join(dialer: FailoverDialer, name: &str) -> anyhow::Result<(Client, EventReceiver)> {
    let options = ClientOptions {
        connect_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(60),
        ..ClientOptions::default()
    };
    let (client, mut events) = Client::connect(Arc::new(dialer), options).await?;
    client.register(name, PASSWORD).await?;
    client.login(name, PASSWORD).await?;
    loop {
        match events.recv().await {
            Some(ClientEvent::Server(Event::Conversations(_))) => return Ok((client, events)),
            Some(_) => {}
            None => anyhow::bail!("client stopped during login"),
        }
    }
}

async fn create_groups(
    clients: &[(Client, EventReceiver)],
    plan: &Plan,
    run: &str,
) -> anyhow::Result<Vec<ConversationId>> {
    let mut convs = Vec::new();
    for (g, members) in plan.groups.iter().enumerate() {
        let names: Vec<String> = members[1..].iter().map(|&m| user_name(run, m)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let owner = &clients[members[0]].0;
        let group = owner
            .create_group(&format!("bench {run} {g}"), false, &names)
            .await
            .with_context(|| format!("create group {g}"))?;
        convs.push(group.id);
    }
    Ok(convs)
}

/// What one client saw.
#[derive(Default)]
pub(crate) struct Seen {
    /// Every (conversation, seq) delivered from another member.
    pub(crate) delivered: HashSet<(ConversationId, Seq)>,
    /// Its own messages that were stored.
    pub(crate) stored: Vec<(ConversationId, Seq)>,
    pub(crate) duplicates: u64,
    pub(crate) e2e: Latency,
    pub(crate) ack: Latency,
}

/// Sending settings.
#[derive(Clone, Copy)]
pub(crate) struct Load {
    pub(crate) rate: f64,
    pub(crate) window: usize,
    pub(crate) size: usize,
}

/// The running workload: stop the senders, then the receivers.
pub(crate) struct Running {
    pub(crate) counters: Arc<Counters>,
    sending: watch::Sender<bool>,
    finish: watch::Sender<bool>,
    receivers: JoinSet<(usize, Seen)>,
    senders: JoinSet<()>,
    pub(crate) start: Instant,
}

/// Starts one sender and one receiver task per client.
pub(crate) fn start(fleet: Fleet, plan: &Plan, load: Load) -> Running {
    let counters = Arc::new(Counters::default());
    let (sending, sending_rx) = watch::channel(true);
    let (finish, finish_rx) = watch::channel(false);
    let start = Instant::now();
    let spacing = pace(load.rate, plan.senders(fleet.clients.len()));
    let sizes: HashMap<ConversationId, u64> = fleet
        .convs
        .iter()
        .zip(&plan.groups)
        .map(|(c, m)| (*c, m.len() as u64))
        .collect();
    let sizes = Arc::new(sizes);
    let (mut receivers, mut senders) = (JoinSet::new(), JoinSet::new());
    for (me, (client, events)) in fleet.clients.into_iter().enumerate() {
        let convs: Vec<_> = plan.groups_of(me).iter().map(|&g| fleet.convs[g]).collect();
        let shared = Arc::new(PerClient {
            me,
            window: Semaphore::new(load.window.max(1)),
            pending: Mutex::new(HashMap::new()),
            counters: counters.clone(),
            sizes: sizes.clone(),
            start,
        });
        let rx = Receiver {
            shared: shared.clone(),
            _client: client.clone(),
            seen: Seen::default(),
        };
        receivers.spawn(rx.run(events, finish_rx.clone()));
        if !convs.is_empty() {
            let s = Sender {
                shared,
                client,
                convs,
                spacing,
                size: load.size,
            };
            senders.spawn(s.run(sending_rx.clone()));
        }
    }
    // Keep the endpoints alive as long as the tasks run.
    let endpoints = fleet._endpoints;
    receivers.spawn(async move {
        let _keep = endpoints;
        (usize::MAX, Seen::default())
    });
    Running {
        counters,
        sending,
        finish,
        receivers,
        senders,
        start,
    }
}

impl Running {
    /// Stops sending (in-flight messages still complete).
    pub(crate) async fn stop_sending(&mut self) {
        let _ = self.sending.send(false);
        while self.senders.join_next().await.is_some() {}
    }

    /// Stops the receivers and returns what each client saw, by index.
    pub(crate) async fn finish(mut self) -> Vec<Seen> {
        let _ = self.finish.send(true);
        let mut out = Vec::new();
        while let Some(Ok((i, seen))) = self.receivers.join_next().await {
            if i != usize::MAX {
                out.push((i, seen));
            }
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, s)| s).collect()
    }
}

/// State one client's sender and receiver share.
struct PerClient {
    me: usize,
    /// Free slots of the ✓ window.
    window: Semaphore,
    /// Send time of every message not yet ✓.
    pending: Mutex<HashMap<ClientMsgId, Instant>>,
    counters: Arc<Counters>,
    /// Members per group conversation.
    sizes: Arc<HashMap<ConversationId, u64>>,
    start: Instant,
}

impl PerClient {
    fn since_start_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

struct Sender {
    shared: Arc<PerClient>,
    client: Client,
    convs: Vec<ConversationId>,
    spacing: Option<Duration>,
    size: usize,
}

impl Sender {
    async fn run(self, mut sending: watch::Receiver<bool>) {
        let mut ticker = self.spacing.map(tokio::time::interval);
        for n in 0.. {
            if let Some(t) = ticker.as_mut() {
                tokio::select! {
                    _ = t.tick() => {}
                    _ = sending.wait_for(|s| !s) => return,
                }
            }
            tokio::select! {
                permit = self.shared.window.acquire() => match permit {
                    Ok(p) => p.forget(),
                    Err(_) => return,
                },
                _ = sending.wait_for(|s| !s) => return,
            }
            self.send_one(self.convs[n % self.convs.len()]).await;
        }
    }

    async fn send_one(&self, conv: ConversationId) {
        let s = &self.shared;
        let id = uuid::Uuid::new_v4();
        let text = body(s.me, s.start.elapsed(), self.size);
        s.pending
            .lock()
            .expect("pending lock")
            .insert(id, Instant::now());
        s.counters.sent.fetch_add(1, Relaxed);
        let _handle = self
            .client
            .send_with_id(Target::Conversation(conv), text, id)
            .await;
    }
}

struct Receiver {
    shared: Arc<PerClient>,
    /// Keeps the connection up until the run finishes.
    _client: Client,
    seen: Seen,
}

impl Receiver {
    async fn run(
        mut self,
        mut events: EventReceiver,
        mut finish: watch::Receiver<bool>,
    ) -> (usize, Seen) {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(e) => self.on_event(e),
                    None => break,
                },
                _ = finish.wait_for(|f| *f) => break,
            }
        }
        (self.shared.me, self.seen)
    }

    fn on_event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Server(Event::Message(m)) => self.on_message(m.conv, m.seq, &m.body),
            ClientEvent::Outgoing { client_id, state } => self.on_outgoing(client_id, state),
            _ => {}
        }
    }

    fn on_message(&mut self, conv: ConversationId, seq: Seq, text: &str) {
        let Some((sender, sent_at)) = parse_body(text) else {
            return;
        };
        if sender == self.shared.me {
            return;
        }
        if !self.seen.delivered.insert((conv, seq)) {
            self.seen.duplicates += 1;
            return;
        }
        let now = self.shared.since_start_ns();
        let c = &self.shared.counters;
        c.deliveries.fetch_add(1, Relaxed);
        c.last_delivery_ns.fetch_max(now, Relaxed);
        self.seen
            .e2e
            .record(Duration::from_nanos(now).saturating_sub(sent_at));
    }

    fn on_outgoing(&mut self, id: ClientMsgId, state: OutgoingState) {
        let s = &self.shared;
        let stored = match &state {
            OutgoingState::Stored(sent) => Some(sent),
            OutgoingState::Failed(_) => None,
            _ => return,
        };
        let Some(sent_at) = s.pending.lock().expect("pending lock").remove(&id) else {
            return;
        };
        s.window.add_permits(1);
        let Some(sent) = stored else {
            s.counters.failed.fetch_add(1, Relaxed);
            return;
        };
        self.seen.ack.record(sent_at.elapsed());
        self.seen.stored.push((sent.conv, sent.seq));
        let others = s.sizes.get(&sent.conv).map_or(0, |m| m.saturating_sub(1));
        s.counters.expected.fetch_add(others, Relaxed);
        s.counters.stored.fetch_add(1, Relaxed);
        s.counters
            .last_stored_ns
            .fetch_max(s.since_start_ns(), Relaxed);
    }
}

/// Expected deliveries that no member saw: every stored message must reach
/// every other member of its group.
pub(crate) fn count_lost(seen: &[Seen], plan: &Plan, convs: &[ConversationId]) -> u64 {
    let members: HashMap<ConversationId, &Vec<usize>> =
        convs.iter().copied().zip(plan.groups.iter()).collect();
    let mut lost = 0;
    for (sender, s) in seen.iter().enumerate() {
        for key in &s.stored {
            let group = members.get(&key.0).map_or(&[][..], |m| m.as_slice());
            lost += group
                .iter()
                .filter(|&&r| r != sender && !seen[r].delivered.contains(key))
                .count() as u64;
        }
    }
    lost
}

impl Fleet {
    /// The groups' conversations, in plan order.
    pub(crate) fn convs(&self) -> Vec<ConversationId> {
        self.convs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial(local: Vec<IpAddr>) -> Dial {
        Dial {
            servers: vec![([127, 0, 0, 1], 9).into()],
            placement: Placement::RoundRobin,
            members: 1,
            policy: ServerKeyPolicy::AcceptAny,
            loss: 0.0,
            per_socket: 2,
            parallel: 1,
            local,
        }
    }

    #[tokio::test]
    async fn client_sockets_bind_round_robin_over_the_local_addresses() {
        let local: Vec<IpAddr> = vec![[127, 0, 0, 2].into(), [127, 0, 0, 3].into()];
        let eps = endpoints(&dial(local), 5).await.unwrap();
        let ips: Vec<IpAddr> = eps.iter().map(|e| e.local_addr().unwrap().ip()).collect();
        assert_eq!(
            ips,
            [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 2]].map(IpAddr::from)
        );
        let any = endpoints(&dial(Vec::new()), 1).await.unwrap();
        assert!(any[0].local_addr().unwrap().ip().is_unspecified());
    }
}
