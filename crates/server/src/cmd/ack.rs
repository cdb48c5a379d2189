//! `ack_delivered`: advance the caller's delivered cursor (never backwards).

use natter_api::{ConversationId, ErrorCode, Response, Seq};

use crate::convert;
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    conv: ConversationId,
    seq: Seq,
) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let conv = convert::store_conv(conv).ok_or(ErrorCode::NoSuchConversation)?;
    let seq = seq.min(i64::MAX as u64);
    let shared = s.shared.clone();
    if !shared.is_member(conv, me).await? {
        return Err(ErrorCode::NotMember.into());
    }
    crate::acks::submit(&shared, me, conv, seq).await?;
    Ok(Response::Done)
}
