//! The data directory's lock: `natter serve` holds an exclusive `flock` on
//! `DIR/natter.lock` while it runs, and `natter admin restore` takes the
//! same lock, so a restore never replaces the database under a running
//! server (and a second server on one directory is refused). The kernel
//! drops the lock when the process ends, however it ends.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file inside the data directory.
pub(crate) const LOCK_FILE: &str = "natter.lock";

/// Held while it lives.
#[derive(Debug)]
pub(crate) struct DataLock {
    _file: Flock<File>,
}

/// Takes the lock of data directory `dir` without waiting; an error naming
/// the directory if another process (a running server) holds it.
pub(crate) fn lock(dir: &Path) -> anyhow::Result<DataLock> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(file) => Ok(DataLock { _file: file }),
        Err((_, Errno::EWOULDBLOCK)) => bail!(
            "the data directory {} is in use by a running server (stop it first)",
            dir.display()
        ),
        Err((_, e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        let err = format!("{:#}", lock(dir.path()).unwrap_err());
        assert!(err.contains("in use by a running server"), "{err}");
        drop(first);
        lock(dir.path()).unwrap();
    }
}
