//! `register`: create an account (does not log in).
//!
//! A new account starts with its lobby delivered cursor at the lobby's
//! current end: the backlog is readable as history but not pushed by sync.

use natter_api::{ErrorCode, Response, validate_name, validate_password};
use natter_store::StoreError;

use crate::auth;
use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::session::Session;

pub(super) async fn apply(
    s: &mut Session,
    name: String,
    password: String,
) -> Result<Response, CmdError> {
    validate_name(&name)?;
    validate_password(&password)?;
    let shared = s.shared.clone();
    let hash = auth::hash_password(&shared.config.argon2, password).await?;
    let lobby = shared.lobby;
    let created = shared
        .db(move |st| {
            let user = st.create_user(&name, &hash, now_ms())?;
            st.set_delivered(user.id, lobby, st.last_seq(lobby)?)?;
            Ok(user)
        })
        .await;
    let user = match created {
        Err(CmdError::Store(StoreError::NameTaken)) => return Err(ErrorCode::NameTaken.into()),
        other => other?,
    };
    tracing::info!(session = s.key.0, user = %user.name, "registered");
    Ok(Response::Registered {
        user: crate::convert::user_info(&user),
    })
}
