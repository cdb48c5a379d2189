//! `edit_message`: the author replaces the text of one of their messages
//! (same size limit as `send`, not empty; not in an end-to-end encrypted
//! direct, whose text the server must never hold). The writer checks the
//! rest (author, edit window, not deleted) and stores the edit as a new
//! log entry.

use natter_api::{ClientMsgId, ConversationId, ErrorCode, Response, Seq};
use natter_store::Change;

use super::helpers::actions::submit;
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    conv: ConversationId,
    seq: Seq,
    client_id: ClientMsgId,
    body: String,
) -> Result<Response, CmdError> {
    s.require_auth()?;
    let max = s.shared.config.max_body;
    if body.len() > max {
        let text = format!("message body over {max} bytes");
        return Err(CmdError::api(ErrorCode::TooLarge, text));
    }
    if body.is_empty() {
        let text = "an edit needs text: delete the message instead";
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    if let Some(store_conv) = crate::convert::store_conv(conv) {
        let why = "messages of an end-to-end encrypted conversation cannot be edited";
        super::send::refuse_if_encrypted_unchecked(s, store_conv, why).await?;
    } // else the writer answers no_such_conversation
    submit(s, conv, seq, client_id, Change::Edit(body)).await
}
