//! Server key pinning, like SSH's `known_hosts`.
//!
//! The file holds one line per server: `ADDRESS FINGERPRINT`, e.g.
//! `127.0.0.1:7700 natter1:…`. Lines starting with `#` are comments.

use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use natter_proto::crypto::{Fingerprint, fingerprint, parse_fingerprint};

use crate::private_files;

/// How a client decides whether to trust the server's static key.
#[derive(Debug, Clone)]
pub enum ServerKeyPolicy {
    /// Accept exactly this fingerprint (given up front, e.g. `--server-key`).
    Pinned(Fingerprint),
    /// Trust on first use: pin the key in this file the first time, and
    /// refuse a different key afterwards.
    KnownServers(PathBuf),
    /// Accept any key (tests, or a user who opted out explicitly).
    AcceptAny,
}

/// Reads the fingerprint pinned for `addr`, if any.
pub fn lookup(file: &Path, addr: SocketAddr) -> io::Result<Option<Fingerprint>> {
    let text = match fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let wanted = addr.to_string();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(host), Some(fp)) = (parts.next(), parts.next()) else {
            continue;
        };
        if host == wanted {
            return parse_fingerprint(fp).map(Some).ok_or_else(|| {
                let msg = format!("{}: unreadable fingerprint for {wanted}", file.display());
                io::Error::new(io::ErrorKind::InvalidData, msg)
            });
        }
    }
    Ok(None)
}

/// Pins `key` for `addr` by appending a line to the file (created mode
/// 0600, in a directory created 0700; see [`crate::private_files`]).
pub fn remember(file: &Path, addr: SocketAddr, key: &[u8; 32]) -> io::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_files::create_dir(dir)?;
    }
    let mut f = private_files::options()
        .create(true)
        .append(true)
        .open(file)?;
    private_files::restrict(file)?;
    writeln!(f, "{addr} {}", fingerprint(key))
}

/// A server presented another key than the one pinned for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMismatch {
    /// The server's address.
    pub server: SocketAddr,
    /// The fingerprint pinned for it (`natter1:…`).
    pub expected: String,
    /// The fingerprint of the key it presented.
    pub got: String,
    /// The known-servers file holding the pin, if the key came from one.
    pub file: Option<PathBuf>,
}

impl KeyMismatch {
    /// The mismatch of `presented` against `pinned` at `server`.
    pub fn new(
        server: SocketAddr,
        pinned: Option<Fingerprint>,
        presented: &[u8; 32],
        file: Option<&Path>,
    ) -> Self {
        Self {
            server,
            expected: pinned.map(|fp| fp.to_string()).unwrap_or_default(),
            got: fingerprint(presented),
            file: file.map(Path::to_path_buf),
        }
    }
}

/// The explanation shown when a server's key changed: what happened and
/// what to do.
impl std::fmt::Display for KeyMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (addr, got) = (self.server, &self.got);
        write!(
            f,
            "the server at {addr} presented key {got}, which is not the key pinned for it \
             ({}). Someone may be intercepting the connection, or the server's key was replaced.",
            self.expected
        )?;
        if let Some(file) = &self.file {
            let file = file.display();
            write!(
                f,
                " If the change is expected, remove the line for {addr} from {file} and connect again."
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remember_then_lookup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("known_servers");
        let addr: SocketAddr = "127.0.0.1:7700".parse().expect("addr");
        assert_eq!(lookup(&file, addr).expect("read"), None);
        let key = [5u8; 32];
        remember(&file, addr, &key).expect("write");
        let fp = lookup(&file, addr).expect("read").expect("pinned");
        assert!(fp.matches(&key));
        assert!(!fp.matches(&[6u8; 32]));
        let other: SocketAddr = "127.0.0.1:7701".parse().expect("addr");
        assert_eq!(lookup(&file, other).expect("read"), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
