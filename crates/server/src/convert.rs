//! Store types ↔ API types. Ids from the peer are checked, never cast blindly.

use natter_api as api;
use natter_store::{self as store, ConvId, UserId};

/// API id of a conversation.
pub(crate) fn api_conv(id: ConvId) -> api::ConversationId {
    api::ConversationId(id.0 as u64)
}

/// API id of a user.
pub(crate) fn api_user(id: UserId) -> api::UserId {
    api::UserId(id.0 as u64)
}

/// Store id of a peer-supplied conversation id (`None`: cannot exist).
pub(crate) fn store_conv(id: api::ConversationId) -> Option<ConvId> {
    i64::try_from(id.0).ok().map(ConvId)
}

/// Public face of a stored user.
pub(crate) fn user_info(user: &store::User) -> api::UserInfo {
    api::UserInfo {
        id: api_user(user.id),
        name: user.name.clone(),
    }
}

/// API form of a stored message whose sender is already resolved.
pub(crate) fn message(m: store::Message, sender: Option<api::UserInfo>) -> api::Message {
    api::Message {
        conv: api_conv(m.conv),
        seq: m.seq,
        ts_ms: m.ts_ms.max(0) as u64,
        sender,
        client_id: uuid::Uuid::from_bytes(m.client_id),
        body: m.body,
        e2e: None,
        file: None,
        edited_ms: m.edited_ms.map(|t| t.max(0) as u64),
        deleted: m.deleted,
        action: m.action.map(api_action),
    }
}

/// Store form of a history page request (limit already capped by the caller).
pub(crate) fn page(q: &api::HistoryQuery, limit: u32) -> store::Page {
    let anchor = match q.anchor {
        api::Anchor::Before(seq) if seq > i64::MAX as u64 => store::Anchor::Latest,
        api::Anchor::Before(seq) => store::Anchor::Before(seq),
        api::Anchor::After(seq) => store::Anchor::After(seq.min(i64::MAX as u64)),
    };
    let order = match q.order {
        api::Order::OldestFirst => store::Order::OldestFirst,
        api::Order::NewestFirst => store::Order::NewestFirst,
    };
    store::Page {
        anchor,
        limit,
        order,
    }
}

/// API form of what an edit or delete entry did.
pub(crate) fn api_action(action: store::MsgAction) -> api::MessageAction {
    match action {
        store::MsgAction::Edit(seq) => api::MessageAction::Edit { seq },
        store::MsgAction::Delete(seq) => api::MessageAction::Delete { seq },
    }
}

/// Gives an edit or delete entry its target's current state (text, edit
/// time, deletion), which clients apply to the target in place.
pub(crate) fn fold_target(entry: &mut api::Message, target: &store::Message) {
    entry.body.clone_from(&target.body);
    entry.edited_ms = target.edited_ms.map(|t| t.max(0) as u64);
    entry.deleted = target.deleted;
}

/// Empties the text an edit or delete entry carries when `member` may not
/// read the message it changed (joined later, or not a member at all).
pub(crate) fn hide_unreadable(m: &mut api::Message, member: Option<&store::Member>) {
    let readable = |seq| member.is_some_and(|member| member.may_read(seq));
    if m.action_target().is_some_and(|seq| !readable(seq)) {
        m.body.clear();
    }
}
