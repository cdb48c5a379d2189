//! Server operators' requests ([`natter_api::AdminRequest`]): only for
//! accounts the server names in its `admins` setting; anyone else gets
//! [`natter_api::ErrorCode::NotServerAdmin`].

use natter_api::{
    AdminRequest, AdminResponse, AdminUserInfo, GroupInfo, Request, Response, ServerStats,
};

use crate::{Client, ClientError};

impl Client {
    /// Sends one operator request and returns its answer.
    pub async fn admin(&self, request: AdminRequest) -> Result<AdminResponse, ClientError> {
        match self.request(Request::Admin(request)).await? {
            Response::Admin(answer) => Ok(answer),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Every account with last seen, session count and flags.
    pub async fn admin_users(&self) -> Result<Vec<AdminUserInfo>, ClientError> {
        match self.admin(AdminRequest::Users).await? {
            AdminResponse::Users(list) => Ok(list),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Disables (`true`) or enables an account; disabling ends its
    /// sessions at once.
    pub async fn admin_set_disabled(&self, user: &str, disabled: bool) -> Result<(), ClientError> {
        let user = user.to_owned();
        self.admin(AdminRequest::SetDisabled { user, disabled })
            .await
            .map(drop)
    }

    /// Sets a new password for `user`; their sessions end.
    pub async fn admin_reset_password(
        &self,
        user: &str,
        new_password: &str,
    ) -> Result<(), ClientError> {
        let (user, new_password) = (user.to_owned(), new_password.to_owned());
        self.admin(AdminRequest::ResetPassword { user, new_password })
            .await
            .map(drop)
    }

    /// Deletes every message `user` sent (text erased); returns how many.
    pub async fn admin_delete_messages(&self, user: &str) -> Result<u64, ClientError> {
        let user = user.to_owned();
        match self.admin(AdminRequest::DeleteMessages { user }).await? {
            AdminResponse::Deleted { messages } => Ok(messages),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Any group by name, also one this admin is not a member of.
    pub async fn admin_group(&self, name: &str) -> Result<GroupInfo, ClientError> {
        let name = name.to_owned();
        match self.admin(AdminRequest::Group { name }).await? {
            AdminResponse::Group(info) => Ok(info),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Server statistics.
    pub async fn admin_stats(&self) -> Result<ServerStats, ClientError> {
        match self.admin(AdminRequest::Stats).await? {
            AdminResponse::Stats(stats) => Ok(stats),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }
}
