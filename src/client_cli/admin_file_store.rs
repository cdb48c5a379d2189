//! The file store's part of `natter admin backup` / `restore` (issue 14):
//! complete files (`DATA/files/<hash>`) are copied into `FILE.files/` next
//! to the database backup `FILE`, and back into `DATA/files/` on restore.
//!
//! Complete files are content-addressed and never change, so copying them
//! after the database snapshot is consistent: every file the snapshot
//! records as complete is already on disk (the server renames it into
//! place before it marks it complete). Uploads in progress
//! (`DATA/files/partial/`) are not copied; after a restore they start
//! again from byte 0. A file the cleanup deletes between the snapshot and
//! the copy had expired, so the restored server deletes its record too.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::exit::{Fail, OTHER, USAGE};
use crate::serve::FILES_DIR;

/// Files and bytes copied.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Copied {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.files == 1 { "" } else { "s" };
        write!(f, "{} stored file{s}, {} bytes", self.files, self.bytes)
    }
}

/// `FILE.files`: where the backup `FILE` keeps its complete files.
pub(crate) fn backup_dir(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".files");
    PathBuf::from(name)
}

/// Refuses a backup whose files directory already exists (checked before
/// the database is copied, so a refused backup leaves nothing).
pub(crate) fn check_free(file: &Path) -> Result<(), Fail> {
    let dir = backup_dir(file);
    if fs::symlink_metadata(&dir).is_ok() {
        let text = format!("{} exists: refusing to overwrite it", dir.display());
        return Err(Fail::new(USAGE, text));
    }
    Ok(())
}

/// Copies the complete files of `data`'s file store into
/// [`backup_dir`]`(file)` (created 0700; nothing when there is no store).
pub(crate) fn backup(data: &Path, file: &Path) -> Result<Copied, Fail> {
    let store = data.join(FILES_DIR);
    if !store.is_dir() {
        return Ok(Copied::default());
    }
    let dir = backup_dir(file);
    create_private_dir(&dir)?;
    copy_complete(&store, &dir).map_err(|e| fail(&e, &store, &dir))
}

/// Copies the files of [`backup_dir`]`(file)`, if the backup has one,
/// into `data`'s file store; files already there (same hash, so the same
/// bytes) are kept.
pub(crate) fn restore(file: &Path, data: &Path) -> Result<Copied, Fail> {
    let dir = backup_dir(file);
    if !dir.is_dir() {
        return Ok(Copied::default());
    }
    let store = data.join(FILES_DIR);
    create_private_dir(&store)?;
    copy_complete(&dir, &store).map_err(|e| fail(&e, &dir, &store))
}

/// Copies every complete file (named by a BLAKE3 hash) of `from` that
/// `to` lacks; each goes to a temporary name, is synced, then renamed.
fn copy_complete(from: &Path, to: &Path) -> io::Result<Copied> {
    let mut copied = Copied::default();
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_hash = name.to_str().is_some_and(natter_api::is_file_hash);
        if !is_hash || !entry.file_type()?.is_file() || to.join(&name).exists() {
            continue;
        }
        copied.bytes += copy_one(&entry.path(), &to.join(&name))?;
        copied.files += 1;
    }
    fs::File::open(to)?.sync_all()?;
    Ok(copied)
}

/// Copies `from` to `to` (mode 0600) through `to.tmp`; the bytes copied.
fn copy_one(from: &Path, to: &Path) -> io::Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = to.with_extension("tmp");
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let bytes = io::copy(&mut fs::File::open(from)?, &mut out)?;
    out.sync_all()?;
    fs::rename(&tmp, to)?;
    Ok(bytes)
}

fn create_private_dir(dir: &Path) -> Result<(), Fail> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Fail::new(OTHER, format!("cannot create {}: {e}", dir.display())))
}

fn fail(e: &io::Error, from: &Path, to: &Path) -> Fail {
    let text = format!(
        "copying stored files from {} to {}: {e}",
        from.display(),
        to.display()
    );
    Fail::new(OTHER, text)
}
