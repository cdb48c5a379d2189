//! PostgreSQL backend (cluster mode): several `natter serve` nodes share one
//! database. Same semantics as the SQLite backend (the memory store is the
//! reference), checked by the same conformance suite.
//!
//! The sync `postgres` crate runs a tokio runtime inside each `Client` and
//! panics when used from a thread that is already inside a runtime, while the
//! server calls the store from async tasks. So no `Client` is ever used on the
//! caller's thread: a small pool of dedicated OS threads each owns one
//! connection; [`PgStore::call`] and [`PgStore::tx`] send a closure to an idle
//! worker and block on its answer. A worker whose connection broke reconnects
//! on its next job, so a PostgreSQL restart heals by itself; calls made while
//! the database is down fail with [`StoreError::Backend`].
//!
//! Durability: `synchronous_commit` stays on (the default), so `Ok` means the
//! transaction's commit record is flushed.

mod accounts;
mod actions;
mod convs;
mod devices;
mod error;
mod files;
mod former;
mod last_messages;
mod messages;
mod moderation;
mod operators;
mod pool;
mod schema;
mod schema_extra;
mod search;
mod sessions;

use std::cell::Cell;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use postgres::{IsolationLevel, Row, Transaction};

pub(crate) use error::retryable_failure;
pub use pool::PoolOptions;
use pool::{Lane, Pool};

use crate::types::SEQ_MAX;
use crate::{
    ConvId, ConvKind, Conversation, Member, Message, MsgKind, Result, Role, StoreError, UserId,
};

/// The longest pause before the first retry; each later one may be twice as
/// long, up to [`BACKOFF_CAP`] ([`backoff`]).
const BACKOFF_FIRST: Duration = Duration::from_millis(1);

/// The longest pause between two attempts.
const BACKOFF_CAP: Duration = Duration::from_millis(64);

/// How long a transaction may keep failing on conflicts, its attempts and
/// pauses included, before the caller gets the error, unless
/// [`PgStore::with_retry_budget`] sets another. Generous: a slow
/// answer beats a failed one, and the worst case seen (256 group creations
/// from 64 threads on two nodes, with a second such test process) was 2 s.
const RETRY_BUDGET: Duration = Duration::from_secs(5);

/// PostgreSQL backend; see the [module docs](self). Cheap to share (`Arc`).
pub struct PgStore {
    pool: Pool,
    /// See [`PgStore::with_retry_budget`].
    retry_budget: Duration,
}

