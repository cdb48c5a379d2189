//! `ping`: liveness check.

use natter_api::Response;

use crate::error::CmdError;

pub(super) fn apply() -> Result<Response, CmdError> {
    Ok(Response::Done)
}
