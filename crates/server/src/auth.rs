//! Password hashing (argon2id, off the async threads) and session tokens.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use natter_api::SessionToken;
use natter_store::TokenHash;

use crate::config::Argon2Config;

/// Why hashing failed (bad parameters or a task failure); never peer-visible.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("hashing task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Hashes `password` into a PHC string with a fresh random salt.
pub(crate) async fn hash_password(
    cfg: &Argon2Config,
    password: String,
) -> Result<String, HashError> {
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || {
        let salt: [u8; 16] = rand::random();
        let hasher = argon2(&cfg)?;
        let hash = hasher
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        Ok(hash.to_string())
    })
    .await?
}

/// True when `password` matches the PHC string `hash` (its own parameters are
/// used). A malformed hash counts as a mismatch.
pub(crate) async fn verify_password(hash: String, password: String) -> Result<bool, HashError> {
    let ok = tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await?;
    Ok(ok)
}

fn argon2(cfg: &Argon2Config) -> Result<Argon2<'static>, HashError> {
    let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
        .map_err(|e| HashError::Argon2(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A fresh session token (32 random bytes, hex) and the hash to store.
pub(crate) fn new_token() -> (SessionToken, TokenHash) {
    let raw: [u8; 32] = rand::random();
    (SessionToken(hex::encode(raw)), blake3::hash(&raw).into())
}

/// The stored hash of a token the client presented, or `None` if it is not
/// 64 hex digits.
pub(crate) fn token_hash(token: &SessionToken) -> Option<TokenHash> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(&token.0, &mut raw).ok()?;
    Some(blake3::hash(&raw).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Config {
        Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hash = hash_password(&cheap(), "correct horse".into())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password(hash.clone(), "correct horse".into())
                .await
                .unwrap()
        );
        assert!(!verify_password(hash, "wrong horse".into()).await.unwrap());
        assert!(!verify_password("garbage".into(), "x".into()).await.unwrap());
    }

    #[test]
    fn token_hash_matches_and_rejects_garbage() {
        let (token, hash) = new_token();
        assert_eq!(token.0.len(), 64);
        assert_eq!(token_hash(&token), Some(hash));
        assert_eq!(token_hash(&SessionToken("zz".into())), None);
    }
}
