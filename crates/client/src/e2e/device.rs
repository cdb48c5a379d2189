//! This installation's Olm device: account, sessions, decrypting and
//! encrypting. Every change of Olm state is written back (encrypted) to
//! the local store at once, so a crash never reuses a one-time key or a
//! ratchet step.

use std::path::Path;

use argon2::Argon2;
use natter_api::{ClaimedKey, DeviceCiphertext, DeviceKeys, Request, SignedKey};
use serde::{Deserialize, Serialize};
use vodozemac::olm::{Account, AccountPickle, OlmMessage, Session, SessionConfig, SessionPickle};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature};

use super::E2eError;
use super::seal::Sealer;
use super::store::{LocalMessage, LocalStore};

/// Tries of a ratchet step that another process raced (see
/// [`LocalStore::save_session`]).
const CAS_ATTEMPTS: usize = 5;

/// One-time keys kept published on the server.
const POOL_TARGET: usize = 50;

/// The plaintext inside each Olm message: the text bound to the message's
/// id, sender and recipient, so the server cannot move a ciphertext to
/// another message, sender or conversation.
#[derive(Serialize, Deserialize)]
struct Payload {
    id: uuid::Uuid,
    from: String,
    to: String,
    body: String,
}

/// What decrypting one ciphertext gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decrypted {
    /// The text.
    Text(String),
    /// This ciphertext was handled before (a replay): not shown again.
    Replay,
    /// Not decryptable (tampered, wrong binding, no session).
    Failed(String),
}

/// This installation's device.
pub struct E2eDevice {
    account: Account,
    key: Box<[u8; 32]>,
    store: LocalStore,
    user: String,
}

impl E2eDevice {
    /// Opens the device stored at `path` for `user`, creating it on first
    /// use; its keys are unlocked with `password`.
    pub fn open(path: &Path, user: &str, password: &str) -> Result<Self, E2eError> {
        let store = LocalStore::open(path)?;
        let salt = match store.meta("salt")? {
            Some(salt) => salt,
            None => {
                let salt: [u8; 16] = rand::random();
                store.set_meta("salt", &salt)?;
                salt.to_vec()
            }
        };
        let key = derive_key(password, &salt)?;
        let account = match store.meta("account")? {
            Some(pickle) => {
                let pickle = String::from_utf8_lossy(&pickle).into_owned();
                let pickle = AccountPickle::from_encrypted(&pickle, &key)
                    .map_err(|_| E2eError::WrongPassword)?;
                Account::from_pickle(pickle)
            }
            None => Account::new(),
        };
        store.unlock(Sealer::new(&key))?;
        let device = Self {
            account,
            key,
            store,
            user: user.to_owned(),
        };
        device.save_account()?;
        Ok(device)
    }

    /// Re-encrypts the keys at rest under `new_password` (a fresh salt):
    /// call it when the account password changes. Other homes' devices of
    /// the same user are re-keyed when they are next opened with the old
    /// password and this is called there.
    pub fn change_password(&mut self, new_password: &str) -> Result<(), E2eError> {
        let salt: [u8; 16] = rand::random();
        let key = derive_key(new_password, &salt)?;
        let sessions = self.store.all_sessions()?;
        let mut rekeyed = Vec::with_capacity(sessions.len());
        for (device, id, pickle) in sessions {
            let session = self.unpickle(&pickle)?;
            rekeyed.push((device, id, session.pickle().encrypt(&key)));
        }
        let account = self.account.pickle().encrypt(&key);
        let sealer = Sealer::new(&key);
        self.store
            .rekey(&salt, account.as_bytes(), &rekeyed, sealer)?;
        self.key = key;
        Ok(())
    }

    /// This device's public identity keys.
    pub fn keys(&self) -> DeviceKeys {
        let ids = self.account.identity_keys();
        DeviceKeys {
            curve25519: ids.curve25519.to_base64(),
            ed25519: ids.ed25519.to_base64(),
        }
    }

    /// The account name this device belongs to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The local history entry of message `seq` of `conv`, if any.
    pub fn local_message(&self, conv: u64, seq: u64) -> Result<Option<LocalMessage>, E2eError> {
        self.store.message(conv, seq)
    }

    /// Marks every known device of `user` verified (until one is added).
    pub fn verify(&self, user: &str) -> Result<(), E2eError> {
        self.store.verify(&user.to_lowercase())
    }

