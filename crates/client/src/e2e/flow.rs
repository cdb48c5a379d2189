//! The end-to-end encryption steps a front end (CLI, TUI) runs: publish
//! the device, keep the contacts' device lists, send and receive.

use natter_api::{Anchor, ClaimedKey, DeviceKeys, HistoryQuery, Message, Order, Sent};

use super::E2eError;
use super::device::{Decrypted, E2eDevice};
use super::repair;
use super::store::{LocalMessage, Status};
use crate::Client;

/// Something to tell the user about a contact's devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// `user` has a device this device had not seen before (their first
    /// devices, met at the first contact, are not announced). `flagged`:
    /// `user` was verified, so this device is not until re-verified.
    NewDevice {
        /// Whose.
        user: String,
        /// Its Curve25519 key.
        device: String,
        /// Verified contact with an unverified device.
        flagged: bool,
    },
    /// `user` removed a device this device knew (it is forgotten here:
    /// nothing is encrypted for it any more).
    RemovedDevice {
        /// Whose.
        user: String,
        /// Its Curve25519 key.
        device: String,
    },
}

/// What became of one received encrypted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Stored in the local history (decrypted or not), with what to
    /// announce about the sender's devices.
    New(LocalMessage, Vec<Announcement>),
    /// Already in the local history, or a replayed ciphertext: not shown.
    Duplicate,
}

/// Publishes the device and tops its one-time keys up; the client then
/// reads ciphertexts for it (this connection and every later one).
pub async fn publish(client: &Client, device: &mut E2eDevice) -> Result<(), E2eError> {
    client.publish_keys(device.publish_request()?).await?;
    device.mark_published()
}

/// Fetches `user`'s published devices, records the new ones locally and
/// says which are new to a contact already known.
pub async fn sync_devices(
    client: &Client,
    device: &E2eDevice,
    user: &str,
) -> Result<(Vec<DeviceKeys>, Vec<Announcement>), E2eError> {
    let (info, devices) = client.devices(user).await?;
    let name = info.name.to_lowercase();
    let store = device.store();
    let known = store.devices(&name)?;
    let verified = store.is_verified_user(&name)?;
    let mut news = Vec::new();
    for gone in known
        .iter()
        .filter(|k| !devices.iter().any(|d| d.curve25519 == k.curve25519))
    {
        store.remove_device(&name, &gone.curve25519)?;
        news.push(Announcement::RemovedDevice {
            user: info.name.clone(),
            device: gone.curve25519.clone(),
        });
    }
    for d in &devices {
        if known.iter().any(|k| k.curve25519 == d.curve25519)
            || d.curve25519 == device.keys().curve25519
        {
            continue;
        }
        store.add_device(&name, &d.curve25519, &d.ed25519)?;
        if !known.is_empty() {
            news.push(Announcement::NewDevice {
                user: info.name.clone(),
                device: d.curve25519.clone(),
                flagged: verified,
            });
        }
    }
    Ok((devices, news))
}

/// Encrypts `text` for every device of `peer` and every other device of
/// this user, posts it, and keeps it in the local history.
pub async fn send_encrypted(
    client: &Client,
    device: &mut E2eDevice,
    peer: &str,
    text: &str,
) -> Result<(Sent, Vec<Announcement>), E2eError> {
    send_encrypted_with_id(client, device, peer, text, uuid::Uuid::new_v4()).await
}

/// [`send_encrypted`] with a caller-chosen client id.
pub async fn send_encrypted_with_id(
    client: &Client,
    device: &mut E2eDevice,
    peer: &str,
    text: &str,
    id: uuid::Uuid,
) -> Result<(Sent, Vec<Announcement>), E2eError> {
    let me = device.user().to_owned();
    let own = device.keys().curve25519;
    let (theirs, mut news) = sync_devices(client, device, peer).await?;
    if theirs.is_empty() {
        return Err(E2eError::NoDevice(peer.to_owned()));
    }
    let (mine, more) = sync_devices(client, device, &me).await?;
    news.extend(more);
    let mine: Vec<DeviceKeys> = mine.into_iter().filter(|d| d.curve25519 != own).collect();
    let mut claimed = claim_missing(client, device, peer, &theirs).await?;
    claimed.extend(claim_missing(client, device, &me, &mine).await?);
    let all: Vec<DeviceKeys> = theirs.into_iter().chain(mine).collect();
    let ciphertexts = device.encrypt(id, peer, text, &all, &claimed)?;
    let sent = client
        .send_encrypted_raw(peer, id, own.clone(), ciphertexts)
        .await?;
    let local = LocalMessage {
        conv: sent.conv.0,
        seq: sent.seq,
        ts_ms: sent.ts_ms,
        sender: me,
        device: own,
        status: Status::Ok,
        body: text.to_owned(),
    };
    device.store().put_message(&local)?;
    repair::remember_peer(device, sent.conv.0, peer)?;
    Ok((sent, news))
}

/// Claims keys of the devices of `user` this device has no session with.
async fn claim_missing(
    client: &Client,
    device: &E2eDevice,
    user: &str,
    devices: &[DeviceKeys],
) -> Result<Vec<ClaimedKey>, E2eError> {
    let mut need = Vec::new();
    for d in devices {
        if !device.has_session(&d.curve25519)? {
            need.push(d.curve25519.clone());
        }
    }
    if need.is_empty() {
        return Ok(Vec::new());
    }
    Ok(client.claim_keys(user, need).await?)
}

