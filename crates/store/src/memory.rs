//! In-memory reference backend: the semantics every other backend must match.

mod actions;
mod devices;
mod files;
mod former;
mod last_messages;
mod moderation;
mod operators;
mod search;
mod sessions;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use crate::paging::{clamp_limit, ordered, page_bounds};
use crate::types::{LOBBY, SEQ_MAX};
use crate::{
    Anchor, Appended, Checked, CheckedBatch, ClientId, ConvId, ConvKind, Conversation,
    Conversations, Cursor, Cursors, Member, Members, Message, Messages, NewGroup, NewMessage, Page,
    PostRight, Result, Role, StoreError, User, UserId, Users, group_key, name_key,
};

/// In-memory reference backend: plain collections behind one mutex.
///
/// Nothing survives the process; meant for tests and as the semantic reference.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

/// Idempotency key of a message.
type MsgKey = (ConvId, Option<UserId>, ClientId);

#[derive(Default)]
struct Inner {
    users: BTreeMap<UserId, User>,
    user_names: HashMap<String, UserId>,
    sessions: sessions::SessionTable,
    devices: devices::DeviceTable,
    convs: BTreeMap<ConvId, Conversation>,
    group_names: HashMap<String, ConvId>,
    directs: HashMap<(UserId, UserId), ConvId>,
    members: BTreeMap<(ConvId, UserId), Member>,
    /// Log of each conversation; index `i` holds seq `i + 1`.
    logs: HashMap<ConvId, Vec<Message>>,
    msg_keys: HashMap<MsgKey, u64>,
    /// `(delivered, read)` per `(user, conv)`.
    cursors: BTreeMap<(UserId, ConvId), (u64, u64)>,
    /// The order messages were appended in (`Search`).
    search_order: search::AppendOrder,
    /// Disabled accounts (`Operators`).
    operators: operators::OperatorState,
    /// Bans, mutes, group settings, deleted groups (`Moderation`).
    moderation: moderation::ModTables,
    /// File offers (`Files`).
    files: files::FileTable,
}

impl MemoryStore {
    /// An empty store holding only the lobby.
    pub fn new() -> Self {
        let mut inner = Inner::default();
        let lobby = Conversation {
            id: LOBBY,
            kind: ConvKind::Lobby,
            name: Some("lobby".to_owned()),
            public: true,
            created_ms: 0,
        };
        inner.convs.insert(LOBBY, lobby);
        Self {
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".to_owned()))
    }
}

impl Inner {
    fn require_user(&self, id: UserId) -> Result<()> {
        match self.users.contains_key(&id) {
            true => Ok(()),
            false => Err(StoreError::NotFound),
        }
    }

    fn require_conv(&self, id: ConvId) -> Result<()> {
        match self.convs.contains_key(&id) {
            true => Ok(()),
            false => Err(StoreError::NotFound),
        }
    }

    fn next_conv_id(&self) -> ConvId {
        ConvId(self.convs.keys().next_back().map_or(1, |c| c.0) + 1)
    }

    fn insert_conv(
        &mut self,
        kind: ConvKind,
        name: Option<String>,
        public: bool,
        now: i64,
    ) -> Conversation {
        let conv = Conversation {
            id: self.next_conv_id(),
            kind,
            name,
            public,
            created_ms: now,
        };
        self.convs.insert(conv.id, conv.clone());
        conv
    }

    fn join(&mut self, conv: ConvId, user: UserId, role: Role, joined_seq: u64) -> Member {
        let member = Member {
            user,
            role,
            joined_seq: joined_seq.min(SEQ_MAX),
            left_seq: None,
        };
        self.members.insert((conv, user), member);
        member
    }

    fn current_member(&self, conv: ConvId, user: UserId) -> Option<Member> {
        self.members
            .get(&(conv, user))
            .copied()
            .filter(Member::is_current)
    }

    /// The current membership of `user` in `conv`, which a removal may end.
    fn removable(&self, conv: ConvId, user: UserId) -> Result<Member> {
        let member = self
            .current_member(conv, user)
            .ok_or(StoreError::NotFound)?;
        if conv == LOBBY {
            return Err(StoreError::Conflict("nobody leaves the lobby"));
        }
        Ok(member)
    }

