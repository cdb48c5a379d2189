//! `delete_message`: the author, or an admin or the owner of the group,
//! deletes a message. The writer checks who may and stores the delete as a
//! new log entry; the store erases the text.

use natter_api::{ClientMsgId, ConversationId, Response, Seq};
use natter_store::Change;

use super::helpers::actions::submit;
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    conv: ConversationId,
    seq: Seq,
    client_id: ClientMsgId,
) -> Result<Response, CmdError> {
    submit(s, conv, seq, client_id, Change::Delete).await
}
