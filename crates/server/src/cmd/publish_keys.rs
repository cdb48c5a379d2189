//! `publish_keys`: store this connection's device, more one-time keys and
//! its fallback key (bounded per user and per device), and make it the
//! device this session reads encrypted messages for.

use natter_api::{DeviceKeys, ErrorCode, MAX_KEY_LEN, MAX_KEYS_PER_PUBLISH, Response, SignedKey};
use natter_store::{DeviceRecord, PublicKey, Published, StoreError};

use crate::ctx::now_ms;
use crate::e2e::LIMITS;
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    device: DeviceKeys,
    one_time_keys: Vec<SignedKey>,
    fallback_key: Option<SignedKey>,
) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    check(&device, &one_time_keys, fallback_key.as_ref())?;
    let record = DeviceRecord {
        user: me,
        curve25519: device.curve25519.clone(),
        ed25519: device.ed25519,
        created_ms: now_ms(),
    };
    let keys: Vec<PublicKey> = one_time_keys.into_iter().map(public_key).collect();
    let fallback = fallback_key.map(public_key);
    let published = s
        .shared
        .db(move |st| st.publish_keys(me, &record, &keys, fallback.as_ref(), LIMITS))
        .await;
    match published {
        Ok(Published::Stored { .. }) => {
            s.device = Some(device.curve25519);
            Ok(Response::Done)
        }
        Ok(Published::TooManyDevices) => Err(limit("too many devices for this user")),
        Ok(Published::PoolFull) => Err(limit("too many unclaimed one-time keys")),
        Err(CmdError::Store(StoreError::Conflict(_))) => Err(CmdError::api(
            ErrorCode::BadRequest,
            "that device key belongs to another device",
        )),
        Err(e) => Err(e),
    }
}

fn limit(text: &str) -> CmdError {
    CmdError::api(ErrorCode::LimitReached, text)
}

/// `bad_request` for too many keys or over-long strings.
fn check(
    device: &DeviceKeys,
    keys: &[SignedKey],
    fallback: Option<&SignedKey>,
) -> Result<(), CmdError> {
    let bad = |text: &str| Err(CmdError::api(ErrorCode::BadRequest, text));
    if keys.len() > MAX_KEYS_PER_PUBLISH {
        return bad("too many one-time keys at once");
    }
    let fields = [&device.curve25519, &device.ed25519];
    let key_fields = keys
        .iter()
        .chain(fallback)
        .flat_map(|k| [&k.key_id, &k.key, &k.signature]);
    if fields
        .into_iter()
        .chain(key_fields)
        .any(|f| f.is_empty() || f.len() > MAX_KEY_LEN)
    {
        return bad("a key is empty or too long");
    }
    Ok(())
}

fn public_key(k: SignedKey) -> PublicKey {
    PublicKey {
        key_id: k.key_id,
        key: k.key,
        signature: k.signature,
    }
}
