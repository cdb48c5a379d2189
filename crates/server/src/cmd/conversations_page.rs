//! `conversations_page`: one page of my conversations with last seq and
//! cursors (see [`crate::sync::list_page`]).

use natter_api::{ConversationId, Response};

use crate::convert;
use crate::error::CmdError;
use crate::session::Session;
use crate::sync;

/// `conversations_page`: entries with an id above `after`, at most `limit`
/// (capped at the configured page size).
pub(super) async fn apply(
    s: &mut Session,
    after: Option<ConversationId>,
    limit: u32,
) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let max = s.shared.config.conversation_page();
    let limit = usize::try_from(limit).unwrap_or(max).clamp(1, max);
    let after = after.map(|id| convert::store_conv(id).unwrap_or(natter_store::ConvId(i64::MAX)));
    let (list, more) = sync::list_page(&s.shared.clone(), me, after, limit).await?;
    Ok(Response::ConversationsPage { list, more })
}
