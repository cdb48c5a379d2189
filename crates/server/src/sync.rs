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

use natter_api::{Event, ServerFrame, SyncRequest};
use natter_store::{ConvId, MAX_PAGE};

use crate::convert;
use crate::error::CmdError;
use crate::session::{LinkClosed, Session};

/// Sends the backlog of every conversation, then the conversation list.
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
    for conv in convs {
        let from = start.get(&conv.id).copied().unwrap_or(0);
        sync_conv(s, conv.id, from).await?;
    }
    let list = shared.conversation_list(me).await?;
    s.send(&ServerFrame::Event(Event::Conversations(list)))
        .await?;
    Ok(())
}

async fn sync_conv(s: &mut Session, conv: ConvId, from: u64) -> Result<(), SyncError> {
    let shared = s.shared.clone();
    let last = shared.db(move |st| st.last_seq(conv)).await?;
    let mut after = from.min(last);
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
