//! The content-addressed file store under the data directory (issue 14).
//!
//! # Public API (synchronous `std::fs`; call it from `spawn_blocking`)
//!
//! - [`FileDisk::open`]`(dir)`: uses `dir` (normally `DATA/files/`), creating
//!   it and `dir/partial/` (0700) if needed.
//! - [`FileDisk::committed_len`]`(upload)`: bytes durably written for upload
//!   `upload` (0 if none). It is the partial file's length, and every byte
//!   below it was fsync'd before [`FileDisk::write_at`] returned, so it
//!   survives a kill -9 of the server.
//! - [`FileDisk::write_at`]`(upload, offset, data)`: writes `data` at
//!   `offset` of the upload's partial file (`offset` ≤ `committed_len`, else
//!   [`DiskError::Gap`]), fsyncs it and returns the new committed length.
//!   Rewriting bytes below the committed length is allowed (a resent chunk).
//! - [`FileDisk::finish`]`(upload, hash)`: hashes the partial file with
//!   BLAKE3 (streamed, never whole in memory); on a match renames it to
//!   `dir/<hex hash>` (fsync'd, directory too) and returns `Ok`; on a
//!   mismatch deletes it and returns [`DiskError::HashMismatch`].
//! - [`FileDisk::has`]`(hash)`, [`FileDisk::len`]`(hash)`,
//!   [`FileDisk::read_at`]`(hash, offset, len)`: complete files by hash;
//!   [`FileDisk::path`]`(hash)` for streaming readers (HTTP).
//! - [`FileDisk::remove_partial`]`(upload)`, [`FileDisk::remove`]`(hash)`:
//!   cleanup (missing files are not an error).
//!
//! Files are created 0600. Uploads are named by their [`FileId`] number;
//! complete files by their hash, so two offers of the same bytes share one
//! file (delete it only when no offer with that hash is left).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use natter_store::FileId;

/// Why a file store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The write starts past what is committed.
    #[error("offset past the committed length {committed}")]
    Gap {
        /// Bytes committed so far (where the next write must start, at most).
        committed: u64,
    },
    /// The uploaded bytes do not have the offered hash (the partial file
    /// was deleted).
    #[error("hash mismatch")]
    HashMismatch,
    /// The operating system failed.
    #[error("file store: {0}")]
    Io(#[from] io::Error),
}

/// The file store rooted at one directory (see the module docs).
#[derive(Debug, Clone)]
pub struct FileDisk {
    root: PathBuf,
}

/// Read buffer of [`FileDisk::finish`]'s hashing.
const HASH_BUF: usize = 1 << 20;

impl FileDisk {
    /// Uses `dir`, creating it and its `partial/` subdirectory (0700).
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let root = dir.into();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        builder.create(root.join("partial"))?;
        Ok(Self { root })
    }

    /// The directory this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where upload `upload`'s partial file lives.
    pub fn partial_path(&self, upload: FileId) -> PathBuf {
        self.root.join("partial").join(format!("{}.part", upload.0))
    }

    /// Where the complete file with this hash lives.
    pub fn path(&self, hash: &[u8; 32]) -> PathBuf {
        self.root.join(hex::encode(hash))
    }

    /// Bytes durably written for `upload` (0 if nothing yet).
    pub fn committed_len(&self, upload: FileId) -> io::Result<u64> {
        match fs::metadata(self.partial_path(upload)) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Writes `data` at `offset` of `upload`'s partial file, fsyncs it and
    /// returns the committed length after the write.
    pub fn write_at(&self, upload: FileId, offset: u64, data: &[u8]) -> Result<u64, DiskError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.partial_path(upload))?;
        let committed = file.metadata()?.len();
        if offset > committed {
            return Err(DiskError::Gap { committed });
        }
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(data)?;
        file.sync_data()?;
        Ok(committed.max(offset + data.len() as u64))
    }

    /// Verifies `upload`'s bytes against `hash` and moves them into place.
    pub fn finish(&self, upload: FileId, hash: &[u8; 32]) -> Result<(), DiskError> {
        let partial = self.partial_path(upload);
        if hash_file(&partial)? != *hash {
            self.remove_partial(upload)?;
            return Err(DiskError::HashMismatch);
        }
        fs::rename(&partial, self.path(hash))?;
        File::open(&self.root)?.sync_all()?;
        Ok(())
    }

    /// True if the complete file with this hash is stored.
    pub fn has(&self, hash: &[u8; 32]) -> bool {
        self.path(hash).is_file()
    }

    /// Length of the complete file with this hash.
    pub fn len(&self, hash: &[u8; 32]) -> io::Result<u64> {
        Ok(fs::metadata(self.path(hash))?.len())
    }

    /// Up to `len` bytes at `offset` of the complete file with this hash
    /// (fewer at its end, none past it).
    pub fn read_at(&self, hash: &[u8; 32], offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut file = File::open(self.path(hash))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Deletes `upload`'s partial file, if any.
    pub fn remove_partial(&self, upload: FileId) -> io::Result<()> {
        remove_if_there(&self.partial_path(upload))
    }

    /// Deletes the complete file with this hash, if any.
    pub fn remove(&self, hash: &[u8; 32]) -> io::Result<()> {
        remove_if_there(&self.path(hash))
    }
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// BLAKE3 of a file, read in 1 MiB pieces.
pub fn hash_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; HASH_BUF];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(*hasher.finalize().as_bytes());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk() -> (tempfile::TempDir, FileDisk) {
        let dir = tempfile::tempdir().unwrap();
        let disk = FileDisk::open(dir.path().join("files")).unwrap();
        (dir, disk)
    }

    #[test]
    fn an_upload_resumes_from_its_committed_length_and_lands_under_its_hash() {
        let (_dir, disk) = disk();
        let id = FileId(7);
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        assert_eq!(disk.committed_len(id).unwrap(), 0);
        assert_eq!(disk.write_at(id, 0, &data[..1000]).unwrap(), 1000);
        // A fresh handle (a restarted server) sees the same committed length.
        let again = FileDisk::open(disk.root()).unwrap();
        assert_eq!(again.committed_len(id).unwrap(), 1000);
        assert!(matches!(
            again.write_at(id, 1500, &data[1500..]),
            Err(DiskError::Gap { committed: 1000 })
        ));
        assert_eq!(again.write_at(id, 500, &data[500..2000]).unwrap(), 2000);
        assert_eq!(again.write_at(id, 2000, &data[2000..]).unwrap(), 3000);
        let hash = *blake3::hash(&data).as_bytes();
        again.finish(id, &hash).unwrap();
        assert!(again.has(&hash));
        assert_eq!(again.committed_len(id).unwrap(), 0);
        assert_eq!(again.read_at(&hash, 2990, 100).unwrap(), &data[2990..]);
        assert_eq!(again.len(&hash).unwrap(), 3000);
    }

    #[test]
    fn a_mismatching_upload_is_deleted() {
        let (_dir, disk) = disk();
        let id = FileId(1);
        disk.write_at(id, 0, b"hello").unwrap();
        let wrong = *blake3::hash(b"world").as_bytes();
        assert!(matches!(
            disk.finish(id, &wrong),
            Err(DiskError::HashMismatch)
        ));
        assert_eq!(disk.committed_len(id).unwrap(), 0);
        assert!(!disk.has(&wrong));
    }
}
