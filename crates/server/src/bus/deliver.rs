//! The one point where committed messages reach this node's sessions: in
//! seq order per conversation, each once, whether committed here or on
//! another node of the cluster.
//!
//! Holding the seq table (`Node::seqs`): a seq at or below the last
//! delivered is a repeat and dropped; one above `last + 1` means messages
//! in between were missed (a lost or late envelope, or another node's
//! commit not heard of yet): they are read from the store and delivered
//! first. On a single node (in-process bus) messages go straight to the
//! sessions, as before clusters existed.

use std::sync::Arc;

use natter_store::{ConvId, UserId};
use tokio::sync::MutexGuard;

use super::envelope::{Body, MAX_ENVELOPE, Part};
use super::gate::SeqTable;
use super::node::BusStats;
use crate::ctx::Shared;
use crate::push::Push;

/// Messages read from the store per page while filling a gap.
const FILL_PAGE: u32 = 200;

/// One encoded push of a committed message (see `writer::fan_out::parts`).
#[derive(Debug, Clone)]
pub(crate) struct LocalPart {
    /// `None`: every session (the lobby).
    pub(crate) to: Option<Arc<[UserId]>>,
    pub(crate) frame: bytes::Bytes,
    pub(crate) e2e: bool,
}

/// A message committed by this node: published, then delivered here in order.
pub(crate) async fn committed(shared: &Shared, conv: ConvId, seq: u64, parts: Vec<LocalPart>) {
    if shared.bus.is_local() {
        push(shared, conv, seq, &parts);
        return;
    }
    shared.bus.publish(Body::Message {
        conv,
        seq,
        parts: wire(&parts),
    });
    let mut seqs = shared.bus.seqs.lock().await;
    deliver(shared, &mut seqs, conv, seq, Some(parts)).await;
}

/// A message another node committed (`parts` empty: read it from the store).
pub(crate) async fn relayed(shared: &Shared, conv: ConvId, seq: u64, parts: Vec<Part>) {
    let parts = (!parts.is_empty()).then(|| parts.into_iter().map(local).collect());
    let mut seqs = shared.bus.seqs.lock().await;
    deliver(shared, &mut seqs, conv, seq, parts).await;
}

/// After the bus came back: delivers from the store whatever the tracked
/// conversations got meanwhile.
pub(crate) async fn catch_up(shared: &Shared) {
    let mut seqs = shared.bus.seqs.lock().await;
    for (conv, last) in seqs.entries() {
        let newest = shared.db(move |s| s.last_seq(conv)).await;
        match newest {
            Ok(newest) if newest > last => fill(shared, &mut seqs, conv, last, newest).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "bus catch-up: cannot read the store");
                return;
            }
        }
    }
}

async fn deliver(
    shared: &Shared,
    seqs: &mut MutexGuard<'_, SeqTable>,
    conv: ConvId,
    seq: u64,
    parts: Option<Vec<LocalPart>>,
) {
    let last = seqs.last(conv);
    if last.is_some_and(|l| seq <= l) {
        return BusStats::add(&shared.bus.stats.duplicates, 1);
    }
    let Some(parts) = parts else {
        let after = last.unwrap_or(seq.saturating_sub(1));
        return fill(shared, seqs, conv, after, seq).await;
    };
    if let Some(l) = last
        && seq > l + 1
    {
        fill(shared, seqs, conv, l, seq - 1).await;
        if seqs.last(conv).is_some_and(|l| seq <= l) {
            return; // the store already had it
        }
    }
    let sessions = push(shared, conv, seq, &parts);
    if sessions > 0 || last.is_some() {
        seqs.record(conv, seq);
    }
}

/// Reads `conv`'s messages after `after` up to `upto` from the store and
/// delivers each (a page at a time).
async fn fill(
    shared: &Shared,
    seqs: &mut MutexGuard<'_, SeqTable>,
    conv: ConvId,
    mut after: u64,
    upto: u64,
) {
    while after < upto {
        let page = shared
            .db(move |s| s.range(conv, after, upto, FILL_PAGE))
            .await;
        let page = match page {
            Ok(page) if !page.is_empty() => page,
            Ok(_) => return,
            Err(e) => return tracing::warn!(error = %e, "bus gap: cannot read the store"),
        };
        for message in page {
            let seq = message.seq;
            after = seq;
            BusStats::add(&shared.bus.stats.gaps_filled, 1);
            match crate::writer::parts(shared, message).await {
                Ok(parts) => {
                    push(shared, conv, seq, &parts);
                    seqs.record(conv, seq);
                }
                Err(e) => tracing::warn!(error = %e, "bus gap: cannot render a message"),
            }
        }
    }
}

/// Pushes the parts to this node's sessions; returns how many sessions.
fn push(shared: &Shared, conv: ConvId, seq: u64, parts: &[LocalPart]) -> usize {
    let mut sessions = 0;
    for part in parts {
        let push = Push::Message {
            conv,
            seq,
            frame: part.frame.clone(),
            e2e: part.e2e,
        };
        sessions += match &part.to {
            None => shared.hub.push_all(&push),
            Some(to) => shared.hub.push_local(to, &push),
        };
    }
    let deliveries = &shared.metrics.deliveries;
    deliveries.fetch_add(sessions as u64, std::sync::atomic::Ordering::Relaxed);
    sessions
}

/// The parts as published; none when they would not fit one envelope
/// (receivers then read the message from the store).
fn wire(parts: &[LocalPart]) -> Vec<Part> {
    let size: usize = parts
        .iter()
        .map(|p| p.frame.len() + 10 * p.to.as_ref().map_or(0, |t| t.len()))
        .sum();
    if size + 1024 > MAX_ENVELOPE {
        return Vec::new();
    }
    let to_wire = |p: &LocalPart| Part {
        to: p.to.as_ref().map(|t| t.to_vec()),
        frame: p.frame.to_vec(),
        e2e: p.e2e,
    };
    parts.iter().map(to_wire).collect()
}

fn local(part: Part) -> LocalPart {
    LocalPart {
        to: part.to.map(Arc::from),
        frame: bytes::Bytes::from(part.frame),
        e2e: part.e2e,
    }
}
