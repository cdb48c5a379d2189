//! The local history's texts encrypted at rest: ChaCha20-Poly1305 (ring)
//! under a key derived (BLAKE3 `derive_key`) from the device's
//! password-derived Argon2id key, a random nonce per text, and the
//! message's `(conv, seq)` as associated data (a sealed text cannot be
//! moved to another row). Stored as `v1:` + base64(nonce ‖ ciphertext).

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// The prefix of a sealed text (anything else is a legacy plaintext row).
const PREFIX: &str = "v1:";

/// Seals and opens local history texts.
pub(crate) struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// The sealer of the device whose pickle key is `pickle_key`.
    pub(crate) fn new(pickle_key: &[u8; 32]) -> Self {
        let mut subkey = blake3::derive_key("natter e2e local history v1", pickle_key);
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &subkey);
        subkey.fill(0);
        let key = LessSafeKey::new(unbound.unwrap_or_else(|_| unreachable!("32-byte key")));
        Self { key }
    }

    /// `text` of message `(conv, seq)`, sealed.
    pub(crate) fn seal(&self, (conv, seq): (u64, u64), text: &str) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        let mut data = text.as_bytes().to_vec();
        let sealed = self
            .key
            .seal_in_place_append_tag(nonce, Aad::from(aad(conv, seq)), &mut data);
        sealed.unwrap_or_else(|_| unreachable!("a chat text is far below the AEAD's limit"));
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{}", vodozemac::base64_encode(out))
    }

    /// The text of a sealed `stored` of message `(conv, seq)`; `None` if it
    /// is not sealed (a legacy row) or does not open (wrong key, tampered).
    pub(crate) fn open(&self, (conv, seq): (u64, u64), stored: &str) -> Option<String> {
        let raw = vodozemac::base64_decode(stored.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let aad = Aad::from(aad(conv, seq));
        let plain = self.key.open_in_place(nonce, aad, &mut sealed).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }

    /// True if `stored` is sealed (not a plaintext row of an older version).
    pub(crate) fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

fn aad(conv: u64, seq: u64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&conv.to_be_bytes());
    out[8..].copy_from_slice(&seq.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::Sealer;

    #[test]
    fn a_sealed_text_opens_only_with_its_key_and_row() {
        let sealer = Sealer::new(&[7; 32]);
        let sealed = sealer.seal((1, 2), "hello there");
        assert!(Sealer::is_sealed(&sealed));
        assert!(!sealed.contains("hello"));
        assert_eq!(sealer.open((1, 2), &sealed).as_deref(), Some("hello there"));
        assert_eq!(sealer.open((1, 3), &sealed), None, "moved to another row");
        assert_eq!(Sealer::new(&[8; 32]).open((1, 2), &sealed), None);
        assert_eq!(sealer.open((1, 2), "hello there"), None, "not sealed");
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(sealer.open((1, 2), &tampered), None);
    }
}
