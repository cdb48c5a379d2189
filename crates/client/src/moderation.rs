//! Group moderation ([`natter_api::ModAction`]): kick, ban, unban, mute,
//! unmute, promote, demote, transfer ownership, settings, delete, and the
//! ban list. Refusals come back as [`ClientError`] with the server's code
//! (`forbidden` naming the role needed, `banned`, `muted`, …).

use natter_api::{
    BanInfo, ConversationId, GroupSettingsInfo, ModAction, Request, Response, SettingsChange,
};

use crate::{Client, ClientError};

impl Client {
    /// Sends one moderation action on group `conv`, with an optional reason
    /// (recorded in the group's log and, for bans, the ban list).
    pub async fn moderate(
        &self,
        conv: ConversationId,
        action: ModAction,
        reason: Option<&str>,
    ) -> Result<Response, ClientError> {
        let reason = reason.map(str::to_owned);
        self.request(Request::Moderate {
            conv,
            action,
            reason,
        })
        .await
    }

    /// Removes member `user` from group `conv`; with `ban` also bans them.
    pub async fn kick(
        &self,
        conv: ConversationId,
        user: &str,
        ban: bool,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let action = ModAction::Kick {
            user: user.to_owned(),
            ban,
        };
        self.moderate(conv, action, reason).await.map(drop)
    }

    /// Bans `user` (a member is removed too).
    pub async fn ban(
        &self,
        conv: ConversationId,
        user: &str,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let user = user.to_owned();
        self.moderate(conv, ModAction::Ban { user }, reason)
            .await
            .map(drop)
    }

    /// Takes `user` off the ban list.
    pub async fn unban(&self, conv: ConversationId, user: &str) -> Result<(), ClientError> {
        let user = user.to_owned();
        self.moderate(conv, ModAction::Unban { user }, None)
            .await
            .map(drop)
    }

    /// Mutes (`true`) or unmutes member `user`.
    pub async fn mute(
        &self,
        conv: ConversationId,
        user: &str,
        mute: bool,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let user = user.to_owned();
        let action = match mute {
            true => ModAction::Mute { user },
            false => ModAction::Unmute { user },
        };
        self.moderate(conv, action, reason).await.map(drop)
    }

    /// Promotes member `user` to admin (`true`) or demotes an admin.
    pub async fn promote(
        &self,
        conv: ConversationId,
        user: &str,
        promote: bool,
    ) -> Result<(), ClientError> {
        let user = user.to_owned();
        let action = match promote {
            true => ModAction::Promote { user },
            false => ModAction::Demote { user },
        };
        self.moderate(conv, action, None).await.map(drop)
    }

    /// Makes member `user` the owner (the caller becomes an admin).
    pub async fn transfer(&self, conv: ConversationId, user: &str) -> Result<(), ClientError> {
        let user = user.to_owned();
        self.moderate(conv, ModAction::Transfer { user }, None)
            .await
            .map(drop)
    }

    /// Changes the group's settings; returns them as they are now.
    pub async fn change_settings(
        &self,
        conv: ConversationId,
        change: SettingsChange,
    ) -> Result<GroupSettingsInfo, ClientError> {
        match self
            .moderate(conv, ModAction::Settings(change), None)
            .await?
        {
            Response::GroupSettings(info) => Ok(info),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The settings of a group I am a member of.
    pub async fn group_settings(
        &self,
        conv: ConversationId,
    ) -> Result<GroupSettingsInfo, ClientError> {
        match self.request(Request::GroupSettings { conv }).await? {
            Response::GroupSettings(info) => Ok(info),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Deletes the group for everyone (owner).
    pub async fn delete_group(&self, conv: ConversationId) -> Result<(), ClientError> {
        self.moderate(conv, ModAction::Delete, None).await.map(drop)
    }

    /// The group's ban list (admins).
    pub async fn bans(&self, conv: ConversationId) -> Result<Vec<BanInfo>, ClientError> {
        match self.request(Request::Bans { conv }).await? {
            Response::Bans(list) => Ok(list),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }
}
