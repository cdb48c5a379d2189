//! What `edit_message` and `delete_message` share: the conversation id
//! check and the hand-off to the writer, which authorizes and applies the
//! action (see `writer/actions.rs`).

use natter_api::{ClientMsgId, ConversationId, ErrorCode, Response, Seq};
use natter_store::{Change, NewAction};

use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::session::Session;
use crate::writer::job::{ActionJob, WriteJob};

/// Submits an edit or delete of message `seq` of `conv` and waits for the
/// writer's answer: `Sent` with the entry's seq.
pub(in crate::cmd) async fn submit(
    s: &Session,
    conv: ConversationId,
    seq: Seq,
    client_id: ClientMsgId,
    change: Change,
) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let conv = crate::convert::store_conv(conv).ok_or(ErrorCode::NoSuchConversation)?;
    let action = NewAction {
        conv,
        actor: me,
        client_id: *client_id.as_bytes(),
        target: seq,
        change,
        ts_ms: now_ms(),
    };
    let make = |reply| WriteJob::Action(ActionJob { action, reply });
    let sent = s.shared.writer.call(make).await?;
    Ok(Response::Sent(sent))
}
