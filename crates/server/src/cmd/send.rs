//! `send`: validate target, membership and size, then hand the message to
//! the group-commit writer; the ✓ is answered once it is committed.

use natter_api::{ApiError, ClientMsgId, ErrorCode, Sent, Target};
use natter_store::{ConvId, MsgKind, NewMessage, StoreError, UserId, name_key};
use tokio::sync::oneshot;

use crate::convert;
use crate::ctx::{Shared, now_ms};
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::WriteJob;

pub(super) async fn apply(
    s: &mut Session,
    target: Target,
    client_id: ClientMsgId,
    body: String,
) -> Result<oneshot::Receiver<Result<Sent, ApiError>>, CmdError> {
    let me = s.require_auth()?.id;
    let max = s.shared.config.max_body;
    if body.len() > max {
        return Err(CmdError::api(
            ErrorCode::TooLarge,
            format!("message body over {max} bytes"),
        ));
    }
    let conv = resolve(s, me, target).await?;
    let (reply, rx) = oneshot::channel();
    let message = NewMessage {
        conv,
        sender: Some(me),
        client_id: *client_id.as_bytes(),
        kind: MsgKind::Text,
        body,
        ts_ms: now_ms(),
    };
    s.shared
        .writer()?
        .send(WriteJob::Message { message, reply })
        .await
        .map_err(|_| CmdError::from(ErrorCode::ShuttingDown))?;
    Ok(rx)
}

/// Appends a system message through the writer and waits for its commit.
pub(super) async fn append_system(shared: &Shared, message: NewMessage) -> Result<Sent, CmdError> {
    let (reply, rx) = oneshot::channel();
    shared
        .writer()?
        .send(WriteJob::Message { message, reply })
        .await
        .map_err(|_| CmdError::from(ErrorCode::ShuttingDown))?;
    match rx.await {
        Ok(r) => r.map_err(CmdError::Api),
        Err(_) => Err(ErrorCode::ShuttingDown.into()),
    }
}

/// The conversation a target names, checking the caller may post there.
async fn resolve(s: &Session, me: UserId, target: Target) -> Result<ConvId, CmdError> {
    let shared = s.shared.clone();
    match target {
        Target::Lobby => Ok(shared.lobby),
        Target::User(name) => direct_with(s, me, name).await,
        Target::Conversation(id) => {
            let conv = convert::store_conv(id).ok_or(ErrorCode::NoSuchConversation)?;
            if shared.is_member(conv, me).await? {
                return Ok(conv);
            }
            let exists = shared.db(move |st| st.conversation(conv)).await?.is_some();
            match exists {
                true => Err(ErrorCode::NotMember.into()),
                false => Err(ErrorCode::NoSuchConversation.into()),
            }
        }
    }
}

/// The direct conversation with user `name`, created on first use.
async fn direct_with(s: &Session, me: UserId, name: String) -> Result<ConvId, CmdError> {
    let lookup = name.clone();
    let peer = s.shared.db(move |st| st.user_by_name(&lookup)).await?;
    let peer =
        peer.ok_or_else(|| CmdError::api(ErrorCode::NoSuchUser, format!("no user named {name}")))?;
    if peer.id == me {
        return Err(CmdError::api(
            ErrorCode::BadRequest,
            "cannot message yourself",
        ));
    }
    debug_assert_eq!(name_key(&peer.name), name_key(&name));
    let conv = s
        .shared
        .db(move |st| st.direct(me, peer.id, now_ms()))
        .await;
    match conv {
        Ok(c) => Ok(c.id),
        Err(CmdError::Store(StoreError::NotFound)) => Err(ErrorCode::NoSuchUser.into()),
        Err(e) => Err(e),
    }
}