    /// Ends `member`'s membership of `conv`: readable up to `left_seq`.
    fn close(&mut self, conv: ConvId, mut member: Member, left_seq: u64) -> Member {
        member.left_seq = Some(left_seq.min(SEQ_MAX));
        self.members.insert((conv, member.user), member);
        member
    }

    fn current_members(&self, conv: ConvId) -> impl Iterator<Item = &Member> {
        let range = (conv, UserId(i64::MIN))..=(conv, UserId(i64::MAX));
        self.members
            .range(range)
            .map(|(_, m)| m)
            .filter(|m| m.is_current())
    }

    fn log(&self, conv: ConvId) -> &[Message] {
        self.logs.get(&conv).map_or(&[], Vec::as_slice)
    }

    fn last_seq(&self, conv: ConvId) -> u64 {
        self.log(conv).len() as u64
    }

    fn append_one(&mut self, new: &NewMessage) -> Appended {
        let key = (new.conv, new.sender, new.client_id);
        if let Some(&seq) = self.msg_keys.get(&key) {
            let message = self.log(new.conv)[seq as usize - 1].clone();
            return Appended {
                message,
                duplicate: true,
            };
        }
        let seq = self.last_seq(new.conv) + 1;
        let message = Message {
            conv: new.conv,
            seq,
            sender: new.sender,
            client_id: new.client_id,
            kind: new.kind,
            body: new.body.clone(),
            ts_ms: new.ts_ms,
            edited_ms: None,
            deleted: false,
            action: None,
        };
        self.logs.entry(new.conv).or_default().push(message.clone());
        self.msg_keys.insert(key, seq);
        self.search_order.note(new.conv, seq);
        Appended {
            message,
            duplicate: false,
        }
    }

    /// `NotFound` unless every conversation and sender of `batch` exists.
    fn require_batch(&self, batch: &[NewMessage]) -> Result<()> {
        for new in batch {
            self.require_conv(new.conv)?;
            if let Some(sender) = new.sender {
                self.require_user(sender)?;
            }
        }
        Ok(())
    }

    /// [`Messages::append_checked`] of one message, under the store's lock
    /// (which also orders it with every membership and mute change).
    fn append_if_allowed(&mut self, new: &NewMessage) -> Checked {
        let repeat = self
            .msg_keys
            .contains_key(&(new.conv, new.sender, new.client_id));
        let right = match new.sender {
            Some(user) if !repeat && new.conv != LOBBY => self.post_right(new.conv, user),
            _ => PostRight::Allowed,
        };
        match right {
            PostRight::Allowed => Ok(self.append_one(new)),
            refused => Err(refused),
        }
    }

    /// Raises the delivered (or, if `read`, the read) cursor after clamping to the log.
    fn raise_cursor(&mut self, user: UserId, conv: ConvId, seq: u64, read: bool) -> Result<u64> {
        self.require_user(user)?;
        self.require_conv(conv)?;
        let seq = seq.min(self.last_seq(conv));
        let entry = self.cursors.entry((user, conv)).or_default();
        let slot = if read { &mut entry.1 } else { &mut entry.0 };
        *slot = (*slot).max(seq);
        Ok(*slot)
    }

    fn cursor(&self, user: UserId, conv: ConvId) -> (u64, u64) {
        self.cursors.get(&(user, conv)).copied().unwrap_or_default()
    }
}

impl Users for MemoryStore {
    fn create_user(&self, name: &str, password_hash: &str, now_ms: i64) -> Result<User> {
        let mut s = self.lock()?;
        let key = name_key(name);
        if s.user_names.contains_key(&key) {
            return Err(StoreError::NameTaken);
        }
        let id = UserId(s.users.keys().next_back().map_or(0, |u| u.0) + 1);
        let user = User {
            id,
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            created_ms: now_ms,
            last_seen_ms: None,
        };
        s.users.insert(id, user.clone());
        s.user_names.insert(key, id);
        s.join(LOBBY, id, Role::Member, 1);
        Ok(user)
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let s = self.lock()?;
        let id = s.user_names.get(&name_key(name));
        Ok(id.and_then(|id| s.users.get(id)).cloned())
    }

