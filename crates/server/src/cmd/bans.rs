//! `bans`: a group's ban list, for its admins and owner (and server admins).

use natter_api::{BanInfo, ConversationId, Response};

use super::helpers::groups;
use crate::access::{self, Need};
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, conv: ConversationId) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    let group = groups::by_id(&shared, conv).await?;
    access::check_as_operator(&shared, group.id, auth.id, &auth.user.name, Need::Moderate).await?;
    let id = group.id;
    let bans = shared.db(move |st| st.bans(id)).await?;
    let mut list = Vec::with_capacity(bans.len());
    for ban in bans {
        list.push(BanInfo {
            user: shared.user_info(ban.user).await?,
            by: shared.user_info(ban.by).await?,
            reason: ban.reason,
            at_ms: ban.at_ms.max(0) as u64,
        });
    }
    Ok(Response::Bans(list))
}
