//! `my_groups`: groups I am a current member of.

use natter_api::Response;
use natter_store::ConvKind;

use super::helpers::groups::infos;
use crate::error::CmdError;
use crate::session::Session;

/// `my_groups`: groups the caller is a current member of.
pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let convs = s.shared.db(move |st| st.conversations_of(me)).await?;
    let groups = convs.into_iter().filter(|c| c.kind == ConvKind::Group);
    infos(&s.shared, groups.collect()).await
}
