//! Client errors.

use std::time::Duration;

use natter_api::ApiError;

/// Why [`crate::Client::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No connection within the timeout (server down, wrong address, blocked network).
    #[error("could not reach the server within {0:?}")]
    Timeout(Duration),
    /// The transport failed to connect.
    #[error("could not connect: {0}")]
    Dial(DialError),
}

// Not `#[from]`: that would make the dial error the source as well, and an
// error chain printed whole (`{:#}`) would say it twice.
impl From<DialError> for ConnectError {
    fn from(e: DialError) -> Self {
        Self::Dial(e)
    }
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

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// No answer: the server is not running there, the address is wrong,
    /// or the network blocks it.
    #[error("{0}")]
    Unreachable(String),
    /// The server presented another key than the one pinned for it
    /// (fingerprints `natter1:…`). `detail` says what to do.
    #[error("{detail}")]
    KeyMismatch {
        /// The pinned fingerprint.
        expected: String,
        /// The fingerprint the server presented.
        got: String,
        /// The whole explanation (which file holds the pin, how to accept
        /// an expected change).
        detail: String,
    },
    /// The server speaks other transport protocol versions (these): one of
    /// the two programs needs upgrading.
    #[error("the server speaks other protocol versions ({0:x?}) than this client")]
    VersionMismatch(Vec<u32>),
    /// The network failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else the transport reports (handshake failure, …).
    #[error("{0}")]
    Other(String),
}

impl From<natter_net::DialError> for DialError {
    fn from(e: natter_net::DialError) -> Self {
        use natter_net::DialError as E;
        match e {
            E::Unreachable(_) => Self::Unreachable(e.to_string()),
            E::KeyMismatch(m) => Self::KeyMismatch {
                detail: m.to_string(),
                expected: m.expected,
                got: m.got,
            },
            E::Version(theirs) => Self::VersionMismatch(theirs),
            E::Io(e) => Self::Io(e),
            E::Handshake(_) => Self::Other(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_net::DialError as Net;
    use natter_net::known_servers::KeyMismatch;

    use super::DialError;

    #[test]
    fn transport_errors_map_to_their_own_variants() {
        let addr = "127.0.0.1:7700".parse().expect("addr");
        let down = DialError::from(Net::Unreachable(addr));
        assert!(matches!(&down, DialError::Unreachable(why) if why.contains("127.0.0.1:7700")));
        let mismatch = KeyMismatch {
            server: addr,
            expected: "natter1:pinned".into(),
            got: "natter1:presented".into(),
            file: Some("/home/me/known_servers".into()),
        };
        let DialError::KeyMismatch {
            expected,
            got,
            detail,
        } = DialError::from(Net::KeyMismatch(mismatch))
        else {
            panic!("not a key mismatch")
        };
        assert_eq!(
            (expected.as_str(), got.as_str()),
            ("natter1:pinned", "natter1:presented")
        );
        assert!(detail.contains("remove the line for 127.0.0.1:7700 from /home/me/known_servers"));
        let version = DialError::from(Net::Version(vec![2]));
        assert!(matches!(version, DialError::VersionMismatch(v) if v == [2]));
    }
}
