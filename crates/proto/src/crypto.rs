//! Handshake, packet protection, retry tokens and key fingerprints.
//!
//! - Handshake: `Noise_NX_25519_ChaChaPoly_BLAKE2s` (one round trip). The
//!   client has no static key; the server's static key travels encrypted in
//!   message 2 and the client pins it by [`fingerprint`].
//! - Packet protection: the raw Noise split keys drive ChaCha20-Poly1305
//!   directly (ring), with the packet header as associated data and
//!   `0u32 || pn u64 BE` as nonce.
//! - Retry tokens: stateless address validation keyed by a rotating window.
//!
//! All randomness comes from caller-provided seeds. PROTOCOL.md ("Crypto")
//! specifies every construction.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use ring::aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver, FallbackResolver, RingResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use snow::{Builder, HandshakeState};

use crate::frame::TransportParams;
use crate::packet::{ConnectionId, VERSION};
use crate::varint::{self, DecodeError};

/// The Noise protocol name.
pub const NOISE_PATTERN: &str = "Noise_NX_25519_ChaChaPoly_BLAKE2s";
/// Length of an X25519 public key (and of the ephemeral key opening msg1).
pub const KEY_LEN: usize = 32;
/// Length of the MAC part of a retry token.
pub const TOKEN_MAC_LEN: usize = 16;
/// Prefix of a printed fingerprint.
pub const FINGERPRINT_PREFIX: &str = "natter1:";

/// Why a handshake or a decryption failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The Noise handshake failed (bad message, wrong state, bad key).
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The peer's transport parameters did not decode.
    #[error("bad transport parameters: {0}")]
    TransportParams(#[from] DecodeError),
    /// A packet failed authentication.
    #[error("packet authentication failed")]
    Decrypt,
}

impl From<snow::Error> for CryptoError {
    fn from(e: snow::Error) -> Self {
        Self::Handshake(e.to_string())
    }
}

// ---------------------------------------------------------------------------
// Seeded randomness for snow
// ---------------------------------------------------------------------------

/// snow RNG backed by a caller-seeded ChaCha20.
struct SeededRandom(ChaCha20Rng);

impl Random for SeededRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

/// Resolves only the RNG (seeded); everything else falls through.
struct SeededResolver([u8; 32]);

impl CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(SeededRandom(ChaCha20Rng::from_seed(self.0))))
    }
    fn resolve_dh(&self, _: &DHChoice) -> Option<Box<dyn Dh>> {
        None
    }
    fn resolve_hash(&self, _: &HashChoice) -> Option<Box<dyn Hash>> {
        None
    }
    fn resolve_cipher(&self, _: &CipherChoice) -> Option<Box<dyn Cipher>> {
        None
    }
}

/// Noise prologue: `"natter" || VERSION u32 BE`, binding the version.
fn prologue() -> [u8; 10] {
    let mut p = *b"natter\0\0\0\0";
    p[6..].copy_from_slice(&VERSION.to_be_bytes());
    p
}

fn builder(rng_seed: [u8; 32], prologue: &[u8]) -> Result<Builder<'_>, CryptoError> {
    let params = NOISE_PATTERN.parse()?;
    let primitives = FallbackResolver::new(Box::new(RingResolver), Box::new(DefaultResolver));
    let resolver = FallbackResolver::new(Box::new(SeededResolver(rng_seed)), Box::new(primitives));
    Ok(Builder::with_resolver(params, Box::new(resolver)).prologue(prologue)?)
}

// ---------------------------------------------------------------------------
// Static keys and fingerprints
// ---------------------------------------------------------------------------

/// The server's long-term X25519 key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticKeypair {
    /// Public key (what clients pin).
    pub public: [u8; KEY_LEN],
    private: [u8; KEY_LEN],
}

impl StaticKeypair {
    /// Derives a key pair from 32 random bytes (the first 32 bytes of a
    /// ChaCha20 stream seeded with `seed`).
    pub fn generate(seed: [u8; 32]) -> Self {
        let mut private = [0u8; KEY_LEN];
        ChaCha20Rng::from_seed(seed).fill_bytes(&mut private);
        Self::from_private(private)
    }

    /// Rebuilds a key pair from its private key (X25519 clamping applies).
    pub fn from_private(private: [u8; KEY_LEN]) -> Self {
        let mut dh = DefaultResolver
            .resolve_dh(&DHChoice::Curve25519)
            .expect("snow's default resolver always provides X25519");
        dh.set(&private);
        let mut public = [0u8; KEY_LEN];
        public.copy_from_slice(dh.pubkey());
        Self { public, private }
    }