    /// The devices of `user` this device has seen, with their trust.
    pub fn known_devices(&self, user: &str) -> Result<Vec<super::KnownDevice>, E2eError> {
        self.store.devices(&user.to_lowercase())
    }

    pub(crate) fn store(&self) -> &LocalStore {
        &self.store
    }

    /// A `publish_keys` request topping the pool up to [`POOL_TARGET`]
    /// unused one-time keys, with a fallback key; call
    /// [`Self::mark_published`] once it succeeded.
    pub fn publish_request(&mut self) -> Result<Request, E2eError> {
        self.reload_account()?;
        let unused = self.account.stored_one_time_key_count();
        let wanted = POOL_TARGET.saturating_sub(unused);
        self.account.generate_one_time_keys(wanted);
        if self.account.fallback_key().is_empty() {
            self.account.generate_fallback_key();
        }
        self.save_account()?;
        let sign = |(id, key): (vodozemac::KeyId, Curve25519PublicKey)| SignedKey {
            key_id: id.to_base64(),
            key: key.to_base64(),
            signature: self.account.sign(key.to_base64()).to_base64(),
        };
        Ok(Request::PublishKeys {
            device: self.keys(),
            one_time_keys: self.account.one_time_keys().into_iter().map(sign).collect(),
            fallback_key: self.account.fallback_key().into_iter().map(sign).next(),
        })
    }

    /// The keys of the last [`Self::publish_request`] are on the server.
    pub fn mark_published(&mut self) -> Result<(), E2eError> {
        self.account.mark_keys_as_published();
        self.save_account()
    }

    /// True if this device has an Olm session with `device` to encrypt
    /// with (not when a message from it could not be decrypted since: then
    /// the next message to it starts a fresh session).
    pub fn has_session(&self, device: &str) -> Result<bool, E2eError> {
        let fresh = self.store.meta(&fresh_key(device))?.is_some();
        Ok(!fresh && !self.store.sessions(device)?.is_empty())
    }

