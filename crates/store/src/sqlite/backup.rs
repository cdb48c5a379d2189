//! Online backup of a database file with SQLite's backup API: consistent
//! while a server (another process) keeps writing to it.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::SqliteStore;
use super::open::{APPLICATION_ID, open_existing};
use crate::{Result, StoreError};

/// How often a step finding the source locked is retried.
const BUSY_RETRIES: u32 = 200;
/// Pause between those retries.
const BUSY_PAUSE: Duration = Duration::from_millis(50);

/// What [`SqliteStore::backup_file`] copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupReport {
    /// Database pages copied.
    pub pages: u64,
    /// Bytes of the backup file.
    pub bytes: u64,
}

impl SqliteStore {
    /// Copies the Natter database at `src` (possibly in use by a running
    /// server) into a new file `dst` (mode 0600), as one consistent
    /// snapshot: every page is copied in one step inside one read
    /// transaction, which in WAL mode never blocks the server's writes.
    /// The copy is checked (`quick_check`) before it is renamed into place.
    ///
    /// Errors: [`StoreError::NotNatter`] (`src` is not a Natter database),
    /// [`StoreError::Conflict`] (`dst` exists), [`StoreError::Backend`].
    pub fn backup_file(src: &Path, dst: &Path) -> Result<BackupReport> {
        if fs::symlink_metadata(dst).is_ok() {
            return Err(StoreError::Conflict("the backup file already exists"));
        }
        let source = open_natter(src)?;
        let tmp = with_suffix(dst, ".tmp");
        let pages = copy_into(&source, &tmp)?;
        fs::rename(&tmp, dst).map_err(|e| io_error(dst, &e))?;
        let bytes = fs::metadata(dst).map_err(|e| io_error(dst, &e))?.len();
        Ok(BackupReport { pages, bytes })
    }

    /// Replaces the database at `target` with a copy of the backup `src`
    /// (checked like [`Self::backup_file`]'s copies). No process may use
    /// `target` meanwhile (the caller holds the data directory's lock). The
    /// database replaced is kept next to it as `target.before-restore`
    /// (with its `-wal`, if any), replacing an earlier one.
    pub fn restore_file(src: &Path, target: &Path) -> Result<BackupReport> {
        let source = open_natter(src)?;
        let tmp = with_suffix(target, ".restore");
        remove_if_there(&tmp)?;
        let pages = copy_into(&source, &tmp)?;
        drop(source);
        keep_old(target)?;
        fs::rename(&tmp, target).map_err(|e| io_error(target, &e))?;
        let bytes = fs::metadata(target)
            .map_err(|e| io_error(target, &e))?
            .len();
        Ok(BackupReport { pages, bytes })
    }
}

/// Moves the database at `target` and its write-ahead log aside (to
/// `.before-restore`), and deletes its shared-memory index.
fn keep_old(target: &Path) -> Result<()> {
    let kept = with_suffix(target, ".before-restore");
    for suffix in ["", "-wal", "-shm"] {
        remove_if_there(&with_suffix(&kept, suffix))?;
    }
    for suffix in ["", "-wal"] {
        let from = with_suffix(target, suffix);
        if fs::symlink_metadata(&from).is_ok() {
            let to = with_suffix(&kept, suffix);
            fs::rename(&from, &to).map_err(|e| io_error(&from, &e))?;
        }
    }
    remove_if_there(&with_suffix(target, "-shm"))
}

fn remove_if_there(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(path, &e)),
        _ => Ok(()),
    }
}

/// Opens an existing file, refusing anything but a Natter database.
fn open_natter(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(StoreError::NotNatter(format!(
            "{}: no such database file",
            path.display()
        )));
    }
    let conn = open_existing(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| StoreError::NotNatter(format!("{}: {e}", path.display())))?;
    if id != APPLICATION_ID {
        let why = format!("{} is not a Natter database", path.display());
        return Err(StoreError::NotNatter(why));
    }
    Ok(conn)
}

/// Copies every page of `source` into a new file `tmp`; returns the pages.
/// A file already at `tmp` is left alone (`Conflict`); a copy that fails
/// removes the file it created, and only that one.
fn copy_into(source: &Connection, tmp: &Path) -> Result<u64> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp);
    match created {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::Conflict(
                "the temporary file (the backup file's name + .tmp) exists: another backup \
                 is running, or remove it",
            ));
        }
        other => drop(other.map_err(|e| io_error(tmp, &e))?),
    }
    let copied = copy_pages(source, tmp);
    if copied.is_err() {
        let _ = fs::remove_file(tmp);
    }
    copied
}

/// Copies every page of `source` into the empty file `tmp` and checks it.
fn copy_pages(source: &Connection, tmp: &Path) -> Result<u64> {
    let mut dst = Connection::open(tmp)?;
    let pages = {
        let backup = Backup::new(source, &mut dst)?;
        run(&backup)?;
        u64::try_from(backup.progress().pagecount).unwrap_or(0)
    };
    let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StoreError::Backend(format!("the copy is damaged: {check}")));
    }
    dst.close().map_err(|(_, e)| StoreError::from(e))?;
    Ok(pages)
}

/// Runs the backup to the end in whole-database steps, retrying a step
/// that found the source locked (a checkpoint, another backup).
fn run(backup: &Backup<'_, '_>) -> Result<()> {
    for _ in 0..BUSY_RETRIES {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            _ => std::thread::sleep(BUSY_PAUSE),
        }
    }
    Err(StoreError::Backend(
        "the database stayed locked; try again".to_owned(),
    ))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn io_error(path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Backend(format!("{}: {e}", path.display()))
}
