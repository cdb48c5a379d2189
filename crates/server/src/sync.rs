//! Offline sync after login/resume.
//!
//! The session is registered for live pushes *before* this runs, and pushes
//! queue while it runs. For each conversation it reads `last = last_seq`,
//! sends every message in `(start, last]` and records `sent_upto = last`. Any
//! message with a seq ≤ `last` was committed before that read, so it is either
//! in the synced range or already held by the client; any message above `last`
//! was committed after the session registered, so its push is queued. The
//! session drops queued pushes with seq ≤ `sent_upto`: every message reaches
//! the client exactly once, in seq order per conversation.

use std::collections::HashMap;

use natter_api::{ConversationInfo, Event, ServerFrame, SyncRequest};
use natter_store::{ConvId, Conversation, LastMessage, MAX_PAGE, Member, UserId};

use crate::ctx::Shared;
use crate::error::CmdError;
use crate::session::{LinkClosed, Session};
use crate::{convert, receipts};

/// Sends the backlog of every conversation, then the conversation list
/// (in pages, see [`send_list`]).
/// A store failure is logged and ends the sync early (the client re-syncs
/// from its cursors next time); only a closed link is an error.
pub(crate) async fn run(s: &mut Session, req: SyncRequest) -> Result<(), LinkClosed> {
    match sync_all(s, req).await {
        Ok(()) => Ok(()),
        Err(SyncError::Link(e)) => Err(e),
        Err(SyncError::Cmd(e)) => {
            let _ = e.into_api();
            Ok(())
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Link(#[from] LinkClosed),
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

async fn sync_all(s: &mut Session, req: SyncRequest) -> Result<(), SyncError> {
    let me = s.require_auth()?.id;
    crate::cmd::adopt_device(s, req.device.clone()).await?;
    let shared = s.shared.clone();
    let (convs, cursors) = shared
        .db(move |st| Ok((st.conversations_of(me)?, st.cursors_of(me)?)))
        .await?;
    let mut start: HashMap<ConvId, u64> = cursors.iter().map(|c| (c.conv, c.delivered)).collect();
    for c in &req.cursors {
        if let Some(conv) = convert::store_conv(c.conv) {
            start.insert(conv, c.seq);
        }
    }
    // Where the client stands, until each conversation is synced: a sync
    // cut short by the store leaves the rest there, so a later live
    // message after a gap reads the gap from the store.
    for conv in &convs {
        let from = start.get(&conv.id).copied().unwrap_or(0);
        s.sent_upto.insert(conv.id, from);
    }
    for conv in &convs {
        let from = start.get(&conv.id).copied().unwrap_or(0);
        sync_conv(s, conv.id, from).await?;
    }
    sync_former(s, &start).await?;
    send_list(s).await?;
    for conv in convs {
        send_receipt(s, conv.id).await?;
        if conv.kind == natter_store::ConvKind::Direct {
            send_seen(s, conv.id).await?;
        }
    }
    Ok(())
}

/// After a membership change pushed by the writer: when joined, the
/// conversation's readable backlog from `from`; then the conversation list.
pub(crate) async fn resync(
    s: &mut Session,
    conv: ConvId,
    from: Option<u64>,
) -> Result<(), LinkClosed> {
    let result = async {
        if let Some(from) = from {
            sync_conv(s, conv, from).await?;
        }
        send_list(s).await
    };
    match result.await {
        Err(SyncError::Link(e)) => Err(e),
        Err(SyncError::Cmd(e)) => {
            let _ = e.into_api();
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// Sends what `s` may read of `conv` after `after` up to its newest
/// message (a gap in what the session got live): `Ok(true)` once sent.
/// A store that cannot answer is logged, leaves the session's `sent_upto`
/// as it was and gives `Ok(false)` (the session backs off); only a closed
/// link is an error.
pub(crate) async fn fill(s: &mut Session, conv: ConvId, after: u64) -> Result<bool, LinkClosed> {
    match sync_conv(s, conv, after).await {
        Ok(()) => Ok(true),
        Err(SyncError::Link(e)) => Err(e),
        Err(SyncError::Cmd(e)) => {
            let _ = e.into_api();
            Ok(false)
        }
    }
}

/// The user's delivered cursor in `conv`: where a gap fill starts for a
/// session that sent nothing of `conv` yet. A store that cannot answer is
/// logged and gives `None` (the session backs off, see `Session::on_gap`).
pub(crate) async fn delivered(s: &Session, conv: ConvId) -> Option<u64> {
    let me = s.auth.as_ref()?.id;
    let cursors = s.shared.db(move |st| st.cursors_of(me)).await;
    match cursors {
        Ok(cursors) => Some(
            cursors
                .iter()
                .find(|c| c.conv == conv)
                .map_or(0, |c| c.delivered),
        ),
        Err(e) => {
            let _ = e.into_api();
            None
        }
    }
}

/// Sends the conversation list: pages of the configured size, every page but
/// the last as [`Event::ConversationsPart`], the last as
/// [`Event::Conversations`] (so a list of one page is sent as before). All
/// pages come from one read of the membership, so they fit together.
async fn send_list(s: &mut Session) -> Result<(), SyncError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let (convs, cursors) = snapshot(&shared, me, None).await?;
    let mut pages = convs.chunks(shared.config.conversation_page()).peekable();
    if pages.peek().is_none() {
        s.send(&ServerFrame::Event(Event::Conversations(Vec::new())))
            .await?;
    }
    while let Some(page) = pages.next() {
        let list = infos(&shared, me, page.iter().cloned(), &cursors).await?;
        let event = if pages.peek().is_some() {
            Event::ConversationsPart(list)
        } else {
            Event::Conversations(list)
        };
        s.send(&ServerFrame::Event(event)).await?;
    }
    Ok(())
}

/// Stored `(delivered, read)` cursors and the newest message, by
/// conversation.
#[derive(Default)]
pub(crate) struct Cursors {
    stored: HashMap<ConvId, (u64, u64)>,
    last: HashMap<ConvId, LastMessage>,
}

/// `me`'s current conversations with an id above `after`, in id order, and
/// their stored cursors and newest messages (three reads, whatever the
/// number of conversations).
pub(crate) async fn snapshot(
    shared: &Shared,
    me: UserId,
    after: Option<ConvId>,
) -> Result<(Vec<Conversation>, Cursors), CmdError> {
    let (mut convs, cursors, last) = shared
        .db(move |st| {
            let convs = st.conversations_of(me)?;
            Ok((convs, st.cursors_of(me)?, st.last_messages_of(me)?))
        })
        .await?;
    if let Some(after) = after {
        convs.retain(|c| c.id > after);
    }
    let stored = cursors
        .iter()
        .map(|c| (c.conv, (c.delivered, c.read)))
        .collect();
    let last = last.into_iter().map(|m| (m.conv, m)).collect();
    Ok((convs, Cursors { stored, last }))
}

/// The listing of each of `convs` as `me` sees it.
pub(crate) async fn infos(
    shared: &Shared,
    me: UserId,
    convs: impl Iterator<Item = Conversation>,
    cursors: &Cursors,
) -> Result<Vec<ConversationInfo>, CmdError> {
    let mut list = Vec::new();
    for conv in convs {
        let c = cursors.stored.get(&conv.id).copied().unwrap_or_default();
        let last = cursors.last.get(&conv.id).copied();
        list.push(shared.conversation_info(conv, me, c, last).await?);
    }
    Ok(list)
}

/// One page of `me`'s conversations: at most `limit` with an id above
/// `after`, in id order, and whether more follow.
pub(crate) async fn list_page(
    shared: &Shared,
    me: UserId,
    after: Option<ConvId>,
    limit: usize,
) -> Result<(Vec<ConversationInfo>, bool), CmdError> {
    let (convs, cursors) = snapshot(shared, me, after).await?;
    let more = convs.len() > limit;
    let list = infos(shared, me, convs.into_iter().take(limit), &cursors).await?;
    Ok((list, more))
}

/// The current ✓✓ watermark of `conv` for this user, if any.
async fn send_receipt(s: &mut Session, conv: ConvId) -> Result<(), SyncError> {
    let me = s.require_auth()?.id;
    let mark = receipts::watermark(&s.shared.clone(), conv, me).await?;
    if mark > 0 {
        s.send_bytes(receipts::frame(conv, mark)?).await?;
    }
    Ok(())
}

/// In direct `conv`: the peer's read cursor ("seen"), if any.
async fn send_seen(s: &mut Session, conv: ConvId) -> Result<(), SyncError> {
    let me = s.require_auth()?.id;
    let reads = s.shared.db(move |st| st.read_cursors(conv)).await?;
    let peer = reads.iter().find(|(user, _)| *user != me);
    if let Some(&(_, seq)) = peer.filter(|(_, seq)| *seq > 0) {
        let conv = convert::api_conv(conv);
        s.send(&ServerFrame::Event(Event::Seen { conv, seq }))
            .await?;
    }
    Ok(())
}

/// Sends `(from, last]` of `conv`, never below the user's join point.
async fn sync_conv(s: &mut Session, conv: ConvId, from: u64) -> Result<(), SyncError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let (last, member) = shared
        .db(move |st| Ok((st.last_seq(conv)?, st.member(conv, me)?)))
        .await?;
    let joined = member.map_or(u64::MAX, |m| m.joined_seq);
    // A member who left reads up to the leave (a gap fill may come late).
    let last = member
        .and_then(|m| m.left_seq)
        .map_or(last, |left| left.min(last));
    let after = from.max(joined.saturating_sub(1)).min(last);
    send_range(s, conv, after, last, member.as_ref()).await?;
    s.sent_upto.insert(conv, last);
    Ok(())
}

/// Most former conversations caught up by one sync (the rest follow at
/// the next): bounds the work a user who left many groups causes.
const FORMER_PER_SYNC: usize = 64;

/// The readable rest of conversations `me` left or was removed from
/// before it was delivered (kicked while offline: the messages up to the
/// kick, and the kick's system message), from the stored or the client's
/// cursor, whichever is higher; sent once:
/// the delivered cursor is raised to the leave point right after (a
/// former member cannot ack).
async fn sync_former(s: &mut Session, start: &HashMap<ConvId, u64>) -> Result<(), SyncError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let former = shared
        .db(move |st| st.unsynced_former(me, FORMER_PER_SYNC))
        .await?;
    for f in former {
        let Some(left) = f.member.left_seq else {
            continue;
        };
        let held = start.get(&f.conv).copied().unwrap_or(0);
        let after = f
            .delivered
            .max(held)
            .max(f.member.joined_seq.saturating_sub(1));
        let last = shared.db(move |st| st.last_seq(f.conv)).await?;
        send_range(s, f.conv, after, left.min(last), Some(&f.member)).await?;
        let conv = f.conv;
        shared
            .db(move |st| st.set_delivered(me, conv, left))
            .await?;
    }
    Ok(())
}

/// Sends the messages of `conv` in `(after, last]`, as `member` may see them.
async fn send_range(
    s: &mut Session,
    conv: ConvId,
    mut after: u64,
    last: u64,
    member: Option<&Member>,
) -> Result<(), SyncError> {
    let shared = s.shared.clone();
    while after < last {
        let page = shared
            .db(move |st| st.range(conv, after, last, MAX_PAGE))
            .await?;
        let Some(tail) = page.last() else { break };
        after = tail.seq;
        for m in page {
            let mut m = shared.message(m).await?;
            crate::e2e::for_device(&mut m, s.device.as_deref());
            convert::hide_unreadable(&mut m, member);
            s.send(&ServerFrame::Event(Event::Message(m))).await?;
        }
    }
    Ok(())
}
