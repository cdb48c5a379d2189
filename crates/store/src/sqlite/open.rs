//! Opening a database file safely: only Natter's own, never someone else's.
//!
//! A new database is built in `PATH.new` (mode 0600: created with that mode,
//! never widened), stamped with [`APPLICATION_ID`] and migrated, then renamed
//! into place, so a crash never leaves an empty or half-made `PATH`. An
//! existing file is opened only if it is a Natter database: its
//! `PRAGMA application_id` is ours, or it is 0 and the file has Natter's
//! schema (a database made before the id existed; it is stamped then). An
//! empty file, a file that is not SQLite, another program's SQLite database,
//! or a missing file whose `-wal` log is still there (SQLite would replay it
//! into a new file) is refused with [`StoreError::NotNatter`], untouched.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::{Result, StoreError};

/// `PRAGMA application_id` of every Natter database: "NATR" in ASCII.
pub(crate) const APPLICATION_ID: i32 = 0x4E41_5452;

/// Tables every Natter schema version has (how a database from before
/// [`APPLICATION_ID`] is recognised).
const NATTER_TABLES: [&str; 4] = ["users", "sessions", "conversations", "messages"];

/// Makes sure `path` holds a Natter database: creates a new one when there is
/// no file, checks (and if needed stamps) an existing one.
pub(super) fn prepare(path: &Path, migrate: fn(&mut Connection) -> Result<()>) -> Result<()> {
    match fs::metadata(path) {
        Ok(meta) if meta.len() == 0 => Err(refuse(path, "the file is empty (0 bytes)")),
        Ok(_) => check_existing(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if fs::metadata(sibling(path, "-wal")).is_ok_and(|m| m.len() > 0) {
                // SQLite would replay that log into the new file.
                let why = "the file is missing but its write-ahead log (-wal) is there";
                return Err(refuse(path, why));
            }
            create(path, migrate)
        }
        Err(e) => Err(StoreError::Backend(format!("{}: {e}", path.display()))),
    }
}

/// Opens an existing database file (never creating one).
pub(super) fn open_existing(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    Ok(Connection::open_with_flags(path, flags)?)
}

fn refuse(path: &Path, why: &str) -> StoreError {
    StoreError::NotNatter(format!(
        "{} is not a Natter database: {why}; refusing to use it (move it away, or choose \
         another data directory)",
        path.display()
    ))
}

fn check_existing(path: &Path) -> Result<()> {
    let conn = open_existing(path)?;
    let id = match conn.query_row("PRAGMA application_id", [], |r| r.get::<_, i32>(0)) {
        Ok(id) => id,
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            return Err(refuse(path, "the file is not an SQLite database"));
        }
        Err(e) => return Err(e.into()),
    };
    match id {
        APPLICATION_ID => Ok(()),
        0 if has_natter_schema(&conn)? => stamp(&conn),
        0 => Err(refuse(path, "an SQLite database without Natter's tables")),
        other => Err(refuse(
            path,
            &format!("an SQLite database of another application (id {other:#x})"),
        )),
    }
}

/// Whether `conn` has a migrated schema with every table Natter creates.
fn has_natter_schema(conn: &Connection) -> Result<bool> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let sql =
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?1, ?2, ?3, ?4)";
    let tables: i64 = conn.query_row(sql, NATTER_TABLES, |r| r.get(0))?;
    Ok(version >= 1 && tables == NATTER_TABLES.len() as i64)
}

fn stamp(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    Ok(())
}

/// Builds a fresh database next to `path` and renames it into place.
fn create(path: &Path, migrate: fn(&mut Connection) -> Result<()>) -> Result<()> {
    let tmp = sibling(path, ".new");
    let io = |e: std::io::Error| StoreError::Backend(format!("{}: {e}", tmp.display()));
    for stale in ["-journal", "-wal", "-shm"] {
        let _ = fs::remove_file(sibling(&tmp, stale));
    }
    create_private(&tmp).map_err(io)?;
    {
        let mut conn = open_existing(&tmp)?;
        stamp(&conn)?;
        migrate(&mut conn)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    sync_parent(path).map_err(io)
}

/// Creates (or empties) `path` with mode 0600.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.sync_all()
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    fn not_natter(path: &Path) -> String {
        match SqliteStore::open(path) {
            Err(StoreError::NotNatter(why)) => why,
            Err(other) => panic!("expected NotNatter, got {other:?}"),
            Ok(_) => panic!("opened {}", path.display()),
        }
    }

    #[test]
    fn empty_foreign_and_garbage_files_are_refused_untouched() {
        let dir = tempfile::TempDir::new().unwrap();
        let empty = dir.path().join("empty.db");
        fs::write(&empty, b"").unwrap();
        assert!(not_natter(&empty).contains("empty"));
        assert_eq!(fs::metadata(&empty).unwrap().len(), 0);

        let garbage = dir.path().join("garbage.db");
        fs::write(&garbage, vec![b'x'; 4096]).unwrap();
        assert!(not_natter(&garbage).contains("not an SQLite database"));
        assert_eq!(fs::read(&garbage).unwrap(), vec![b'x'; 4096]);

        let foreign = dir.path().join("foreign.db");
        let conn = Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
        drop(conn);
        let before = fs::read(&foreign).unwrap();
        assert!(not_natter(&foreign).contains("without Natter's tables"));
        assert_eq!(fs::read(&foreign).unwrap(), before);

        let orphan = dir.path().join("orphan.db");
        fs::write(sibling(&orphan, "-wal"), b"log").unwrap();
        assert!(not_natter(&orphan).contains("write-ahead log"));
        assert!(!orphan.exists());

        let other_app = dir.path().join("other.db");
        let conn = Connection::open(&other_app).unwrap();
        conn.pragma_update(None, "application_id", 7).unwrap();
        drop(conn);
        assert!(not_natter(&other_app).contains("another application"));
    }

    #[test]
    fn new_databases_are_private_and_stamped_old_ones_get_stamped() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("natter.db");
        drop(SqliteStore::open(&path).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let id = |p: &Path| {
            let conn = Connection::open(p).unwrap();
            conn.query_row("PRAGMA application_id", [], |r| r.get::<_, i32>(0))
                .unwrap()
        };
        assert_eq!(id(&path), APPLICATION_ID);
        assert!(!sibling(&path, ".new").exists());

        // A database from before the id: application_id 0, Natter's schema.
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "application_id", 0)
            .unwrap();
        drop(SqliteStore::open(&path).unwrap());
        assert_eq!(id(&path), APPLICATION_ID);
    }
}
