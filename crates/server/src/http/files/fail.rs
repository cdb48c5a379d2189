//! How the file door answers a failure: an HTTP status chosen from the
//! peer-visible [`ErrorCode`], with the same JSON error object the
//! WebSocket door sends (`{"code": "too_large", "message": "…"}`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use natter_api::{ApiError, ErrorCode};

use crate::error::CmdError;

/// A failed file request: the peer-visible error, plus the offset the
/// server holds when a chunk did not start there (409).
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) error: ApiError,
    /// `Upload-Offset` to answer with (a chunk at the wrong offset).
    pub(crate) offset: Option<u64>,
}

impl Fail {
    /// `code` with explicit text.
    pub(crate) fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        Self {
            error: ApiError::new(code, text),
            offset: None,
        }
    }

    /// A chunk that does not start at the committed offset `at`.
    pub(crate) fn wrong_offset(at: u64) -> Self {
        Self {
            offset: Some(at),
            ..Self::new(
                ErrorCode::BadRequest,
                format!("the upload continues at byte {at}"),
            )
        }
    }

    /// A malformed request.
    pub(crate) fn bad(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, text)
    }
}

impl From<CmdError> for Fail {
    fn from(e: CmdError) -> Self {
        Self {
            error: e.into_api(),
            offset: None,
        }
    }
}

impl From<ErrorCode> for Fail {
    fn from(code: ErrorCode) -> Self {
        Self {
            error: code.into(),
            offset: None,
        }
    }
}

/// The HTTP status of a peer-visible error on the file door.
pub(crate) fn status(code: &ErrorCode) -> StatusCode {
    use ErrorCode as E;
    match code {
        E::BadCredentials | E::Unauthenticated => StatusCode::UNAUTHORIZED,
        E::NotMember | E::AccountDisabled => StatusCode::FORBIDDEN,
        E::NoSuchConversation | E::NoSuchUser | E::NoSuchFile => StatusCode::NOT_FOUND,
        E::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        E::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
        E::HashMismatch => StatusCode::UNPROCESSABLE_ENTITY,
        E::TooManyAttempts { .. } | E::RateLimited { .. } | E::LimitReached => {
            StatusCode::TOO_MANY_REQUESTS
        }
        E::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        E::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let mut status = status(&self.error.code);
        if self.offset.is_some() {
            status = StatusCode::CONFLICT;
        }
        let body = serde_json::to_string(&self.error).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"natter\""),
            );
        }
        if let Some(at) = self.offset {
            headers.insert("upload-offset", HeaderValue::from(at));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_code_in_the_body_and_pick_a_status() {
        let r = Fail::from(ErrorCode::TooLarge).into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let r = Fail::from(ErrorCode::BadCredentials).into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(status(&ErrorCode::NotMember), StatusCode::FORBIDDEN);
        let r = Fail::wrong_offset(42).into_response();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(r.headers()["upload-offset"], "42");
    }
}
