//! Staged uploads of browsers: a browser cannot compute the BLAKE3 hash an
//! offer must carry (no BLAKE3 in Web Crypto), so it uploads the bytes
//! here first; the server hashes them as they arrive (in order), answers
//! the hash with the last chunk, and the browser then offers the file with
//! that hash and asks the server to move the staged bytes into the offer
//! (see `super::adopt`).
//!
//! What a peer can make the server hold here is bounded: at most
//! `max_concurrent` stages per user (the `[server.files]` setting; the
//! oldest is dropped for a new one) and [`MAX_STAGES`] in all (refused with
//! `limit_reached` beyond); each stage at most `max_size` bytes on disk
//! (`too_large`) and a BLAKE3 state in memory; a stage untouched for
//! [`STALE`] is deleted. Stages do not survive a server restart (their
//! directory is emptied when the server starts): the browser stages again.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use natter_api::ErrorCode;
use natter_store::UserId;

use super::fail::Fail;

/// Most stages held at once, all users together.
pub(crate) const MAX_STAGES: usize = 256;

/// A stage nobody wrote to for this long is deleted.
pub(crate) const STALE: Duration = Duration::from_secs(60 * 60);

/// A stage's id: 128 random bits, as 32 hex digits in URLs.
pub(crate) type StageId = u128;

/// One staged upload.
struct Stage {
    user: UserId,
    size: u64,
    written: u64,
    hasher: blake3::Hasher,
    /// The hash, once every byte is there.
    hash: Option<[u8; 32]>,
    touched: Instant,
    /// A write is running (the state is with it, not here).
    busy: bool,
}

/// Every staged upload, and the directory their bytes live in.
pub(crate) struct Stages {
    dir: PathBuf,
    held: Mutex<HashMap<StageId, Stage>>,
}

/// What [`Stages::append`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bytes staged so far.
    pub(crate) written: u64,
    /// The BLAKE3 hash once complete.
    pub(crate) hash: Option<[u8; 32]>,
}

