//! `Devices` on PostgreSQL (tables of [`super::schema_extra`]). A claim
//! deletes the oldest unlocked one-time key in one statement
//! (`FOR UPDATE SKIP LOCKED`), so two nodes claiming at once never hand
//! out the same key; publishing takes a per-user advisory lock, so the
//! device and pool bounds hold across nodes.

use postgres::{GenericClient, Row};

use super::PgStore;
use super::schema_extra::{READ_COMMITTED, count, lock_key};
use super::{require_conv, require_user};
use crate::devices::pool_fits;
use crate::{
    Ciphertext, Claimed, ConvId, DeviceRecord, Devices, EncryptedBody, KeyLimits, MessageKey,
    PublicKey, Published, Result, StoreError, UserId,
};

fn device_row(row: &Row) -> Result<DeviceRecord> {
    Ok(DeviceRecord {
        user: UserId(row.try_get(0)?),
        curve25519: row.try_get(1)?,
        ed25519: row.try_get(2)?,
        created_ms: row.try_get(3)?,
    })
}

fn key_row(row: &Row, first: usize) -> Result<PublicKey> {
    Ok(PublicKey {
        key_id: row.try_get(first)?,
        key: row.try_get(first + 1)?,
        signature: row.try_get(first + 2)?,
    })
}

/// `(row id, owner, ed25519)` of the device with this Curve25519 key.
fn find_device(c: &mut impl GenericClient, curve: &str) -> Result<Option<(i64, UserId, String)>> {
    let sql = "SELECT id, user_id, ed25519 FROM e2e_devices WHERE curve25519 = $1";
    let Some(r) = c.query_opt(sql, &[&curve])? else {
        return Ok(None);
    };
    Ok(Some((r.try_get(0)?, UserId(r.try_get(1)?), r.try_get(2)?)))
}

const POOL: &str = "SELECT count(*) FROM e2e_one_time_keys WHERE device_id = $1";

/// The keys of `keys` not in device `id`'s pool yet (first of each key id).
fn fresh_keys<'k>(
    c: &mut impl GenericClient,
    id: Option<i64>,
    keys: &'k [PublicKey],
) -> Result<Vec<&'k PublicKey>> {
    let known = "SELECT 1 FROM e2e_one_time_keys WHERE device_id = $1 AND key_id = $2";
    let mut fresh: Vec<&PublicKey> = Vec::new();
    for k in keys {
        if fresh.iter().any(|f| f.key_id == k.key_id) {
            continue;
        }
        if let Some(id) = id
            && c.query_opt(known, &[&id, &k.key_id])?.is_some()
        {
            continue;
        }
        fresh.push(k);
    }
    Ok(fresh)
}

/// What one publish will write, decided before anything is written.
struct Plan<'k> {
    /// The device's row id; `None`: a new device.
    id: Option<i64>,
    fresh: Vec<&'k PublicKey>,
}

/// Checks ownership and both bounds; `Err(answer)` when nothing may be stored.
fn plan<'k>(
    c: &mut impl GenericClient,
    user: UserId,
    device: &DeviceRecord,
    keys: &'k [PublicKey],
    limits: KeyLimits,
) -> Result<std::result::Result<Plan<'k>, Published>> {
    let id = match find_device(c, &device.curve25519)? {
        Some((_, owner, ed)) if owner != user || ed != device.ed25519 => {
            return Err(StoreError::Conflict("device key belongs to another device"));
        }
        Some((id, _, _)) => Some(id),
        None => {
            let devices = "SELECT count(*) FROM e2e_devices WHERE user_id = $1";
            if count(c, devices, &[&user.0])? >= limits.max_devices {
                return Ok(Err(Published::TooManyDevices));
            }
            None
        }
    };
    let fresh = fresh_keys(c, id, keys)?;
    let pool = match id {
        Some(id) => count(c, POOL, &[&id])?,
        None => 0,
    };
    if !pool_fits(pool, fresh.len(), limits.max_pool) {
        return Ok(Err(Published::PoolFull));
    }
    Ok(Ok(Plan { id, fresh }))
}

