//! [`MessageActions`] in memory: the entry is appended like a message and
//! the target changed in place (a deleted body is dropped).

use super::{Inner, MemoryStore};
use crate::actions::{ActorNeeds, Change, MessageActions, MsgAction, NewAction, Refusal, refusal};
use crate::{Appended, Message, MsgKind, NewMessage, Result};

impl MessageActions for MemoryStore {
    fn act_checked(
        &self,
        action: &NewAction,
        needs: ActorNeeds,
    ) -> Result<std::result::Result<Appended, Refusal>> {
        let mut s = self.lock()?;
        if let Some((conv, user)) = s.operators.action_hook() {
            let member = s.removable(conv, user)?;
            let last = s.last_seq(conv);
            s.close(conv, member, last);
        }
        s.require_conv(action.conv)?;
        s.require_user(action.actor)?;
        let key = (action.conv, Some(action.actor), action.client_id);
        if let Some(&seq) = s.msg_keys.get(&key) {
            let message = s.log(action.conv)[seq as usize - 1].clone();
            return Ok(Ok(Appended {
                message,
                duplicate: true,
            }));
        }
        let (conv, actor) = (action.conv, action.actor);
        let role = s.current_member(conv, actor).map(|m| m.role);
        let muted = s.post_right(conv, actor) == crate::PostRight::Muted;
        if let Some(why) = needs.refusal(role, muted) {
            return Ok(Err(why));
        }
        let index = usize::try_from(action.target.wrapping_sub(1)).ok();
        let target = index.and_then(|i| s.log(action.conv).get(i));
        if let Some(why) = refusal(target) {
            return Ok(Err(why));
        }
        Ok(Ok(s.apply_action(action)))
    }
}

impl Inner {
    /// Appends the entry and changes the target (checked to exist).
    fn apply_action(&mut self, action: &NewAction) -> Appended {
        let (kind, body) = match &action.change {
            Change::Edit(body) => (MsgAction::Edit(action.target), Some(body)),
            Change::Delete => (MsgAction::Delete(action.target), None),
        };
        let entry = NewMessage {
            conv: action.conv,
            sender: Some(action.actor),
            client_id: action.client_id,
            kind: MsgKind::Text,
            body: String::new(),
            ts_ms: action.ts_ms,
        };
        let mut appended = self.append_one(&entry);
        appended.message.action = Some(kind);
        let log = self.logs.entry(action.conv).or_default();
        if let Some(stored) = log.last_mut() {
            stored.action = Some(kind);
        }
        let target = &mut log[action.target as usize - 1];
        change(target, body, action.ts_ms);
        if let (None, Some(sender)) = (body, target.sender) {
            let (conv, client_id) = (action.conv, target.client_id);
            self.devices
                .forget_bodies(|k| (k.conv, k.sender, k.client_id) == (conv, sender, client_id));
        }
        appended
    }
}

/// Edits (`Some(body)`) or deletes (`None`) the stored message `m`.
fn change(m: &mut Message, body: Option<&String>, at_ms: i64) {
    match body {
        Some(body) => {
            m.body.clone_from(body);
            m.edited_ms = Some(at_ms);
        }
        None => {
            m.body = String::new();
            m.deleted = true;
        }
    }
}
