//! `send`: validate target, membership and size, then hand the message to
//! the group-commit writer. The writer answers the request itself once the
//! message is committed: the ✓ comes back through the hub as this
//! session's [`crate::push::Push::Reply`], so nothing here waits for it.

use natter_api::{ClientMsgId, ErrorCode, Target};
use natter_store::{ConvId, MsgKind, NewMessage, StoreError, UserId, name_key};

use crate::access::{self, Need};
use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::{ReplyTo, WriteJob};

/// Queues the message on the writer as the answer to request `id`.
pub(super) async fn apply(
    s: &mut Session,
    id: u64,
    target: Target,
    client_id: ClientMsgId,
    body: String,
) -> Result<(), CmdError> {
    let me = s.require_auth()?.id;
    let max = s.shared.config.max_body;
    if body.len() > max {
        return Err(CmdError::api(
            ErrorCode::TooLarge,
            format!("message body over {max} bytes"),
        ));
    }
    let conv = resolve(s, me, target).await?;
    let why = "this conversation is end-to-end encrypted: open it in natter chat";
    refuse_if_encrypted(s, conv, why).await?;
    submit(s, id, conv, client_id, body).await
}

/// Queues a text message from the caller on the writer, whose ✓ (or
/// error) answers request `id`.
pub(super) async fn submit(
    s: &mut Session,
    id: u64,
    conv: ConvId,
    client_id: ClientMsgId,
    body: String,
) -> Result<(), CmdError> {
    let me = s.require_auth()?.id;
    let message = NewMessage {
        conv,
        sender: Some(me),
        client_id: *client_id.as_bytes(),
        kind: MsgKind::Text,
        body,
        ts_ms: now_ms(),
    };
    let to = ReplyTo {
        user: me,
        key: s.key,
        id,
    };
    s.shared
        .writer
        .submit(WriteJob::Message { message, to })
        .await?;
    s.awaiting_writer += 1;
    Ok(())
}

/// The conversation a target names, checking the caller may post there
/// (every account is in the lobby).
pub(super) async fn resolve(s: &Session, me: UserId, target: Target) -> Result<ConvId, CmdError> {
    match target {
        Target::Lobby => Ok(s.shared.lobby),
        Target::User(name) => direct_with(s, me, name).await,
        Target::Conversation(id) => Ok(access::check(&s.shared, id, me, Need::Post).await?.conv),
    }
}

/// The direct conversation with user `name`, created on first use.
pub(super) async fn direct_with(s: &Session, me: UserId, name: String) -> Result<ConvId, CmdError> {
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

/// `encryption_required` (saying `why`) in an end-to-end encrypted direct:
/// nothing the server could read goes there (plain text, edits, files).
/// Only for a conversation the caller passed an access check in.
/// The answer is cached ([`Shared::is_e2e`](crate::ctx::Shared::is_e2e)).
pub(super) async fn refuse_if_encrypted(
    s: &Session,
    conv: ConvId,
    why: &'static str,
) -> Result<(), CmdError> {
    if !s.shared.is_e2e(conv).await? {
        return Ok(());
    }
    Err(CmdError::api(ErrorCode::EncryptionRequired, why))
}

/// [`refuse_if_encrypted`] for a conversation no access check vouched
/// for (a client's id, perhaps of no conversation at all): asks the store
/// and caches nothing, so made-up ids cannot fill the cache.
pub(super) async fn refuse_if_encrypted_unchecked(
    s: &Session,
    conv: ConvId,
    why: &'static str,
) -> Result<(), CmdError> {
    if conv == s.shared.lobby || !s.shared.db(move |st| st.is_e2e(conv)).await? {
        return Ok(());
    }
    Err(CmdError::api(ErrorCode::EncryptionRequired, why))
}