    /// Encrypts `body` (message `id`, to the direct with `to`) for each
    /// device: with the existing session, else a new one from its claimed
    /// key (whose signature is checked against the device's Ed25519 key).
    pub fn encrypt(
        &mut self,
        id: uuid::Uuid,
        to: &str,
        body: &str,
        devices: &[DeviceKeys],
        claimed: &[ClaimedKey],
    ) -> Result<Vec<DeviceCiphertext>, E2eError> {
        let payload = Payload {
            id,
            from: self.user.clone(),
            to: to.to_owned(),
            body: body.to_owned(),
        };
        let plaintext = serde_json::to_vec(&payload).map_err(|e| E2eError::Olm(e.to_string()))?;
        let mut out = Vec::new();
        for device in devices {
            if let Some(c) = self.encrypt_for(device, claimed, &plaintext)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// One device's ciphertext; a ratchet step another process on this
    /// home took meanwhile makes it start over on the fresh state.
    fn encrypt_for(
        &mut self,
        device: &DeviceKeys,
        claimed: &[ClaimedKey],
        plaintext: &[u8],
    ) -> Result<Option<DeviceCiphertext>, E2eError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut session, previous)) = self.session_for(device, claimed)? else {
                return Ok(None);
            };
            let message = session
                .encrypt(plaintext)
                .map_err(|e| E2eError::Olm(e.to_string()))?;
            if !self.save_session(&device.curve25519, &session, previous.as_deref())? {
                continue;
            }
            let (kind, body) = message.to_parts();
            return Ok(Some(DeviceCiphertext {
                device: device.curve25519.clone(),
                kind: kind as u32,
                body,
            }));
        }
        Err(E2eError::Olm(
            "the session kept changing under another process".into(),
        ))
    }

    /// The newest session with `device`, or a new outbound one from its
    /// claimed key (`None` if it has neither).
    fn session_for(
        &mut self,
        device: &DeviceKeys,
        claimed: &[ClaimedKey],
    ) -> Result<Option<(Session, Option<String>)>, E2eError> {
        let claim = claimed
            .iter()
            .find(|c| c.device.curve25519 == device.curve25519);
        if claim.is_none() || self.has_session(&device.curve25519)? {
            let Some((_, pickle)) = self.store.sessions(&device.curve25519)?.into_iter().next()
            else {
                return Ok(None);
            };
            return Ok(Some((self.unpickle(&pickle)?, Some(pickle))));
        }
        let Some(c) = claim else {
            return Ok(None);
        };
        self.store.clear_meta(&fresh_key(&device.curve25519))?;
        let identity = curve(&device.curve25519)?;
        let one_time = curve(&c.key.key)?;
        verify(&device.ed25519, &c.key.key, &c.key.signature)?;
        let session = self
            .account
            .create_outbound_session(SessionConfig::version_1(), identity, one_time)
            .map_err(|e| E2eError::Olm(e.to_string()))?;
        Ok(Some((session, None)))
    }

    /// Decrypts the ciphertext `(kind, body)` sent by `sender_device` as
    /// message `id` from `from` in the direct of `from` and `to`.
    pub fn decrypt(
        &mut self,
        sender_device: &str,
        (kind, body): (u32, &[u8]),
        (id, from): (uuid::Uuid, &str),
    ) -> Result<Decrypted, E2eError> {
        let hash = blake3::hash(body);
        if !self.store.first_sight(hash.as_bytes())? {
            return Ok(Decrypted::Replay);
        }
        let Ok(message) = OlmMessage::from_parts(kind as usize, body) else {
            return Ok(Decrypted::Failed("malformed Olm message".into()));
        };
        let plaintext = match self.decrypt_olm(sender_device, &message)? {
            Ok(p) => p,
            Err(why) => return Ok(Decrypted::Failed(why)),
        };
        let Ok(payload) = serde_json::from_slice::<Payload>(&plaintext) else {
            return Ok(Decrypted::Failed("malformed plaintext".into()));
        };
        if payload.id != id || payload.from != from {
            return Ok(Decrypted::Failed(
                "ciphertext bound to another message".into(),
            ));
        }
        Ok(Decrypted::Text(payload.body))
    }

    /// Tries the sessions with `sender_device`, then (pre-key message) a
    /// new inbound session. On failure of a normal message the sessions
    /// with that device are dropped, so the next message to it starts a
    /// fresh one and the conversation heals by itself.
    fn decrypt_olm(
        &mut self,
        sender_device: &str,
        message: &OlmMessage,
    ) -> Result<Result<Vec<u8>, String>, E2eError> {
        'fresh: for _ in 0..CAS_ATTEMPTS {
            for (_, pickle) in self.store.sessions(sender_device)? {
                let mut session = self.unpickle(&pickle)?;
                if let Ok(plain) = session.decrypt(message) {
                    if !self.save_session(sender_device, &session, Some(&pickle))? {
                        continue 'fresh; // another process stepped it: again
                    }
                    return Ok(Ok(plain));
                }
            }
            break;
        }
        self.reload_account()?;
        let OlmMessage::PreKey(pre_key) = message else {
            self.store.set_meta(&fresh_key(sender_device), &[1])?;
            return Ok(Err(
                "no session decrypts it (a new session starts with the next message)".into(),
            ));
        };
        let Ok(identity) = Curve25519PublicKey::from_base64(sender_device) else {
            return Ok(Err("bad sender device key".into()));
        };
        let created =
            self.account
                .create_inbound_session(SessionConfig::version_1(), identity, pre_key);
        match created {
            Ok(result) => {
                self.save_account()?;
                self.save_session(sender_device, &result.session, None)?;
                Ok(Ok(result.plaintext))
            }
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    fn unpickle(&self, pickle: &str) -> Result<Session, E2eError> {
        let pickle = SessionPickle::from_encrypted(pickle, &self.key)
            .map_err(|_| E2eError::WrongPassword)?;
        Ok(Session::from_pickle(pickle))
    }

    /// Writes `session` (only over `previous`, see
    /// [`LocalStore::save_session`]); `false` if someone changed it first.
    fn save_session(
        &self,
        device: &str,
        session: &Session,
        previous: Option<&str>,
    ) -> Result<bool, E2eError> {
        let pickle = session.pickle().encrypt(&self.key);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let now_ms = now.map_or(0, |d| d.as_millis() as i64);
        let id = session.session_id();
        self.store
            .save_session((device, &id), &pickle, now_ms, previous)
    }

    /// Takes the account as stored (another process on this home may have
    /// used a one-time key or made new ones since this one loaded it).
    fn reload_account(&mut self) -> Result<(), E2eError> {
        if let Some(pickle) = self.store.meta("account")? {
            let pickle = String::from_utf8_lossy(&pickle).into_owned();
            let pickle = AccountPickle::from_encrypted(&pickle, &self.key)
                .map_err(|_| E2eError::WrongPassword)?;
            self.account = Account::from_pickle(pickle);
        }
        Ok(())
    }

    fn save_account(&self) -> Result<(), E2eError> {
        let pickle = self.account.pickle().encrypt(&self.key);
        self.store.set_meta("account", pickle.as_bytes())
    }
}