    /// The private key, for storing the key pair.
    pub fn private_bytes(&self) -> [u8; KEY_LEN] {
        self.private
    }
}

impl fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("fingerprint", &fingerprint(&self.public))
            .finish_non_exhaustive()
    }
}

/// The first 20 bytes of BLAKE3(public key): what users compare and pin.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 20]);

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

impl Fingerprint {
    /// Fingerprint of an X25519 public key.
    pub fn of(public: &[u8; KEY_LEN]) -> Self {
        let hash = blake3::hash(public);
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&hash.as_bytes()[..20]);
        Self(bytes)
    }

    /// Whether `public` has this fingerprint.
    pub fn matches(&self, public: &[u8; KEY_LEN]) -> bool {
        constant_time_eq(&Self::of(public).0, &self.0)
    }
}

/// `natter1:` then 32 lowercase base32 characters (RFC 4648 alphabet, no
/// padding) in 8 dash-separated groups of 4.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FINGERPRINT_PREFIX)?;
        for (i, chunk) in self.0.chunks(5).enumerate() {
            let bits = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            let chars = (0..8).map(|j| BASE32[(bits >> (35 - 5 * j)) as usize & 31] as char);
            let chars: String = chars.collect();
            let sep = if i == 0 { "" } else { "-" };
            write!(f, "{sep}{}-{}", &chars[..4], &chars[4..])?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Printable fingerprint of a public key (see [`Fingerprint`]'s `Display`).
pub fn fingerprint(public: &[u8; KEY_LEN]) -> String {
    Fingerprint::of(public).to_string()
}

/// Parses a fingerprint as printed by [`fingerprint`]. The prefix is
/// optional; case, dashes and spaces are ignored.
pub fn parse_fingerprint(text: &str) -> Option<Fingerprint> {
    let text = text.trim();
    let body = match text.get(..FINGERPRINT_PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(FINGERPRINT_PREFIX) => &text[p.len()..],
        _ => text,
    };
    let digits = body
        .bytes()
        .filter(|b| !matches!(b, b'-' | b' '))
        .map(|b| BASE32.iter().position(|&c| c == b.to_ascii_lowercase()))
        .collect::<Option<Vec<usize>>>()?;
    if digits.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 20];
    for (chunk, out) in digits.chunks(8).zip(bytes.chunks_mut(5)) {
        let bits = chunk.iter().fold(0u64, |acc, &d| (acc << 5) | d as u64);
        out.copy_from_slice(&bits.to_be_bytes()[3..]);
    }
    Some(Fingerprint(bytes))
}

// ---------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------

/// What a completed handshake yields on either side.
#[derive(Debug)]
pub struct HandshakeOutput {
    /// Keys protecting Data packets in both directions.
    pub keys: PacketKeys,
    /// The server's static public key (client side); `None` on the server.
    pub remote_static: Option<[u8; KEY_LEN]>,
    /// The peer's transport parameters.
    pub remote_params: TransportParams,
    /// Noise handshake hash: identical on both sides, unique per handshake
    /// (usable as a channel binding by upper layers).
    pub handshake_hash: [u8; 32],
}

/// Client side of the handshake, between sending msg1 and receiving msg2.
pub struct ClientHandshake {
    state: HandshakeState,
    ephemeral: [u8; KEY_LEN],
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake").finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Starts a handshake; returns the state and msg1 (`e` + our params in
    /// clear) to put in an Initial packet.
    pub fn new(
        rng_seed: [u8; 32],
        params: &TransportParams,
    ) -> Result<(Self, Vec<u8>), CryptoError> {
        let prologue = prologue();
        let mut state = builder(rng_seed, &prologue)?.build_initiator()?;
        let msg1 = write_with_params(&mut state, params)?;
        let ephemeral =
            initial_ephemeral(&msg1).ok_or(CryptoError::Handshake("short msg1".into()))?;
        Ok((Self { state, ephemeral }, msg1))
    }

    /// The client's ephemeral public key (the first 32 bytes of msg1).
    pub fn ephemeral(&self) -> [u8; KEY_LEN] {
        self.ephemeral
    }

    /// Processes msg2 and derives the packet keys.
    ///
    /// If msg2 fails authentication the state is left unchanged, so a
    /// forged or corrupted Handshake packet can be dropped and the genuine
    /// one still accepted. After a success, further calls fail.
    pub fn finish(&mut self, msg2: &[u8]) -> Result<HandshakeOutput, CryptoError> {
        let remote_params = read_params(&mut self.state, msg2)?;
        let remote_static = self
            .state
            .get_remote_static()
            .and_then(|k| k.try_into().ok());
        let remote_static =
            Some(remote_static.ok_or(CryptoError::Handshake("no server key".into()))?);
        let (keys, handshake_hash) = split(&mut self.state, true)?;
        Ok(HandshakeOutput {
            keys,
            remote_static,
            remote_params,
            handshake_hash,
        })
    }
}

/// Server side: processes msg1 and returns msg2 (for a Handshake packet)
/// with the completed handshake.
pub fn server_respond(
    static_key: &StaticKeypair,
    rng_seed: [u8; 32],
    msg1: &[u8],
    params: &TransportParams,
) -> Result<(Vec<u8>, HandshakeOutput), CryptoError> {
    let prologue = prologue();
    let mut state = builder(rng_seed, &prologue)?
        .local_private_key(&static_key.private)?
        .build_responder()?;
    let remote_params = read_params(&mut state, msg1)?;
    let msg2 = write_with_params(&mut state, params)?;
    let (keys, handshake_hash) = split(&mut state, false)?;
    let output = HandshakeOutput {
        keys,
        remote_static: None,
        remote_params,
        handshake_hash,
    };
    Ok((msg2, output))
}

/// The client ephemeral key opening msg1 (replay detection), if present.
pub fn initial_ephemeral(msg1: &[u8]) -> Option<[u8; KEY_LEN]> {
    msg1.get(..KEY_LEN)?.try_into().ok()
}

fn write_with_params(
    state: &mut HandshakeState,
    params: &TransportParams,
) -> Result<Vec<u8>, CryptoError> {
    let mut payload = Vec::new();
    params.encode(&mut payload);
    let mut message = vec![0u8; payload.len() + 128];
    let len = state.write_message(&payload, &mut message)?;
    message.truncate(len);
    Ok(message)
}

fn read_params(state: &mut HandshakeState, message: &[u8]) -> Result<TransportParams, CryptoError> {
    let mut payload = vec![0u8; message.len()];
    let len = state.read_message(message, &mut payload)?;
    Ok(TransportParams::decode(&payload[..len])?)
}

fn split(
    state: &mut HandshakeState,
    initiator: bool,
) -> Result<(PacketKeys, [u8; 32]), CryptoError> {
    if !state.is_handshake_finished() {
        return Err(CryptoError::Handshake("handshake not finished".into()));
    }
    let hash = state
        .get_handshake_hash()
        .try_into()
        .map_err(|_| CryptoError::Handshake("unexpected hash length".into()))?;
    let (i_to_r, r_to_i) = state.dangerously_get_raw_split();
    let keys = match initiator {
        true => PacketKeys::from_secrets(i_to_r, r_to_i),
        false => PacketKeys::from_secrets(r_to_i, i_to_r),
    };
    Ok((keys, hash))
}

// ---------------------------------------------------------------------------
// Packet protection
// ---------------------------------------------------------------------------

/// ChaCha20-Poly1305 keys for one connection: one per direction.
///
/// Only the 32-byte secrets are kept; the cipher key is set up for each
/// packet (for ChaCha20 that is a copy of the secret), because ring's key
/// type is sized for AES-GCM's tables and would cost about 1 KiB per idle
/// connection.
pub struct PacketKeys {
    send: [u8; 32],
    recv: [u8; 32],
}

impl fmt::Debug for PacketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketKeys").finish_non_exhaustive()
    }
}