impl Stages {
    /// Stages under `dir` (created 0700, emptied: stages of an earlier run
    /// cannot be resumed).
    pub(crate) fn open(dir: PathBuf) -> io::Result<Self> {
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(Self {
            dir,
            held: Mutex::default(),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<StageId, Stage>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where stage `id`'s bytes are.
    pub(crate) fn path(&self, id: StageId) -> PathBuf {
        self.dir.join(format!("{id:032x}"))
    }

    /// A new empty stage of `size` bytes for `user`, who may hold
    /// `per_user` (their oldest is dropped to make room).
    pub(crate) fn create(&self, user: UserId, size: u64, per_user: usize) -> Result<StageId, Fail> {
        let id: StageId = rand::random();
        let mut held = self.held();
        let mut dropped = drop_stale(&mut held);
        dropped.extend(drop_oldest_beyond(&mut held, user, per_user.max(1) - 1));
        if held.len() >= MAX_STAGES {
            remove_files(self, &dropped);
            return Err(Fail::new(
                ErrorCode::LimitReached,
                "too many uploads in progress on this server",
            ));
        }
        let stage = Stage {
            user,
            size,
            written: 0,
            hasher: blake3::Hasher::new(),
            hash: None,
            touched: Instant::now(),
            busy: false,
        };
        held.insert(id, stage);
        drop(held);
        remove_files(self, &dropped);
        Ok(id)
    }

    /// How far `user`'s stage `id` is, and its size.
    pub(crate) fn status(&self, id: StageId, user: UserId) -> Result<(Progress, u64), Fail> {
        let held = self.held();
        let stage = held
            .get(&id)
            .filter(|s| s.user == user)
            .ok_or_else(no_stage)?;
        let progress = Progress {
            written: stage.written,
            hash: stage.hash,
        };
        Ok((progress, stage.size))
    }

    /// Appends `data` at `offset` (which must be where the stage ends) to
    /// `user`'s stage `id`, durably, hashing it. Blocking: call from
    /// `spawn_blocking`.
    pub(crate) fn append(
        &self,
        id: StageId,
        user: UserId,
        offset: u64,
        data: &[u8],
    ) -> Result<Progress, Fail> {
        let (mut hasher, written, size) = self.begin(id, user)?;
        let result = check_place(offset, written, size, data.len())
            .and_then(|()| write_durably(&self.path(id), data).map_err(io_fail));
        if result.is_ok() {
            hasher.update(data);
        }
        let grown = if result.is_ok() { data.len() as u64 } else { 0 };
        let progress = self.end(id, hasher, grown);
        result.map(|()| progress)
    }

    /// Takes the stage's hasher out while a write runs.
    fn begin(&self, id: StageId, user: UserId) -> Result<(blake3::Hasher, u64, u64), Fail> {
        let mut held = self.held();
        let stage = held
            .get_mut(&id)
            .filter(|s| s.user == user)
            .ok_or_else(no_stage)?;
        if stage.busy {
            return Err(Fail::wrong_offset(stage.written));
        }
        stage.busy = true;
        Ok((stage.hasher.clone(), stage.written, stage.size))
    }

    fn end(&self, id: StageId, hasher: blake3::Hasher, grown: u64) -> Progress {
        let mut held = self.held();
        let Some(stage) = held.get_mut(&id) else {
            return Progress {
                written: 0,
                hash: None,
            };
        };
        stage.busy = false;
        stage.touched = Instant::now();
        stage.written += grown;
        stage.hasher = hasher;
        if stage.written == stage.size && stage.hash.is_none() {
            stage.hash = Some(*stage.hasher.finalize().as_bytes());
        }
        Progress {
            written: stage.written,
            hash: stage.hash,
        }
    }

    /// Removes `user`'s complete stage `id` for adoption: its file (the
    /// caller moves or deletes it), size and hash.
    pub(crate) fn take(&self, id: StageId, user: UserId) -> Result<(PathBuf, u64, [u8; 32]), Fail> {
        let mut held = self.held();
        let stage = held
            .get(&id)
            .filter(|s| s.user == user && !s.busy)
            .ok_or_else(no_stage)?;
        let hash = stage
            .hash
            .ok_or_else(|| Fail::bad("the staged upload is not complete"))?;
        let size = stage.size;
        held.remove(&id);
        Ok((self.path(id), size, hash))
    }

    /// Stages held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.held().len()
    }
}

fn no_stage() -> Fail {
    Fail::new(
        ErrorCode::BadRequest,
        "no such staged upload (it may have expired)",
    )
}

fn io_fail(e: io::Error) -> Fail {
    tracing::warn!(error = %e, "staged upload: write failed");
    Fail::from(ErrorCode::Internal)
}

/// A chunk must start where the stage ends and fit in its size.
fn check_place(offset: u64, written: u64, size: u64, len: usize) -> Result<(), Fail> {
    if offset != written {
        return Err(Fail::wrong_offset(written));
    }
    if len as u64 > size - written {
        return Err(Fail::new(
            ErrorCode::TooLarge,
            "more bytes than the upload's length",
        ));
    }
    Ok(())
}

fn write_durably(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)?;
    file.sync_data()
}

/// Removes stages untouched for [`STALE`]; returns their ids.
fn drop_stale(held: &mut HashMap<StageId, Stage>) -> Vec<StageId> {
    let stale: Vec<StageId> = held
        .iter()
        .filter(|(_, s)| !s.busy && s.touched.elapsed() >= STALE)
        .map(|(id, _)| *id)
        .collect();
    for id in &stale {
        held.remove(id);
    }
    stale
}

/// Removes `user`'s least recently touched idle stages until at most
/// `keep` are left; returns their ids.
fn drop_oldest_beyond(
    held: &mut HashMap<StageId, Stage>,
    user: UserId,
    keep: usize,
) -> Vec<StageId> {
    let mut mine: Vec<(Instant, StageId)> = held
        .iter()
        .filter(|(_, s)| s.user == user && !s.busy)
        .map(|(id, s)| (s.touched, *id))
        .collect();
    mine.sort();
    let excess = mine.len().saturating_sub(keep);
    let dropped: Vec<StageId> = mine.into_iter().take(excess).map(|(_, id)| id).collect();
    for id in &dropped {
        held.remove(id);
    }
    dropped
}

fn remove_files(stages: &Stages, ids: &[StageId]) {
    for id in ids {
        let _ = fs::remove_file(stages.path(*id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages() -> (tempfile::TempDir, Stages) {
        let dir = tempfile::tempdir().expect("tempdir");
        let stages = Stages::open(dir.path().join("stage")).expect("open");
        (dir, stages)
    }

    #[test]
    fn a_stage_hashes_what_arrives_in_order() {
        let (_dir, s) = stages();
        let me = UserId(1);
        let id = s.create(me, 10, 2).expect("create");
        assert!(s.append(id, UserId(2), 0, b"hello").is_err(), "not theirs");
        let p = s.append(id, me, 0, b"hello").expect("first");
        assert_eq!(
            p,
            Progress {
                written: 5,
                hash: None
            }
        );
        let gap = s.append(id, me, 7, b"xyz").expect_err("gap");
        assert_eq!(gap.offset, Some(5));
        let over = s.append(id, me, 5, b"world!").expect_err("too long");
        assert_eq!(over.error.code, ErrorCode::TooLarge);
        let p = s.append(id, me, 5, b"world").expect("last");
        assert_eq!(p.hash, Some(*blake3::hash(b"helloworld").as_bytes()));
        let (path, size, hash) = s.take(id, me).expect("take");
        assert_eq!(
            (fs::read(path).expect("read"), size),
            (b"helloworld".to_vec(), 10)
        );
        assert_eq!(hash, *blake3::hash(b"helloworld").as_bytes());
        assert!(s.take(id, me).is_err(), "taken once");
    }

    #[test]
    fn a_flood_of_stages_is_bounded_per_user_and_in_all() {
        let (_dir, s) = stages();
        for _ in 0..50 {
            let id = s.create(UserId(1), 1, 3).expect("create");
            s.append(id, UserId(1), 0, b"x").expect("write");
        }
        assert_eq!(s.len(), 3, "one user keeps at most max_concurrent");
        let files = fs::read_dir(&s.dir).expect("dir").count();
        assert_eq!(files, 3, "the dropped stages' files are gone");
        for user in 2..=(MAX_STAGES as i64 + 1) {
            let _ = s.create(UserId(user), 1, 3);
        }
        assert_eq!(s.len(), MAX_STAGES);
        let refused = s.create(UserId(9999), 1, 3).expect_err("full");
        assert_eq!(refused.error.code, ErrorCode::LimitReached);
    }

    #[test]
    fn a_restart_empties_the_stage_directory() {
        let (dir, s) = stages();
        let id = s.create(UserId(1), 5, 1).expect("create");
        s.append(id, UserId(1), 0, b"ab").expect("write");
        let again = Stages::open(dir.path().join("stage")).expect("reopen");
        assert_eq!(fs::read_dir(&again.dir).expect("dir").count(), 0);
    }
}
