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
    /// Trust on first use for the nodes of one cluster, which share one
    /// server key: `addresses` are every address of the list the client
    /// was given. A node is expected to present the key pinned for it, or
    /// else the key pinned for any other address of the list; a presented
    /// key must match every pin of the list. On the first contact with a
    /// list (nothing pinned for any of its addresses) the key the first
    /// answering node presents is pinned for every address of the list.
    KnownCluster {
        /// The known-servers file.
        file: PathBuf,
        /// Every address of the cluster (the one dialed among them).
        addresses: Vec<SocketAddr>,
    },
}

impl ServerKeyPolicy {
    /// The known-servers file this policy reads and writes, if any.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::KnownServers(file) | Self::KnownCluster { file, .. } => Some(file),
            Self::Pinned(_) | Self::AcceptAny => None,
        }
    }

    /// The key `remote` must present in the handshake (`None`: any key,
    /// to be pinned after it).
    pub(crate) fn expected(&self, remote: SocketAddr) -> io::Result<Option<Fingerprint>> {
        match self {
            Self::Pinned(fp) => Ok(Some(*fp)),
            Self::KnownServers(file) => lookup(file, remote),
            Self::AcceptAny => Ok(None),
            Self::KnownCluster { file, addresses } => {
                let pins = cluster_pins(file, remote, addresses)?;
                Ok(pins.first().map(|(_, fp)| *fp))
            }
        }
    }

    /// After a handshake in which `remote` presented `key` (already checked
    /// against `pinned`, what [`Self::expected`] returned): for a cluster,
    /// checks the key against every pin of the list; then pins it where
    /// this policy pins and nothing was pinned yet.
    pub(crate) fn accept(
        &self,
        remote: SocketAddr,
        pinned: Option<Fingerprint>,
        key: &[u8; 32],
    ) -> Result<(), crate::DialError> {
        match self {
            Self::KnownServers(file) if pinned.is_none() => Ok(remember(file, remote, key)?),
            Self::KnownCluster { file, addresses } => {
                let pins = cluster_pins(file, remote, addresses)?;
                if let Some((_, other)) = pins.iter().find(|(_, fp)| !fp.matches(key)) {
                    let mismatch = KeyMismatch::new(remote, Some(*other), key, Some(file));
                    return Err(crate::DialError::KeyMismatch(mismatch));
                }
                let unpinned = std::iter::once(remote).chain(addresses.iter().copied());
                let mut done: Vec<SocketAddr> = pins.iter().map(|(a, _)| *a).collect();
                for addr in unpinned {
                    if !done.contains(&addr) {
                        remember(file, addr, key)?;
                        done.push(addr);
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The pins of `remote` (first) and of the other addresses of its cluster.
fn cluster_pins(
    file: &Path,
    remote: SocketAddr,
    addresses: &[SocketAddr],
) -> io::Result<Vec<(SocketAddr, Fingerprint)>> {
    let mut pins = Vec::new();
    let mut seen = Vec::new();
    for addr in std::iter::once(remote).chain(addresses.iter().copied()) {
        if seen.contains(&addr) {
            continue;
        }
        seen.push(addr);
        if let Some(fp) = lookup(file, addr)? {
            pins.push((addr, fp));
        }
    }
    Ok(pins)
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

    #[test]
    fn a_cluster_pins_the_first_key_for_every_address_and_refuses_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("known_servers");
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let addresses = vec![addr(1), addr(2), addr(3)];
        let policy = ServerKeyPolicy::KnownCluster {
            file: file.clone(),
            addresses: addresses.clone(),
        };
        let (key, other) = ([5u8; 32], [6u8; 32]);
        assert_eq!(policy.expected(addr(2)).expect("read"), None);
        policy.accept(addr(2), None, &key).expect("first contact");
        for a in &addresses {
            let fp = lookup(&file, *a).expect("read").expect("pinned");
            assert!(fp.matches(&key), "{a}");
        }
        let pinned = policy.expected(addr(3)).expect("read");
        assert!(pinned.is_some_and(|fp| fp.matches(&key)));
        policy.accept(addr(3), pinned, &key).expect("same key");
        let lines = fs::read_to_string(&file).expect("read").lines().count();
        assert_eq!(lines, 3, "nothing pinned twice");
        // A new address of the list takes the list's pin, and a node that
        // only its own pin would accept is refused by the list's others.
        let policy = ServerKeyPolicy::KnownCluster {
            file: file.clone(),
            addresses: vec![addr(1), addr(4)],
        };
        let pinned = policy.expected(addr(4)).expect("read");
        assert!(pinned.is_some_and(|fp| fp.matches(&key)));
        remember(&file, addr(5), &other).expect("write");
        let mixed = ServerKeyPolicy::KnownCluster {
            file: file.clone(),
            addresses: vec![addr(5), addr(1)],
        };
        let pinned = mixed.expected(addr(5)).expect("read");
        let Err(crate::DialError::KeyMismatch(m)) = mixed.accept(addr(5), pinned, &other) else {
            panic!("a list with two keys accepted a node");
        };
        assert_eq!(m.got, fingerprint(&other));
        assert_eq!(m.expected, fingerprint(&key));
    }
}
