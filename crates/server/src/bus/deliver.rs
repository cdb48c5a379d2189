//! The one point where committed messages reach this node's sessions: in
//! seq order per conversation, each once, whether committed here or on
//! another node of the cluster.
//!
//! Holding the seq table (`Node::seqs`): a seq at or below the last
//! delivered is a repeat and dropped; one above `last + 1` means messages
//! in between were missed (a lost or late envelope, or another node's
//! commit not heard of yet): they are read from the store and delivered
//! first. If the store cannot give them (down, busy, or its read stops
//! short of them), the gap stays open:
//! the newer message is neither pushed (it would overtake them) nor
//! recorded, and the paced refill (`recover::refill`) delivers them all
//! once the store answers. The first message in a conversation this node
//! does not track yet is delivered as it is and starts the tracking: older
//! messages are not read in for it, because `writer::parts` addresses the
//! *current* members and a member who just joined must not get messages
//! from before the join (sync decides that per reader). An earlier
//! message of another node arriving after it, or lost, is then a gap in
//! what each reader's session got, and the session reads it from the
//! store as a sync does, per reader (`Session::on_gap`); a session that
//! had nothing of the conversation yet can miss it live (it is in the
//! conversation's history). A
//! message that
//! cannot be rendered for good (gone, corrupt) is skipped and counted as
//! delivered. On a single node (in-process bus) messages go straight to
//! the sessions, as before clusters existed.

use std::sync::Arc;

use natter_store::{ConvId, StoreError, UserId};
use tokio::sync::MutexGuard;

use super::envelope::{Body, MAX_ENVELOPE, Part};
use super::gate::SeqTable;
use super::node::BusStats;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::push::Push;

/// Messages read from the store per page while filling a gap.
const FILL_PAGE: u32 = 200;

/// Conversations one catch-up run checks at most (one store call each),
/// so a peer causing losses in a loop costs at most this many reads per
/// heartbeat interval.
const CATCH_UP_BATCH: usize = 1000;

/// One encoded push of a committed message (see `writer::fan_out::parts`).
#[derive(Debug, Clone)]
pub(crate) struct LocalPart {
    /// `None`: every session (the lobby).
    pub(crate) to: Option<Arc<[UserId]>>,
    pub(crate) frame: bytes::Bytes,
    pub(crate) e2e: bool,
}

/// A message committed by this node: published, then delivered here in
/// order (`parts` `None`: it could not be rendered now; every node reads
/// it from the store).
pub(crate) async fn committed(
    shared: &Shared,
    conv: ConvId,
    seq: u64,
    parts: Option<Vec<LocalPart>>,
) {
    if shared.bus.is_local() {
        if let Some(parts) = parts {
            push(shared, conv, seq, &parts);
        }
        return;
    }
    let wired = parts.as_deref().map_or_else(Vec::new, wire);
    shared.bus.publish(Body::Message {
        conv,
        seq,
        parts: wired,
    });
    let mut seqs = shared.bus.seqs.lock().await;
    deliver(shared, &mut seqs, conv, seq, parts).await;
}

/// Logs (rate-limited) that a committed message could not be rendered for
/// its fan-out (it goes out without parts: read from the store).
pub(crate) fn fan_out_failed(shared: &Shared, e: &CmdError) {
    log_gap(
        shared,
        e,
        "fan-out failed; the message is read from the store",
    );
}

/// A message another node committed (`parts` empty: read it from the store).
pub(crate) async fn relayed(shared: &Shared, conv: ConvId, seq: u64, parts: Vec<Part>) {
    let parts = (!parts.is_empty()).then(|| parts.into_iter().map(local).collect());
    let mut seqs = shared.bus.seqs.lock().await;
    deliver(shared, &mut seqs, conv, seq, parts).await;
}

/// After a loss (a catch-up round started: `SeqTable::start_round`) or
/// a gap left open (`SeqTable::reopen`): checks the next
/// [`CATCH_UP_BATCH`] conversations against the store and delivers what
/// they got meanwhile. True while there is more to check (the store
/// failing included: retried). The seq table is locked only to fill a
/// conversation that has news, not across the checks.
pub(crate) async fn catch_up(shared: &Shared) -> bool {
    let batch = shared.bus.seqs.lock().await.next_batch(CATCH_UP_BATCH);
    for (i, &(conv, last)) in batch.iter().enumerate() {
        if !caught_up(shared, conv, last).await {
            let unchecked = batch[i..].iter().map(|&(c, _)| c);
            shared.bus.seqs.lock().await.reopen(unchecked);
            break;
        }
    }
    !batch.is_empty()
}

