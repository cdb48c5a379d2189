//! `Moderation` on the in-memory backend.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{Inner, MemoryStore};
use crate::moderation::{Ban, GroupSettings, GroupUpdate, Moderation, PostRight};
use crate::{
    Appended, ConvId, ConvKind, Conversation, Member, NewMessage, Result, Role, StoreError, UserId,
    group_key,
};

/// Ban lists, mutes, settings and deleted groups.
#[derive(Default)]
pub(super) struct ModTables {
    bans: BTreeMap<(ConvId, UserId), Ban>,
    mutes: BTreeSet<(ConvId, UserId)>,
    settings: HashMap<ConvId, GroupSettings>,
    deleted: HashSet<ConvId>,
}

/// Every key of `conv` in a map keyed by `(conv, user)`.
fn conv_range(conv: ConvId) -> std::ops::RangeInclusive<(ConvId, UserId)> {
    (conv, UserId(i64::MIN))..=(conv, UserId(i64::MAX))
}

impl Inner {
    /// Whether `user` may post in `conv` now.
    pub(super) fn post_right(&self, conv: ConvId, user: UserId) -> PostRight {
        let member = self.current_member(conv, user).is_some();
        PostRight::of(member, self.moderation.mutes.contains(&(conv, user)))
    }

    fn require_group(&self, conv: ConvId) -> Result<&Conversation> {
        let found = self.convs.get(&conv).filter(|c| c.kind == ConvKind::Group);
        match found {
            Some(c) if !self.moderation.deleted.contains(&conv) => Ok(c),
            _ => Err(StoreError::NotFound),
        }
    }

    fn rename(&mut self, conv: ConvId, name: &str) -> Result<()> {
        let key = group_key(name);
        match self.group_names.get(&key) {
            Some(&other) if other != conv => return Err(StoreError::NameTaken),
            _ => {}
        }
        self.group_names.retain(|_, c| *c != conv);
        self.group_names.insert(key, conv);
        if let Some(c) = self.convs.get_mut(&conv) {
            c.name = Some(name.to_owned());
        }
        Ok(())
    }

    fn forget_group(&mut self, conv: ConvId) {
        self.group_names.retain(|_, c| *c != conv);
        self.logs.remove(&conv);
        self.msg_keys.retain(|(c, _, _), _| *c != conv);
        self.cursors.retain(|(_, c), _| *c != conv);
        let members: Vec<_> = self
            .members
            .range(conv_range(conv))
            .map(|(k, _)| *k)
            .collect();
        for key in members {
            self.members.remove(&key);
        }
        let m = &mut self.moderation;
        m.bans.retain(|(c, _), _| *c != conv);
        m.mutes.retain(|(c, _)| *c != conv);
        m.settings.remove(&conv);
        m.deleted.insert(conv);
        if let Some(c) = self.convs.get_mut(&conv) {
            c.public = false;
        }
    }
}

impl Moderation for MemoryStore {
    fn ban(&self, conv: ConvId, ban: &Ban, max: usize) -> Result<()> {
        let mut s = self.lock()?;
        s.require_conv(conv)?;
        s.require_user(ban.user)?;
        let bans = &mut s.moderation.bans;
        let count = bans.range(conv_range(conv)).count();
        if !bans.contains_key(&(conv, ban.user)) && count >= max {
            return Err(StoreError::Conflict("ban list full"));
        }
        bans.insert((conv, ban.user), ban.clone());
        Ok(())
    }

    fn unban(&self, conv: ConvId, user: UserId) -> Result<bool> {
        Ok(self.lock()?.moderation.bans.remove(&(conv, user)).is_some())
    }

    fn ban_of(&self, conv: ConvId, user: UserId) -> Result<Option<Ban>> {
        Ok(self.lock()?.moderation.bans.get(&(conv, user)).cloned())
    }

    fn bans(&self, conv: ConvId) -> Result<Vec<Ban>> {
        let s = self.lock()?;
        Ok(s.moderation
            .bans
            .range(conv_range(conv))
            .map(|(_, b)| b.clone())
            .collect())
    }

    fn set_muted(&self, conv: ConvId, user: UserId, muted: bool) -> Result<bool> {
        let mut s = self.lock()?;
        s.require_conv(conv)?;
        s.require_user(user)?;
        let mutes = &mut s.moderation.mutes;
        Ok(match muted {
            true => mutes.insert((conv, user)),
            false => mutes.remove(&(conv, user)),
        })
    }

    fn muted(&self, conv: ConvId) -> Result<Vec<UserId>> {
        let s = self.lock()?;
        Ok(s.moderation
            .mutes
            .range(conv_range(conv))
            .map(|(_, u)| *u)
            .collect())
    }

    fn remove_with_entry(&self, user: UserId, entry: &NewMessage) -> Result<(Member, Appended)> {
        let mut s = self.lock()?;
        s.require_batch(std::slice::from_ref(entry))?;
        let member = s.removable(entry.conv, user)?;
        if let Some(new) = s.operators.removal_hook() {
            s.append_one(&new);
        }
        let appended = s.append_one(entry);
        let member = s.close(entry.conv, member, appended.message.seq);
        Ok((member, appended))
    }

    fn group_settings(&self, conv: ConvId) -> Result<GroupSettings> {
        let s = self.lock()?;
        Ok(s.moderation
            .settings
            .get(&conv)
            .cloned()
            .unwrap_or_default())
    }

    fn update_group(
        &self,
        conv: ConvId,
        update: &GroupUpdate,
    ) -> Result<(Conversation, GroupSettings)> {
        let mut s = self.lock()?;
        s.require_group(conv)?;
        if let Some(name) = &update.name {
            s.rename(conv, name)?;
        }
        if let (Some(public), Some(c)) = (update.public, s.convs.get_mut(&conv)) {
            c.public = public;
        }
        let settings = s.moderation.settings.entry(conv).or_default();
        if let Some(topic) = &update.topic {
            settings.topic.clone_from(topic);
        }
        if let Some(admins_only) = update.admins_only_invite {
            settings.admins_only_invite = admins_only;
        }
        let settings = settings.clone();
        Ok((s.require_group(conv)?.clone(), settings))
    }

    fn transfer_ownership(&self, conv: ConvId, from: UserId, to: UserId) -> Result<()> {
        let mut s = self.lock()?;
        let owner = s
            .current_member(conv, from)
            .filter(|m| m.role == Role::Owner);
        let mut owner = owner.ok_or(StoreError::Conflict("not the owner"))?;
        if from == to {
            return Err(StoreError::Conflict("already the owner"));
        }
        let mut heir = s.current_member(conv, to).ok_or(StoreError::NotFound)?;
        owner.role = Role::Admin;
        heir.role = Role::Owner;
        s.members.insert((conv, from), owner);
        s.members.insert((conv, to), heir);
        Ok(())
    }

    fn delete_group(&self, conv: ConvId) -> Result<()> {
        let mut s = self.lock()?;
        s.require_group(conv)?;
        s.forget_group(conv);
        Ok(())
    }

    fn group_deleted(&self, conv: ConvId) -> Result<bool> {
        Ok(self.lock()?.moderation.deleted.contains(&conv))
    }
}
