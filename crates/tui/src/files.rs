//! File transfer in the TUI (issue 14): `/file PATH` offers a file to the
//! shown conversation and uploads it, offers from others are shown with the
//! commands that answer them (`/accept ID [PATH]`, `/reject ID`), the
//! uploader hears each recipient's result, and transfers in flight show
//! their progress in the status line (`upload report.pdf 45%`).
//!
//! The app only keeps the state; the program does the transfers (with the
//! client library) and reports [`AppEvent::Transfer`] progress.
//!
//! [`AppEvent::Transfer`]: crate::AppEvent::Transfer

use std::collections::BTreeMap;

use natter_api::{
    ConversationId, ConversationKind, FileId, FileOffer, FileState, Target, UserInfo,
};

use crate::app::App;
use crate::io::Action;
use crate::model::ChatLine;
use crate::text::safe_name;

/// Progress of one transfer in flight, as the program reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// What it is keyed by: the path of an upload, `#ID` of a download.
    pub key: String,
    /// Uploading or downloading.
    pub upload: bool,
    /// File name shown in the status line (sanitized when drawn).
    pub name: String,
    /// Bytes done.
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
    /// Finished (or failed): no longer shown.
    pub ended: bool,
}

impl Transfer {
    /// `upload report.pdf 45%`.
    fn status_text(&self) -> String {
        let arrow = if self.upload { "upload" } else { "download" };
        let percent = (self.done * 100).checked_div(self.total).unwrap_or(100);
        let name: String = safe_name(&self.name).chars().take(24).collect();
        format!("{arrow} {name} {}%", percent.min(100))
    }
}

/// Transfers in flight and the files seen in conversations.
#[derive(Debug, Default)]
pub(crate) struct FileTracker {
    /// In flight, by key.
    running: BTreeMap<String, Transfer>,
    /// Offers seen: id → (conversation, name), to say where a result
    /// belongs. Bounded by the messages the app holds.
    offers: BTreeMap<FileId, (ConversationId, String)>,
}

/// `1.5 MiB`, `300 B`.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The text of a message offering `file` (names are sanitized when drawn,
/// like every body).
pub(crate) fn offer_text(file: &FileOffer, own: bool) -> String {
    let size = size_text(file.size);
    let id = file.id.0;
    if own {
        format!("offered {} ({size}) [file {id}]", file.name)
    } else {
        format!(
            "offers {} ({size}): /accept {id} to download, /reject {id}",
            file.name
        )
    }
}

/// How a recipient's state reads to the uploader.
fn update_text(name: &str, user: &UserInfo, state: FileState) -> String {
    let who = safe_name(&user.name);
    let name = safe_name(name);
    match state {
        FileState::Pending => format!("{name}: offered to {who}"),
        FileState::Accepted => format!("{name}: {who} is downloading"),
        FileState::Rejected => format!("{name}: rejected by {who}"),
        FileState::Delivered => format!("{name}: delivered intact to {who}"),
        FileState::Corrupted => format!("{name}: arrived CORRUPTED at {who}"),
    }
}

/// A file id as typed: `12` or `#12`.
pub(crate) fn parse_id(text: &str) -> Option<FileId> {
    text.trim_start_matches('#').parse().ok().map(FileId)
}

impl App {
    /// Where a message or file for conversation `index` goes.
    pub(crate) fn target_of(&self, index: usize) -> Target {
        let conv = &self.convs[index];
        match (&conv.kind, conv.id) {
            (Some(ConversationKind::Lobby), _) => Target::Lobby,
            (_, Some(id)) => Target::Conversation(id),
            (Some(ConversationKind::Direct { peer }), None) => Target::User(peer.name.clone()),
            (_, None) => Target::Lobby, // unreachable: only directs lack an id
        }
    }

    /// `/file PATH`: offers the file to the shown conversation.
    pub(crate) fn send_file(&mut self, path: String) -> Vec<Action> {
        let target = self.target_of(self.active);
        self.notice(format!("offering {path}…"));
        vec![Action::SendFile { target, path }]
    }

    /// Remembers a file offered in conversation `conv`.
    pub(crate) fn saw_offer(&mut self, conv: ConversationId, file: &FileOffer) {
        let entry = (conv, file.name.clone());
        self.files.offers.insert(file.id, entry);
    }

    /// A transfer's progress: shown in the status line until it ends.
    pub(crate) fn on_transfer(&mut self, transfer: Transfer) {
        if transfer.ended {
            self.files.running.remove(&transfer.key);
        } else {
            self.files.running.insert(transfer.key.clone(), transfer);
        }
    }

    /// A recipient of a file I offered answered or finished.
    pub(crate) fn on_file_update(&mut self, id: FileId, user: &UserInfo, state: FileState) {
        let known = self.files.offers.get(&id).cloned();
        let name = known
            .as_ref()
            .map_or_else(|| format!("file {}", id.0), |k| k.1.clone());
        let index = known.and_then(|(conv, _)| self.conv_index(conv));
        let line = ChatLine::notice(update_text(&name, user, state));
        self.push_line(index.unwrap_or(self.active), line);
    }

    /// The transfers in flight, for the status line (`None` when idle).
    pub fn transfers_text(&self) -> Option<String> {
        let parts: Vec<String> = self
            .files
            .running
            .values()
            .map(Transfer::status_text)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size_text(0), "0 B");
        assert_eq!(size_text(1023), "1023 B");
        assert_eq!(size_text(1536), "1.5 KiB");
        assert_eq!(size_text(20 * 1024 * 1024), "20.0 MiB");
    }

    #[test]
    fn ids_parse_with_or_without_hash() {
        assert_eq!(parse_id("12"), Some(FileId(12)));
        assert_eq!(parse_id("#7"), Some(FileId(7)));
        assert_eq!(parse_id("x"), None);
    }
}
