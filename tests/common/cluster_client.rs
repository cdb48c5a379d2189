//! Library clients of a [`crate::cluster::Cluster`]: each started with a
//! list of nodes (a `FailoverDialer`), with a reader task recording every
//! message it receives, every resume, and every ✓ it is told of.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use natter_api::{Anchor, ConversationId, Event, HistoryQuery, Message, Order, Seq};
use natter_client::{
    Backoff, Client, ClientEvent, ClientOptions, ConnectionState, EventReceiver, FailoverDialer,
};
use natter_net::{NetConfig, ServerKeyPolicy, TransportConfig};
use tokio::sync::watch;

use crate::cluster::PASSWORD;
use crate::common::GUARD;

/// What a member's event reader saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// (conversation, seq, body) of every message event, in arrival order.
    pub messages: Vec<(ConversationId, Seq, String)>,
    /// `Resumed` events so far.
    pub resumed: usize,
}

/// A logged-in library client on a list of nodes.
pub struct Member {
    /// Account name.
    pub name: String,
    /// The client.
    pub client: Client,
    /// Its dialer (which node it is on: [`Member::node`]).
    pub dialer: Arc<FailoverDialer>,
    /// What its reader saw.
    pub seen: watch::Receiver<Seen>,
    /// The nodes it was given, in its order.
    pub servers: Vec<SocketAddr>,
}

/// Runs `f` within the guard.
pub async fn guard<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .expect("guard timed out")
}

/// Connects to `servers` (tried in this order), registers `name` when
/// `register`, logs in and waits for the first sync. Keys are pinned in
/// `known` (one file per member: clients write it at first contact).
pub async fn member(servers: &[SocketAddr], known: &Path, name: &str, register: bool) -> Member {
    let policy = ServerKeyPolicy::KnownServers(known.to_owned());
    let dialer = FailoverDialer::udp(servers, policy, fast_net())
        .await
        .expect("client socket");
    let dialer = Arc::new(dialer);
    let (client, mut events) = Client::connect(dialer.clone(), fast_options())
        .await
        .expect("connect");
    if register {
        client.register(name, PASSWORD).await.expect("register");
    }
    client.login(name, PASSWORD).await.expect("login");
    guard(async {
        while !matches!(
            events.recv().await,
            Some(ClientEvent::Server(Event::Conversations(_))) | None
        ) {}
    })
    .await;
    let (tx, seen) = watch::channel(Seen::default());
    tokio::spawn(collect(events, tx));
    Member {
        name: name.to_owned(),
        client,
        dialer,
        seen,
        servers: servers.to_vec(),
    }
}

/// Notices a dead node within ~2 s (idle timeout, keepalive).
fn fast_net() -> NetConfig {
    let transport = TransportConfig {
        idle_timeout: Duration::from_secs(2),
        keepalive: Duration::from_millis(500),
        ..TransportConfig::default()
    };
    NetConfig {
        transport,
        ..NetConfig::default()
    }
}

fn fast_options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
            factor: 2,
        },
    }
}

async fn collect(mut events: EventReceiver, seen: watch::Sender<Seen>) {
    while let Some(event) = events.recv().await {
        match event {
            ClientEvent::Server(Event::Message(m)) => {
                seen.send_modify(|s| s.messages.push((m.conv, m.seq, m.body.clone())));
            }
            ClientEvent::Connection(ConnectionState::Resumed) => {
                seen.send_modify(|s| s.resumed += 1);
            }
            _ => {}
        }
    }
}

impl Member {
    /// The index (in its server list) of the node it is connected to.
    pub fn node(&self) -> usize {
        self.dialer.current().expect("connected once")
    }

    /// The address of the node it is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.servers[self.node()]
    }

    /// Seqs of `conv` received so far, in arrival order.
    pub fn received(&self, conv: ConversationId) -> Vec<Seq> {
        let seen = self.seen.borrow();
        let mine = seen.messages.iter().filter(|(c, _, _)| *c == conv);
        mine.map(|(_, s, _)| *s).collect()
    }

    /// Waits (within the guard) until every seq of `want` of `conv` arrived.
    pub async fn wait_for(&self, conv: ConversationId, want: &BTreeSet<Seq>) {
        let mut seen = self.seen.clone();
        let has_all = |s: &Seen| {
            let got: BTreeSet<Seq> = s
                .messages
                .iter()
                .filter(|(c, _, _)| *c == conv)
                .map(|(_, s, _)| *s)
                .collect();
            got.is_superset(want)
        };
        let waited = tokio::time::timeout(GUARD, seen.wait_for(has_all)).await;
        if waited.is_err() {
            let got = self.received(conv);
            let missing: Vec<_> = want.iter().filter(|s| !got.contains(s)).collect();
            panic!("{} is missing {missing:?} of {conv:?}", self.name);
        }
    }

    /// Waits (within the guard) until it resumed more than `n` times.
    pub async fn wait_resumed(&self, n: usize) {
        let mut seen = self.seen.clone();
        let waited = tokio::time::timeout(GUARD, seen.wait_for(|s| s.resumed > n)).await;
        assert!(waited.is_ok(), "{} did not resume by itself", self.name);
    }
}

/// The whole history of `conv`, oldest first, page by page.
pub async fn full_history(client: &Client, conv: ConversationId) -> Vec<Message> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |m: &Message| m.seq);
        let query = HistoryQuery {
            conv,
            anchor: Anchor::After(after),
            limit: 500,
            order: Order::OldestFirst,
        };
        let page = guard(client.history(query)).await.expect("history");
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// `list` rotated to start at index `first` (spreads clients over nodes:
/// a failover dialer tries its list in order).
pub fn rotated(list: &[SocketAddr], first: usize) -> Vec<SocketAddr> {
    let mut out = list.to_vec();
    out.rotate_left(first % list.len().max(1));
    out
}
