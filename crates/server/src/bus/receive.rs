//! The bus tasks of a clustered node: one reads the subscription and
//! applies each envelope in arrival order; one sends the heartbeat,
//! presumes silent nodes dead, and after every (re)connection says hello,
//! publishes this node's online users and catches up from the store.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use natter_store::UserId;
use tokio::task::JoinHandle;

use super::deliver;
use super::envelope::{self, Body, Envelope};
use super::nats::NatsLink;
use super::node::BusStats;
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
    let mut tasks = vec![tokio::spawn(beat(shared.clone(), link))];
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

/// Applies one envelope from another node.
pub(crate) async fn apply(shared: &Shared, envelope: Envelope) {
    let origin = envelope.origin;
    let fresh = shared.bus.cluster_lock().heard(origin, Instant::now());
    let greeting = matches!(envelope.body, Body::Hello | Body::Snapshot { .. });
    if fresh == Some(true) && !greeting {
        shared.bus.publish(Body::Hello); // learn what it has
    }
    match envelope.body {
        Body::Message { conv, seq, parts } => {
            if take_drop(shared) {
                return;
            }
            deliver::relayed(shared, conv, seq, parts).await;
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
        Body::Hello => publish_snapshot(shared),
        Body::Snapshot { epoch, users, done } => {
            let changed = shared
                .bus
                .cluster_lock()
                .snapshot(origin, epoch, &users, done);
            report_changed(shared, &changed);
        }
    }
}

/// Test hook: whether to drop this message envelope.
fn take_drop(shared: &Shared) -> bool {
    use std::sync::atomic::Ordering;
    let hook = &shared.bus.drop_incoming;
    hook.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Reports the current cluster-wide state of users whose state changed on
/// another node (unless they are online here, which did not change).
fn report_changed(shared: &Shared, users: &[UserId]) {
    for &user in users.iter().filter(|u| !shared.hub.is_online(**u)) {
        shared.report_presence(user, shared.bus.online_elsewhere(user));
    }
}

/// Publishes this node's online users, in parts.
fn publish_snapshot(shared: &Shared) {
    let users = shared.hub.online_users();
    let epoch = rand::random::<u64>();
    let mut parts = users.chunks(SNAPSHOT_PART).peekable();
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

/// Heartbeats, dead-node sweeps, and the greeting and catch-up after
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
                shared.bus.publish(Body::Hello);
                publish_snapshot(&shared);
                deliver::catch_up(&shared).await;
            }
        }
    }
}

/// Forgets nodes silent for too long; their users go offline here.
fn sweep(shared: &Shared) {
    let dead = shared
        .bus
        .cluster_lock()
        .sweep(Instant::now(), shared.bus.dead_after);
    for (node, users) in dead {
        tracing::warn!(node, users = users.len(), "bus: node silent, presumed dead");
        report_changed(shared, &users);
    }
}

/// Resolves once shutdown started.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
