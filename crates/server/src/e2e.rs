//! End-to-end encrypted directs on the server side: which device a session
//! reads for, and cutting each encrypted message down to the ciphertext of
//! that device before it leaves (live, sync and history). The server never
//! decrypts anything; it only relays bytes addressed to a device. A leaf:
//! no server imports (the context and the session use it).

use bytes::Bytes;
use natter_api::{self as api, Event, ServerFrame};
use natter_store::{KeyLimits, MessageKey};

/// Most devices (client installations) one user may publish.
pub(crate) const MAX_DEVICES_PER_USER: usize = 16;

/// Most unclaimed one-time keys the server keeps per device.
pub(crate) const MAX_POOL: usize = 200;

/// The bounds of a user's published keys.
pub(crate) const LIMITS: KeyLimits = KeyLimits {
    max_devices: MAX_DEVICES_PER_USER,
    max_pool: MAX_POOL,
};

/// Keeps only `device`'s ciphertext in `m` (none without a device).
pub(crate) fn for_device(m: &mut api::Message, device: Option<&str>) {
    if let Some(e2e) = &mut m.e2e {
        e2e.keep_only(device);
    }
}

/// An encoded `Event::Message` frame of an encrypted message, cut down to
/// `device`'s ciphertext and encoded again (unchanged if it does not decode).
pub(crate) fn frame_for_device(frame: Bytes, device: Option<&str>) -> Bytes {
    let Ok(ServerFrame::Event(Event::Message(mut m))) = api::decode::<ServerFrame>(&frame) else {
        return frame;
    };
    for_device(&mut m, device);
    match api::encode(&ServerFrame::Event(Event::Message(m))) {
        Ok(bytes) => Bytes::from(bytes),
        Err(_) => frame,
    }
}

/// The key of `m`'s stored ciphertexts if it may be an encrypted message
/// (a user's message with an empty body: only those are looked up).
pub(crate) fn key_of(m: &natter_store::Message) -> Option<MessageKey> {
    let sender = m.sender.filter(|_| m.body.is_empty())?;
    Some(MessageKey {
        conv: m.conv,
        sender,
        client_id: m.client_id,
    })
}

/// The API form of stored ciphertexts.
pub(crate) fn api_encrypted(body: natter_store::EncryptedBody) -> api::Encrypted {
    let ciphertexts = body.ciphertexts.into_iter().map(|c| api::DeviceCiphertext {
        device: c.device,
        kind: c.kind.into(),
        body: c.body,
    });
    api::Encrypted {
        sender_device: body.sender_device,
        ciphertexts: ciphertexts.collect(),
    }
}
