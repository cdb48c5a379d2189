//! `receipt`: who has message `seq` (delivered cursor ≥ seq) and who not yet,
//! among the current members other than its sender.

use natter_api::{ConversationId, ErrorCode, Response, Seq, UserInfo};

use crate::access::{self, Need};
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    conv: ConversationId,
    seq: Seq,
) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let access = access::check(&shared, conv, me, Need::Member).await?;
    let (id, member) = (access.conv, access.member()?);
    let seq = seq.min(i64::MAX as u64);
    let (message, cursors) = shared
        .db(move |st| Ok((st.message(id, seq)?, st.delivered_cursors(id)?)))
        .await?;
    let message = message.filter(|_| member.may_read(seq));
    let message = message.ok_or_else(|| CmdError::api(ErrorCode::BadRequest, "no such message"))?;
    let (mut delivered, mut pending) = (Vec::new(), Vec::new());
    for (user, cursor) in cursors {
        if Some(user) == message.sender {
            continue;
        }
        let info: UserInfo = shared.user_info(user).await?;
        if cursor >= seq {
            delivered.push(info);
        } else {
            pending.push(info);
        }
    }
    Ok(Response::Receipt {
        conv,
        seq,
        delivered,
        pending,
    })
}
