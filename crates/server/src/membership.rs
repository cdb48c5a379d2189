//! Group joins and leaves, applied by the writer between message batches.
//!
//! A join makes the user a member from `last_seq + 1` on (their delivered
//! cursor starts at `last_seq`, so ✓✓ does not wait for history they cannot
//! read); a leave closes the membership at `last_seq` (nothing later is
//! readable or pushed). Then a system message recording the change is
//! appended — it gets its own seq — and fanned out to the members, and the
//! user's sessions are told to re-sync the conversation list.

use natter_api::{ApiError, ErrorCode};
use natter_store::{ConvId, MsgKind, NewMessage, Role, StoreError, UserId};
use tokio::sync::oneshot;

use crate::ctx::{Shared, now_ms};
use crate::error::CmdError;
use crate::hub::Push;
use crate::{receipts, writer};

/// Join or leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Join(Role),
    Leave,
}

/// One membership change and where to answer (the system message's seq).
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) conv: ConvId,
    pub(crate) user: UserId,
    pub(crate) kind: Kind,
    /// Body of the system message.
    pub(crate) text: String,
    pub(crate) reply: oneshot::Sender<Result<u64, ApiError>>,
}

/// Applies `change` and answers it.
pub(crate) async fn apply(shared: &Shared, change: Change) {
    let result = apply_change(shared, &change).await;
    let _ = change.reply.send(result.map_err(CmdError::into_api));
}

async fn apply_change(shared: &Shared, c: &Change) -> Result<u64, CmdError> {
    let (conv, user, kind) = (c.conv, c.user, c.kind);
    let last = shared
        .db(move |s| {
            let last = s.last_seq(conv)?;
            match kind {
                Kind::Join(role) => {
                    s.add_member(conv, user, role, last + 1)?;
                    s.set_delivered(user, conv, last)?;
                }
                Kind::Leave => {
                    s.remove_member(conv, user, last)?;
                }
            }
            Ok(last)
        })
        .await
        .map_err(|e| store_error(e, kind))?;
    shared.forget_members(conv);
    let seq = system_message(shared, conv, c.text.clone()).await?;
    let from = matches!(kind, Kind::Join(_)).then_some(last);
    shared.hub.push_to(&[user], &Push::Sync { conv, from });
    if kind == Kind::Leave {
        receipts::update(shared, conv).await?;
    }
    Ok(seq)
}

/// Appends and fans out a system message; returns its seq.
pub(crate) async fn system_message(
    shared: &Shared,
    conv: ConvId,
    body: String,
) -> Result<u64, CmdError> {
    let message = NewMessage {
        conv,
        sender: None,
        client_id: *uuid::Uuid::new_v4().as_bytes(),
        kind: MsgKind::System,
        body,
        ts_ms: now_ms(),
    };
    let mut stored = shared.db(move |s| s.append(&[message])).await?;
    let stored = stored
        .pop()
        .ok_or(StoreError::Corrupt("append returned nothing".into()))?;
    let seq = stored.message.seq;
    writer::fan_out(shared, stored.message).await?;
    Ok(seq)
}

fn store_error(e: CmdError, kind: Kind) -> CmdError {
    match (e, kind) {
        (CmdError::Store(StoreError::Conflict(_)), Kind::Join(_)) => {
            ErrorCode::AlreadyMember.into()
        }
        (CmdError::Store(StoreError::NotFound), Kind::Leave) => ErrorCode::NotMember.into(),
        (e, _) => e,
    }
}

/// Queues `change` on the writer and waits for it.
pub(crate) async fn submit(
    shared: &Shared,
    conv: ConvId,
    user: UserId,
    kind: Kind,
    text: String,
) -> Result<u64, CmdError> {
    let (reply, rx) = oneshot::channel();
    let change = Change {
        conv,
        user,
        kind,
        text,
        reply,
    };
    shared
        .writer()?
        .send(writer::WriteJob::Membership(change))
        .await
        .map_err(|_| CmdError::from(ErrorCode::ShuttingDown))?;
    match rx.await {
        Ok(r) => r.map_err(CmdError::Api),
        Err(_) => Err(ErrorCode::ShuttingDown.into()),
    }
}
