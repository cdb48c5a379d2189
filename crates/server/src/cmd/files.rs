//! `files`: the files I offered or was offered that have not expired.

use natter_api::Response;

use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::files::file_info;
use crate::session::Session;

/// Most files listed (the newest).
const MAX_LISTED: usize = 500;

pub(super) async fn apply(s: &mut Session) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let now = now_ms();
    let mut files = s.shared.db(move |st| st.files_of(me)).await?;
    files.retain(|f| f.expires_ms > now);
    let skip = files.len().saturating_sub(MAX_LISTED);
    let mut out = Vec::new();
    for file in &files[skip..] {
        out.push(file_info(&s.shared, file, me).await?);
    }
    Ok(Response::Files(out))
}
