//! `publish_keys`: store this connection's device, more one-time keys and
//! its fallback key (bounded per user and per device), and make it the
//! device this session reads encrypted messages for.

use natter_api::{DeviceKeys, ErrorCode, MAX_KEY_LEN, MAX_KEYS_PER_PUBLISH, Response, SignedKey};
use natter_store::{DeviceRecord, PublicKey, Published, StoreError};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature};

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
    let (ids, keys) = (device.clone(), one_time_keys.clone());
    let fallback = fallback_key.clone();
    let signed = tokio::task::spawn_blocking(move || {
        check_signatures(&ids, keys.iter().chain(fallback.as_ref()))
    })
    .await
    .map_err(|_| CmdError::api(ErrorCode::Internal, "signature check failed"))?;
    signed?;
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

/// `bad_request` unless the identity keys parse and every key carries a
/// valid Ed25519 signature (vodozemac's check) by the device's `ed25519`
/// key over the key's base64 text, as Olm clients sign them: a peer can
/// publish only keys its device really signed.
fn check_signatures<'a>(
    device: &DeviceKeys,
    keys: impl Iterator<Item = &'a SignedKey>,
) -> Result<(), CmdError> {
    let bad = |text: String| CmdError::api(ErrorCode::BadRequest, text);
    if Curve25519PublicKey::from_base64(&device.curve25519).is_err() {
        return Err(bad(
            "the device's curve25519 key is not a Curve25519 key".into()
        ));
    }
    let signer = Ed25519PublicKey::from_base64(&device.ed25519)
        .map_err(|_| bad("the device's ed25519 key is not an Ed25519 key".into()))?;
    for k in keys {
        let key_id = natter_api::text::printable_line(&k.key_id);
        if Curve25519PublicKey::from_base64(&k.key).is_err() {
            return Err(bad(format!("key {key_id} is not a Curve25519 key")));
        }
        let valid = Ed25519Signature::from_base64(&k.signature)
            .is_ok_and(|sig| signer.verify(k.key.as_bytes(), &sig).is_ok());
        if !valid {
            return Err(bad(format!(
                "key {key_id} is not signed by this device's ed25519 key"
            )));
        }
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
