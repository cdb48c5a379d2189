//! The bus tasks of a clustered node: one reads the subscription and
//! applies each envelope in arrival order (noticing holes in each origin's
//! numbers); one sends the heartbeat, presumes silent nodes dead, and
//! after every (re)connection asks for a snapshot and a recovery; the
//! paced jobs: recovery and catch-up ([`recover`]) and snapshots.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use natter_store::UserId;
use tokio::task::JoinHandle;

use super::cluster::Heard;
use super::envelope::{self, Body, Envelope};
use super::nats::NatsLink;
use super::node::{BusStats, Node};
use super::pace::Paced;
use super::recover;
use crate::ctx::Shared;
use crate::push::Push;

/// Users per snapshot envelope.
const SNAPSHOT_PART: usize = 10_000;

/// Starts the bus tasks of a clustered node (none on a single node); they
/// stop at shutdown.
pub(crate) fn spawn(shared: &Arc<Shared>, link: Option<Arc<NatsLink>>) -> Vec<JoinHandle<()>> {
    let Some(link) = link else {
        return Vec::new();
    };
    let subscriber = link
        .subscriber
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let mut tasks = vec![
        tokio::spawn(beat(shared.clone(), link)),
        paced(shared, |n| &n.recovery, recover::recover),
        paced(shared, |n| &n.refill, recover::refill),
        paced(
            shared,
            |n| &n.snapshots,
            |s| async move { publish_snapshot(&s) },
        ),
    ];
    if let Some(subscriber) = subscriber {
        tasks.push(tokio::spawn(receive(shared.clone(), subscriber)));
    }
    tasks
}

async fn receive(shared: Arc<Shared>, mut subscriber: async_nats::Subscriber) {
    let mut stop = shared.shutdown.subscribe();
    loop {
        let message = tokio::select! {
            () = stopped(&mut stop) => return,
            m = subscriber.next() => m,
        };
        let Some(message) = message else { return };
        BusStats::add(&shared.bus.stats.received, 1);
        match envelope::decode(&message.payload) {
            Ok(envelope) if envelope.origin != shared.bus.id => apply(&shared, envelope).await,
            Ok(_) => {}
            Err(e) => {
                BusStats::add(&shared.bus.stats.malformed, 1);
                tracing::debug!(error = %e, "bus: envelope dropped");
            }
        }
    }
}

/// Runs the paced job `which` of this node until shutdown.
pub(super) fn paced<J, F>(
    shared: &Arc<Shared>,
    which: fn(&Node) -> &Paced,
    job: J,
) -> JoinHandle<()>
where
    J: Fn(Arc<Shared>) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send,
{
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut stop = shared.shutdown.subscribe();
        let every = shared.bus.heartbeat;
        let paced = which(&shared.bus);
        paced
            .run(every, stopped(&mut stop), || job(shared.clone()))
            .await;
    })
}

/// Applies one envelope from another node; a hole in its origin's
/// numbers asks for a recovery.
pub(crate) async fn apply(shared: &Shared, envelope: Envelope) {
    let origin = envelope.origin;
    if shared.bus.take_drop(envelope.body.kind()) {
        return; // test hook: as if lost on the way
    }
    let greeting = matches!(envelope.body, Body::Hello | Body::Snapshot { .. });
    heard(shared, origin, envelope.number, greeting);
    match envelope.body {
        Body::Message { conv, seq, parts } => {
            super::deliver::relayed(shared, conv, seq, parts).await;
        }
        Body::Frame { to, frame } => {
            shared.hub.push_local(&to, &Push::Frame(Bytes::from(frame)));
        }
        Body::Sync { to, conv, from } => {
            shared.hub.push_local(&to, &Push::Sync { conv, from });
        }
        Body::End {
            user,
            token,
            reason,
        } => {
            if shared.hub.end_relayed(user, token, &reason) {
                shared.presence_changed(user, false);
            }
        }
        Body::Forget { conv } => shared.forget_here(conv),
        Body::Presence { user, online } => {
            let before = shared.online_anywhere(user);
            shared.bus.cluster_lock().set(origin, user, online);
            if shared.online_anywhere(user) != before {
                shared.report_presence(user, !before);
            }
        }
        Body::Heartbeat => {}
        Body::Hello => shared.bus.snapshots.request(),
        Body::Snapshot { epoch, users, done } => {
            let changed = shared
                .bus
                .cluster_lock()
                .snapshot(origin, epoch, &users, done);
            report_changed(shared, &changed);
        }
    }
}

