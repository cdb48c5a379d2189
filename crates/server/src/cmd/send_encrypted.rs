//! `send_encrypted`: an end-to-end encrypted message in a direct. The
//! per-device ciphertexts are stored first (keyed by the message's
//! idempotency key, so a retry stores nothing new), the direct is marked
//! encrypted for good, and the message itself — with an empty body — goes
//! through the writer like any other: ✓, fan-out, cursors and ✓✓ as for a
//! plain direct. Each session then relays only its own device's ciphertext.

use natter_api::{ClientMsgId, DeviceCiphertext, ErrorCode, MAX_CIPHERTEXTS};
use natter_store::{Ciphertext, EncryptedBody, MessageKey, UserId};

use super::helpers::devices::{owns_device, user_named};
use super::send::{direct_with, submit};
use crate::error::CmdError;
use crate::session::Session;

/// Room for the Olm overhead (header, ratchet key, MAC, pre-key data) on
/// top of the server's `max_body` per ciphertext.
const OLM_OVERHEAD: usize = 1024;

/// Queues the message on the writer as the answer to request `id`.
pub(super) async fn apply(
    s: &mut Session,
    id: u64,
    peer: String,
    client_id: ClientMsgId,
    sender_device: String,
    ciphertexts: Vec<DeviceCiphertext>,
) -> Result<(), CmdError> {
    let me = s.require_auth()?.id;
    check(&ciphertexts, s.shared.config.max_body + OLM_OVERHEAD)?;
    if !owns_device(&s.shared, me, sender_device.clone()).await? {
        return Err(CmdError::api(
            ErrorCode::BadRequest,
            "the sending device is not one of yours: publish it first",
        ));
    }
    let conv = direct_with(s, me, peer.clone()).await?;
    check_targets(s, me, &peer, &sender_device, &ciphertexts).await?;
    let key = MessageKey {
        conv,
        sender: me,
        client_id: *client_id.as_bytes(),
    };
    let body = EncryptedBody {
        sender_device,
        ciphertexts: ciphertexts.into_iter().map(stored).collect(),
    };
    let was_e2e = s.shared.is_e2e(conv).await?;
    s.shared
        .db(move |st| {
            st.put_encrypted(key, &body)?;
            st.set_e2e(conv)
        })
        .await?;
    if !was_e2e {
        // Every node's cached "not encrypted" for it goes (once: later
        // sends find it encrypted).
        s.shared.forget_members(conv);
    }
    // The text is the ciphertexts: the log keeps an empty body.
    submit(s, id, conv, client_id, String::new()).await
}

/// `bad_request` unless there are 1 to [`MAX_CIPHERTEXTS`] ciphertexts for
/// distinct devices, `too_large` for one over `max_len` bytes.
fn check(ciphertexts: &[DeviceCiphertext], max_len: usize) -> Result<(), CmdError> {
    let bad = |text: &str| Err(CmdError::api(ErrorCode::BadRequest, text));
    if ciphertexts.is_empty() || ciphertexts.len() > MAX_CIPHERTEXTS {
        return bad("1 to 64 ciphertexts");
    }
    let mut devices: Vec<&str> = ciphertexts.iter().map(|c| c.device.as_str()).collect();
    devices.sort_unstable();
    devices.dedup();
    if devices.len() != ciphertexts.len() {
        return bad("one ciphertext per device");
    }
    if ciphertexts.iter().any(|c| c.kind > 1) {
        return bad("unknown Olm message type");
    }
    if ciphertexts.iter().any(|c| c.body.len() > max_len) {
        return Err(CmdError::api(ErrorCode::TooLarge, "ciphertext too large"));
    }
    Ok(())
}

/// `bad_request` unless every ciphertext is for a published device of the
/// peer or another of the sender's: nobody stores bytes for nobody.
async fn check_targets(
    s: &Session,
    me: UserId,
    peer: &str,
    sender_device: &str,
    ciphertexts: &[DeviceCiphertext],
) -> Result<(), CmdError> {
    let peer = user_named(&s.shared, peer.to_owned()).await?.id;
    let known = s
        .shared
        .db(move |st| Ok((st.devices_of(me)?, st.devices_of(peer)?)))
        .await?;
    let mut devices = known
        .0
        .iter()
        .chain(&known.1)
        .map(|d| d.curve25519.as_str());
    let allowed: Vec<&str> = devices.by_ref().filter(|d| *d != sender_device).collect();
    if ciphertexts
        .iter()
        .all(|c| allowed.contains(&c.device.as_str()))
    {
        return Ok(());
    }
    Err(CmdError::api(
        ErrorCode::BadRequest,
        "a ciphertext is for a device that is neither the peer's nor another of yours",
    ))
}

fn stored(c: DeviceCiphertext) -> Ciphertext {
    Ciphertext {
        device: c.device,
        kind: u8::try_from(c.kind).unwrap_or(u8::MAX), // checked ≤ 1
        body: c.body,
    }
}
