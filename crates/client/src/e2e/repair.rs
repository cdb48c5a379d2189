//! Automatic repair of a broken Olm session: when this device cannot
//! decrypt a message from a sender device, it claims one of that device's
//! keys and sends it a hidden message on a new session, so the sender's
//! next message (which goes out on the newest session) decrypts again
//! without anybody typing anything.
//!
//! A repair message is an ordinary encrypted message of the direct with an
//! empty text, one ciphertext (for the broken device only) and a client id
//! marked as a repair (its first bytes are [`MARK`]); receivers never show
//! it. Bounds: at most one repair per sender device per [`REPAIR_EVERY_MS`],
//! and a repair that fails to decrypt is never answered by a repair (no
//! loops).

use natter_api::{Anchor, ConversationId, DeviceKeys, HistoryQuery, Message, Order};

use super::E2eError;
use super::device::{E2eDevice, fresh_key};
use crate::Client;

/// The first bytes of a repair message's client id.
const MARK: &[u8; 6] = b"repair";

/// At most one repair per sender device in this long (5 minutes).
pub const REPAIR_EVERY_MS: i64 = 5 * 60 * 1000;

/// A new client id marked as a repair.
fn repair_id() -> uuid::Uuid {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[..MARK.len()].copy_from_slice(MARK);
    uuid::Uuid::from_bytes(bytes)
}

/// True if `id` marks a repair message (never shown).
pub fn is_repair(id: uuid::Uuid) -> bool {
    id.as_bytes().starts_with(MARK)
}

/// The meta key remembering the other user of direct `conv`.
fn peer_key(conv: u64) -> String {
    format!("peer:{conv}")
}

/// Remembers that `peer` is the other user of direct `conv` (a repair for
/// a message from this user's own other device is posted there).
pub(crate) fn remember_peer(device: &E2eDevice, conv: u64, peer: &str) -> Result<(), E2eError> {
    let key = peer_key(conv);
    if device.store().meta(&key)?.is_none() {
        device.store().set_meta(&key, peer.as_bytes())?;
        let direct = format!("direct:{}", peer.to_lowercase());
        device.store().set_meta(&direct, &conv.to_le_bytes())?;
    }
    Ok(())
}

/// Messages of the direct looked at by [`take_repairs`].
const REPAIR_WINDOW: u32 = 50;

/// Takes the repair messages among the newest messages of the direct with
/// `peer` (for a client that sends without reading, like `natter send`):
/// then its next message goes out on the repaired session. Repairs taken
/// before are replays and cost nothing; other messages are left alone.
pub async fn take_repairs(
    client: &Client,
    device: &mut E2eDevice,
    peer: &str,
) -> Result<(), E2eError> {
    let direct = format!("direct:{}", peer.to_lowercase());
    let Some(conv) = device.store().meta(&direct)? else {
        return Ok(());
    };
    let Ok(conv) = <[u8; 8]>::try_from(conv.as_slice()).map(u64::from_le_bytes) else {
        return Ok(());
    };
    let page = HistoryQuery {
        conv: ConversationId(conv),
        anchor: Anchor::Before(u64::MAX),
        limit: REPAIR_WINDOW,
        order: Order::OldestFirst,
    };
    let messages = client.history(page).await?;
    for m in messages.iter().filter(|m| is_repair(m.client_id)) {
        super::flow::receive(client, device, m).await?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as i64)
}

/// Claims the right to repair the session with `sender_device` now: `false`
/// if a repair went to it less than [`REPAIR_EVERY_MS`] ago.
fn may_repair(device: &E2eDevice, sender_device: &str) -> Result<bool, E2eError> {
    let key = format!("repair:{sender_device}");
    let now = now_ms();
    if let Some(last) = device.store().meta(&key)? {
        let last = <[u8; 8]>::try_from(last.as_slice()).map_or(0, i64::from_le_bytes);
        if (0..REPAIR_EVERY_MS).contains(&(now - last)) {
            return Ok(false);
        }
    }
    device.store().set_meta(&key, &now.to_le_bytes())?;
    Ok(true)
}

/// After `m` (from `sender`'s device `sender_device`) failed to decrypt:
/// sends the hidden repair message, within the bounds of this module.
/// Returns whether one was sent.
pub(crate) async fn after_failure(
    client: &Client,
    device: &mut E2eDevice,
    m: &Message,
    (sender, sender_device): (&str, &str),
) -> Result<bool, E2eError> {
    if is_repair(m.client_id) {
        return Ok(false);
    }
    let me = device.user().to_lowercase();
    let sender = sender.to_lowercase();
    let peer = if sender == me {
        match device.store().meta(&peer_key(m.conv.0))? {
            Some(p) => String::from_utf8_lossy(&p).into_owned(),
            None => return Ok(false),
        }
    } else {
        sender.clone()
    };
    let Some(target) = known_device(client, device, &sender, sender_device).await? else {
        return Ok(false);
    };
    if !may_repair(device, sender_device)? {
        return Ok(false);
    }
    device.store().set_meta(&fresh_key(sender_device), &[1])?;
    let claimed = client
        .claim_keys(&sender, vec![sender_device.to_owned()])
        .await?;
    if claimed.is_empty() {
        return Ok(false);
    }
    let id = repair_id();
    let ciphertexts = device.encrypt(id, &peer, "", &[target], &claimed)?;
    if ciphertexts.is_empty() {
        return Ok(false);
    }
    let own = device.keys().curve25519;
    client
        .send_encrypted_raw(&peer, id, own, ciphertexts)
        .await?;
    Ok(true)
}

/// The keys of `user`'s device `curve25519`, from the local list or else
/// the server's (`None` if `user` has not published it).
async fn known_device(
    client: &Client,
    device: &E2eDevice,
    user: &str,
    curve25519: &str,
) -> Result<Option<DeviceKeys>, E2eError> {
    let local = device.store().devices(user)?;
    if let Some(d) = local.into_iter().find(|d| d.curve25519 == curve25519) {
        return Ok(Some(DeviceKeys {
            curve25519: d.curve25519,
            ed25519: d.ed25519,
        }));
    }
    let (_, devices) = client.devices(user).await?;
    Ok(devices.into_iter().find(|d| d.curve25519 == curve25519))
}
