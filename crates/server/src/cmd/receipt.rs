//! `receipt`: who has message `seq` (delivered cursor ≥ seq) and who not yet,
//! among the current members other than its sender, and who has read it
//! (read cursor ≥ seq).

use natter_api::{ConversationId, ErrorCode, Response, Seq, UserInfo};
use natter_store::UserId;

use crate::access::{self, Need};
use crate::ctx::Shared;
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
    let (message, cursors, reads) = shared
        .db(move |st| {
            let message = st.message(id, seq)?;
            Ok((message, st.delivered_cursors(id)?, st.read_cursors(id)?))
        })
        .await?;
    let message = message.filter(|_| member.may_read(seq));
    let message = message.ok_or_else(|| CmdError::api(ErrorCode::BadRequest, "no such message"))?;
    let others = |list: Vec<(UserId, u64)>| {
        let sender = message.sender;
        list.into_iter().filter(move |(u, _)| Some(*u) != sender)
    };
    let (mut delivered, mut pending) = (Vec::new(), Vec::new());
    for (user, cursor) in others(cursors) {
        let info: UserInfo = shared.user_info(user).await?;
        if cursor >= seq {
            delivered.push(info);
        } else {
            pending.push(info);
        }
    }
    let readers = others(reads).filter(|(_, read)| *read >= seq).map(|r| r.0);
    let read = infos(&shared, readers.collect()).await?;
    Ok(Response::Receipt {
        conv,
        seq,
        delivered,
        pending,
        read,
    })
}

async fn infos(shared: &Shared, users: Vec<UserId>) -> Result<Vec<UserInfo>, CmdError> {
    let mut list = Vec::with_capacity(users.len());
    for user in users {
        list.push(shared.user_info(user).await?);
    }
    Ok(list)
}
