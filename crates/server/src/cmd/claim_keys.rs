//! `claim_keys`: one key of each listed device of a user, each one-time key
//! handed out at most once (the store claims atomically), the fallback key
//! when a pool is empty.

use natter_api::{ClaimedKey, DeviceKeys, ErrorCode, MAX_CIPHERTEXTS, Response, SignedKey};

use super::helpers::devices::user_named;
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    user: String,
    devices: Vec<String>,
) -> Result<Response, CmdError> {
    s.require_auth()?;
    if devices.len() > MAX_CIPHERTEXTS {
        return Err(CmdError::api(ErrorCode::BadRequest, "too many devices"));
    }
    let owner = user_named(&s.shared, user).await?.id;
    let claimed = s
        .shared
        .db(move |st| {
            let known = st.devices_of(owner)?;
            let mut out = Vec::new();
            for d in known
                .into_iter()
                .filter(|d| devices.contains(&d.curve25519))
            {
                if let Some(c) = st.claim_key(owner, &d.curve25519)? {
                    out.push((d, c));
                }
            }
            Ok(out)
        })
        .await?;
    let list = claimed.into_iter().map(|(d, c)| ClaimedKey {
        device: DeviceKeys {
            curve25519: d.curve25519,
            ed25519: d.ed25519,
        },
        key: SignedKey {
            key_id: c.key.key_id,
            key: c.key.key,
            signature: c.key.signature,
        },
        fallback: c.fallback,
    });
    Ok(Response::ClaimedKeys(list.collect()))
}
