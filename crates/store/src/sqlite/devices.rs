//! `Devices` on SQLite. A claim runs in one `IMMEDIATE` transaction, so two
//! connections (or processes) claiming at once never get the same key.

use rusqlite::{Connection, OptionalExtension, Row, Transaction};

use super::{SqliteStore, require_conv, require_user};
use crate::devices::pool_fits;
use crate::{
    Ciphertext, Claimed, ConvId, DeviceRecord, Devices, EncryptedBody, KeyLimits, MessageKey,
    PublicKey, Published, Result, StoreError, UserId,
};

fn device_row(row: &Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        user: UserId(row.get(0)?),
        curve25519: row.get(1)?,
        ed25519: row.get(2)?,
        created_ms: row.get(3)?,
    })
}

/// `(row id, owner, ed25519)` of the device with this Curve25519 key.
fn find_device(conn: &Connection, curve: &str) -> Result<Option<(i64, UserId, String)>> {
    let sql = "SELECT id, user_id, ed25519 FROM e2e_devices WHERE curve25519 = ?1";
    let row = |r: &Row<'_>| Ok((r.get(0)?, UserId(r.get(1)?), r.get(2)?));
    Ok(conn
        .prepare_cached(sql)?
        .query_row([curve], row)
        .optional()?)
}

fn count(conn: &Connection, sql: &str, id: i64) -> Result<usize> {
    let n: i64 = conn.prepare_cached(sql)?.query_row([id], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The device's row id, inserting it if new; `None` if over the cap.
fn admit(
    tx: &Transaction<'_>,
    user: UserId,
    device: &DeviceRecord,
    limits: KeyLimits,
) -> Result<Option<i64>> {
    match find_device(tx, &device.curve25519)? {
        Some((_, owner, ed)) if owner != user || ed != device.ed25519 => {
            Err(StoreError::Conflict("device key belongs to another device"))
        }
        Some((id, _, _)) => Ok(Some(id)),
        None => {
            let by_user = "SELECT count(*) FROM e2e_devices WHERE user_id = ?1";
            if count(tx, by_user, user.0)? >= limits.max_devices {
                return Ok(None);
            }
            let sql = "INSERT INTO e2e_devices (user_id, curve25519, ed25519, created_ms)
                       VALUES (?1, ?2, ?3, ?4)";
            let row = (
                user.0,
                &device.curve25519,
                &device.ed25519,
                device.created_ms,
            );
            tx.prepare_cached(sql)?.execute(row)?;
            Ok(Some(tx.last_insert_rowid()))
        }
    }
}

/// Adds the keys not yet in the pool; `false` (nothing added) if they would
/// overfill it.
fn add_keys(tx: &Transaction<'_>, id: i64, keys: &[PublicKey], max_pool: usize) -> Result<bool> {
    let exists = "SELECT 1 FROM e2e_one_time_keys WHERE device_id = ?1 AND key_id = ?2";
    let mut fresh: Vec<&PublicKey> = Vec::new();
    for k in keys {
        let known = tx.prepare_cached(exists)?.exists((id, &k.key_id))?;
        if !known && !fresh.iter().any(|f| f.key_id == k.key_id) {
            fresh.push(k);
        }
    }
    let pool = count(tx, POOL, id)?;
    if !pool_fits(pool, fresh.len(), max_pool) {
        return Ok(false);
    }
    let sql = "INSERT INTO e2e_one_time_keys (device_id, key_id, key, signature)
               VALUES (?1, ?2, ?3, ?4)";
    for k in fresh {
        tx.prepare_cached(sql)?
            .execute((id, &k.key_id, &k.key, &k.signature))?;
    }
    Ok(true)
}

const POOL: &str = "SELECT count(*) FROM e2e_one_time_keys WHERE device_id = ?1";

fn set_fallback(tx: &Transaction<'_>, id: i64, key: &PublicKey) -> Result<()> {
    let sql = "UPDATE e2e_devices SET fallback_key_id = ?2, fallback_key = ?3, fallback_sig = ?4
               WHERE id = ?1";
    tx.prepare_cached(sql)?
        .execute((id, &key.key_id, &key.key, &key.signature))?;
    Ok(())
}

/// Takes the oldest one-time key of device row `id`, else its fallback.
fn take_key(tx: &Transaction<'_>, id: i64) -> Result<Option<Claimed>> {
    let oldest = "SELECT id, key_id, key, signature FROM e2e_one_time_keys
                  WHERE device_id = ?1 ORDER BY id LIMIT 1";
    let row = |r: &Row<'_>| {
        let key = PublicKey {
            key_id: r.get(1)?,
            key: r.get(2)?,
            signature: r.get(3)?,
        };
        Ok((r.get::<_, i64>(0)?, key))
    };
    if let Some((row_id, key)) = tx.prepare_cached(oldest)?.query_row([id], row).optional()? {
        tx.prepare_cached("DELETE FROM e2e_one_time_keys WHERE id = ?1")?
            .execute([row_id])?;
        return Ok(Some(Claimed {
            key,
            fallback: false,
        }));
    }
    let sql = "SELECT fallback_key_id, fallback_key, fallback_sig FROM e2e_devices
               WHERE id = ?1 AND fallback_key IS NOT NULL";
    let row = |r: &Row<'_>| {
        Ok(PublicKey {
            key_id: r.get(0)?,
            key: r.get(1)?,
            signature: r.get(2)?,
        })
    };
    let fallback = tx.prepare_cached(sql)?.query_row([id], row).optional()?;
    Ok(fallback.map(|key| Claimed {
        key,
        fallback: true,
    }))
}

