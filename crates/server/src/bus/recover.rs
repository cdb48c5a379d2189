//! What a node does when envelopes from another node may have been lost
//! (a hole in an origin's numbers, an origin back after being presumed
//! dead, this node's own reconnection to NATS). The lost envelopes cannot
//! be read again, but what they said is in the store or can be asked for:
//! messages (the catch-up), member and mute lists (the caches are
//! dropped), session ends (every local session re-checked), presence (a
//! `Hello` makes every node publish its snapshot).
//!
//! Both jobs are paced (`pace`): at most one run per heartbeat interval
//! whatever the number of holes, origins or reconnections, and a request
//! that comes while one runs is served by the next run, never dropped.
//! A refill run checks a bounded batch of conversations (`deliver`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Body;
use super::node::BusStats;
use crate::ctx::Shared;

/// The recovery after a loss: forget the caches, re-check the sessions,
/// refill the conversations, ask every node for its online users.
pub(crate) async fn recover(shared: Arc<Shared>) {
    let stats = &shared.bus.stats;
    let holes = stats.holes.load(Ordering::SeqCst);
    BusStats::add(&stats.recoveries, 1);
    shared.forget_all_caches(); // before the refill renders with them
    stats.holes_recovered.fetch_max(holes, Ordering::SeqCst);
    super::revalidate::sessions(&shared).await;
    shared.bus.seqs.lock().await.start_round();
    shared.bus.refill.request();
    shared.bus.publish(Body::Hello);
}

/// Delivers what the tracked conversations got from the store meanwhile,
/// a batch per run; asks for itself again until the round is over (the
/// store failing included: the gap stays open until then).
pub(crate) async fn refill(shared: Arc<Shared>) {
    if super::deliver::catch_up(&shared).await {
        shared.bus.refill.request();
    }
}
