//! `sessions`: list my login sessions.

use natter_api::{Response, SessionInfo};
use natter_store::{SessionRecord, TokenHash};

use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::session::Session;

/// `sessions`: the caller's sessions, most recently used first (expired
/// sessions of every user are pruned first).
pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    let me = s.require_auth()?;
    let idle = s.shared.config.session_idle_ms();
    let user = me.id;
    let records = s
        .shared
        .db(move |st| {
            st.prune_sessions(now_ms(), idle)?;
            st.sessions_of(user)
        })
        .await?;
    let list = records.iter().map(|r| info(r, me.token)).collect();
    Ok(Response::Sessions(list))
}

/// The API form of a stored session; `current` if it holds `mine`.
fn info(r: &SessionRecord, mine: TokenHash) -> SessionInfo {
    SessionInfo {
        id: u64::try_from(r.id.0).unwrap_or_default(),
        created_ms: u64::try_from(r.created_ms).unwrap_or_default(),
        last_used_ms: u64::try_from(r.last_used_ms).unwrap_or_default(),
        last_addr: r.last_addr.clone(),
        current: r.token_hash == mine,
    }
}