fn key_params(key: MessageKey) -> (i64, i64, [u8; 16]) {
    (key.conv.0, key.sender.0, key.client_id)
}

fn read_body(conn: &Connection, key: MessageKey) -> Result<Option<EncryptedBody>> {
    let head = "SELECT sender_device FROM e2e_bodies
                WHERE conv_id = ?1 AND sender_id = ?2 AND client_id = ?3";
    let params = key_params(key);
    let found: Option<String> = conn
        .prepare_cached(head)?
        .query_row(params, |r| r.get(0))
        .optional()?;
    let Some(sender_device) = found else {
        return Ok(None);
    };
    let sql = "SELECT device, kind, body FROM e2e_ciphertexts
               WHERE conv_id = ?1 AND sender_id = ?2 AND client_id = ?3 ORDER BY idx";
    let row = |r: &Row<'_>| {
        Ok(Ciphertext {
            device: r.get(0)?,
            kind: r.get(1)?,
            body: r.get(2)?,
        })
    };
    let ciphertexts = conn
        .prepare_cached(sql)?
        .query_map(params, row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(EncryptedBody {
        sender_device,
        ciphertexts,
    }))
}

impl Devices for SqliteStore {
    fn publish_keys(
        &self,
        user: UserId,
        device: &DeviceRecord,
        one_time_keys: &[PublicKey],
        fallback: Option<&PublicKey>,
        limits: KeyLimits,
    ) -> Result<Published> {
        // A refusal rolls back (an admitted new device included): the
        // closure returns an error the wrapper turns back into the answer.
        let attempt = self.write(|tx| {
            require_user(tx, user)?;
            let Some(id) = admit(tx, user, device, limits)? else {
                return Err(StoreError::Conflict(TOO_MANY_DEVICES));
            };
            if !add_keys(tx, id, one_time_keys, limits.max_pool)? {
                return Err(StoreError::Conflict(POOL_FULL));
            }
            if let Some(f) = fallback {
                set_fallback(tx, id, f)?;
            }
            Ok(Published::Stored {
                pool: count(tx, POOL, id)?,
            })
        });
        match attempt {
            Err(StoreError::Conflict(TOO_MANY_DEVICES)) => Ok(Published::TooManyDevices),
            Err(StoreError::Conflict(POOL_FULL)) => Ok(Published::PoolFull),
            other => other,
        }
    }

    fn devices_of(&self, user: UserId) -> Result<Vec<DeviceRecord>> {
        self.read(|conn| {
            let sql = "SELECT user_id, curve25519, ed25519, created_ms FROM e2e_devices
                       WHERE user_id = ?1 ORDER BY id";
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map([user.0], device_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn claim_key(&self, user: UserId, device: &str) -> Result<Option<Claimed>> {
        self.write(|tx| match find_device(tx, device)? {
            Some((id, owner, _)) if owner == user => take_key(tx, id),
            _ => Ok(None),
        })
    }

    fn remove_device(&self, user: UserId, device: &str) -> Result<bool> {
        self.write(|tx| match find_device(tx, device)? {
            Some((id, owner, _)) if owner == user => {
                tx.prepare_cached("DELETE FROM e2e_one_time_keys WHERE device_id = ?1")?
                    .execute([id])?;
                tx.prepare_cached("DELETE FROM e2e_devices WHERE id = ?1")?
                    .execute([id])?;
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    fn pool_size(&self, device: &str) -> Result<usize> {
        self.read(|conn| match find_device(conn, device)? {
            Some((id, _, _)) => count(conn, POOL, id),
            None => Ok(0),
        })
    }

    fn put_encrypted(&self, key: MessageKey, body: &EncryptedBody) -> Result<()> {
        self.write(|tx| {
            let head = "INSERT OR IGNORE INTO e2e_bodies (conv_id, sender_id, client_id, sender_device)
                        VALUES (?1, ?2, ?3, ?4)";
            let (conv, sender, client) = key_params(key);
            let added = tx.prepare_cached(head)?.execute((conv, sender, client, &body.sender_device))?;
            if added == 0 {
                return Ok(());
            }
            let sql = "INSERT INTO e2e_ciphertexts (conv_id, sender_id, client_id, idx, device, kind, body)
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
            let mut stmt = tx.prepare_cached(sql)?;
            for (i, c) in body.ciphertexts.iter().enumerate() {
                stmt.execute((conv, sender, client, i as i64, &c.device, c.kind, &c.body))?;
            }
            Ok(())
        })
    }

    fn encrypted(&self, key: MessageKey) -> Result<Option<EncryptedBody>> {
        self.read(|conn| read_body(conn, key))
    }

    fn set_e2e(&self, conv: ConvId) -> Result<()> {
        self.write(|tx| {
            require_conv(tx, conv)?;
            let sql = "INSERT OR IGNORE INTO e2e_conversations (conv_id) VALUES (?1)";
            tx.prepare_cached(sql)?.execute([conv.0])?;
            Ok(())
        })
    }

    fn is_e2e(&self, conv: ConvId) -> Result<bool> {
        self.read(|conn| {
            let sql = "SELECT 1 FROM e2e_conversations WHERE conv_id = ?1";
            Ok(conn.prepare_cached(sql)?.exists([conv.0])?)
        })
    }
}

/// Internal rollback markers of [`SqliteStore::publish_keys`].
const TOO_MANY_DEVICES: &str = "e2e: too many devices";
const POOL_FULL: &str = "e2e: one-time key pool full";