impl PgStore {
    /// Connects (URL like `postgres://user@127.0.0.1:5432/db`) and applies
    /// missing migrations (under an advisory lock, so nodes starting at once
    /// do not both migrate).
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PoolOptions::default())
    }

    /// [`PgStore::connect`] with another pool size. Errors:
    /// [`StoreError::Unavailable`] when PostgreSQL cannot be reached (worth
    /// retrying), [`StoreError::Backend`] for a bad URL, a refused login,
    /// a missing database or a failed migration.
    pub fn connect_with(url: &str, options: PoolOptions) -> Result<Self> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("postgres url: {e}")))?;
        let store = Self {
            pool: Pool::start(config, options)?,
            retry_budget: RETRY_BUDGET,
        };
        store.call(schema::migrate)?;
        Ok(store)
    }

    /// The pool's job queue now (bounded: see [`PoolOptions::queue`]).
    pub(crate) fn pool_stats(&self) -> crate::QueueStats {
        self.pool.stats()
    }

    /// Runs `f` on one pooled connection (autocommit: each statement commits).
    pub(crate) fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.pool.run(Lane::Client, f)
    }

    /// [`PgStore::call`] in the writer lane: for the calls the server's own
    /// progress depends on (posting rights, gap fills, session checks), which
    /// client reads must not starve (see [`pool`]).
    pub(crate) fn call_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.pool.run(Lane::Writer, f)
    }

    /// Runs `f` in one SERIALIZABLE transaction and commits if it returns `Ok`.
    /// Retried from the start on a serialization failure or deadlock (which is
    /// also how PostgreSQL reports most unique violations caused by a racing
    /// transaction), so `f` is `FnMut` and must not have side effects outside
    /// the transaction. The retries pause a random, growing time ([`backoff`])
    /// and stop after [`RETRY_BUDGET`]: under contention SERIALIZABLE fails
    /// often (small tables share index pages, so unrelated rows conflict), and
    /// transactions that need no read-then-write invariant run at READ
    /// COMMITTED instead ([`PgStore::tx_at`]).
    pub(crate) fn tx<T: Send + 'static>(
        &self,
        f: impl FnMut(&mut Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.tx_at(IsolationLevel::Serializable, f)
    }

    /// [`PgStore::tx`] at another isolation level (the append path uses READ
    /// COMMITTED with explicit row locks, which never needs a retry).
    pub(crate) fn tx_at<T: Send + 'static>(
        &self,
        level: IsolationLevel,
        f: impl FnMut(&mut Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.tx_in(Lane::Client, level, f)
    }

    /// [`PgStore::tx_at`] in the writer lane (appends, delivery acks): see
    /// [`PgStore::call_writer`].
    pub(crate) fn tx_writer<T: Send + 'static>(
        &self,
        level: IsolationLevel,
        f: impl FnMut(&mut Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.tx_in(Lane::Writer, level, f)
    }

    /// Each attempt is one job of the pool; the pause between two runs on
    /// the caller's thread (which is blocked on the answer anyway), never on
    /// a worker: a worker is held for one attempt at a time and then takes
    /// the next job, writer lane first, so transactions backing off cannot
    /// starve the writer lane however many there are. A retry queues again
    /// like a new job (and fails with [`StoreError::Busy`] when the queue is
    /// full for its lane).
    fn tx_in<T: Send + 'static>(
        &self,
        lane: Lane,
        level: IsolationLevel,
        f: impl FnMut(&mut Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        // The budget alone bounds the retries (no count: a large budget,
        // as tests give, must not end early).
        let give_up = Instant::now().checked_add(self.retry_budget);
        let mut f = f;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (back, out, retryable) = self.pool.run(lane, move |client| {
                error::clear_retryable();
                // A failed attempt is rolled back here (the transaction is
                // dropped), so the pause holds no lock.
                let out = run_tx(client, level, &mut f);
                Ok((f, out, retryable_failure()))
            })?;
            f = back;
            if out.is_ok() || !retryable {
                return out;
            }
            let pause = backoff(attempt);
            if give_up.is_some_and(|end| Instant::now() + pause > end) {
                return out;
            }
            std::thread::sleep(pause);
        }
    }

    /// This store with another retry budget: how long a transaction may
    /// keep failing on conflicts, its attempts and pauses included, before
    /// the caller gets the error (default [`RETRY_BUDGET`], 5 s). Tests on
    /// a loaded machine give a large one, so they check that conflicting
    /// transactions succeed, not how fast.
    #[must_use]
    pub fn with_retry_budget(mut self, budget: Duration) -> Self {
        self.retry_budget = budget;
        self
    }
}

/// The pause after failed attempt number `attempt` (from 1) of a
/// transaction that conflicted with others: uniformly random below
/// [`BACKOFF_FIRST`] doubled per attempt, capped at [`BACKOFF_CAP`] ("full
/// jitter"), so the transactions that collided spread out instead of
/// colliding again in lockstep, and the pauses grow while the contention
/// lasts.
fn backoff(attempt: usize) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    let ceiling = BACKOFF_FIRST
        .saturating_mul(1 << doublings)
        .min(BACKOFF_CAP);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(next_random() % nanos)
}

thread_local! {
    /// xorshift64 state of this thread, seeded from std's per-process
    /// random hash keys and the thread's id (never 0).
    static JITTER: Cell<u64> = Cell::new(
        std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id()) | 1,
    );
}

