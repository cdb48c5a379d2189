//! Natter storage: one narrow trait per aggregate, an in-memory reference backend
//! ([`MemoryStore`]) and a SQLite backend ([`SqliteStore`]).
//!
//! The API is synchronous; the server calls it from a writer thread or
//! `spawn_blocking`. Times are unix milliseconds passed in by the caller: the store
//! never reads a clock. Every write is atomic; a method that returns `Ok` has
//! committed its data durably (SQLite: `synchronous=FULL`).
//!
//! Every backend passes the same [`conformance`] suite; the memory backend is the
//! reference for semantics.

#![warn(missing_docs)]

mod actions;
mod devices;
mod error;
mod files;
mod former;
mod last_messages;
mod memory;
mod moderation;
mod operators;
mod paging;
mod postgres;
mod search;
mod sessions;
mod sqlite;
mod types;

#[doc(hidden)]
pub mod conformance;
#[doc(hidden)]
pub mod pg_harness;

pub use actions::{ActorNeeds, Change, MessageActions, MsgAction, NewAction, Refusal, refusal};
pub use devices::{
    Ciphertext, Claimed, DeviceRecord, Devices, EncryptedBody, KeyLimits, MessageKey, PublicKey,
    Published,
};
pub use error::{Result, StoreError};
pub use files::{FileId, FileRecord, FileUsage, Files, NewFile, RecipientState};
pub use former::{FormerMembers, Unsynced};
pub use last_messages::{LastMessage, LastMessages};
pub use memory::MemoryStore;
pub use moderation::{Ban, GroupSettings, GroupUpdate, Moderation, PostRight};
pub use operators::{Operators, QueueStats, StoreCounts};
pub use postgres::{PgStore, PoolOptions};
pub use search::{MIN_SEARCH_CHARS, ReadMarks, Search, SearchPos, SearchQuery, find_ignoring_case};
pub use sessions::{CreatedSession, NewSession, SessionId, SessionRecord};
pub use sqlite::{BackupReport, SqliteStore};
pub use types::{
    Anchor, Appended, ClientId, ConvId, ConvKind, Conversation, Cursor, MAX_PAGE, Member, Message,
    MsgKind, NewGroup, NewMessage, Order, Page, Role, TokenHash, User, UserId, group_key, name_key,
};

/// All store traits, for `use natter_store::prelude::*;` (trait methods need
/// their trait in scope, also when called on `dyn Store`).
pub mod prelude {
    pub use crate::FormerMembers;
    pub use crate::{
        Conversations, Cursors, Devices, Files, LastMessages, Members, MessageActions, Messages,
        Moderation, Operators, Sessions, Store, Users,
    };
    pub use crate::{ReadMarks, Search};
}

/// Accounts.
pub trait Users {
    /// Creates an account and makes it a current member of the lobby
    /// ([`Role::Member`], `joined_seq` 1: the whole lobby history is readable).
    ///
    /// `name` is stored in the case given; uniqueness is case-insensitive
    /// (key: [`name_key`], i.e. Unicode lowercase). Errors: [`StoreError::NameTaken`]. Name syntax is the
    /// caller's job.
    fn create_user(&self, name: &str, password_hash: &str, now_ms: i64) -> Result<User>;

    /// The user whose name equals `name` case-insensitively.
    fn user_by_name(&self, name: &str) -> Result<Option<User>>;

    /// The user with this id.
    fn user(&self, id: UserId) -> Result<Option<User>>;

    /// All users, ordered by id.
    fn list_users(&self) -> Result<Vec<User>>;

    /// Replaces the password hash. Errors: [`StoreError::NotFound`].
    fn set_password_hash(&self, id: UserId, password_hash: &str) -> Result<()>;

    /// Sets the last-seen time (overwrites, not monotonic). Errors: [`StoreError::NotFound`].
    fn set_last_seen(&self, id: UserId, at_ms: i64) -> Result<()>;
}