    fn user(&self, id: UserId) -> Result<Option<User>> {
        Ok(self.lock()?.users.get(&id).cloned())
    }

    fn list_users(&self) -> Result<Vec<User>> {
        Ok(self.lock()?.users.values().cloned().collect())
    }

    fn set_password_hash(&self, id: UserId, password_hash: &str) -> Result<()> {
        let mut s = self.lock()?;
        let user = s.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        user.password_hash = password_hash.to_owned();
        Ok(())
    }

    fn set_last_seen(&self, id: UserId, at_ms: i64) -> Result<()> {
        let mut s = self.lock()?;
        let user = s.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        user.last_seen_ms = Some(at_ms);
        Ok(())
    }
}

impl Conversations for MemoryStore {
    fn lobby(&self) -> ConvId {
        LOBBY
    }

    fn direct(&self, a: UserId, b: UserId, now_ms: i64) -> Result<Conversation> {
        if a == b {
            return Err(StoreError::Conflict(
                "a direct conversation needs two different users",
            ));
        }
        let mut s = self.lock()?;
        s.require_user(a)?;
        s.require_user(b)?;
        let pair = (a.min(b), a.max(b));
        if let Some(id) = s.directs.get(&pair) {
            return Ok(s.convs[id].clone());
        }
        let conv = s.insert_conv(ConvKind::Direct, None, false, now_ms);
        s.directs.insert(pair, conv.id);
        s.join(conv.id, pair.0, Role::Member, 1);
        s.join(conv.id, pair.1, Role::Member, 1);
        Ok(conv)
    }

    fn create_group(&self, group: NewGroup, now_ms: i64) -> Result<Conversation> {
        let mut s = self.lock()?;
        let key = group_key(&group.name);
        if s.group_names.contains_key(&key) {
            return Err(StoreError::NameTaken);
        }
        s.require_user(group.owner)?;
        for &user in &group.members {
            s.require_user(user)?;
        }
        let conv = s.insert_conv(ConvKind::Group, Some(group.name), group.public, now_ms);
        s.group_names.insert(key, conv.id);
        for &user in &group.members {
            s.join(conv.id, user, Role::Member, 1);
        }
        s.join(conv.id, group.owner, Role::Owner, 1);
        Ok(conv)
    }

    fn group_by_name(&self, name: &str) -> Result<Option<Conversation>> {
        let s = self.lock()?;
        let id = s.group_names.get(&group_key(name));
        Ok(id.map(|id| s.convs[id].clone()))
    }

    fn conversation(&self, id: ConvId) -> Result<Option<Conversation>> {
        Ok(self.lock()?.convs.get(&id).cloned())
    }

    fn conversations_of(&self, user: UserId) -> Result<Vec<Conversation>> {
        let s = self.lock()?;
        let mine = s
            .members
            .iter()
            .filter(|((_, u), m)| *u == user && m.is_current());
        Ok(mine.map(|((c, _), _)| s.convs[c].clone()).collect())
    }

    fn public_groups(&self) -> Result<Vec<Conversation>> {
        let s = self.lock()?;
        let public = s
            .convs
            .values()
            .filter(|c| c.kind == ConvKind::Group && c.public);
        Ok(public.cloned().collect())
    }
}

impl Members for MemoryStore {
    fn member(&self, conv: ConvId, user: UserId) -> Result<Option<Member>> {
        Ok(self.lock()?.members.get(&(conv, user)).copied())
    }

    fn members(&self, conv: ConvId) -> Result<Vec<Member>> {
        Ok(self.lock()?.current_members(conv).copied().collect())
    }

    fn add_member(
        &self,
        conv: ConvId,
        user: UserId,
        role: Role,
        joined_seq: u64,
    ) -> Result<Member> {
        let mut s = self.lock()?;
        s.require_conv(conv)?;
        s.require_user(user)?;
        if s.current_member(conv, user).is_some() {
            return Err(StoreError::Conflict("already a member"));
        }
        Ok(s.join(conv, user, role, joined_seq))
    }

    fn remove_member(&self, conv: ConvId, user: UserId, left_seq: u64) -> Result<Member> {
        let mut s = self.lock()?;
        let member = s.removable(conv, user)?;
        if let Some(new) = s.operators.removal_hook() {
            s.append_one(&new);
        }
        Ok(s.close(conv, member, left_seq))
    }

