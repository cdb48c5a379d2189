//! Encoding helpers: postcard for the UDP transport, JSON for WebSocket.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// postcard failed (malformed or truncated input).
    #[error("postcard: {0}")]
    Postcard(#[from] postcard::Error),
    /// JSON failed (malformed input or wrong shape).
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A complete value was followed by this many unexpected bytes.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
}

/// Encodes `value` as postcard.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(postcard::to_stdvec(value)?)
}

/// Decodes exactly one postcard value filling all of `bytes`.
/// Never panics, whatever the input.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(CodecError::TrailingBytes(rest.len()))
    }
}

/// Encodes `value` as a JSON string.
pub fn encode_json<T: Serialize>(value: &T) -> Result<String, CodecError> {
    Ok(serde_json::to_string(value)?)
}

/// Decodes one JSON value. Never panics, whatever the input.
pub fn decode_json<T: DeserializeOwned>(text: &str) -> Result<T, CodecError> {
    Ok(serde_json::from_str(text)?)
}
