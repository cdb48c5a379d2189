//! `group_settings`: name, topic, visibility and invite policy of a group,
//! for its current members and the server admins (who may change them).

use natter_api::{ConversationId, Response};

use super::helpers::groups;
use crate::access::{self, Need};
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, conv: ConversationId) -> Result<Response, CmdError> {
    let auth = s.require_auth()?;
    let shared = s.shared.clone();
    let group = groups::by_id(&shared, conv).await?;
    let name = &auth.user.name;
    access::check_as_operator(&shared, group.id, auth.id, name, Need::Member).await?;
    let id = group.id;
    let settings = shared.db(move |st| st.group_settings(id)).await?;
    Ok(Response::GroupSettings(super::moderate::info(
        group, settings,
    )))
}
