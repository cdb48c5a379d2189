//! The app state and what the input line does with it.

use std::collections::{BTreeMap, BTreeSet};

use natter_api::{
    ClientMsgId, ConnectionState, ConversationId, ConversationKind, OutgoingState, UserInfo,
};

use crate::command::{self, COMMANDS, Command, Input};
use crate::io::Action;
use crate::model::{ChatLine, Conversation, direct_with, same_name};
use crate::text::transcript_line;

/// Messages per history page (the first page and each PgUp).
pub const HISTORY_PAGE: u32 = 50;

/// The whole client-side state of `natter chat`, free of networking: feed it
/// keys ([`App::on_key`]), lines ([`App::submit_line`]) and events
/// ([`App::apply`]); each returns the [`Action`]s the program must carry out.
#[derive(Debug)]
pub struct App {
    pub(crate) me: String,
    pub(crate) convs: Vec<Conversation>,
    pub(crate) active: usize,
    /// Lower-cased name → (the user as the server names them, online).
    pub(crate) users: BTreeMap<String, (UserInfo, bool)>,
    /// The last connection state the client reported; `None` before the first.
    pub(crate) status: Option<ConnectionState>,
    pub(crate) input: String,
    /// Cursor position in `input`, in chars.
    pub(crate) cursor: usize,
    /// A transient hint for the status line (completions, errors).
    pub(crate) hint: Option<String>,
    /// Rows scrolled up from the bottom of the message view.
    pub(crate) scroll: u16,
    /// Rows of the message view and the most it can scroll (set by drawing).
    pub(crate) page: u16,
    pub(crate) max_scroll: u16,
    pub(crate) transcript: Option<Vec<String>>,
    pub(crate) refreshing: BTreeSet<ConversationId>,
    /// File transfers in flight and offers seen.
    pub(crate) files: crate::files::FileTracker,
    /// Typing indicators, "seen" marks.
    pub(crate) marks: crate::marks::Marks,
    /// The last `/search` results and the message `/goto` shows.
    pub(crate) jump: crate::jump::Jump,
    quit: bool,
}

impl App {
    /// A fresh app for user `me`, showing the lobby.
    pub fn new(me: impl Into<String>) -> Self {
        Self {
            me: me.into(),
            convs: vec![Conversation::new(None, Some(ConversationKind::Lobby))],
            active: 0,
            users: BTreeMap::new(),
            status: None,
            input: String::new(),
            cursor: 0,
            hint: None,
            scroll: 0,
            page: 10,
            max_scroll: 0,
            transcript: None,
            refreshing: BTreeSet::new(),
            files: crate::files::FileTracker::default(),
            marks: crate::marks::Marks::default(),
            jump: crate::jump::Jump::default(),
            quit: false,
        }
    }

    /// My user name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Conversations in panel order.
    pub fn conversations(&self) -> &[Conversation] {
        &self.convs
    }

    /// Index of the shown conversation.
    pub fn active_index(&self) -> usize {
        self.active
    }

    /// The shown conversation.
    pub fn active(&self) -> &Conversation {
        &self.convs[self.active]
    }

    /// Users by name with their online flag.
    pub fn users(&self) -> impl Iterator<Item = (&str, bool)> {
        self.users
            .values()
            .map(|(user, on)| (user.name.as_str(), *on))
    }

    /// The connection state the client last reported; `None` before the
    /// first connection (shown as "connecting…").
    pub fn status(&self) -> Option<ConnectionState> {
        self.status
    }

    /// The input line.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// `/quit` was typed (or Ctrl-C pressed).
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// My messages still waiting for ✓ (in every conversation).
    pub fn pending(&self) -> usize {
        let lines = self.convs.iter().flat_map(|c| &c.lines);
        lines
            .filter(|l| l.tick == Some(OutgoingState::Pending))
            .count()
    }

    /// Starts keeping a transcript: one printable line per message, tick
    /// change, notice and connection change (for `--plain`).
    pub fn keep_transcript(&mut self) {
        self.transcript.get_or_insert_with(Vec::new);
    }

