//! Exit codes and the error every subcommand returns.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | anything else |
//! | 2 | usage (also clap's code for a bad command line) |
//! | 3 | authentication failed |
//! | 4 | not found / not allowed |
//! | 5 | cannot reach the server |
//! | 6 | the server's key is not the one pinned for it (`known_servers`) |
//! | 7 | the server speaks another transport protocol version |
//!
//! A subcommand returning `anyhow::Result` converts with `?` (exit 1).

use std::process::ExitCode;

/// Exit code: anything else.
pub(crate) const OTHER: u8 = 1;
/// Exit code: the command line is wrong or incomplete.
pub(crate) const USAGE: u8 = 2;
/// Exit code: wrong name or password, expired session.
pub(crate) const AUTH: u8 = 3;
/// Exit code: no such user / group / conversation, or not allowed.
pub(crate) const NOT_FOUND: u8 = 4;
/// Exit code: no answer from the server.
pub(crate) const UNREACHABLE: u8 = 5;
/// Exit code: the server presented another key than the one pinned for it.
pub(crate) const KEY_CHANGED: u8 = 6;
/// Exit code: the server speaks another transport protocol version.
pub(crate) const VERSION: u8 = 7;

/// A failed command: the exit code and a message for a person.
#[derive(Debug)]
pub(crate) struct Fail {
    /// One of the codes above.
    pub(crate) code: u8,
    /// Printed to stderr as `natter: error: MESSAGE`.
    pub(crate) message: String,
}

impl Fail {
    /// A failure with this code and message.
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        let message = message.into();
        Self { code, message }
    }

    /// Prints the message to stderr and returns the exit code. The message
    /// may echo server or user text: controls are made visible and further
    /// lines indented (see [`natter_api::text`]).
    pub(crate) fn report(&self) -> ExitCode {
        let message = natter_api::text::printable(&self.message).replace('\n', "\n    ");
        eprintln!("natter: error: {message}");
        ExitCode::from(self.code)
    }
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Self::new(OTHER, format!("{e:#}"))
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Self::new(OTHER, e.to_string())
    }
}