impl E2eDevice {
    /// For tests that read the home's files byte by byte: this device's
    /// secrets — the pickle key, the private keys of its Olm account and
    /// the root, chain and ratchet keys of its sessions, each raw and in
    /// base64 — none of which may be found in clear on disk.
    #[doc(hidden)]
    pub fn secret_material(&self) -> Result<Vec<Vec<u8>>, E2eError> {
        let mut found = vec![self.key.to_vec()];
        let account = serde_json::to_value(self.account.pickle());
        secret_arrays(
            &account.map_err(|e| E2eError::Olm(e.to_string()))?,
            &[],
            &mut found,
        );
        for (_, _, pickle) in self.store.all_sessions()? {
            let session = serde_json::to_value(self.unpickle(&pickle)?.pickle());
            secret_arrays(
                &session.map_err(|e| E2eError::Olm(e.to_string()))?,
                &[],
                &mut found,
            );
        }
        let b64: Vec<Vec<u8>> = found
            .iter()
            .map(|s| vodozemac::base64_encode(s).into_bytes())
            .collect();
        found.extend(b64);
        Ok(found)
    }
}

/// The 32-byte arrays of a vodozemac pickle (as JSON) that are secret:
/// private keys, root, chain and our own ratchet keys (not the public keys
/// a pickle also holds).
fn secret_arrays(v: &serde_json::Value, path: &[&str], out: &mut Vec<Vec<u8>>) {
    use serde_json::Value;
    const SECRET: [&str; 7] = [
        "Normal",
        "Expanded",
        "diffie_hellman_key",
        "key",
        "root_key",
        "chain_key",
        "private_keys",
    ];
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let mut deeper = path.to_vec();
                deeper.push(k);
                secret_arrays(child, &deeper, out);
            }
        }
        Value::Array(items) if items.len() == 32 && items.iter().all(Value::is_u64) => {
            let last = path.last().copied().unwrap_or_default();
            let secret = SECRET.contains(&last)
                || path.contains(&"private_keys")
                || (last == "ratchet_key" && path.contains(&"active_ratchet"));
            if secret && !path.contains(&"session_keys") && !path.contains(&"public_keys") {
                out.push(
                    items
                        .iter()
                        .filter_map(Value::as_u64)
                        .map(|b| b as u8)
                        .collect(),
                );
            }
        }
        Value::Array(items) => items.iter().for_each(|i| secret_arrays(i, path, out)),
        _ => {}
    }
}

/// The local flag "start a fresh session with `device`".
pub(crate) fn fresh_key(device: &str) -> String {
    format!("fresh:{device}")
}

/// The pickle key: Argon2id of the password with the device's salt.
fn derive_key(password: &str, salt: &[u8]) -> Result<Box<[u8; 32]>, E2eError> {
    let mut key = Box::new([0u8; 32]);
    Argon2::default()
        .hash_password_into(password.as_bytes(), salt, &mut key[..])
        .map_err(|e| E2eError::Kdf(e.to_string()))?;
    Ok(key)
}

fn curve(b64: &str) -> Result<Curve25519PublicKey, E2eError> {
    Curve25519PublicKey::from_base64(b64).map_err(|e| E2eError::BadKey(e.to_string()))
}

/// Checks `signature` of `message` by the Ed25519 key `ed25519`.
fn verify(ed25519: &str, message: &str, signature: &str) -> Result<(), E2eError> {
    let bad = |e: String| E2eError::BadKey(e);
    let key = Ed25519PublicKey::from_base64(ed25519).map_err(|e| bad(e.to_string()))?;
    let sig = Ed25519Signature::from_base64(signature).map_err(|e| bad(e.to_string()))?;
    key.verify(message.as_bytes(), &sig)
        .map_err(|_| bad("one-time key signature does not verify".into()))
}