/// The next number of this thread's xorshift64 generator (jitter only: not
/// for anything that needs unpredictability).
fn next_random() -> u64 {
    JITTER.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}

/// One attempt of a transaction.
fn run_tx<T>(
    client: &mut postgres::Client,
    level: IsolationLevel,
    f: &mut impl FnMut(&mut Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let mut tx = client.build_transaction().isolation_level(level).start()?;
    let out = f(&mut tx)?;
    tx.commit()?;
    Ok(out)
}

/// A seq as PostgreSQL stores it (BIGINT, saturated at `i64::MAX`).
pub(super) fn sql_seq(seq: u64) -> i64 {
    seq.min(SEQ_MAX) as i64
}

/// Reads a seq column (a non-negative BIGINT).
pub(super) fn get_seq(row: &Row, column: usize) -> Result<u64> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative seq {value}")))
}

/// Reads a nullable seq column.
pub(super) fn get_opt_seq(row: &Row, column: usize) -> Result<Option<u64>> {
    let value: Option<i64> = row.try_get(column)?;
    value
        .map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative seq {v}"))))
        .transpose()
}

pub(super) fn kind_code(kind: ConvKind) -> i16 {
    match kind {
        ConvKind::Lobby => 0,
        ConvKind::Direct => 1,
        ConvKind::Group => 2,
    }
}

pub(super) fn role_code(role: Role) -> i16 {
    match role {
        Role::Owner => 0,
        Role::Admin => 1,
        Role::Member => 2,
    }
}

pub(super) fn msg_kind_code(kind: MsgKind) -> i16 {
    match kind {
        MsgKind::Text => 0,
        MsgKind::System => 1,
    }
}

/// Columns read by [`conv_row`] (table alias `c`).
pub(super) const CONV_COLS: &str = "c.id, c.kind, c.name, c.public, c.created_ms";

pub(super) fn conv_row(row: &Row) -> Result<Conversation> {
    let kind = match row.try_get::<_, i16>(1)? {
        0 => ConvKind::Lobby,
        1 => ConvKind::Direct,
        2 => ConvKind::Group,
        other => return Err(StoreError::Corrupt(format!("conversation kind {other}"))),
    };
    Ok(Conversation {
        id: ConvId(row.try_get(0)?),
        kind,
        name: row.try_get(2)?,
        public: row.try_get(3)?,
        created_ms: row.try_get(4)?,
    })
}

/// Columns read by [`member_row`] (table alias `m`).
pub(super) const MEMBER_COLS: &str = "m.user_id, m.role, m.joined_seq, m.left_seq";

pub(super) fn member_row(row: &Row) -> Result<Member> {
    let role = match row.try_get::<_, i16>(1)? {
        0 => Role::Owner,
        1 => Role::Admin,
        2 => Role::Member,
        other => return Err(StoreError::Corrupt(format!("member role {other}"))),
    };
    Ok(Member {
        user: UserId(row.try_get(0)?),
        role,
        joined_seq: get_seq(row, 2)?,
        left_seq: get_opt_seq(row, 3)?,
    })
}

/// Columns read by [`message_row`].
pub(super) const MSG_COLS: &str =
    "conv_id, seq, sender_id, client_id, kind, body, ts_ms, edited_ms, deleted, action, target_seq";

pub(super) fn message_row(row: &Row) -> Result<Message> {
    let kind = match row.try_get::<_, i16>(4)? {
        0 => MsgKind::Text,
        1 => MsgKind::System,
        other => return Err(StoreError::Corrupt(format!("message kind {other}"))),
    };
    Ok(Message {
        conv: ConvId(row.try_get(0)?),
        seq: get_seq(row, 1)?,
        sender: row.try_get::<_, Option<i64>>(2)?.map(UserId),
        client_id: client_id(row, 3)?,
        kind,
        body: row.try_get(5)?,
        ts_ms: row.try_get(6)?,
        edited_ms: row.try_get(7)?,
        deleted: row.try_get(8)?,
        action: actions::action_cols(row, 9)?,
    })
}

