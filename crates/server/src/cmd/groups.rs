//! `my_groups`, `public_groups`, and the group lookups other commands share.

use natter_api::{ConversationId, ErrorCode, GroupInfo, MAX_CONVERSATION_PAGE, Response};
use natter_store::{ConvId, ConvKind, Conversation, Member, UserId};

use crate::convert;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::session::Session;

/// `my_groups`: groups the caller is a current member of.
pub(super) async fn mine(s: &mut Session) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let convs = s.shared.db(move |st| st.conversations_of(me)).await?;
    let groups = convs.into_iter().filter(|c| c.kind == ConvKind::Group);
    infos(&s.shared, groups.collect()).await
}

/// `public_groups`: the oldest [`MAX_CONVERSATION_PAGE`] public groups (the
/// answer always fits in one message; invite-only groups are never listed).
pub(super) async fn public(s: &mut Session) -> Result<Response, CmdError> {
    s.require_auth()?;
    let mut convs = s.shared.db(|st| st.public_groups()).await?;
    convs.truncate(MAX_CONVERSATION_PAGE as usize);
    infos(&s.shared, convs).await
}

async fn infos(shared: &Shared, convs: Vec<Conversation>) -> Result<Response, CmdError> {
    let mut list = Vec::with_capacity(convs.len());
    for conv in convs {
        list.push(info(shared, conv).await?);
    }
    Ok(Response::Groups(list))
}

/// The listing of one group.
pub(super) async fn info(shared: &Shared, conv: Conversation) -> Result<GroupInfo, CmdError> {
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
pub(super) async fn by_id(shared: &Shared, id: ConversationId) -> Result<Conversation, CmdError> {
    let conv = convert::store_conv(id).ok_or(ErrorCode::NoSuchGroup)?;
    let conv = shared.db(move |st| st.conversation(conv)).await?;
    conv.filter(|c| c.kind == ConvKind::Group)
        .ok_or(ErrorCode::NoSuchGroup.into())
}

/// `user`'s current membership of `conv`, if any.
pub(super) async fn membership(
    shared: &Shared,
    conv: ConvId,
    user: UserId,
) -> Result<Option<Member>, CmdError> {
    let member = shared.db(move |st| st.member(conv, user)).await?;
    Ok(member.filter(Member::is_current))
}

/// The conversation `id` and the caller's current membership; errors
/// `no_such_conversation` / `not_member`.
pub(super) async fn require_member(
    shared: &Shared,
    id: ConversationId,
    me: UserId,
) -> Result<(ConvId, Member), CmdError> {
    let conv = convert::store_conv(id).ok_or(ErrorCode::NoSuchConversation)?;
    let found = shared
        .db(move |st| Ok((st.conversation(conv)?.is_some(), st.member(conv, me)?)))
        .await?;
    match found {
        (false, _) => Err(ErrorCode::NoSuchConversation.into()),
        (true, Some(m)) if m.is_current() => Ok((conv, m)),
        (true, _) => Err(ErrorCode::NotMember.into()),
    }
}
