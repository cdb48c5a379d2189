//! `remove_device`: the caller removes one of their own end-to-end
//! encryption devices with its keys (freeing its place under the cap).

use natter_api::{ErrorCode, MAX_KEY_LEN, Response};

use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, device: String) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    if device.is_empty() || device.len() > MAX_KEY_LEN {
        return Err(CmdError::api(ErrorCode::BadRequest, "not a device key"));
    }
    let key = device.clone();
    let removed = s.shared.db(move |st| st.remove_device(me, &key)).await?;
    if !removed {
        return Err(CmdError::api(
            ErrorCode::BadRequest,
            "no such device of yours",
        ));
    }
    if s.device.as_deref() == Some(device.as_str()) {
        s.device = None;
    }
    tracing::debug!(session = s.key.0, "device removed");
    Ok(Response::Done)
}
