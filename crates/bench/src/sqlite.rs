//! `--reference sqlite`: how many message rows a plain SQLite loop inserts
//! per second with the same durability as the store (WAL, synchronous=FULL)
//! and the same batch size as the server's group commit (256).

use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{Connection, params};

use crate::report::ReferenceReport;

/// Rows per transaction (the server's default `commit_batch`).
const BATCH: usize = 256;

const SCHEMA: &str = "
CREATE TABLE messages (
    conv_id   INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    sender_id INTEGER,
    client_id BLOB NOT NULL,
    kind      INTEGER NOT NULL,
    body      TEXT NOT NULL,
    ts_ms     INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX messages_by_seq ON messages(conv_id, seq);
CREATE UNIQUE INDEX messages_by_client_id ON messages(conv_id, coalesce(sender_id, 0), client_id);
";

/// Inserts `size`-byte messages in batches for `duration`.
pub(crate) fn run(size: usize, duration: Duration) -> anyhow::Result<ReferenceReport> {
    let dir = tempfile::tempdir()?;
    let mut db = Connection::open(dir.path().join("reference.db")).context("open sqlite")?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    db.execute_batch(SCHEMA)?;
    let body = "x".repeat(size);
    let start = Instant::now();
    let mut rows = 0u64;
    while start.elapsed() < duration {
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (conv_id, seq, sender_id, client_id, kind, body, ts_ms)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
            )?;
            for _ in 0..BATCH {
                rows += 1;
                let id = uuid::Uuid::new_v4();
                let seq = i64::try_from(rows)?;
                insert.execute(params![1, seq, 1, id.as_bytes(), body, seq])?;
            }
        }
        tx.commit()?;
    }
    let per_s = rows as f64 / start.elapsed().as_secs_f64();
    Ok(ReferenceReport {
        kind: "sqlite".to_owned(),
        sent: rows,
        deliveries: rows,
        deliveries_per_s: per_s,
        ..ReferenceReport::default()
    })
}