/// Reads a 16-byte client id column.
pub(super) fn client_id(row: &Row, column: usize) -> Result<crate::ClientId> {
    let bytes: Vec<u8> = row.try_get(column)?;
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("client id is not 16 bytes".to_owned()))
}

/// True if `sql` with `params` returns a row.
pub(super) fn exists(
    conn: &mut impl postgres::GenericClient,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<bool> {
    Ok(conn.query_opt(sql, params)?.is_some())
}

pub(super) fn require_user(conn: &mut impl postgres::GenericClient, user: UserId) -> Result<()> {
    match exists(conn, "SELECT 1 FROM users WHERE id = $1", &[&user.0])? {
        true => Ok(()),
        false => Err(StoreError::NotFound),
    }
}

pub(super) fn require_conv(conn: &mut impl postgres::GenericClient, conv: ConvId) -> Result<()> {
    match exists(
        conn,
        "SELECT 1 FROM conversations WHERE id = $1",
        &[&conv.0],
    )? {
        true => Ok(()),
        false => Err(StoreError::NotFound),
    }
}

/// Locks conversation `conv` against a group deletion and fails with
/// `NotFound` when it does not exist or is a deleted group: for the
/// transactions that add rows to a conversation without locking it as an
/// append does (a join, a cursor raise, a ban, a mute). A deletion locks
/// the row `FOR UPDATE` first (`moderation::delete`), which conflicts with
/// this `FOR KEY SHARE` (appends' `FOR NO KEY UPDATE` does not), so either
/// the deletion waits for this transaction and then deletes what it added,
/// or this waits for the deletion's commit and the check, a statement run
/// after the lock, sees it. A mute (SERIALIZABLE) reads its snapshot
/// there; the deletion catches up with it at the membership row it locks
/// next, deleted meanwhile (a serialization failure; the retry finds the
/// group deleted). It takes this lock before that row, in the deletion's
/// order: the other way round the two deadlock (tested). Appends' `FOR NO
/// KEY UPDATE` and `last_seq` updates do not conflict with this lock.
pub(super) fn lock_live_conv(conn: &mut impl postgres::GenericClient, conv: ConvId) -> Result<()> {
    let lock = "SELECT 1 FROM conversations WHERE id = $1 FOR KEY SHARE";
    if !exists(conn, lock, &[&conv.0])? || deleted_group(conn, conv)? {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Whether `conv` is a deleted group.
pub(super) fn deleted_group(conn: &mut impl postgres::GenericClient, conv: ConvId) -> Result<bool> {
    let sql = "SELECT 1 FROM deleted_groups WHERE conv_id = $1";
    exists(conn, sql, &[&conv.0])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{BACKOFF_CAP, BACKOFF_FIRST, backoff};

    /// Each pause is below its attempt's ceiling (1 ms doubling up to the
    /// cap, never more however many attempts), and the pauses are spread
    /// over that range rather than all equal.
    #[test]
    fn pauses_grow_to_the_cap_with_full_jitter() {
        for attempt in 1..=300 {
            let doublings = u32::try_from(attempt - 1).unwrap_or(u32::MAX).min(16);
            let ceiling = (BACKOFF_FIRST * 2u32.pow(doublings)).min(BACKOFF_CAP);
            for _ in 0..50 {
                assert!(backoff(attempt) < ceiling, "attempt {attempt}");
            }
        }
        let late: Vec<Duration> = (0..1000).map(|_| backoff(20)).collect();
        let (min, max) = (late.iter().min(), late.iter().max());
        assert!(min < Some(&(BACKOFF_CAP / 4)), "{min:?}");
        assert!(max > Some(&(BACKOFF_CAP * 3 / 4)), "{max:?}");
    }
}