/// Writes a checked plan; returns the device's row id.
fn apply(
    c: &mut impl GenericClient,
    user: UserId,
    device: &DeviceRecord,
    plan: &Plan<'_>,
    fallback: Option<&PublicKey>,
) -> Result<i64> {
    let id = match plan.id {
        Some(id) => id,
        None => {
            let sql = "INSERT INTO e2e_devices (user_id, curve25519, ed25519, created_ms)
                       VALUES ($1, $2, $3, $4) RETURNING id";
            let params: [&(dyn postgres::types::ToSql + Sync); 4] = [
                &user.0,
                &device.curve25519,
                &device.ed25519,
                &device.created_ms,
            ];
            c.query_one(sql, &params)?.try_get(0)?
        }
    };
    let sql = "INSERT INTO e2e_one_time_keys (device_id, key_id, key, signature)
               VALUES ($1, $2, $3, $4)";
    for k in &plan.fresh {
        c.execute(sql, &[&id, &k.key_id, &k.key, &k.signature])?;
    }
    if let Some(f) = fallback {
        let sql = "UPDATE e2e_devices SET fallback_key_id = $2, fallback_key = $3,
                   fallback_sig = $4 WHERE id = $1";
        c.execute(sql, &[&id, &f.key_id, &f.key, &f.signature])?;
    }
    Ok(id)
}

/// Removes and returns the oldest one-time key of `user`'s device `curve`
/// that no concurrent claim holds; else its fallback key.
fn take_key(c: &mut impl GenericClient, user: UserId, curve: &str) -> Result<Option<Claimed>> {
    let Some((id, owner, _)) = find_device(c, curve)? else {
        return Ok(None);
    };
    if owner != user {
        return Ok(None);
    }
    let sql = "DELETE FROM e2e_one_time_keys WHERE id = (
                   SELECT id FROM e2e_one_time_keys WHERE device_id = $1
                   ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
               RETURNING key_id, key, signature";
    if let Some(r) = c.query_opt(sql, &[&id])? {
        let key = key_row(&r, 0)?;
        return Ok(Some(Claimed {
            key,
            fallback: false,
        }));
    }
    let sql = "SELECT fallback_key_id, fallback_key, fallback_sig FROM e2e_devices
               WHERE id = $1 AND fallback_key IS NOT NULL";
    match c.query_opt(sql, &[&id])? {
        Some(r) => Ok(Some(Claimed {
            key: key_row(&r, 0)?,
            fallback: true,
        })),
        None => Ok(None),
    }
}

