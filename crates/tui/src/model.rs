//! What the screen shows: conversations, their lines, ticks, users, connection status.

use std::collections::BTreeSet;

use natter_api::{ClientMsgId, ConversationId, ConversationKind, Seq};

/// Delivery state of one of my messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tick {
    /// ⏳ not stored yet (queued, resent after reconnects).
    Pending,
    /// ✓ durably stored by the server.
    Stored,
    /// ✓✓ delivered to every other member.
    Delivered,
    /// ✗ rejected by the server; not retried.
    Failed,
}

impl Tick {
    /// The glyph shown after the message.
    pub fn glyph(self) -> &'static str {
        match self {
            Self::Pending => "⏳",
            Self::Stored => "✓",
            Self::Delivered => "✓✓",
            Self::Failed => "✗",
        }
    }
}

/// The connection as the status line shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    /// Before the first connection.
    Connecting,
    /// Connected and logged in.
    Connected,
    /// Lost; reconnect attempt `n` is scheduled.
    Reconnecting(u32),
    /// Reconnected, session resumed.
    Resumed,
}

impl std::fmt::Display for ConnStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting…"),
            Self::Connected => f.write_str("connected"),
            Self::Reconnecting(n) => write!(f, "reconnecting (attempt {n})"),
            Self::Resumed => f.write_str("resumed"),
        }
    }
}

impl From<natter_api::ConnectionState> for ConnStatus {
    fn from(state: natter_api::ConnectionState) -> Self {
        use natter_api::ConnectionState as S;
        match state {
            S::Connected => Self::Connected,
            S::Reconnecting { attempt } => Self::Reconnecting(attempt),
            S::Resumed => Self::Resumed,
        }
    }
}

/// What a conversation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvKind {
    /// Everyone.
    Lobby,
    /// A named group.
    Group(String),
    /// A direct conversation with this user.
    Direct(String),
    /// Known only by id until the conversation list arrives.
    Unknown,
}

impl ConvKind {
    /// How it is written: `#lobby`, `#group`, `@user` (terminal-safe);
    /// `None` while unknown.
    pub fn label(&self) -> Option<String> {
        match self {
            Self::Lobby => Some("#lobby".to_owned()),
            Self::Group(name) => Some(format!("#{}", crate::text::safe_name(name))),
            Self::Direct(peer) => Some(format!("@{}", crate::text::safe_name(peer))),
            Self::Unknown => None,
        }
    }
}

impl From<&ConversationKind> for ConvKind {
    fn from(kind: &ConversationKind) -> Self {
        match kind {
            ConversationKind::Lobby => Self::Lobby,
            ConversationKind::Direct { peer } => Self::Direct(peer.name.clone()),
            ConversationKind::Group { name, .. } => Self::Group(name.clone()),
        }
    }
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
    /// Tick, for my own messages only.
    pub tick: Option<Tick>,
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
    /// What it is.
    pub kind: ConvKind,
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
    pub fn new(id: Option<ConversationId>, kind: ConvKind) -> Self {
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
            ConvKind::Direct(_) if self.e2e => format!("{} 🔒", self.name()),
            _ => self.name(),
        }
    }

    /// `#lobby`, `#group`, `@user`, or `#7` while only its id is known.
    pub fn name(&self) -> String {
        self.kind.label().unwrap_or_else(|| match self.id {
            Some(id) => format!("#{}", id.0),
            None => "#?".to_owned(),
        })
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
