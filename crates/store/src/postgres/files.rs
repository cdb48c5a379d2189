//! `Files` on PostgreSQL: tables `files` and `file_recipients` (see
//! [`super::schema_extra`]).

use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use super::PgStore;
use super::{require_conv, require_user};
use crate::files::{FileId, FileRecord, FileUsage, Files, NewFile, RecipientState};
use crate::{ConvId, Result, StoreError, UserId};

const COLS: &str = "id, uploader, conv_id, name, size, media_type, hash, client_id, \
                    created_ms, expires_ms, complete";

/// A BYTEA column of exactly `N` bytes.
fn bytes<const N: usize>(r: &Row, column: usize) -> Result<[u8; N]> {
    let v: Vec<u8> = r.try_get(column)?;
    v.try_into()
        .map_err(|v: Vec<u8>| StoreError::Corrupt(format!("{} bytes, want {N}", v.len())))
}

fn row(r: &Row) -> Result<FileRecord> {
    Ok(FileRecord {
        id: FileId(r.try_get(0)?),
        uploader: UserId(r.try_get(1)?),
        conv: ConvId(r.try_get(2)?),
        name: r.try_get(3)?,
        size: r.try_get::<_, i64>(4)?.max(0) as u64,
        media_type: r.try_get(5)?,
        hash: bytes(r, 6)?,
        client_id: bytes(r, 7)?,
        created_ms: r.try_get(8)?,
        expires_ms: r.try_get(9)?,
        complete: r.try_get(10)?,
    })
}

fn list(
    c: &mut impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<FileRecord>> {
    c.query(sql, params)?.iter().map(row).collect()
}

fn size_col(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

fn insert(c: &mut impl GenericClient, new: &NewFile) -> Result<FileRecord> {
    require_user(c, new.uploader)?;
    require_conv(c, new.conv)?;
    let sql = format!(
        "INSERT INTO files (uploader, conv_id, name, size, media_type, hash, client_id,
         created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLS}"
    );
    let size = size_col(new.size);
    let (hash, client_id) = (new.hash.as_slice(), new.client_id.as_slice());
    let params: [&(dyn ToSql + Sync); 9] = [
        &new.uploader.0,
        &new.conv.0,
        &new.name,
        &size,
        &new.media_type,
        &hash,
        &client_id,
        &new.created_ms,
        &new.expires_ms,
    ];
    let file = row(&c.query_one(&sql, &params)?)?;
    let sql = "INSERT INTO file_recipients (file_id, user_id, state) VALUES ($1, $2, 0)
               ON CONFLICT DO NOTHING";
    for &user in new.recipients.iter().filter(|&&u| u != new.uploader) {
        require_user(c, user)?;
        c.execute(sql, &[&file.id.0, &user.0])?;
    }
    Ok(file)
}

fn recipients(c: &mut impl GenericClient, id: FileId) -> Result<Vec<(UserId, RecipientState)>> {
    let sql = "SELECT user_id, state FROM file_recipients WHERE file_id = $1 ORDER BY user_id";
    let mut out = Vec::new();
    for r in c.query(sql, &[&id.0])? {
        let code: i16 = r.try_get(1)?;
        let state = RecipientState::from_code(i64::from(code))
            .ok_or_else(|| StoreError::Corrupt(format!("file state {code}")))?;
        out.push((UserId(r.try_get(0)?), state));
    }
    Ok(out)
}

fn usage(c: &mut impl GenericClient, uploader: UserId) -> Result<FileUsage> {
    let sql = "SELECT coalesce(sum(size), 0)::bigint, count(*) FILTER (WHERE NOT complete)
               FROM files WHERE uploader = $1";
    let r = c.query_one(sql, &[&uploader.0])?;
    Ok(FileUsage {
        bytes: r.try_get::<_, i64>(0)?.max(0) as u64,
        unfinished: r.try_get::<_, i64>(1)?.max(0) as usize,
    })
}

/// Runs an update that must touch one row: `NotFound` otherwise.
fn update_one(c: &mut impl GenericClient, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<()> {
    match c.execute(sql, params)? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

impl Files for PgStore {
    fn create_file(&self, new: &NewFile) -> Result<FileRecord> {
        let new = new.clone();
        self.tx(move |t| insert(t, &new))
    }

    fn file(&self, id: FileId) -> Result<Option<FileRecord>> {
        let sql = format!("SELECT {COLS} FROM files WHERE id = $1");
        self.call(move |c| Ok(list(c, &sql, &[&id.0])?.pop()))
    }

    fn unfinished_upload(
        &self,
        uploader: UserId,
        conv: ConvId,
        hash: [u8; 32],
    ) -> Result<Option<FileRecord>> {
        let sql = format!(
            "SELECT {COLS} FROM files WHERE uploader = $1 AND conv_id = $2 AND hash = $3
             AND NOT complete ORDER BY id DESC LIMIT 1"
        );
        self.call(move |c| Ok(list(c, &sql, &[&uploader.0, &conv.0, &hash.as_slice()])?.pop()))
    }

    fn file_by_message(
        &self,
        conv: ConvId,
        uploader: UserId,
        client_id: [u8; 16],
    ) -> Result<Option<FileRecord>> {
        let sql = format!(
            "SELECT {COLS} FROM files WHERE conv_id = $1 AND uploader = $2 AND client_id = $3
             ORDER BY id LIMIT 1"
        );
        self.call(move |c| Ok(list(c, &sql, &[&conv.0, &uploader.0, &client_id.as_slice()])?.pop()))
    }

    fn set_file_complete(&self, id: FileId) -> Result<()> {
        let sql = "UPDATE files SET complete = true WHERE id = $1";
        self.tx(move |t| update_one(t, sql, &[&id.0]))
    }

    fn files_of(&self, user: UserId) -> Result<Vec<FileRecord>> {
        let sql = format!(
            "SELECT {COLS} FROM files WHERE uploader = $1
             OR id IN (SELECT file_id FROM file_recipients WHERE user_id = $1) ORDER BY id"
        );
        self.call(move |c| list(c, &sql, &[&user.0]))
    }

    fn file_recipients(&self, id: FileId) -> Result<Vec<(UserId, RecipientState)>> {
        self.call(move |c| recipients(c, id))
    }

    fn set_recipient_state(&self, id: FileId, user: UserId, state: RecipientState) -> Result<()> {
        let sql = "UPDATE file_recipients SET state = $3 WHERE file_id = $1 AND user_id = $2";
        let code = state.code() as i16;
        self.tx(move |t| update_one(t, sql, &[&id.0, &user.0, &code]))
    }

    fn file_usage(&self, uploader: UserId) -> Result<FileUsage> {
        self.call(move |c| usage(c, uploader))
    }

    fn expired_files(&self, now_ms: i64) -> Result<Vec<FileRecord>> {
        let sql = format!("SELECT {COLS} FROM files WHERE expires_ms <= $1 ORDER BY id");
        self.call(move |c| list(c, &sql, &[&now_ms]))
    }

    fn delete_file(&self, id: FileId) -> Result<bool> {
        self.tx(move |t| {
            t.execute("DELETE FROM file_recipients WHERE file_id = $1", &[&id.0])?;
            Ok(t.execute("DELETE FROM files WHERE id = $1", &[&id.0])? > 0)
        })
    }

    fn files_with_hash(&self, hash: [u8; 32]) -> Result<usize> {
        self.call(move |c| {
            let r = c.query_one(
                "SELECT count(*) FROM files WHERE hash = $1",
                &[&hash.as_slice()],
            )?;
            Ok(r.try_get::<_, i64>(0)?.max(0) as usize)
        })
    }
}