/// Notes envelope `number` of `origin`: says hello to a new node (unless
/// it is greeting already), asks for a recovery after a loss.
fn heard(shared: &Shared, origin: u64, number: u64, greeting: bool) {
    let heard = shared
        .bus
        .cluster_lock()
        .heard(origin, number, Instant::now());
    match heard {
        Heard::New { lost } => {
            if !greeting {
                shared.bus.publish(Body::Hello); // learn what it has
            }
            if lost {
                shared.bus.recovery.request();
            }
        }
        Heard::Hole => {
            BusStats::add(&shared.bus.stats.holes, 1);
            shared.bus.recovery.request();
        }
        Heard::Next | Heard::Untracked => {}
    }
}

/// Reports the current cluster-wide state of users whose state changed on
/// another node (unless they are online here, which did not change).
fn report_changed(shared: &Shared, users: &[UserId]) {
    for &user in users.iter().filter(|u| !shared.hub.is_online(**u)) {
        shared.report_presence(user, shared.bus.online_elsewhere(user));
    }
}

/// Publishes this node's online users, in parts (paced: see `spawn`).
/// Taken and published under [`Node::presence_order`], so a transition
/// published meanwhile comes after the whole snapshot.
pub(crate) fn publish_snapshot(shared: &Shared) {
    publish_snapshot_after(shared, || {});
}

/// [`publish_snapshot`], running `taken` right after the list is taken
/// (the tests' hook: a transition racing the snapshot).
pub(super) fn publish_snapshot_after(shared: &Shared, taken: impl FnOnce()) {
    let _order = shared.bus.presence_order();
    let users = shared.hub.online_users();
    taken();
    let epoch = rand::random::<u64>();
    let mut parts = users.chunks(SNAPSHOT_PART).peekable();
    BusStats::add(&shared.bus.stats.snapshots, 1);
    if parts.peek().is_none() {
        let done = true;
        let users = Vec::new();
        return shared.bus.publish(Body::Snapshot { epoch, users, done });
    }
    while let Some(part) = parts.next() {
        let done = parts.peek().is_none();
        let users = part.to_vec();
        shared.bus.publish(Body::Snapshot { epoch, users, done });
    }
}

/// Heartbeats, dead-node sweeps, and a snapshot and a recovery after
/// every (re)connection.
async fn beat(shared: Arc<Shared>, _link: Arc<NatsLink>) {
    let mut stop = shared.shutdown.subscribe();
    let mut connects = shared.bus.link.connects.subscribe();
    let mut tick = tokio::time::interval(shared.bus.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopped(&mut stop) => return,
            _ = tick.tick() => {
                shared.bus.publish(Body::Heartbeat);
                sweep(&shared);
            }
            changed = connects.changed() => {
                if changed.is_err() {
                    return;
                }
                shared.bus.snapshots.request();
                shared.bus.recovery.request();
            }
        }
    }
}

/// Forgets nodes silent for too long; their users go offline here. What
/// they published after their last envelope heard here may be lost: a
/// recovery follows.
fn sweep(shared: &Shared) {
    let dead = shared
        .bus
        .cluster_lock()
        .sweep(Instant::now(), shared.bus.dead_after);
    if !dead.is_empty() {
        shared.bus.recovery.request();
    }
    for (node, users) in dead {
        tracing::warn!(node, users = users.len(), "bus: node silent, presumed dead");
        report_changed(shared, &users);
    }
}

/// Resolves once shutdown started.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
