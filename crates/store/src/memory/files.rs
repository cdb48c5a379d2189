//! `Files` on the in-memory backend.

use std::collections::BTreeMap;

use super::MemoryStore;
use crate::files::{FileId, FileRecord, FileUsage, Files, NewFile, RecipientState};
use crate::{ConvId, Result, StoreError, UserId};

/// Every file offer and its recipients.
#[derive(Default)]
pub(super) struct FileTable {
    files: BTreeMap<FileId, FileRecord>,
    recipients: BTreeMap<(FileId, UserId), RecipientState>,
    last_id: i64,
}

impl FileTable {
    fn recipients_of(&self, id: FileId) -> impl Iterator<Item = (UserId, RecipientState)> + '_ {
        let range = (id, UserId(i64::MIN))..=(id, UserId(i64::MAX));
        self.recipients.range(range).map(|(&(_, u), &s)| (u, s))
    }

    fn insert(&mut self, new: &NewFile) -> FileRecord {
        self.last_id += 1;
        let id = FileId(self.last_id);
        let record = FileRecord {
            id,
            uploader: new.uploader,
            conv: new.conv,
            name: new.name.clone(),
            size: new.size,
            media_type: new.media_type.clone(),
            hash: new.hash,
            client_id: new.client_id,
            created_ms: new.created_ms,
            expires_ms: new.expires_ms,
            complete: false,
        };
        self.files.insert(id, record.clone());
        for &user in new.recipients.iter().filter(|&&u| u != new.uploader) {
            self.recipients.insert((id, user), RecipientState::Pending);
        }
        record
    }
}

impl Files for MemoryStore {
    fn create_file(&self, new: &NewFile) -> Result<FileRecord> {
        let mut s = self.lock()?;
        s.require_user(new.uploader)?;
        s.require_conv(new.conv)?;
        for &user in &new.recipients {
            s.require_user(user)?;
        }
        Ok(s.files.insert(new))
    }

    fn file(&self, id: FileId) -> Result<Option<FileRecord>> {
        Ok(self.lock()?.files.files.get(&id).cloned())
    }

    fn unfinished_upload(
        &self,
        uploader: UserId,
        conv: ConvId,
        hash: [u8; 32],
    ) -> Result<Option<FileRecord>> {
        let s = self.lock()?;
        let mut mine = s.files.files.values().rev();
        let found = mine
            .find(|f| f.uploader == uploader && f.conv == conv && f.hash == hash && !f.complete);
        Ok(found.cloned())
    }

    fn file_by_message(
        &self,
        conv: ConvId,
        uploader: UserId,
        client_id: [u8; 16],
    ) -> Result<Option<FileRecord>> {
        let s = self.lock()?;
        let mut all = s.files.files.values();
        let found =
            all.find(|f| f.conv == conv && f.uploader == uploader && f.client_id == client_id);
        Ok(found.cloned())
    }

    fn set_file_complete(&self, id: FileId) -> Result<()> {
        let mut s = self.lock()?;
        let file = s.files.files.get_mut(&id).ok_or(StoreError::NotFound)?;
        file.complete = true;
        Ok(())
    }

    fn files_of(&self, user: UserId) -> Result<Vec<FileRecord>> {
        let s = self.lock()?;
        let t = &s.files;
        let mine = t
            .files
            .values()
            .filter(|f| f.uploader == user || t.recipients.contains_key(&(f.id, user)));
        Ok(mine.cloned().collect())
    }

    fn file_recipients(&self, id: FileId) -> Result<Vec<(UserId, RecipientState)>> {
        Ok(self.lock()?.files.recipients_of(id).collect())
    }

    fn set_recipient_state(&self, id: FileId, user: UserId, state: RecipientState) -> Result<()> {
        let mut s = self.lock()?;
        let slot = s.files.recipients.get_mut(&(id, user));
        *slot.ok_or(StoreError::NotFound)? = state;
        Ok(())
    }

    fn file_usage(&self, uploader: UserId) -> Result<FileUsage> {
        let s = self.lock()?;
        let mine = s.files.files.values().filter(|f| f.uploader == uploader);
        Ok(mine.fold(FileUsage::default(), |u, f| FileUsage {
            bytes: u.bytes.saturating_add(f.size),
            unfinished: u.unfinished + usize::from(!f.complete),
        }))
    }

    fn expired_files(&self, now_ms: i64) -> Result<Vec<FileRecord>> {
        let s = self.lock()?;
        let expired = s.files.files.values().filter(|f| f.expires_ms <= now_ms);
        Ok(expired.cloned().collect())
    }

    fn delete_file(&self, id: FileId) -> Result<bool> {
        let mut s = self.lock()?;
        let existed = s.files.files.remove(&id).is_some();
        s.files.recipients.retain(|&(f, _), _| f != id);
        Ok(existed)
    }

    fn files_with_hash(&self, hash: [u8; 32]) -> Result<usize> {
        let s = self.lock()?;
        Ok(s.files.files.values().filter(|f| f.hash == hash).count())
    }
}
