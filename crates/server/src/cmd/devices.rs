//! `devices`: a user's published devices (public identity keys only).

use natter_api::{DeviceKeys, Response};

use super::helpers::devices::user_named;
use crate::convert;
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(s: &mut Session, user: String) -> Result<Response, CmdError> {
    s.require_auth()?;
    let user = user_named(&s.shared, user).await?;
    let id = user.id;
    let devices = s.shared.db(move |st| st.devices_of(id)).await?;
    let devices = devices.into_iter().map(|d| DeviceKeys {
        curve25519: d.curve25519,
        ed25519: d.ed25519,
    });
    Ok(Response::Devices {
        user: convert::user_info(&user),
        devices: devices.collect(),
    })
}
