//! `Files` on SQLite: tables `files` and `file_recipients` (migration
//! [`FILES`], tables of their own).

use rusqlite::{Connection, OptionalExtension, Row, Transaction};

use super::{SqliteStore, require_conv, require_user};
use crate::files::{FileId, FileRecord, FileUsage, Files, NewFile, RecipientState};
use crate::{ConvId, Result, StoreError, UserId};

/// File offers (issue 14) and each recipient's state; sizes are stored as
/// i64 (the server caps them far below).
pub(crate) const FILES: &str = r#"
CREATE TABLE files (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uploader   INTEGER NOT NULL REFERENCES users(id),
    conv_id    INTEGER NOT NULL REFERENCES conversations(id),
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    hash       BLOB NOT NULL,
    client_id  BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    complete   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX files_by_uploader ON files(uploader, id);
CREATE INDEX files_by_message ON files(conv_id, uploader, client_id);
CREATE INDEX files_by_expiry ON files(expires_ms);
CREATE INDEX files_by_hash ON files(hash);

CREATE TABLE file_recipients (
    file_id INTEGER NOT NULL REFERENCES files(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    state   INTEGER NOT NULL,
    PRIMARY KEY (file_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX file_recipients_by_user ON file_recipients(user_id, file_id);
"#;

const COLS: &str = "id, uploader, conv_id, name, size, media_type, hash, client_id, \
                    created_ms, expires_ms, complete";

fn row(r: &Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        id: FileId(r.get(0)?),
        uploader: UserId(r.get(1)?),
        conv: ConvId(r.get(2)?),
        name: r.get(3)?,
        size: r.get::<_, i64>(4)?.max(0) as u64,
        media_type: r.get(5)?,
        hash: r.get(6)?,
        client_id: r.get(7)?,
        created_ms: r.get(8)?,
        expires_ms: r.get(9)?,
        complete: r.get(10)?,
    })
}

fn size_col(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

fn insert(tx: &Transaction<'_>, new: &NewFile) -> Result<FileRecord> {
    require_user(tx, new.uploader)?;
    require_conv(tx, new.conv)?;
    let sql = "INSERT INTO files (uploader, conv_id, name, size, media_type, hash, client_id,
               created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    tx.prepare_cached(sql)?.execute((
        new.uploader.0,
        new.conv.0,
        &new.name,
        size_col(new.size),
        &new.media_type,
        new.hash,
        new.client_id,
        new.created_ms,
        new.expires_ms,
    ))?;
    let id = FileId(tx.last_insert_rowid());
    let sql = "INSERT OR IGNORE INTO file_recipients (file_id, user_id, state) VALUES (?1, ?2, 0)";
    for &user in new.recipients.iter().filter(|&&u| u != new.uploader) {
        require_user(tx, user)?;
        tx.prepare_cached(sql)?.execute((id.0, user.0))?;
    }
    by_id(tx, id)?.ok_or(StoreError::NotFound)
}

fn by_id(conn: &Connection, id: FileId) -> Result<Option<FileRecord>> {
    let sql = format!("SELECT {COLS} FROM files WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id.0], row)
        .optional()?)
}

fn list(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<FileRecord>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl Files for SqliteStore {
    fn create_file(&self, new: &NewFile) -> Result<FileRecord> {
        self.write(|tx| insert(tx, new))
    }

    fn file(&self, id: FileId) -> Result<Option<FileRecord>> {
        self.read(|c| by_id(c, id))
    }

    fn unfinished_upload(
        &self,
        uploader: UserId,
        conv: ConvId,
        hash: [u8; 32],
    ) -> Result<Option<FileRecord>> {
        let sql = format!(
            "SELECT {COLS} FROM files WHERE uploader = ?1 AND conv_id = ?2 AND hash = ?3
             AND complete = 0 ORDER BY id DESC LIMIT 1"
        );
        self.read(|c| Ok(list(c, &sql, (uploader.0, conv.0, hash))?.pop()))
    }

    fn file_by_message(
        &self,
        conv: ConvId,
        uploader: UserId,
        client_id: [u8; 16],
    ) -> Result<Option<FileRecord>> {
        let sql = format!(
            "SELECT {COLS} FROM files WHERE conv_id = ?1 AND uploader = ?2 AND client_id = ?3
             ORDER BY id LIMIT 1"
        );
        self.read(|c| Ok(list(c, &sql, (conv.0, uploader.0, client_id))?.pop()))
    }

    fn set_file_complete(&self, id: FileId) -> Result<()> {
        self.write(|tx| {
            let sql = "UPDATE files SET complete = 1 WHERE id = ?1";
            match tx.prepare_cached(sql)?.execute([id.0])? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
    }

    fn files_of(&self, user: UserId) -> Result<Vec<FileRecord>> {
        let sql = format!(
            "SELECT {COLS} FROM files WHERE uploader = ?1
             OR id IN (SELECT file_id FROM file_recipients WHERE user_id = ?1) ORDER BY id"
        );
        self.read(|c| list(c, &sql, [user.0]))
    }

    fn file_recipients(&self, id: FileId) -> Result<Vec<(UserId, RecipientState)>> {
        self.read(|c| {
            let sql = "SELECT user_id, state FROM file_recipients WHERE file_id = ?1
                       ORDER BY user_id";
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map([id.0], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?)))?;
            let mut out = Vec::new();
            for r in rows {
                let (user, code) = r?;
                let state = RecipientState::from_code(code)
                    .ok_or_else(|| StoreError::Corrupt(format!("file state {code}")))?;
                out.push((UserId(user), state));
            }
            Ok(out)
        })
    }

    fn set_recipient_state(&self, id: FileId, user: UserId, state: RecipientState) -> Result<()> {
        self.write(|tx| {
            let sql = "UPDATE file_recipients SET state = ?3 WHERE file_id = ?1 AND user_id = ?2";
            match tx
                .prepare_cached(sql)?
                .execute((id.0, user.0, state.code()))?
            {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
    }

    fn file_usage(&self, uploader: UserId) -> Result<FileUsage> {
        self.read(|c| {
            let sql = "SELECT coalesce(sum(size), 0), coalesce(sum(complete = 0), 0)
                       FROM files WHERE uploader = ?1";
            let (bytes, unfinished): (i64, i64) = c
                .prepare_cached(sql)?
                .query_row([uploader.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(FileUsage {
                bytes: bytes.max(0) as u64,
                unfinished: unfinished.max(0) as usize,
            })
        })
    }

    fn expired_files(&self, now_ms: i64) -> Result<Vec<FileRecord>> {
        let sql = format!("SELECT {COLS} FROM files WHERE expires_ms <= ?1 ORDER BY id");
        self.read(|c| list(c, &sql, [now_ms]))
    }

    fn delete_file(&self, id: FileId) -> Result<bool> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM file_recipients WHERE file_id = ?1")?
                .execute([id.0])?;
            let n = tx
                .prepare_cached("DELETE FROM files WHERE id = ?1")?
                .execute([id.0])?;
            Ok(n > 0)
        })
    }

    fn files_with_hash(&self, hash: [u8; 32]) -> Result<usize> {
        self.read(|c| {
            let sql = "SELECT count(*) FROM files WHERE hash = ?1";
            let n: i64 = c.prepare_cached(sql)?.query_row([hash], |r| r.get(0))?;
            Ok(n.max(0) as usize)
        })
    }
}
