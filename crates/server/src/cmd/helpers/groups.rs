//! Group lookups the group commands share.

use natter_api::{ConversationId, ErrorCode, GroupInfo, Response};
use natter_store::{ConvKind, Conversation};

use crate::convert;
use crate::ctx::Shared;
use crate::error::CmdError;

/// The listing of each of `convs`, as a `groups` answer.
pub(in crate::cmd) async fn infos(
    shared: &Shared,
    convs: Vec<Conversation>,
) -> Result<Response, CmdError> {
    let mut list = Vec::with_capacity(convs.len());
    for conv in convs {
        list.push(info(shared, conv).await?);
    }
    Ok(Response::Groups(list))
}

/// The listing of one group.
pub(in crate::cmd) async fn info(
    shared: &Shared,
    conv: Conversation,
) -> Result<GroupInfo, CmdError> {
    let id = conv.id;
    let members = shared.db(move |st| st.members(id)).await?.len();
    Ok(GroupInfo {
        id: convert::api_conv(conv.id),
        name: conv.name.unwrap_or_default(),
        public: conv.public,
        members: members.try_into().unwrap_or(u32::MAX),
    })
}

/// The group with this id, or `no_such_group`.
pub(in crate::cmd) async fn by_id(
    shared: &Shared,
    id: ConversationId,
) -> Result<Conversation, CmdError> {
    let conv = convert::store_conv(id).ok_or(ErrorCode::NoSuchGroup)?;
    let conv = shared.db(move |st| st.conversation(conv)).await?;
    conv.filter(|c| c.kind == ConvKind::Group)
        .ok_or(ErrorCode::NoSuchGroup.into())
}
