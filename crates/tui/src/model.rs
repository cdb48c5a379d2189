//! What the screen shows: conversations and their lines (ticks, users and
//! the connection status are the api's and the client's own types).

use std::collections::BTreeSet;

use natter_api::{
    ClientMsgId, ConversationId, ConversationKind, OutgoingState, Seq, UserId, UserInfo,
};

/// How the panel, the status line and search results write a conversation:
/// `#lobby`, `#group`, `@user` (terminal-safe).
pub(crate) fn kind_label(kind: &ConversationKind) -> String {
    match kind {
        ConversationKind::Lobby => "#lobby".to_owned(),
        ConversationKind::Group { name, .. } => format!("#{}", crate::text::safe_name(name)),
        ConversationKind::Direct { peer } => format!("@{}", crate::text::safe_name(&peer.name)),
    }
}

/// The direct with user `name` as the panel holds it before the server
/// lists it (opened with `/msg`): the peer is `known` (the user as presence
/// named them) if given, else `name` as typed with id [`UserId`]`(0)`. The
/// panel tells directs apart by the peer's name, never by that id.
pub(crate) fn direct_with(known: Option<&UserInfo>, name: &str) -> ConversationKind {
    let peer = known.cloned().unwrap_or_else(|| UserInfo {
        id: UserId(0),
        name: name.to_owned(),
    });
    ConversationKind::Direct { peer }
}

/// One line of a conversation: a message (mine or someone's) or a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// Seq once stored.
    pub seq: Option<Seq>,
    /// Server time (ms since the Unix epoch) once stored.
    pub ts_ms: Option<u64>,
    /// Sender's name; `None` for a notice from natter itself.
    pub sender: Option<String>,
    /// Text.
    pub body: String,
    /// Client id of a message (`None` for notices).
    pub client_id: Option<ClientMsgId>,
    /// Tick (⏳ ✓ ✓✓ ✗), for my own messages only: the client's state of
    /// an outgoing message, raised by the ✓✓ watermark.
    pub tick: Option<OutgoingState>,
    /// The text was edited (shown with "(edited)").
    pub edited: bool,
    /// The message was deleted: shown as "(message deleted)".
    pub deleted: bool,
}

impl ChatLine {
    /// A notice (help, errors, command results).
    pub fn notice(body: impl Into<String>) -> Self {
        Self {
            seq: None,
            ts_ms: None,
            sender: None,
            body: body.into(),
            client_id: None,
            tick: None,
            edited: false,
            deleted: false,
        }
    }
}

/// One conversation in the left panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Server id; `None` for a direct conversation whose first message is not stored yet.
    pub id: Option<ConversationId>,
    /// What it is (as the server lists it); `None` while only its id is
    /// known (until the conversation list arrives).
    pub kind: Option<ConversationKind>,
    /// Lines in display order (older history is inserted at the front).
    pub lines: Vec<ChatLine>,
    /// Seqs present in `lines`: merges history pages with what arrived live
    /// (the client library already delivers each live message once).
    pub seen: BTreeSet<Seq>,
    /// My read cursor.
    pub read: Seq,
    /// ✓✓ watermark: my messages with a seq ≤ this reached every other member.
    pub delivered: Seq,
    /// No older history on the server.
    pub history_done: bool,
    /// An older page was requested and has not arrived yet.
    pub loading: bool,
    /// A direct that is end-to-end encrypted (`/e2e on`, or so listed).
    pub e2e: bool,
}

impl Conversation {
    /// An empty conversation.
    pub fn new(id: Option<ConversationId>, kind: Option<ConversationKind>) -> Self {
        Self {
            id,
            kind,
            lines: Vec::new(),
            seen: BTreeSet::new(),
            read: 0,
            delivered: 0,
            history_done: false,
            loading: false,
            e2e: false,
        }
    }

    /// Its label in the panel and the status line: its [`Self::name`],
    /// with 🔒 for an end-to-end encrypted direct.
    pub fn label(&self) -> String {
        match &self.kind {
            Some(ConversationKind::Direct { .. }) if self.e2e => format!("{} 🔒", self.name()),
            _ => self.name(),
        }
    }

    /// `#lobby`, `#group`, `@user`, or `#7` while only its id is known.
    pub fn name(&self) -> String {
        match (&self.kind, self.id) {
            (Some(kind), _) => kind_label(kind),
            (None, Some(id)) => format!("#{}", id.0),
            (None, None) => "#?".to_owned(),
        }
    }

    /// Messages from others above my read cursor.
    pub fn unread(&self, me: &str) -> usize {
        let from_other = |l: &&ChatLine| l.sender.as_deref().is_some_and(|s| !same_name(s, me));
        self.lines
            .iter()
            .filter(from_other)
            .filter(|l| l.seq.is_some_and(|s| s > self.read))
            .count()
    }

    /// Highest stored seq loaded.
    pub fn last_seq(&self) -> Seq {
        self.seen.last().copied().unwrap_or(0)
    }

    /// Lowest stored seq loaded.
    pub fn first_seq(&self) -> Option<Seq> {
        self.seen.first().copied()
    }

    /// Whether this conversation is the one named `name` (`#x`, `x`, `@x`).
    pub fn answers_to(&self, name: &str) -> bool {
        let own = self.name();
        same_name(&own, name) || same_name(&own[1..], name)
    }
}

/// User names and group names compare case-insensitively.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}
