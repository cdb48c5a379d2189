//! `Devices` on the in-memory backend.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::MemoryStore;
use crate::devices::pool_fits;
use crate::{
    Claimed, ConvId, DeviceRecord, Devices, EncryptedBody, KeyLimits, MessageKey, PublicKey,
    Published, Result, StoreError, UserId,
};

/// One device with its keys.
struct Device {
    record: DeviceRecord,
    /// Insertion order, for "oldest first".
    order: u64,
    pool: VecDeque<PublicKey>,
    fallback: Option<PublicKey>,
}

/// Every device by Curve25519 key, encrypted bodies and encrypted directs.
#[derive(Default)]
pub(super) struct DeviceTable {
    devices: HashMap<String, Device>,
    next_order: u64,
    bodies: HashMap<MessageKey, EncryptedBody>,
    e2e: HashSet<ConvId>,
}

impl DeviceTable {
    /// Forgets the ciphertexts of the messages `deleted` says to (a deleted
    /// message keeps nothing of its text, encrypted or not).
    pub(super) fn forget_bodies(&mut self, mut deleted: impl FnMut(&MessageKey) -> bool) {
        self.bodies.retain(|key, _| !deleted(key));
    }

    fn count_of(&self, user: UserId) -> usize {
        self.devices
            .values()
            .filter(|d| d.record.user == user)
            .count()
    }

    /// Checks the device may be published by `user`; `true` if it is new.
    fn admit(&self, user: UserId, device: &DeviceRecord) -> Result<bool> {
        match self.devices.get(&device.curve25519) {
            Some(d) if d.record.user != user || d.record.ed25519 != device.ed25519 => {
                Err(StoreError::Conflict("device key belongs to another device"))
            }
            Some(_) => Ok(false),
            None => Ok(true),
        }
    }
}

impl Devices for MemoryStore {
    fn publish_keys(
        &self,
        user: UserId,
        device: &DeviceRecord,
        one_time_keys: &[PublicKey],
        fallback: Option<&PublicKey>,
        limits: KeyLimits,
    ) -> Result<Published> {
        let mut s = self.lock()?;
        s.require_user(user)?;
        let table = &mut s.devices;
        let is_new = table.admit(user, device)?;
        if is_new && table.count_of(user) >= limits.max_devices {
            return Ok(Published::TooManyDevices);
        }
        if is_new {
            let order = table.next_order;
            table.next_order += 1;
            let record = DeviceRecord {
                user,
                ..device.clone()
            };
            let entry = Device {
                record,
                order,
                pool: VecDeque::new(),
                fallback: None,
            };
            table.devices.insert(device.curve25519.clone(), entry);
        }
        let Some(d) = table.devices.get_mut(&device.curve25519) else {
            return Err(StoreError::NotFound);
        };
        let known: HashSet<&str> = d.pool.iter().map(|k| k.key_id.as_str()).collect();
        let fresh: Vec<PublicKey> = unique(one_time_keys, &known);
        if !pool_fits(d.pool.len(), fresh.len(), limits.max_pool) {
            if is_new {
                table.devices.remove(&device.curve25519);
            }
            return Ok(Published::PoolFull);
        }
        d.pool.extend(fresh);
        if let Some(f) = fallback {
            d.fallback = Some(f.clone());
        }
        Ok(Published::Stored { pool: d.pool.len() })
    }

    fn devices_of(&self, user: UserId) -> Result<Vec<DeviceRecord>> {
        let s = self.lock()?;
        let mut mine: BTreeMap<u64, DeviceRecord> = BTreeMap::new();
        for d in s.devices.devices.values().filter(|d| d.record.user == user) {
            mine.insert(d.order, d.record.clone());
        }
        Ok(mine.into_values().collect())
    }

    fn claim_key(&self, user: UserId, device: &str) -> Result<Option<Claimed>> {
        let mut s = self.lock()?;
        let Some(d) = s.devices.devices.get_mut(device) else {
            return Ok(None);
        };
        if d.record.user != user {
            return Ok(None);
        }
        if let Some(key) = d.pool.pop_front() {
            return Ok(Some(Claimed {
                key,
                fallback: false,
            }));
        }
        Ok(d.fallback.clone().map(|key| Claimed {
            key,
            fallback: true,
        }))
    }

    fn remove_device(&self, user: UserId, device: &str) -> Result<bool> {
        let mut s = self.lock()?;
        let table = &mut s.devices.devices;
        if table.get(device).is_none_or(|d| d.record.user != user) {
            return Ok(false);
        }
        table.remove(device);
        Ok(true)
    }

    fn pool_size(&self, device: &str) -> Result<usize> {
        let s = self.lock()?;
        Ok(s.devices.devices.get(device).map_or(0, |d| d.pool.len()))
    }

    fn put_encrypted(&self, key: MessageKey, body: &EncryptedBody) -> Result<()> {
        let mut s = self.lock()?;
        s.devices.bodies.entry(key).or_insert_with(|| body.clone());
        Ok(())
    }

    fn encrypted(&self, key: MessageKey) -> Result<Option<EncryptedBody>> {
        Ok(self.lock()?.devices.bodies.get(&key).cloned())
    }

    fn set_e2e(&self, conv: ConvId) -> Result<()> {
        let mut s = self.lock()?;
        s.require_conv(conv)?;
        s.devices.e2e.insert(conv);
        Ok(())
    }

    fn is_e2e(&self, conv: ConvId) -> Result<bool> {
        Ok(self.lock()?.devices.e2e.contains(&conv))
    }
}

/// The keys of `keys` whose id is neither in `known` nor repeated earlier.
fn unique(keys: &[PublicKey], known: &HashSet<&str>) -> Vec<PublicKey> {
    let mut seen = HashSet::new();
    let fresh = keys.iter().filter(|k| !known.contains(k.key_id.as_str()));
    fresh
        .filter(|k| seen.insert(k.key_id.clone()))
        .cloned()
        .collect()
}
