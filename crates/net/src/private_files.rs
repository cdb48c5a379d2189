//! Files only their owner may read: a client's pinned keys, session tokens
//! and outbox (message bodies) live in directories of mode 0700 and files of
//! mode 0600. They are *created* with these modes (never written first and
//! restricted afterwards); [`restrict`] tightens what an older version left.
//! On other platforms than Unix the modes are not set.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of a private directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of a private file.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents with mode 0700 (an existing `dir`
/// is restricted to 0700 too; existing parents are left alone).
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)?;
    restrict(dir).map(|_| ())
}

/// Options that create a missing file with mode 0600 (add `write`,
/// `append`, … as needed).
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// Writes `bytes` to `file` atomically through a fresh temporary file of
/// mode 0600 next to it (its directory is created private if missing).
pub fn write_atomic(file: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    let mut tmp_name = file.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    // A stale temporary file keeps its old mode when truncated: start anew.
    match fs::remove_file(tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f: File = options().write(true).create_new(true).open(tmp)?;
    f.write_all(bytes)?;
    drop(f);
    fs::rename(tmp, file)
}

/// Restricts an existing directory to 0700 or file to 0600 when it grants
/// more; symbolic links and missing paths are left alone. Returns whether
/// the mode was changed.
pub fn restrict(path: &Path) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    restrict_meta(path, &meta)
}

#[cfg(unix)]
fn restrict_meta(path: &Path, meta: &fs::Metadata) -> io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if meta.is_dir() {
        DIR_MODE
    } else if meta.is_file() {
        FILE_MODE
    } else {
        return Ok(false);
    };
    if meta.permissions().mode() & 0o777 & !mode == 0 {
        return Ok(false);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(true)
}

#[cfg(not(unix))]
fn restrict_meta(_path: &Path, _meta: &fs::Metadata) -> io::Result<bool> {
    Ok(false)
}

/// Restricts `dir` and, one level down, its entries (and the entries of the
/// directories among them when `depth` is 2, and so on). Symbolic links are
/// never followed.
pub fn restrict_tree(dir: &Path, depth: u32) -> io::Result<()> {
    restrict(dir)?;
    if depth == 0 || !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        restrict_tree(&path, depth - 1)?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_private_and_old_files_tightened() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("a/b/secret");
        write_atomic(&file, b"token").unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&root.path().join("a/b")), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(fs::read(&file).unwrap(), b"token");

        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let dir = root.path().join("a/b");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        restrict_tree(&root.path().join("a"), 2).unwrap();
        assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));
    }
}
