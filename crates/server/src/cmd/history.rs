//! `history`: one page of a conversation the caller may read.
//!
//! The page is also capped so its frame stays well under the transport's
//! 1 MiB message limit: a page shorter than asked does not mean the end of
//! the log; an empty page does.

use natter_api::{HistoryQuery, Response};

use crate::access::{self, Need};
use crate::convert;
use crate::error::CmdError;
use crate::session::Session;

/// Bodies per history page, in bytes, before the page is cut short.
const MAX_PAGE_BYTES: usize = 512 * 1024;

pub(super) async fn apply(s: &mut Session, q: HistoryQuery) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let access = access::check(&shared, q.conv, me, Need::History).await?;
    let (conv, member) = (access.conv, access.member()?);
    let page = convert::page(&q, q.limit.min(shared.config.history_limit));
    let stored = shared.db(move |st| st.history(conv, page)).await?;
    let mut messages = Vec::with_capacity(stored.len());
    let mut bytes = 0;
    for m in stored.into_iter().filter(|m| member.may_read(m.seq)) {
        bytes += m.body.len();
        if bytes > MAX_PAGE_BYTES && !messages.is_empty() {
            break;
        }
        let mut m = shared.message(m).await?;
        crate::e2e::for_device(&mut m, s.device.as_deref());
        convert::hide_unreadable(&mut m, Some(&member));
        messages.push(m);
    }
    Ok(Response::History {
        conv: q.conv,
        messages,
    })
}