    /// Takes the transcript lines written since the last call.
    pub fn take_transcript(&mut self) -> Vec<String> {
        self.transcript
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Shows conversation `index` (ignored when out of range) and marks it read.
    pub fn select(&mut self, index: usize) -> Vec<Action> {
        if index >= self.convs.len() {
            return Vec::new();
        }
        self.active = index;
        self.scroll = 0;
        self.jump.focus = None;
        self.mark_read(index).into_iter().collect()
    }

    /// Handles one line typed by the user: text for the current
    /// conversation or a slash command.
    pub fn submit_line(&mut self, line: &str) -> Vec<Action> {
        self.hint = None;
        match command::parse(line) {
            Ok(None) => Vec::new(),
            Ok(Some(Input::Text(text))) => vec![self.send_text(self.active, text)],
            Ok(Some(Input::Command(cmd))) => self.run(cmd),
            Err(e) => {
                self.notice(e.to_string());
                Vec::new()
            }
        }
    }

    fn run(&mut self, cmd: Command) -> Vec<Action> {
        match cmd {
            Command::Msg { user, text } => self.open_direct(&user, text),
            Command::Join(name) => self.join(&name),
            Command::Leave => self.with_group(Action::Leave),
            Command::Create { name, members } => vec![Action::Create { name, members }],
            Command::Invite(user) => self.with_group(|conv| Action::Invite { conv, user }),
            Command::Users => vec![Action::ListUsers],
            Command::Members => self.with_id(Action::ListMembers),
            Command::File(path) => self.send_file(path),
            Command::Accept { id, out } => vec![Action::AcceptFile { id, out }],
            Command::Reject(id) => vec![Action::RejectFile(id)],
            Command::Edit { seq, text } => self.edit_message(seq, text),
            Command::Delete(seq) => self.delete_message(seq),
            Command::Search(query) => vec![Action::Search { query }],
            Command::Moderate { action, reason } => self.with_group(|conv| Action::Moderate {
                conv,
                action,
                reason,
            }),
            Command::Bans => self.with_group(Action::Bans),
            Command::Settings => self.with_group(Action::GroupSettings),
            Command::Help => self.help(),
            Command::E2e(on) => self.set_e2e(on),
            Command::Goto(n) => self.goto(n),
            Command::Quit => {
                self.quit = true;
                vec![Action::Quit]
            }
        }
    }

    fn open_direct(&mut self, user: &str, text: Option<String>) -> Vec<Action> {
        if same_name(user, &self.me) {
            self.notice("that is you");
            return Vec::new();
        }
        let index = self.direct_index(user);
        let mut actions = self.select(index);
        actions.extend(text.map(|t| self.send_text(index, t)));
        actions
    }

    /// The direct with `user`, opened (without an id yet) if there is none.
    fn direct_index(&mut self, user: &str) -> usize {
        let kind = direct_with(
            self.users.get(&user.to_ascii_lowercase()).map(|(u, _)| u),
            user,
        );
        match self.find_conv(None, Some(&kind)) {
            Some(index) => index,
            None => self.merge_conv(None, Some(kind)),
        }
    }

    fn join(&mut self, name: &str) -> Vec<Action> {
        match self.convs.iter().position(|c| c.answers_to(name)) {
            Some(index) => self.select(index),
            None => vec![Action::Join(name.trim_start_matches('#').to_owned())],
        }
    }

    fn with_group(&mut self, make: impl FnOnce(ConversationId) -> Action) -> Vec<Action> {
        match (&self.active().kind, self.active().id) {
            (Some(ConversationKind::Group { .. }), Some(id)) => vec![make(id)],
            _ => {
                self.notice("not in a group: /join one first");
                Vec::new()
            }
        }
    }

    fn with_id(&mut self, make: impl FnOnce(ConversationId) -> Action) -> Vec<Action> {
        match self.active().id {
            Some(id) => vec![make(id)],
            None => {
                self.notice("this conversation has no messages yet");
                Vec::new()
            }
        }
    }

    fn help(&mut self) -> Vec<Action> {
        for (_, usage) in COMMANDS {
            self.notice(*usage);
        }
        self.notice("keys: Enter send · Tab complete · PgUp/PgDn scroll (older history)");
        self.notice("      Ctrl-N/Ctrl-P or Alt-↓/Alt-↑ next/previous conversation · Ctrl-C quit");
        Vec::new()
    }

    /// Queues `body` for conversation `index` with a new client id (⏳).
    fn send_text(&mut self, index: usize, body: String) -> Action {
        let conv = &self.convs[index];
        if let (true, Some(ConversationKind::Direct { peer })) = (conv.e2e, &conv.kind) {
            let peer = peer.name.clone();
            return self.send_encrypted(index, peer, body);
        }
        let client_id = ClientMsgId::new_v4();
        let target = self.target_of(index);
        let line = ChatLine {
            sender: Some(self.me.clone()),
            client_id: Some(client_id),
            tick: Some(OutgoingState::Pending),
            ..ChatLine::notice(body.clone())
        };
        self.push_line(index, line);
        self.scroll = 0;
        Action::Send {
            client_id,
            target,
            body,
        }
    }

    /// Appends a notice to the shown conversation.
    pub(crate) fn notice(&mut self, text: impl Into<String>) {
        self.push_line(self.active, ChatLine::notice(text));
    }

    /// Appends a line (and writes it to the transcript).
    pub(crate) fn push_line(&mut self, index: usize, line: ChatLine) {
        self.record(index, &line);
        self.convs[index].lines.push(line);
    }

    /// Writes a line of conversation `index` to the transcript, if kept.
    pub(crate) fn record(&mut self, index: usize, line: &ChatLine) {
        let label = self.convs[index].label();
        if let Some(t) = self.transcript.as_mut() {
            t.push(transcript_line(&label, line));
        }
    }

    /// Moves the read cursor of `index` to its newest message.
    pub(crate) fn mark_read(&mut self, index: usize) -> Option<Action> {
        let conv = &mut self.convs[index];
        let (id, last) = (conv.id?, conv.last_seq());
        (last > conv.read).then(|| {
            conv.read = last;
            Action::MarkRead {
                conv: id,
                seq: last,
            }
        })
    }
}