/// Login sessions, known only by the hash of their token, each with a public
/// [`SessionId`]. A session expires once idle (not used by a login or resume)
/// for longer than the caller's `max_idle_ms`; the store never reads a clock.
pub trait Sessions {
    /// Records a new session (created and last used at `now_ms`). If the user
    /// already has [`NewSession::max_per_user`] sessions or more, the least
    /// recently used ones (ties: lowest id) are deleted first so that the count,
    /// the new one included, stays within the cap; their hashes are returned.
    ///
    /// Errors: [`StoreError::NotFound`] (no such user), [`StoreError::Conflict`]
    /// (this token hash already exists).
    fn create_session(&self, new: &NewSession, now_ms: i64) -> Result<CreatedSession>;

    /// The user owning the session, if it exists (expired or not).
    fn session_user(&self, token_hash: TokenHash) -> Result<Option<UserId>>;

    /// Uses a session (a resume): if it exists and is not expired (last used at
    /// or after `now_ms - max_idle_ms`), sets its last use to `now_ms` (never
    /// lowering it) and its address to `addr` (when given) and returns it.
    /// An expired session is deleted and `None` returned, like an unknown one.
    fn touch_session(
        &self,
        token_hash: TokenHash,
        addr: Option<&str>,
        now_ms: i64,
        max_idle_ms: i64,
    ) -> Result<Option<SessionRecord>>;

    /// Every session of `user`, most recently used first (ties: highest id first).
    fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>>;

    /// Of `hashes`, those whose session exists (expired or not) and whose
    /// owner's account is not disabled, sorted. One call checks a whole
    /// batch (a cluster node re-checks its connections with it); callers
    /// keep batches to a few hundred.
    fn live_sessions(&self, hashes: &[TokenHash]) -> Result<Vec<TokenHash>>;

    /// Deletes one session; returns whether it existed.
    fn delete_session(&self, token_hash: TokenHash) -> Result<bool>;

    /// Deletes session `id` if `user` owns it and returns its token hash;
    /// `None` (nothing deleted) if there is no such session of that user.
    fn delete_session_by_id(&self, user: UserId, id: SessionId) -> Result<Option<TokenHash>>;

    /// Deletes every session of `user` except `except` (if given); returns how many
    /// were deleted.
    fn delete_sessions_of(&self, user: UserId, except: Option<TokenHash>) -> Result<usize>;

    /// Deletes every expired session (last used before `now_ms - max_idle_ms`);
    /// returns how many.
    fn prune_sessions(&self, now_ms: i64, max_idle_ms: i64) -> Result<usize>;
}

/// Conversations: the lobby, directs and groups.
pub trait Conversations {
    /// The lobby's id. The lobby is created with the store and always exists.
    fn lobby(&self) -> ConvId;

    /// The direct conversation of `a` and `b`, created (both current members,
    /// [`Role::Member`], `joined_seq` 1) if it does not exist yet. `(a, b)` and
    /// `(b, a)` give the same conversation.
    ///
    /// Errors: [`StoreError::Conflict`] if `a == b`, [`StoreError::NotFound`] if a
    /// user does not exist.
    fn direct(&self, a: UserId, b: UserId, now_ms: i64) -> Result<Conversation>;

    /// Creates a group: the owner gets [`Role::Owner`], the other listed users
    /// [`Role::Member`], all with `joined_seq` 1.
    ///
    /// Errors: [`StoreError::NameTaken`] (same [`group_key`] as another group:
    /// case-insensitive and confusable-insensitive),
    /// [`StoreError::NotFound`] if a user does not exist.
    fn create_group(&self, group: NewGroup, now_ms: i64) -> Result<Conversation>;

    /// The group whose name has the same [`group_key`] as `name` (never the
    /// lobby or a direct).
    fn group_by_name(&self, name: &str) -> Result<Option<Conversation>>;

    /// The conversation with this id.
    fn conversation(&self, id: ConvId) -> Result<Option<Conversation>>;

    /// Conversations `user` is a current member of (the lobby included), ordered by id.
    fn conversations_of(&self, user: UserId) -> Result<Vec<Conversation>>;

    /// All public groups, ordered by id.
    fn public_groups(&self) -> Result<Vec<Conversation>>;

