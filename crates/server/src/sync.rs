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
use natter_store::{ConvId, Conversation, MAX_PAGE, UserId};

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
    for conv in &convs {
        let from = start.get(&conv.id).copied().unwrap_or(0);
        sync_conv(s, conv.id, from).await?;
    }
    send_list(s).await?;
    for conv in convs {
        send_receipt(s, conv.id).await?;
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

/// Stored `(delivered, read)` cursors by conversation.
type Cursors = HashMap<ConvId, (u64, u64)>;

/// `me`'s current conversations with an id above `after`, in id order, and
/// their stored cursors.
async fn snapshot(
    shared: &Shared,
    me: UserId,
    after: Option<ConvId>,
) -> Result<(Vec<Conversation>, Cursors), CmdError> {
    let (mut convs, cursors) = shared
        .db(move |st| Ok((st.conversations_of(me)?, st.cursors_of(me)?)))
        .await?;
    if let Some(after) = after {
        convs.retain(|c| c.id > after);
    }
    let cursors = cursors
        .iter()
        .map(|c| (c.conv, (c.delivered, c.read)))
        .collect();
    Ok((convs, cursors))
}

/// The listing of each of `convs` as `me` sees it.
async fn infos(
    shared: &Shared,
    me: UserId,
    convs: impl Iterator<Item = Conversation>,
    cursors: &Cursors,
) -> Result<Vec<ConversationInfo>, CmdError> {
    let mut list = Vec::new();
    for conv in convs {
        let c = cursors.get(&conv.id).copied().unwrap_or_default();
        list.push(shared.conversation_info(conv, me, c).await?);
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

/// Sends `(from, last]` of `conv`, never below the user's join point.
async fn sync_conv(s: &mut Session, conv: ConvId, from: u64) -> Result<(), SyncError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let (last, member) = shared
        .db(move |st| Ok((st.last_seq(conv)?, st.member(conv, me)?)))
        .await?;
    let joined = member.map_or(u64::MAX, |m| m.joined_seq);
    let mut after = from.max(joined.saturating_sub(1)).min(last);
    while after < last {
        let page = shared
            .db(move |st| st.range(conv, after, last, MAX_PAGE))
            .await?;
        let Some(tail) = page.last() else { break };
        after = tail.seq;
        for m in page {
            let m = shared.message(m).await?;
            s.send(&ServerFrame::Event(Event::Message(m))).await?;
        }
    }
    s.sent_upto.insert(conv, last);
    Ok(())
}