/// Decrypts an encrypted message (`m.e2e` set) into the local history,
/// once: a message already stored, or a replayed ciphertext, is a
/// [`Received::Duplicate`].
pub async fn receive(
    client: &Client,
    device: &mut E2eDevice,
    m: &Message,
) -> Result<Received, E2eError> {
    let (Some(e2e), Some(sender)) = (&m.e2e, &m.sender) else {
        return Ok(Received::Duplicate);
    };
    if device.store().has_message(m.conv.0, m.seq)? {
        return Ok(Received::Duplicate);
    }
    let own = device.keys().curve25519;
    if e2e.sender_device == own {
        // Sent from this device (maybe by another process on this home):
        // the sender keeps it in the local history itself.
        return Ok(Received::Duplicate);
    }
    if repair::is_repair(m.client_id) {
        receive_repair(device, m, e2e, &sender.name)?;
        return Ok(Received::Duplicate);
    }
    if sender.name.to_lowercase() != device.user().to_lowercase() {
        repair::remember_peer(device, m.conv.0, &sender.name.to_lowercase())?;
    }
    let mut local = LocalMessage {
        conv: m.conv.0,
        seq: m.seq,
        ts_ms: m.ts_ms,
        sender: sender.name.clone(),
        device: e2e.sender_device.clone(),
        status: Status::NotForThisDevice,
        body: String::new(),
    };
    let mut news = Vec::new();
    if let Some(c) = e2e.ciphertexts.iter().find(|c| c.device == own) {
        let what = device.decrypt(
            &e2e.sender_device,
            (c.kind, &c.body),
            (m.client_id, &sender.name),
        )?;
        match what {
            Decrypted::Replay => return Ok(Received::Duplicate),
            Decrypted::Failed(_) => {
                local.status = Status::Undecryptable;
                let from = (sender.name.as_str(), e2e.sender_device.as_str());
                if let Err(e) = repair::after_failure(client, device, m, from).await {
                    tracing::debug!(error = %e, "the session repair was not sent");
                }
            }
            Decrypted::Text(body) => {
                local.body = body;
                let (known, n) =
                    sender_device_known(client, device, &sender.name, &e2e.sender_device).await?;
                news = n;
                local.status = if known {
                    Status::Ok
                } else {
                    Status::UnknownDevice
                };
            }
        }
    }
    if !device.store().put_message(&local)? {
        return Ok(Received::Duplicate);
    }
    Ok(Received::New(local, news))
}

/// Takes the new session a repair message starts (its text is empty and
/// never shown; one that fails to decrypt is left alone).
fn receive_repair(
    device: &mut E2eDevice,
    m: &Message,
    e2e: &natter_api::Encrypted,
    sender: &str,
) -> Result<(), E2eError> {
    let own = device.keys().curve25519;
    if let Some(c) = e2e.ciphertexts.iter().find(|c| c.device == own) {
        device.decrypt(&e2e.sender_device, (c.kind, &c.body), (m.client_id, sender))?;
    }
    Ok(())
}

/// True if `sender_device` is a published device of `user` (the local
/// list is refreshed from the server when it is not in it yet).
async fn sender_device_known(
    client: &Client,
    device: &E2eDevice,
    user: &str,
    sender_device: &str,
) -> Result<(bool, Vec<Announcement>), E2eError> {
    let name = user.to_lowercase();
    let local = device.store().devices(&name)?;
    if local.iter().any(|d| d.curve25519 == sender_device)
        || sender_device == device.keys().curve25519
    {
        return Ok((true, Vec::new()));
    }
    let (devices, news) = sync_devices(client, device, user).await?;
    Ok((devices.iter().any(|d| d.curve25519 == sender_device), news))
}

/// Fetches what this device has not handled yet in every encrypted direct
/// (from its own watermark: the server's delivered cursor is per user, so
/// another device of the user may have moved it past messages this one
/// never saw) and receives each, oldest first per conversation. Returns
/// the new ones.
pub async fn catch_up(
    client: &Client,
    device: &mut E2eDevice,
) -> Result<Vec<(Message, Received)>, E2eError> {
    let mut out = Vec::new();
    let list = client.conversations().await?;
    for conv in list.iter().filter(|c| c.e2e) {
        let mut after = device.store().caught_up(conv.id.0)?;
        loop {
            let page = HistoryQuery {
                conv: conv.id,
                anchor: Anchor::After(after),
                limit: CATCH_UP_PAGE,
                order: Order::OldestFirst,
            };
            let messages = client.history(page).await?;
            let Some(last) = messages.last().map(|m| m.seq) else {
                break;
            };
            for m in messages {
                if m.e2e.is_some() {
                    let received = receive(client, device, &m).await?;
                    out.push((m, received));
                }
            }
            after = last;
            device.store().set_caught_up(conv.id.0, after)?;
        }
    }
    Ok(out)
}

/// Messages per history page while catching up.
const CATCH_UP_PAGE: u32 = 200;