    /// How many groups `user` is a current member of (the cap on memberships).
    fn group_count(&self, user: UserId) -> Result<usize> {
        let convs = self.conversations_of(user)?;
        Ok(convs.iter().filter(|c| c.kind == ConvKind::Group).count())
    }
}

/// Memberships: who belongs to which conversation, with role and read window.
pub trait Members {
    /// The latest membership of `user` in `conv`, current or former.
    fn member(&self, conv: ConvId, user: UserId) -> Result<Option<Member>>;

    /// Current members of `conv`, ordered by user id.
    fn members(&self, conv: ConvId) -> Result<Vec<Member>>;

    /// Makes `user` a current member from `joined_seq` on (the first seq they may
    /// read). A former member re-joins with a fresh period (earlier periods become
    /// unreadable).
    ///
    /// Errors: [`StoreError::Conflict`] if already a current member,
    /// [`StoreError::NotFound`] if the user or conversation does not exist.
    fn add_member(&self, conv: ConvId, user: UserId, role: Role, joined_seq: u64)
    -> Result<Member>;

    /// Ends the current membership; `left_seq` is the last seq the user may still
    /// read. The row is kept so [`Members::member`] returns the closed period.
    ///
    /// Errors: [`StoreError::NotFound`] if not a current member,
    /// [`StoreError::Conflict`] for the lobby (every user stays in it).
    fn remove_member(&self, conv: ConvId, user: UserId, left_seq: u64) -> Result<Member>;

    /// Changes the role of a current member. Errors: [`StoreError::NotFound`] if not
    /// a current member.
    fn set_role(&self, conv: ConvId, user: UserId, role: Role) -> Result<Member>;
}

/// Message logs, one per conversation.
pub trait Messages {
    /// Appends a batch in ONE transaction (the server's group commit) and returns
    /// one [`Appended`] per input, in input order, after the commit.
    ///
    /// Each new message gets `seq = last + 1` of its conversation, in batch order.
    /// Idempotent on `(conv, sender, client_id)` (system messages: sender `None`):
    /// a repeat — from an earlier batch or earlier in the same batch — returns the
    /// stored message with `duplicate: true` and takes no seq.
    ///
    /// Errors: [`StoreError::NotFound`] if a conversation or sender does not exist;
    /// then nothing of the batch is written. Membership is the caller's job.
    fn append(&self, batch: &[NewMessage]) -> Result<Vec<Appended>>;

    /// [`Messages::append`] for posts that need their sender's right to post,
    /// checked in the same transaction as the append: each message with a
    /// sender, outside the lobby, is stored only if the sender is a current
    /// member of its conversation and not muted there at that moment, else
    /// refused (`Err(PostRight::NotMember | PostRight::Muted)`, nothing
    /// stored, no seq taken). The check is ordered against every change of
    /// membership or mutes (kick, leave, mute, group deletion) made by any
    /// writer of the same database: a post either commits before such a
    /// change, with a seq below anything appended after it, or sees it and
    /// is refused. A repeat of a stored message is answered as stored (it
    /// was allowed when it was stored), whatever the rights are now.
    ///
    /// Errors: as [`Messages::append`].
    fn append_checked(&self, batch: &[NewMessage]) -> Result<Vec<Checked>>;

    /// [`Messages::append_checked`], also answering who the batch's new
    /// messages go to ([`CheckedBatch::members`]): the current members of
    /// each conversation it stored a new message in, read in the same
    /// transaction after the appends. Ordered like the check against every
    /// removal that appends its entry in one write with it (a kick or ban,
    /// [`Moderation::remove_with_entry`], or a group deletion): a member
    /// removed so is listed only if the batch committed before the removal.
    /// A cluster node fans the messages out to these lists, not to member
    /// lists it cached (another node may have changed them meanwhile).
    ///
    /// Errors: as [`Messages::append`].
    fn append_checked_with_members(&self, batch: &[NewMessage]) -> Result<CheckedBatch>;

