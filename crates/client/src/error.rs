//! Client errors.

use std::time::Duration;

use natter_api::ApiError;

use crate::dialer::DialError;

/// Why [`crate::Client::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No connection within the timeout (server down, wrong address, blocked network).
    #[error("could not reach the server within {0:?}")]
    Timeout(Duration),
    /// The transport failed to connect.
    #[error("could not connect: {0}")]
    Dial(#[from] DialError),
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("server error: {0}")]
    Api(#[from] ApiError),
    /// Not connected right now (reconnecting); try again later.
    #[error("not connected")]
    Disconnected,
    /// No answer within the request timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The client's background task has stopped.
    #[error("client closed")]
    Closed,
    /// The server answered with a response of the wrong kind.
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

impl ClientError {
    /// The server's error code, if this is a server error.
    pub fn code(&self) -> Option<natter_api::ErrorCode> {
        match self {
            Self::Api(e) => Some(e.code),
            _ => None,
        }
    }
}
