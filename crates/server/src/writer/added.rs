//! `added` events: a user added to a group by someone else (listed as a
//! member when it was created, or invited) is told at once, with the
//! group's entry as listed to them, so every client shows the group
//! without waiting for its next message. Pushed before the membership
//! change's re-sync (backlog and conversation list), which follows.

use bytes::Bytes;
use natter_api::{self as api, Event, ServerFrame};
use natter_store::{ConvId, Cursor, LastMessage, UserId};

use crate::ctx::Shared;
use crate::error::CmdError;
use crate::push::Push;

/// Tells each of `users` but `by` that `by` added them to `conv`. With
/// `fresh` (a group just created) their cursors are 0 and not read. The
/// change is committed already: a failure here is only logged (the re-sync
/// that follows still brings the group).
pub(super) async fn announce(
    shared: &Shared,
    conv: ConvId,
    users: &[UserId],
    by: UserId,
    fresh: bool,
) {
    if let Err(e) = try_announce(shared, conv, users, by, fresh).await {
        let _ = e.into_api();
    }
}

async fn try_announce(
    shared: &Shared,
    conv: ConvId,
    users: &[UserId],
    by: UserId,
    fresh: bool,
) -> Result<(), CmdError> {
    let (group, last) = shared
        .db(move |st| {
            let last = st.last_seq(conv)?;
            let newest = st.message(conv, last)?.map(|m| LastMessage {
                conv,
                seq: m.seq,
                ts_ms: m.ts_ms,
            });
            Ok((st.conversation(conv)?, newest))
        })
        .await?;
    let Some(group) = group else { return Ok(()) };
    let by_info = shared.user_info(by).await?;
    for &user in users.iter().filter(|u| **u != by) {
        let cursors = if fresh {
            (0, 0)
        } else {
            cursors_of(shared, user, conv).await?
        };
        let info = shared
            .conversation_info(group.clone(), user, cursors, last)
            .await?;
        let event = Event::Added {
            conversation: info,
            by: Some(by_info.clone()),
        };
        let frame =
            api::encode(&ServerFrame::Event(event)).map_err(|_| api::ErrorCode::Internal)?;
        shared
            .hub
            .push_to(&[user], &Push::Frame(Bytes::from(frame)));
    }
    Ok(())
}

/// `user`'s stored `(delivered, read)` cursors of `conv`.
async fn cursors_of(shared: &Shared, user: UserId, conv: ConvId) -> Result<(u64, u64), CmdError> {
    let all = shared.db(move |st| st.cursors_of(user)).await?;
    let mine = all.iter().find(|c: &&Cursor| c.conv == conv);
    Ok(mine.map_or((0, 0), |c| (c.delivered, c.read)))
}