    /// One page of history; see [`Anchor`] for which messages, [`Order`] for their
    /// order. The limit is clamped to [`MAX_PAGE`]. Unknown conversation: empty.
    fn history(&self, conv: ConvId, page: Page) -> Result<Vec<Message>>;

    /// Highest seq of `conv` (0 if empty or unknown).
    fn last_seq(&self, conv: ConvId) -> Result<u64>;

    /// Messages with `after < seq <= upto`, oldest first, at most `limit`
    /// (clamped to [`MAX_PAGE`]). For sync: call again from the last seq returned.
    fn range(&self, conv: ConvId, after: u64, upto: u64, limit: u32) -> Result<Vec<Message>>;

    /// The message with this seq, if any.
    fn message(&self, conv: ConvId, seq: u64) -> Result<Option<Message>>;
}

/// What [`Messages::append_checked`] did with one message: stored (or found
/// stored), or refused with the sender's right (never [`PostRight::Allowed`]).
pub type Checked = std::result::Result<Appended, PostRight>;

/// What [`Messages::append_checked_with_members`] did with a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedBatch {
    /// One answer per message, in input order, as [`Messages::append_checked`].
    pub checked: Vec<Checked>,
    /// For each conversation other than the lobby that a message of the
    /// batch was newly stored in (not a repeat, not refused), ordered by
    /// conversation id: its current members at the commit, ordered by user
    /// id.
    pub members: Vec<(ConvId, Vec<UserId>)>,
}

impl CheckedBatch {
    /// The conversations [`CheckedBatch::members`] lists for `checked`.
    pub(crate) fn listed(checked: &[Checked]) -> Vec<ConvId> {
        let mut convs: Vec<ConvId> = checked
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .filter(|a| !a.duplicate && a.message.conv != types::LOBBY)
            .map(|a| a.message.conv)
            .collect();
        convs.sort_unstable();
        convs.dedup();
        convs
    }
}

/// Per-member delivered and read cursors.
pub trait Cursors {
    /// Raises the delivered cursor of `user` in `conv` to `seq` (never lowers it),
    /// with `seq` first clamped to [`Messages::last_seq`] so a cursor never points
    /// past the log; returns the resulting value. Errors: [`StoreError::NotFound`] if the user or
    /// conversation does not exist. Membership is the caller's job.
    fn set_delivered(&self, user: UserId, conv: ConvId, seq: u64) -> Result<u64>;

    /// [`Cursors::set_delivered`] for each `(user, conv, seq)` in order;
    /// returns the resulting values in order. SQLite commits them as one
    /// transaction (all or none); the default applies them one by one and
    /// stops at the first error (harmless: cursors only ever rise).
    fn set_delivered_many(&self, cursors: &[(UserId, ConvId, u64)]) -> Result<Vec<u64>> {
        let raise = |&(user, conv, seq)| self.set_delivered(user, conv, seq);
        cursors.iter().map(raise).collect()
    }

    /// Raises the read cursor like [`Cursors::set_delivered`]; independent of it.
    fn set_read(&self, user: UserId, conv: ConvId, seq: u64) -> Result<u64>;

    /// Cursors of `user` for every conversation they are a current member of
    /// (0 where never set), ordered by conversation id.
    fn cursors_of(&self, user: UserId) -> Result<Vec<Cursor>>;

    /// `(user, delivered)` of every current member of `conv` (0 where never set),
    /// ordered by user id.
    fn delivered_cursors(&self, conv: ConvId) -> Result<Vec<(UserId, u64)>>;
}

/// Everything the server needs, as one object-safe trait (use `Arc<dyn Store>`).
pub trait Store:
    Users
    + Sessions
    + Conversations
    + Members
    + Messages
    + Cursors
    + MessageActions
    + Moderation
    + Operators
    + Devices
    + LastMessages
    + FormerMembers
    + Files
    + Search
    + ReadMarks
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Users
        + Sessions
        + Conversations
        + Members
        + Messages
        + Cursors
        + MessageActions
        + Moderation
        + Operators
        + Devices
        + LastMessages
        + FormerMembers
        + Files
        + Search
        + ReadMarks
        + Send
        + Sync
        + 'static
{
}
