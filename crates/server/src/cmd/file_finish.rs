//! `file_finish`: post the offer of a complete file as a message of its
//! conversation. Like `send`, the writer answers (✓) once it is stored;
//! the message's idempotency id is the offer's, so finishing twice posts
//! once.

use natter_api::{ErrorCode, FileId};
use natter_store::{MsgKind, NewMessage};

use crate::access::{self, Need};
use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::files::{OFFER_MARK, store_id};
use crate::session::Session;
use crate::writer::job::{ReplyTo, WriteJob};

pub(super) async fn apply(s: &mut Session, id: u64, file: FileId) -> Result<(), CmdError> {
    let me = s.require_auth()?.id;
    let sid = store_id(file)?;
    let file = s.shared.db(move |st| st.file(sid)).await?;
    let file = file
        .filter(|f| f.uploader == me && f.expires_ms > now_ms())
        .ok_or(ErrorCode::NoSuchFile)?;
    if !file.complete {
        let text = "the upload is not complete";
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    access::check_conv(&s.shared, file.conv, me, Need::Post).await?;
    let body = format!("{OFFER_MARK}{} ({} bytes)", file.name, file.size);
    let message = NewMessage {
        conv: file.conv,
        sender: Some(me),
        client_id: file.client_id,
        kind: MsgKind::Text,
        body,
        ts_ms: now_ms(),
    };
    let to = ReplyTo {
        user: me,
        key: s.key,
        id,
    };
    let job = WriteJob::Message { message, to };
    s.shared.writer.submit(job).await?;
    s.awaiting_writer += 1;
    Ok(())
}
