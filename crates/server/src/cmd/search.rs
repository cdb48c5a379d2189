//! `search`: full-text search in the messages the caller may read, newest
//! first, paged. Which messages are readable is part of the store query
//! (membership rows and their join/leave points), so pages are full.

use std::collections::HashMap;

use natter_api::{
    self as api, ConversationKind, ErrorCode, MAX_SEARCH_LIMIT, Response, SearchHit, SearchQuery,
};
use natter_store::{self as store, ConvId, ConvKind, SearchPos, UserId, find_ignoring_case};

use crate::access::{self, Need};
use crate::convert;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, q: SearchQuery) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let shared = s.shared.clone();
    let text = api::search_text(&q.query)
        .map_err(|e| CmdError::api(ErrorCode::BadRequest, e.to_string()))?
        .to_owned();
    let conv = match q.conv {
        Some(c) => Some(access::check(&shared, c, me, Need::History).await?.conv),
        None => None,
    };
    let limit = q.limit.clamp(1, MAX_SEARCH_LIMIT);
    let query = store::SearchQuery {
        user: me,
        text: text.clone(),
        conv,
        before: q.before.map(position),
        limit: limit + 1,
    };
    let mut found = shared.db(move |st| st.search(&query)).await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let hits = hits(&shared, me, found, &text).await?;
    let next = hits.last().filter(|_| more).map(SearchHit::cursor);
    Ok(Response::SearchResults { hits, next })
}

/// The store position of a client's cursor (an id that cannot exist names
/// no message: an empty page).
fn position(c: api::SearchCursor) -> SearchPos {
    SearchPos {
        conv: convert::store_conv(c.conv).unwrap_or(ConvId(i64::MIN)),
        seq: c.seq.min(i64::MAX as u64),
    }
}

/// The API form of each found message, with its conversation and snippet.
async fn hits(
    shared: &Shared,
    me: UserId,
    found: Vec<store::Message>,
    text: &str,
) -> Result<Vec<SearchHit>, CmdError> {
    let mut kinds: HashMap<ConvId, ConversationKind> = HashMap::new();
    let mut hits = Vec::with_capacity(found.len());
    for m in found {
        let conv_kind = match kinds.get(&m.conv) {
            Some(k) => k.clone(),
            None => {
                let k = kind(shared, me, m.conv).await?;
                kinds.insert(m.conv, k.clone());
                k
            }
        };
        let sender = match m.sender {
            Some(id) => Some(shared.user_info(id).await?),
            None => None,
        };
        let at = find_ignoring_case(&m.body, text).unwrap_or(0..0);
        hits.push(SearchHit {
            conv: convert::api_conv(m.conv),
            kind: conv_kind,
            seq: m.seq,
            sender,
            ts_ms: m.ts_ms.max(0) as u64,
            snippet: api::snippet(&m.body, at),
        });
    }
    Ok(hits)
}

/// What kind of conversation `conv` is, as `me` sees it.
async fn kind(shared: &Shared, me: UserId, conv: ConvId) -> Result<ConversationKind, CmdError> {
    let c = shared.db(move |st| st.conversation(conv)).await?;
    let c = c.ok_or(store::StoreError::NotFound)?;
    Ok(match c.kind {
        ConvKind::Lobby => ConversationKind::Lobby,
        ConvKind::Group => ConversationKind::Group {
            name: c.name.unwrap_or_default(),
            public: c.public,
        },
        ConvKind::Direct => {
            let members = shared.db(move |st| st.members(conv)).await?;
            let peer = members.iter().map(|m| m.user).find(|u| *u != me);
            let peer = peer.ok_or(store::StoreError::Corrupt("direct without peer".into()))?;
            ConversationKind::Direct {
                peer: shared.user_info(peer).await?,
            }
        }
    })
}