    fn set_role(&self, conv: ConvId, user: UserId, role: Role) -> Result<Member> {
        let mut s = self.lock()?;
        let mut member = s.current_member(conv, user).ok_or(StoreError::NotFound)?;
        member.role = role;
        s.members.insert((conv, user), member);
        Ok(member)
    }
}

impl Messages for MemoryStore {
    fn append(&self, batch: &[NewMessage]) -> Result<Vec<Appended>> {
        let mut s = self.lock()?;
        s.require_batch(batch)?;
        Ok(batch.iter().map(|new| s.append_one(new)).collect())
    }

    fn append_checked(&self, batch: &[NewMessage]) -> Result<Vec<Checked>> {
        let mut s = self.lock()?;
        s.operators.busy_hook()?;
        s.require_batch(batch)?;
        Ok(batch.iter().map(|new| s.append_if_allowed(new)).collect())
    }

    fn append_checked_with_members(&self, batch: &[NewMessage]) -> Result<CheckedBatch> {
        let mut s = self.lock()?;
        s.operators.busy_hook()?;
        s.require_batch(batch)?;
        let checked: Vec<Checked> = batch.iter().map(|new| s.append_if_allowed(new)).collect();
        let members = CheckedBatch::listed(&checked)
            .into_iter()
            .map(|conv| (conv, s.current_members(conv).map(|m| m.user).collect()))
            .collect();
        Ok(CheckedBatch { checked, members })
    }

    fn history(&self, conv: ConvId, page: Page) -> Result<Vec<Message>> {
        let s = self.lock()?;
        let log = s.log(conv);
        let bounds = page_bounds(log.len() as u64, page.anchor, clamp_limit(page.limit));
        let slice = bounds.map_or(&[][..], |(lo, hi)| &log[lo as usize - 1..hi as usize]);
        Ok(ordered(slice.to_vec(), page.order))
    }

    fn last_seq(&self, conv: ConvId) -> Result<u64> {
        Ok(self.lock()?.last_seq(conv))
    }

    fn range(&self, conv: ConvId, after: u64, upto: u64, limit: u32) -> Result<Vec<Message>> {
        let mut s = self.lock()?;
        s.operators.read_hook()?;
        let log = s.log(conv);
        let upto = upto.min(log.len() as u64);
        let page = match page_bounds(upto, Anchor::After(after), clamp_limit(limit)) {
            Some((lo, hi)) => log[lo as usize - 1..hi as usize].to_vec(),
            None => Vec::new(),
        };
        Ok(page)
    }

    fn message(&self, conv: ConvId, seq: u64) -> Result<Option<Message>> {
        let s = self.lock()?;
        let index = usize::try_from(seq.wrapping_sub(1)).ok();
        Ok(index.and_then(|i| s.log(conv).get(i)).cloned())
    }
}

impl Cursors for MemoryStore {
    fn set_delivered(&self, user: UserId, conv: ConvId, seq: u64) -> Result<u64> {
        let mut s = self.lock()?;
        s.operators.busy_hook()?;
        s.raise_cursor(user, conv, seq, false)
    }

    fn set_read(&self, user: UserId, conv: ConvId, seq: u64) -> Result<u64> {
        self.lock()?.raise_cursor(user, conv, seq, true)
    }

    fn cursors_of(&self, user: UserId) -> Result<Vec<Cursor>> {
        let mut s = self.lock()?;
        s.operators.read_hook()?;
        let mine = s
            .members
            .iter()
            .filter(|((_, u), m)| *u == user && m.is_current());
        let cursor = |conv: ConvId| {
            let (delivered, read) = s.cursor(user, conv);
            Cursor {
                conv,
                delivered,
                read,
            }
        };
        Ok(mine.map(|((conv, _), _)| cursor(*conv)).collect())
    }

    fn delivered_cursors(&self, conv: ConvId) -> Result<Vec<(UserId, u64)>> {
        let s = self.lock()?;
        let members = s.current_members(conv);
        Ok(members
            .map(|m| (m.user, s.cursor(m.user, conv).0))
            .collect())
    }
}
