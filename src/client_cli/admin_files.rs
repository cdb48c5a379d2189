//! `natter admin backup` and `natter admin restore`: on the server's data
//! directory, not over the network. A backup uses SQLite's online backup
//! API (a consistent snapshot while the server writes); a restore takes
//! the data directory's lock ([`crate::data_lock`]), so it is refused while
//! a server runs there. The file store's complete files go along in
//! `FILE.files/` ([`super::admin_file_store`]).

use std::path::{Path, PathBuf};

use natter_store::{BackupReport, SqliteStore, StoreError};

use super::admin_file_store;
use crate::exit::{Fail, NOT_FOUND, OTHER, USAGE};
use crate::serve::DB_FILE;

/// Where the data directory is (as `natter serve --data`).
#[derive(Debug, clap::Args)]
pub(crate) struct DataDir {
    /// The server's data directory. [default: ./natter-data]
    #[arg(
        long,
        env = "NATTER_DATA",
        value_name = "DIR",
        default_value = "./natter-data"
    )]
    pub(crate) data: PathBuf,
}

/// `natter admin backup`.
#[derive(Debug, clap::Args)]
pub(crate) struct BackupArgs {
    #[command(flatten)]
    pub(crate) dir: DataDir,
    /// The backup file to create (must not exist).
    #[arg(value_name = "FILE")]
    pub(crate) out: PathBuf,
}

/// `natter admin restore`.
#[derive(Debug, clap::Args)]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    pub(crate) dir: DataDir,
    /// The backup file to restore (made by `natter admin backup`).
    #[arg(value_name = "FILE")]
    pub(crate) from: PathBuf,
}

/// Copies the data directory's database into a new file, and its stored
/// files into `FILE.files/` ([`super::admin_file_store`]).
pub(crate) fn backup(args: &BackupArgs) -> Result<(), Fail> {
    let db = args.dir.data.join(DB_FILE);
    if !args.out.exists() {
        admin_file_store::check_free(&args.out)?;
    }
    let report = SqliteStore::backup_file(&db, &args.out).map_err(|e| store_fail(&e, &db))?;
    let files = admin_file_store::backup(&args.dir.data, &args.out)?;
    println!(
        "backed up {} to {} ({}; {files} in {})",
        db.display(),
        args.out.display(),
        size(report),
        admin_file_store::backup_dir(&args.out).display()
    );
    Ok(())
}

/// Replaces the data directory's database with a backup (server stopped;
/// the directory is created if missing).
pub(crate) fn restore(args: &RestoreArgs) -> Result<(), Fail> {
    let dir = &args.dir.data;
    if !args.from.is_file() {
        // Before the directory is created: a mistyped name leaves nothing.
        let text = format!("{}: no such backup file", args.from.display());
        return Err(Fail::new(NOT_FOUND, text));
    }
    create_private_dir(dir)?;
    let _lock = crate::data_lock::lock(dir).map_err(|e| Fail::new(OTHER, format!("{e:#}")))?;
    let db = dir.join(DB_FILE);
    let report =
        SqliteStore::restore_file(&args.from, &db).map_err(|e| store_fail(&e, &args.from))?;
    let files = admin_file_store::restore(&args.from, dir)?;
    println!(
        "restored {} from {} ({}; {files}); the previous database is kept as {DB_FILE}.before-restore",
        db.display(),
        args.from.display(),
        size(report)
    );
    Ok(())
}

/// Creates `dir` (mode 0700, as `natter serve` does) if it is missing.
fn create_private_dir(dir: &Path) -> Result<(), Fail> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Fail::new(OTHER, format!("cannot create {}: {e}", dir.display())))
}

fn size(report: BackupReport) -> String {
    format!("{} pages, {} bytes", report.pages, report.bytes)
}

fn store_fail(e: &StoreError, path: &Path) -> Fail {
    match e {
        StoreError::NotNatter(why) => Fail::new(NOT_FOUND, why.clone()),
        StoreError::Conflict(why) => Fail::new(USAGE, format!("{why}: refusing to overwrite it")),
        other => Fail::new(OTHER, format!("{}: {other}", path.display())),
    }
}
