//! What the end-to-end encryption commands share: looking a user up by
//! name, checking a device is the caller's, adopting it for the session.

use natter_api::ErrorCode;
use natter_store::{User, UserId};

use crate::ctx::Shared;
use crate::error::CmdError;
use crate::session::Session;

/// The user called `name` (any case), or `no_such_user`.
pub(crate) async fn user_named(shared: &Shared, name: String) -> Result<User, CmdError> {
    let lookup = name.clone();
    let user = shared.db(move |st| st.user_by_name(&lookup)).await?;
    user.ok_or_else(|| CmdError::api(ErrorCode::NoSuchUser, "no such user"))
}

/// True if `device` is one of `user`'s published devices.
pub(crate) async fn owns_device(
    shared: &Shared,
    user: UserId,
    device: String,
) -> Result<bool, CmdError> {
    let devices = shared.db(move |st| st.devices_of(user)).await?;
    Ok(devices.iter().any(|d| d.curve25519 == device))
}

/// Makes `device` the session's device if the logged-in user published it
/// (else the session stays without one: encrypted messages reach it
/// without ciphertexts).
pub(crate) async fn adopt(s: &mut Session, device: Option<String>) -> Result<(), CmdError> {
    let (Some(device), Some(auth)) = (device, s.auth.as_ref()) else {
        return Ok(());
    };
    let me = auth.id;
    if owns_device(&s.shared, me, device.clone()).await? {
        s.device = Some(device);
    }
    Ok(())
}