fn nonce(pn: u64) -> Nonce {
    let mut bytes = [0u8; aead::NONCE_LEN];
    bytes[4..].copy_from_slice(&pn.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

fn aead_key(secret: &[u8; 32]) -> LessSafeKey {
    let key = UnboundKey::new(&CHACHA20_POLY1305, secret)
        .expect("a 32-byte key is always valid for ChaCha20-Poly1305");
    LessSafeKey::new(key)
}

impl PacketKeys {
    /// Keys from raw secrets: `send` seals outgoing packets, `recv` opens
    /// incoming ones. (The handshake calls this; tests may too.)
    pub fn from_secrets(send: [u8; 32], recv: [u8; 32]) -> Self {
        Self { send, recv }
    }

    /// Encrypts `payload` in place and appends the 16-byte tag. `pn` must
    /// never repeat with these keys.
    pub fn seal(&self, pn: u64, header: &[u8], payload: &mut Vec<u8>) {
        aead_key(&self.send)
            .seal_in_place_append_tag(nonce(pn), Aad::from(header), payload)
            .expect("packet far below ChaCha20-Poly1305's 256 GiB limit");
    }

    /// Seals a whole packet built in one buffer: `packet[..header_len]` is
    /// the header (associated data), the rest the plaintext frames; the tag
    /// is appended.
    pub fn seal_packet(&self, pn: u64, packet: &mut Vec<u8>, header_len: usize) {
        let (header, body) = packet.split_at_mut(header_len);
        let tag = aead_key(&self.send)
            .seal_in_place_separate_tag(nonce(pn), Aad::from(&*header), body)
            .expect("packet far below ChaCha20-Poly1305's 256 GiB limit");
        packet.extend_from_slice(tag.as_ref());
    }

    /// Authenticates and decrypts `ciphertext` (tag included) in place and
    /// returns the plaintext.
    pub fn open<'a>(
        &self,
        pn: u64,
        header: &[u8],
        ciphertext: &'a mut [u8],
    ) -> Result<&'a [u8], CryptoError> {
        let plain = aead_key(&self.recv)
            .open_in_place(nonce(pn), Aad::from(header), ciphertext)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(plain)
    }

    /// Like [`open`](Self::open) on a whole datagram whose first
    /// `header_len` bytes are the header (as `packet::decode` reports).
    pub fn open_packet<'a>(
        &self,
        pn: u64,
        packet: &'a mut [u8],
        header_len: usize,
    ) -> Result<&'a [u8], CryptoError> {
        if header_len > packet.len() {
            return Err(CryptoError::Decrypt);
        }
        let (header, body) = packet.split_at_mut(header_len);
        self.open(pn, header, body)
    }
}