/// Deletes `user`'s device `curve` with its keys; `false` if no such device.
fn remove(c: &mut impl GenericClient, user: UserId, curve: &str) -> Result<bool> {
    match find_device(c, curve)? {
        Some((id, owner, _)) if owner == user => {
            c.execute("DELETE FROM e2e_one_time_keys WHERE device_id = $1", &[&id])?;
            c.execute("DELETE FROM e2e_devices WHERE id = $1", &[&id])?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn read_body(c: &mut impl GenericClient, key: MessageKey) -> Result<Option<EncryptedBody>> {
    let (conv, sender, client) = (key.conv.0, key.sender.0, key.client_id.as_slice());
    let head = "SELECT sender_device FROM e2e_bodies
                WHERE conv_id = $1 AND sender_id = $2 AND client_id = $3";
    let Some(row) = c.query_opt(head, &[&conv, &sender, &client])? else {
        return Ok(None);
    };
    let sql = "SELECT device, kind, body FROM e2e_ciphertexts
               WHERE conv_id = $1 AND sender_id = $2 AND client_id = $3 ORDER BY idx";
    let mut ciphertexts = Vec::new();
    for r in c.query(sql, &[&conv, &sender, &client])? {
        let kind: i16 = r.try_get(1)?;
        ciphertexts.push(Ciphertext {
            device: r.try_get(0)?,
            kind: u8::try_from(kind)
                .map_err(|_| StoreError::Corrupt(format!("ciphertext kind {kind}")))?,
            body: r.try_get(2)?,
        });
    }
    Ok(Some(EncryptedBody {
        sender_device: row.try_get(0)?,
        ciphertexts,
    }))
}

fn write_body(c: &mut impl GenericClient, key: MessageKey, body: &EncryptedBody) -> Result<()> {
    let (conv, sender, client) = (key.conv.0, key.sender.0, key.client_id.as_slice());
    let head = "INSERT INTO e2e_bodies (conv_id, sender_id, client_id, sender_device)
                VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
    if c.execute(head, &[&conv, &sender, &client, &body.sender_device])? == 0 {
        return Ok(());
    }
    let sql = "INSERT INTO e2e_ciphertexts (conv_id, sender_id, client_id, idx, device, kind, body)
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    for (i, x) in (0i32..).zip(&body.ciphertexts) {
        let kind = i16::from(x.kind);
        c.execute(
            sql,
            &[&conv, &sender, &client, &i, &x.device, &kind, &x.body],
        )?;
    }
    Ok(())
}

impl Devices for PgStore {
    fn publish_keys(
        &self,
        user: UserId,
        device: &DeviceRecord,
        one_time_keys: &[PublicKey],
        fallback: Option<&PublicKey>,
        limits: KeyLimits,
    ) -> Result<Published> {
        let (device, keys) = (device.clone(), one_time_keys.to_vec());
        let fallback = fallback.cloned();
        self.tx_at(READ_COMMITTED, move |t| {
            lock_key(t, "e2e.user", user.0)?;
            require_user(t, user)?;
            let plan = match plan(t, user, &device, &keys, limits)? {
                Ok(plan) => plan,
                Err(refused) => return Ok(refused),
            };
            let id = apply(t, user, &device, &plan, fallback.as_ref())?;
            Ok(Published::Stored {
                pool: count(t, POOL, &[&id])?,
            })
        })
    }

    fn devices_of(&self, user: UserId) -> Result<Vec<DeviceRecord>> {
        self.call(move |c| {
            let sql = "SELECT user_id, curve25519, ed25519, created_ms FROM e2e_devices
                       WHERE user_id = $1 ORDER BY id";
            c.query(sql, &[&user.0])?.iter().map(device_row).collect()
        })
    }

    fn claim_key(&self, user: UserId, device: &str) -> Result<Option<Claimed>> {
        let device = device.to_owned();
        self.tx_at(READ_COMMITTED, move |t| take_key(t, user, &device))
    }

    fn remove_device(&self, user: UserId, device: &str) -> Result<bool> {
        let device = device.to_owned();
        self.tx_at(READ_COMMITTED, move |t| {
            lock_key(t, "e2e.user", user.0)?;
            remove(t, user, &device)
        })
    }

    fn pool_size(&self, device: &str) -> Result<usize> {
        let device = device.to_owned();
        self.call(move |c| match find_device(c, &device)? {
            Some((id, _, _)) => count(c, POOL, &[&id]),
            None => Ok(0),
        })
    }

    fn put_encrypted(&self, key: MessageKey, body: &EncryptedBody) -> Result<()> {
        let body = body.clone();
        self.tx(move |t| write_body(t, key, &body))
    }

    fn encrypted(&self, key: MessageKey) -> Result<Option<EncryptedBody>> {
        self.call(move |c| read_body(c, key))
    }

    fn set_e2e(&self, conv: ConvId) -> Result<()> {
        self.tx(move |t| {
            require_conv(t, conv)?;
            let sql = "INSERT INTO e2e_conversations (conv_id) VALUES ($1) ON CONFLICT DO NOTHING";
            t.execute(sql, &[&conv.0])?;
            Ok(())
        })
    }

    fn is_e2e(&self, conv: ConvId) -> Result<bool> {
        self.call(move |c| {
            let sql = "SELECT 1 FROM e2e_conversations WHERE conv_id = $1";
            Ok(c.query_opt(sql, &[&conv.0])?.is_some())
        })
    }
}
