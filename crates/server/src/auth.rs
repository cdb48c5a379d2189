//! Password hashing (argon2id, off the async threads, through the
//! [`HashGate`](crate::hasher::HashGate)) and session tokens.

use std::time::Duration;

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use natter_api::{ErrorCode, SessionToken};
use natter_store::TokenHash;

use crate::config::Argon2Config;
use crate::ctx::Shared;
use crate::error::CmdError;
use crate::hasher::Admission;
use crate::metrics::Metrics;

/// `too_many_attempts` with `wait` in whole milliseconds (at least 1).
pub(crate) fn too_many(wait: Duration) -> CmdError {
    let retry_after_ms = wait.as_millis().max(1).try_into().unwrap_or(u64::MAX);
    ErrorCode::TooManyAttempts { retry_after_ms }.into()
}

/// A place in the hash gate, or `too_many_attempts` (counted) when its
/// queue is full.
pub(crate) fn hash_slot(shared: &Shared) -> Result<Admission, CmdError> {
    shared.hashes.admit().map_err(|wait| {
        Metrics::inc(&shared.metrics.hash_refused);
        tracing::debug!(retry_after_ms = wait.as_millis(), "hash queue full");
        too_many(wait)
    })
}

pub(crate) use crate::error::HashError;

/// Hashes `password` into a PHC string with a fresh random salt.
pub(crate) async fn hash_password(
    slot: &Admission,
    cfg: &Argon2Config,
    password: String,
) -> Result<String, HashError> {
    let cfg = cfg.clone();
    slot.run(move || hash_blocking(&cfg, password.as_bytes()))
        .await?
}

/// True when `password` matches the PHC string `hash` (its own parameters are
/// used). A malformed hash counts as a mismatch.
pub(crate) async fn verify_password(
    slot: &Admission,
    hash: String,
    password: String,
) -> Result<bool, HashError> {
    let ok = slot.run(move || verify_blocking(&hash, password.as_bytes()));
    Ok(ok.await?)
}

thread_local! {
    /// argon2 working memory of this hashing thread, reused by every hash
    /// it computes (allocating 19 MiB per hash fragments the allocator's
    /// arenas: RSS grew far beyond threads × argon2 memory).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `blocks` blocks of this thread's argon2 memory.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        f(&mut memory[..blocks])
    })
}

/// argon2id with `cfg`, a fresh salt, as a PHC string.
fn hash_blocking(cfg: &Argon2Config, password: &[u8]) -> Result<String, HashError> {
    let fail = |e: &dyn std::fmt::Display| HashError::Argon2(e.to_string());
    let params =
        Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None).map_err(|e| fail(&e))?;
    let salt = Salt::new(&rand::random::<[u8; 16]>()).map_err(|e| fail(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_memory(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, &salt, &mut out, memory)
    })
    .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// True when `password` matches the PHC string `hash`, computed with the
/// hash's own algorithm and parameters; anything malformed is a mismatch.
fn verify_blocking(hash: &str, password: &[u8]) -> bool {
    let Ok(phc) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(phc.algorithm.as_str());
    let version = phc
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&phc))
    else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let computed = with_memory(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, salt, &mut out, memory)
    });
    // `Output` compares in constant time.
    computed.is_ok() && Output::new(&out).is_ok_and(|out| out == *expected)
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
        let gate =
            crate::hasher::HashGate::new(&crate::ServerConfig::default(), Default::default());
        let slot = gate.admit().unwrap();
        let hash = hash_password(&slot, &cheap(), "correct horse".into())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let verify = |hash: &str, pw: &str| verify_password(&slot, hash.into(), pw.into());
        assert!(verify(&hash, "correct horse").await.unwrap());
        assert!(!verify(&hash, "wrong horse").await.unwrap());
        assert!(!verify("garbage", "x").await.unwrap());
    }

    #[test]
    fn hashes_agree_with_the_argon2_crate_and_reuse_memory() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Ours, checked by the crate's own verifier, twice on one thread
        // (the second reuses the first's memory).
        for pw in ["first password", "second password"] {
            let ours = hash_blocking(&cheap(), pw.as_bytes()).unwrap();
            let phc = PasswordHash::new(&ours).unwrap();
            assert!(
                Argon2::default()
                    .verify_password(pw.as_bytes(), &phc)
                    .is_ok()
            );
            assert!(verify_blocking(&ours, pw.as_bytes()));
        }
        // The crate's, checked by ours (default parameters, other salt).
        let theirs = Argon2::default()
            .hash_password_with_salt(b"correct horse", b"0123456789abcdef")
            .unwrap()
            .to_string();
        assert!(verify_blocking(&theirs, b"correct horse"));
        assert!(!verify_blocking(&theirs, b"correct horsf"));
        let truncated = &theirs[..theirs.len() - 4];
        assert!(!verify_blocking(truncated, b"correct horse"));
    }

    #[test]
    fn too_many_rounds_up_to_a_millisecond() {
        let api = too_many(Duration::from_micros(10)).into_api();
        assert_eq!(api.code, ErrorCode::TooManyAttempts { retry_after_ms: 1 });
    }

    #[test]
    fn token_hash_matches_and_rejects_garbage() {
        let (token, hash) = new_token();
        assert_eq!(token.0.len(), 64);
        assert_eq!(token_hash(&token), Some(hash));
        assert_eq!(token_hash(&SessionToken("zz".into())), None);
    }
}
