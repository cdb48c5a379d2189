//! `file_offer`: validate the offer, check the sender's limits (size,
//! quota, unfinished uploads) and record it; an unfinished upload of the
//! same hash to the same conversation is returned instead (resume).

use natter_api::{
    ClientMsgId, ErrorCode, MAX_FILE_NAME_LEN, MAX_MEDIA_TYPE_LEN, Response, Target, is_file_hash,
};
use natter_store::{ConvId, FileRecord, NewFile, UserId};

use crate::ctx::now_ms;
use crate::error::CmdError;
use crate::files::file_info;
use crate::session::Session;

/// What an offer names, as the client sent it.
pub(super) struct Offer {
    pub(super) target: Target,
    pub(super) client_id: ClientMsgId,
    pub(super) name: String,
    pub(super) size: u64,
    pub(super) media_type: String,
    pub(super) hash: String,
}

pub(super) async fn apply(s: &mut Session, offer: Offer) -> Result<Response, CmdError> {
    let me = s.require_auth()?.id;
    let hash = validate(&s.shared.config.files, &offer)?;
    let conv = super::send::resolve(s, me, offer.target.clone()).await?;
    if conv == s.shared.lobby {
        let text = "files are offered in directs and groups, not the lobby";
        return Err(CmdError::api(ErrorCode::BadRequest, text));
    }
    // Files are not end-to-end encrypted yet: the server would see them.
    let why = "files cannot be sent in an end-to-end encrypted conversation yet";
    super::send::refuse_if_encrypted(s, conv, why).await?;
    s.shared.files.disk()?;
    let file = create_or_resume(s, me, conv, hash, &offer).await?;
    Ok(Response::File(Box::new(
        file_info(&s.shared, &file, me).await?,
    )))
}

/// The unfinished upload of the same bytes, or a new file within limits.
async fn create_or_resume(
    s: &Session,
    me: UserId,
    conv: ConvId,
    hash: [u8; 32],
    offer: &Offer,
) -> Result<FileRecord, CmdError> {
    let shared = &s.shared;
    let _one_at_a_time = shared.files.offers.lock().await;
    let found = shared
        .db(move |st| st.unfinished_upload(me, conv, hash))
        .await?;
    if let Some(file) = found {
        return Ok(file);
    }
    let usage = shared.db(move |st| st.file_usage(me)).await?;
    let limits = &shared.config.files;
    if usage.unfinished >= limits.max_concurrent {
        let text = format!("at most {} unfinished uploads", limits.max_concurrent);
        return Err(CmdError::api(ErrorCode::LimitReached, text));
    }
    if usage.bytes.saturating_add(offer.size) > limits.quota_per_user {
        let text = format!(
            "{} bytes stored, quota {} bytes",
            usage.bytes, limits.quota_per_user
        );
        return Err(CmdError::api(ErrorCode::QuotaExceeded, text));
    }
    let members = shared.members(conv).await?;
    let now = now_ms();
    let new = NewFile {
        uploader: me,
        conv,
        name: offer.name.clone(),
        size: offer.size,
        media_type: offer.media_type.clone(),
        hash,
        client_id: *offer.client_id.as_bytes(),
        created_ms: now,
        expires_ms: now.saturating_add(limits.expiry_ms()),
        recipients: members.iter().copied().filter(|&u| u != me).collect(),
    };
    shared.db(move |st| st.create_file(&new)).await
}

/// The offer's hash bytes, or why the offer is refused.
fn validate(limits: &crate::files::FilesConfig, offer: &Offer) -> Result<[u8; 32], CmdError> {
    let bad = |text: &str| CmdError::api(ErrorCode::BadRequest, text);
    if offer.size > limits.max_size {
        let text = format!("file over {} bytes", limits.max_size);
        return Err(CmdError::api(ErrorCode::TooLarge, text));
    }
    if offer.size == 0 {
        return Err(bad("empty file"));
    }
    if !valid_name(&offer.name) {
        return Err(bad("bad file name"));
    }
    let media = &offer.media_type;
    if media.len() > MAX_MEDIA_TYPE_LEN || !media.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("bad media type"));
    }
    let mut hash = [0; 32];
    match is_file_hash(&offer.hash) && hex::decode_to_slice(&offer.hash, &mut hash).is_ok() {
        true => Ok(hash),
        false => Err(bad("hash is not 64 lowercase hex digits")),
    }
}

/// 1–255 bytes, no path separators, no control characters, not `.`/`..`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_LEN
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn file_names_have_no_paths_or_controls() {
        assert!(valid_name("report 2024.pdf"));
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\nb",
            "\u{1b}[31m",
            &"x".repeat(256),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
