//! `public_groups`: the oldest public groups (never invite-only ones).

use natter_api::{MAX_CONVERSATION_PAGE, Response};

use super::helpers::groups::infos;
use crate::error::CmdError;
use crate::session::Session;

/// `public_groups`: the oldest [`MAX_CONVERSATION_PAGE`] public groups (the
/// answer always fits in one message; invite-only groups are never listed).
pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    s.require_auth()?;
    let mut convs = s.shared.db(|st| st.public_groups()).await?;
    convs.truncate(MAX_CONVERSATION_PAGE as usize);
    infos(&s.shared, convs).await
}
