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
    let member = shared.db(move |st| st.member(conv, me)).await?;
    if !member.is_some_and(|m| m.is_current()) {
        return Err(ErrorCode::NotMember.into());
    }
    shared.db(move |st| st.set_delivered(me, conv, seq)).await?;
    crate::receipts::update(&shared, conv).await?;
    Ok(Response::Done)
}