/// Delivers what `conv` got after `last` from the store; false if the
/// store failed.
async fn caught_up(shared: &Shared, conv: ConvId, last: u64) -> bool {
    let newest = match shared.db(move |s| s.last_seq(conv)).await {
        Ok(newest) if newest > last => newest,
        Ok(_) => return true,
        Err(e) => return unreadable(shared, &e),
    };
    let mut seqs = shared.bus.seqs.lock().await;
    match seqs.last(conv) {
        Some(last) if newest > last => fill(shared, &mut seqs, conv, last, newest).await,
        _ => true, // delivered meanwhile, or no longer tracked
    }
}

async fn deliver(
    shared: &Shared,
    seqs: &mut MutexGuard<'_, SeqTable>,
    conv: ConvId,
    seq: u64,
    parts: Option<Vec<LocalPart>>,
) {
    let last = match seqs.last(conv) {
        Some(l) if seq <= l => return BusStats::add(&shared.bus.stats.duplicates, 1),
        Some(l) => l,
        None if parts.as_deref().is_some_and(|p| !has_local(shared, p)) => return,
        None => seed(seqs, conv, seq),
    };
    let Some(parts) = parts else {
        if !fill(shared, seqs, conv, last, seq).await {
            refill_later(shared, seqs, conv);
        }
        return;
    };
    if seq > last + 1 {
        if !fill(shared, seqs, conv, last, seq - 1).await {
            return refill_later(shared, seqs, conv); // the gap stays open, seq in it
        }
        if seqs.last(conv).is_some_and(|l| seq <= l) {
            return; // the store already had it
        }
    }
    push(shared, conv, seq, &parts);
    seqs.record(conv, seq);
}

/// Starts tracking `conv` just before `seq` (see the module doc for why
/// no older message is read in); returns that starting point.
fn seed(seqs: &mut SeqTable, conv: ConvId, seq: u64) -> u64 {
    let start = seq.saturating_sub(1);
    seqs.record(conv, start);
    start
}

/// Whether any of `parts` goes to a session on this node.
fn has_local(shared: &Shared, parts: &[LocalPart]) -> bool {
    parts.iter().any(|part| match &part.to {
        None => shared.hub.session_count() > 0,
        Some(to) => to.iter().any(|&user| shared.hub.is_online(user)),
    })
}

/// The store failed during a fill: `conv`'s gap stays open and is checked
/// first by the next catch-up run (paced).
fn refill_later(shared: &Shared, seqs: &mut SeqTable, conv: ConvId) {
    seqs.reopen([conv]);
    shared.bus.refill.request();
}

/// Reads `conv`'s messages after `after` up to `upto` from the store and
/// delivers each (a page at a time). False if the store failed or does not
/// have them all (a read that stops short of `upto`: a seq announced
/// before the store shows it, or a peer naming a seq the conversation
/// never had): the messages from there on are neither delivered nor
/// recorded, so the newer seq cannot overtake them or mask them as repeats.
async fn fill(
    shared: &Shared,
    seqs: &mut MutexGuard<'_, SeqTable>,
    conv: ConvId,
    mut after: u64,
    upto: u64,
) -> bool {
    while after < upto {
        let page = shared
            .db(move |s| s.range(conv, after, upto, FILL_PAGE))
            .await;
        let page = match page {
            Ok(page) if !page.is_empty() => page,
            Ok(_) => {
                if let Some(suppressed) = shared.bus.gap_log.admit() {
                    tracing::warn!(
                        after,
                        upto,
                        suppressed,
                        "bus gap: the store does not have these messages (yet); retried later"
                    );
                }
                return false;
            }
            Err(e) => return unreadable(shared, &e),
        };
        // One member read for the page, not one per message (a `Roster`).
        let mut roster = Default::default();
        for message in page {
            let seq = message.seq;
            match crate::writer::parts(shared, message, &mut roster).await {
                Ok(parts) => {
                    push(shared, conv, seq, &parts);
                }
                Err(e) if retryable(&e) => return unreadable(shared, &e),
                Err(e) => log_gap(shared, &e, "bus gap: a message cannot be rendered, skipped"),
            }
            after = seq;
            seqs.record(conv, seq);
            BusStats::add(&shared.bus.stats.gaps_filled, 1);
        }
    }
    true
}

/// Whether `e` may go away by itself (the store down or busy), so the
/// message is tried again rather than skipped.
fn retryable(e: &CmdError) -> bool {
    use StoreError::{Backend, Busy, Unavailable};
    matches!(
        e,
        CmdError::Store(Backend(_) | Busy | Unavailable(_)) | CmdError::Join(_)
    )
}

/// Logs (rate-limited) that the store failed while filling a gap; false.
fn unreadable(shared: &Shared, e: &CmdError) -> bool {
    log_gap(shared, e, "bus gap: cannot read the store; retried later");
    false
}

/// One rate-limited log line about a gap (a line per envelope would be an
/// unbounded log while the store is down).
fn log_gap(shared: &Shared, e: &CmdError, what: &str) {
    if let Some(suppressed) = shared.bus.gap_log.admit() {
        tracing::warn!(error = %e, suppressed, "{what}");
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