// ---------------------------------------------------------------------------
// Retry tokens
// ---------------------------------------------------------------------------

/// Issues and checks stateless retry tokens.
///
/// A token is `varint(window) || MAC[..16]`, where the MAC is keyed BLAKE3
/// with `derive_key("natter retry token v1", master || window u64 BE)` over
/// the client address and connection ID. The endpoint picks `window` (e.g.
/// seconds since an epoch divided by a period); a token stays valid in its
/// window and the next one.
#[derive(Clone)]
pub struct TokenKey {
    master: [u8; 32],
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey").finish_non_exhaustive()
    }
}

impl TokenKey {
    /// A token key from a 32-byte secret (keep it secret; rotate at will).
    pub fn new(master: [u8; 32]) -> Self {
        Self { master }
    }

    /// A token for `addr` and `dcid`, valid in `window` and `window + 1`.
    /// `window` must be at most [`varint::MAX`].
    pub fn issue(&self, window: u64, addr: &SocketAddr, dcid: &ConnectionId) -> Vec<u8> {
        let mut token = Vec::with_capacity(8 + TOKEN_MAC_LEN);
        varint::encode(window, &mut token);
        token.extend_from_slice(&self.mac(window, addr, dcid));
        token
    }

    /// Whether `token` was issued by this key for `addr` and `dcid` in
    /// `current_window` or the one before.
    pub fn validate(
        &self,
        current_window: u64,
        addr: &SocketAddr,
        dcid: &ConnectionId,
        token: &[u8],
    ) -> bool {
        let mut rest = token;
        let Ok(window) = varint::decode(&mut rest) else {
            return false;
        };
        let fresh = window == current_window || window.checked_add(1) == Some(current_window);
        fresh && constant_time_eq(rest, &self.mac(window, addr, dcid))
    }

    fn mac(&self, window: u64, addr: &SocketAddr, dcid: &ConnectionId) -> [u8; TOKEN_MAC_LEN] {
        let mut material = [0u8; 40];
        material[..32].copy_from_slice(&self.master);
        material[32..].copy_from_slice(&window.to_be_bytes());
        let key = blake3::derive_key("natter retry token v1", &material);
        let hash = blake3::keyed_hash(&key, &token_input(addr, dcid));
        let mut mac = [0u8; TOKEN_MAC_LEN];
        mac.copy_from_slice(&hash.as_bytes()[..TOKEN_MAC_LEN]);
        mac
    }
}

/// Canonical `family (4|6) || ip octets || port u16 BE || dcid` encoding;
/// IPv4-mapped IPv6 addresses count as IPv4.
fn token_input(addr: &SocketAddr, dcid: &ConnectionId) -> Vec<u8> {
    let mut input = Vec::with_capacity(1 + 16 + 2 + 8);
    match addr.ip().to_canonical() {
        IpAddr::V4(ip) => {
            input.push(4);
            input.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            input.push(6);
            input.extend_from_slice(&ip.octets());
        }
    }
    input.extend_from_slice(&addr.port().to_be_bytes());
    input.extend_from_slice(&dcid.0);
    input
}

/// Compares without an early exit (timing does not reveal where a forged
/// MAC first differs). Lengths are not secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests;
