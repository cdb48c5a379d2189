//! Who is asking: the session token of an `Authorization: Bearer TOKEN`
//! header, checked like a `resume` (an expired token is refused and
//! deleted, a valid one is marked used). Tokens never travel in URLs and
//! are never logged.

use axum::http::{HeaderMap, header};
use natter_api::{ErrorCode, SessionToken};
use natter_store::UserId;

use super::fail::Fail;
use crate::auth;
use crate::ctx::{Shared, now_ms};

/// The token of an `Authorization: Bearer …` header, if there is one.
pub(crate) fn token(headers: &HeaderMap) -> Option<SessionToken> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    let ok = scheme.eq_ignore_ascii_case("bearer") && !token.is_empty();
    ok.then(|| SessionToken(token.to_owned()))
}

/// The user whose live session token `headers` carry; `bad_credentials`
/// (401) when there is none or it is unknown or expired.
pub(crate) async fn user(
    shared: &Shared,
    headers: &HeaderMap,
    addr: String,
) -> Result<UserId, Fail> {
    let refused = || Fail::new(ErrorCode::BadCredentials, "a valid session token is needed");
    let token = token(headers).ok_or_else(refused)?;
    let hash = auth::token_hash(&token).ok_or_else(refused)?;
    let idle = shared.config.session_idle_ms();
    let touched = shared
        .db(move |st| st.touch_session(hash, Some(&addr), now_ms(), idle))
        .await?;
    Ok(touched.ok_or_else(refused)?.user)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header_only() {
        assert_eq!(token(&with("Bearer abc")).map(|t| t.0), Some("abc".into()));
        assert_eq!(
            token(&with("bearer  abc ")).map(|t| t.0),
            Some("abc".into())
        );
        assert!(token(&with("Basic abc")).is_none());
        assert!(token(&with("Bearer ")).is_none());
        assert!(token(&HeaderMap::new()).is_none());
    }
}
