//! Store records → API descriptions of files.

use natter_api::{self as api, FileState};
use natter_store::{FileRecord, RecipientState, UserId};

use crate::ctx::Shared;
use crate::error::CmdError;

/// The API state of a recipient.
pub(crate) fn api_state(state: RecipientState) -> FileState {
    match state {
        RecipientState::Pending => FileState::Pending,
        RecipientState::Accepted => FileState::Accepted,
        RecipientState::Rejected => FileState::Rejected,
        RecipientState::Delivered => FileState::Delivered,
        RecipientState::Corrupted => FileState::Corrupted,
    }
}

/// What a message says about the file it offers.
pub(crate) fn offer_of(file: &FileRecord) -> api::FileOffer {
    api::FileOffer {
        id: api::FileId(file.id.0 as u64),
        name: file.name.clone(),
        size: file.size,
        media_type: file.media_type.clone(),
        hash: hex::encode(file.hash),
    }
}

/// The file as `viewer` sees it: the uploader gets every recipient's
/// state, a recipient their own.
pub(crate) async fn file_info(
    shared: &Shared,
    file: &FileRecord,
    viewer: UserId,
) -> Result<api::FileInfo, CmdError> {
    let id = file.id;
    let states = shared.db(move |st| st.file_recipients(id)).await?;
    let mine = states
        .iter()
        .find(|(u, _)| *u == viewer)
        .map(|&(_, s)| api_state(s));
    let mut recipients = Vec::new();
    if file.uploader == viewer {
        for (user, state) in states {
            let user = shared.user_info(user).await?;
            let state = api_state(state);
            recipients.push(api::FileRecipient { user, state });
        }
    }
    Ok(api::FileInfo {
        offer: offer_of(file),
        conv: crate::convert::api_conv(file.conv),
        from: shared.user_info(file.uploader).await?,
        created_ms: file.created_ms.max(0) as u64,
        expires_ms: file.expires_ms.max(0) as u64,
        uploaded: super::uploaded(shared, file).await?,
        complete: file.complete,
        mine,
        recipients,
    })
}
