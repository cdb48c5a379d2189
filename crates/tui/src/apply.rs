//! How events from outside change the app.

use natter_api::{
    ApiError, ClientEvent, ClientMsgId, ConnectionState, ConversationId, ConversationInfo,
    ConversationKind, Event, GroupInfo, Message, OutgoingState, Sent, Seq,
};

use crate::app::{App, HISTORY_PAGE};
use crate::io::{Action, AppEvent};
use crate::model::{ChatLine, same_name};
use crate::text::{member_list, user_list};

impl App {
    /// Applies one event (a client event, or an action's outcome); returns
    /// follow-up actions (mark read, load the newest page of a new
    /// conversation, refresh the conversation list).
    pub fn apply(&mut self, event: impl Into<AppEvent>) -> Vec<Action> {
        match event.into() {
            AppEvent::Client(event) => return self.on_client(event),
            AppEvent::ConversationList(list) => return self.on_conversations(list),
            AppEvent::History { conv, messages } => {
                self.on_history(conv, messages);
                return self.continue_jump(conv);
            }
            AppEvent::Users(list) => {
                self.notice(user_list(&list));
                self.on_presence(list, false);
            }
            AppEvent::Members { conv, members } => self.on_members(conv, &members),
            AppEvent::Group(info) => return self.on_group(info),
            AppEvent::Left(conv) => self.on_left(conv),
            AppEvent::Notice(text) => self.notice(text),
            AppEvent::Error(text) => self.notice(format!("error: {text}")),
            AppEvent::Transfer(transfer) => self.on_transfer(transfer),
            AppEvent::SearchResults { query, hits } => self.on_search(&query, &hits),
        }
        Vec::new()
    }

    fn on_client(&mut self, event: ClientEvent) -> Vec<Action> {
        match event {
            ClientEvent::Server(event) => return self.on_server(event),
            ClientEvent::Connection(state) => self.on_status(state),
            ClientEvent::Outgoing { client_id, state } => self.on_tick(client_id, state),
        }
        Vec::new()
    }

    /// The server's events as the client passes them on (messages already
    /// de-duplicated, conversation lists whole, `Behind` handled).
    fn on_server(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Conversations(list) => return self.on_conversations(list),
            Event::Message(msg) => return self.on_message(msg),
            Event::Delivered { conv, seq } => self.on_delivered(conv, seq),
            Event::Read { conv, seq } => self.on_read(conv, seq),
            Event::Presence(list) => self.on_presence(list, true),
            Event::SessionEnded { reason } => self.notice(format!(
                "error: the server ended the session ({reason}): /quit and log in again"
            )),
            Event::ServerClosing { reason } => {
                self.notice(format!("the server is shutting down ({reason})"));
            }
            Event::Added { conversation, by } => {
                let by = by.map_or_else(|| "the server".to_owned(), |u| u.name);
                let name = match &conversation.kind {
                    ConversationKind::Group { name, .. } => name.clone(),
                    _ => String::from("a conversation"),
                };
                self.notice(format!("{by} added you to #{name}"));
                return self.on_conversations(vec![conversation]);
            }
            Event::FileUpdate { id, user, state } => self.on_file_update(id, &user, state),
            Event::Typing { conv, user, typing } => self.on_typing(conv, &user.name, typing),
            Event::Seen { conv, seq } => self.on_seen(conv, seq),
            Event::Removed {
                conv,
                by,
                kind,
                reason,
            } => self.on_removed(conv, &by, kind, reason.as_deref()),
            Event::ConversationsPart(_) | Event::Behind { .. } => {}
        }
        Vec::new()
    }

    fn on_status(&mut self, state: ConnectionState) {
        if self.status != Some(state) {
            self.status = Some(state);
            self.notice(state.to_string());
        }
    }

    fn on_conversations(&mut self, list: Vec<ConversationInfo>) -> Vec<Action> {
        let mut actions = Vec::new();
        for info in list {
            self.refreshing.remove(&info.id);
            let index = self.adopt(&info);
            let conv = &mut self.convs[index];
            conv.read = conv.read.max(info.read);
            if conv.seen.is_empty() && info.last_seq > 0 && !conv.loading {
                actions.push(self.request_page(index, Seq::MAX));
            }
        }
        actions
    }

    /// The index of the conversation `info` describes (through the merge
    /// point: created if new, its label updated if renamed).
    fn adopt(&mut self, info: &ConversationInfo) -> usize {
        let index = self.merge_conv(Some(info.id), Some(info.kind.clone()));
        self.convs[index].e2e |= info.e2e;
        index
    }

    pub(crate) fn conv_index(&self, id: ConversationId) -> Option<usize> {
        self.convs.iter().position(|c| c.id == Some(id))
    }

    fn request_page(&mut self, index: usize, before: Seq) -> Action {
        let conv = &mut self.convs[index];
        conv.loading = true;
        let conv = conv.id.unwrap_or(ConversationId(0));
        Action::LoadHistory {
            conv,
            before,
            limit: HISTORY_PAGE,
        }
    }

    /// Asks for the page of history older than what conversation `index` shows.
    pub(crate) fn request_older(&mut self, index: usize) -> Option<Action> {
        let conv = &self.convs[index];
        if conv.history_done || conv.loading || conv.id.is_none() {
            return None;
        }
        let before = conv.first_seq().unwrap_or(Seq::MAX);
        Some(self.request_page(index, before))
    }

    fn on_message(&mut self, msg: Message) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(sender) = &msg.sender {
            self.stopped_typing(msg.conv, &sender.name);
        }
        let index = self.index_for(msg.conv, msg.client_id, &mut actions);
        if !self.insert_message(index, msg) {
            return actions;
        }
        if index == self.active {
            actions.extend(self.mark_read(index));
        }
        actions
    }

    /// The conversation a message belongs to: by id, else the one holding
    /// my pending message with this client id, else a new placeholder (and
    /// a request for the conversation list).
    fn index_for(
        &mut self,
        id: ConversationId,
        client_id: ClientMsgId,
        actions: &mut Vec<Action>,
    ) -> usize {
        if let Some(index) = self.conv_index(id) {
            return index;
        }
        if let Some((index, _)) = self.find_pending(client_id) {
            return self.identify(index, id);
        }
        if self.refreshing.insert(id) {
            actions.push(Action::RefreshConversations);
        }
        self.merge_conv(Some(id), None)
    }

    fn find_pending(&self, client_id: ClientMsgId) -> Option<(usize, usize)> {
        self.convs.iter().enumerate().find_map(|(i, c)| {
            let pos = c
                .lines
                .iter()
                .position(|l| l.client_id == Some(client_id))?;
            Some((i, pos))
        })
    }

    /// Inserts a stored message in seq order (or completes my pending line).
    /// Returns false if it is shown already: a history page and the live
    /// stream may overlap (the live stream itself never repeats a message,
    /// the client library de-duplicates it).
    fn insert_message(&mut self, index: usize, msg: Message) -> bool {
        let own = msg
            .sender
            .as_ref()
            .is_some_and(|s| same_name(&s.name, &self.me));
        if msg.action.is_some() {
            return self.apply_entry(index, &msg);
        }
        if !self.convs[index].seen.insert(msg.seq) {
            return false;
        }
        if let Some(file) = &msg.file {
            self.saw_offer(msg.conv, file);
        }
        let sent = Sent {
            conv: msg.conv,
            seq: msg.seq,
            ts_ms: msg.ts_ms,
        };
        if own && self.raise_tick(msg.client_id, sent, false) {
            return true;
        }
        let tick = own.then(|| self.stored_tick(index, sent, false));
        let line = ChatLine {
            seq: Some(msg.seq),
            ts_ms: Some(msg.ts_ms),
            sender: msg.sender.map(|s| s.name),
            body: match &msg.file {
                Some(file) => crate::files::offer_text(file, own),
                None => msg.body,
            },
            client_id: Some(msg.client_id),
            tick,
            edited: msg.edited_ms.is_some(),
            deleted: msg.deleted,
        };
        self.record(index, &line);
        let lines = &mut self.convs[index].lines;
        let pos = lines
            .iter()
            .position(|l| l.seq.is_some_and(|s| s > msg.seq));
        lines.insert(pos.unwrap_or(lines.len()), line);
        true
    }

    /// ✓ for my message stored as `sent` in conversation `index`, or ✓✓
    /// if `delivered` or the conversation's ✓✓ watermark covers it.
    fn stored_tick(&self, index: usize, sent: Sent, delivered: bool) -> OutgoingState {
        if delivered || sent.seq <= self.convs[index].delivered {
            OutgoingState::Delivered(sent)
        } else {
            OutgoingState::Stored(sent)
        }
    }

    /// Gives my line with `client_id` the seq and time of `sent` and raises
    /// its tick to ✓ (✓✓ if `delivered`), never lowering it; records a
    /// changed tick. True if the line exists.
    fn raise_tick(&mut self, client_id: ClientMsgId, sent: Sent, delivered: bool) -> bool {
        let Some((index, pos)) = self.find_pending(client_id) else {
            return false;
        };
        let tick = self.stored_tick(index, sent, delivered);
        self.convs[index].seen.insert(sent.seq);
        let line = &mut self.convs[index].lines[pos];
        line.seq = Some(sent.seq);
        line.ts_ms = Some(sent.ts_ms);
        if progress(&tick) > line.tick.as_ref().map_or(0, progress) {
            line.tick = Some(tick);
            let line = line.clone();
            self.record(index, &line);
        }
        true
    }

    /// ✓ (or ✗) of my message; ✓✓ follows from the watermark
    /// ([`Event::Delivered`]), already applied if it came first.
    fn on_tick(&mut self, client_id: ClientMsgId, state: OutgoingState) {
        let (sent, delivered) = match state {
            OutgoingState::Pending => return,
            OutgoingState::Stored(sent) => (sent, false),
            OutgoingState::Delivered(sent) => (sent, true),
            OutgoingState::Failed(e) => return self.on_failed(client_id, e),
        };
        if let Some((index, _)) = self.find_pending(client_id) {
            let index = match self.convs[index].id {
                None => self.identify(index, sent.conv),
                Some(_) => index,
            };
            if self.convs[index].id == Some(sent.conv) {
                self.raise_tick(client_id, sent, delivered);
            }
        }
    }

    fn on_failed(&mut self, client_id: ClientMsgId, error: ApiError) {
        if let Some((index, pos)) = self.find_pending(client_id) {
            let line = ChatLine::notice(format!("not sent: {}", error.message));
            self.convs[index].lines[pos].tick = Some(OutgoingState::Failed(error));
            self.push_line(index, line);
        }
    }

    fn on_delivered(&mut self, conv: ConversationId, seq: Seq) {
        if let Some(index) = self.conv_index(conv) {
            self.raise_delivered(index, seq);
        }
    }

    fn raise_delivered(&mut self, index: usize, seq: Seq) {
        self.convs[index].delivered = self.convs[index].delivered.max(seq);
        let mine: Vec<usize> = (0..self.convs[index].lines.len())
            .filter(|&pos| {
                let line = &self.convs[index].lines[pos];
                matches!(line.tick, Some(OutgoingState::Stored(_)))
                    && line.seq.is_some_and(|s| s <= seq)
            })
            .collect();
        for pos in mine {
            let line = &mut self.convs[index].lines[pos];
            if let Some(OutgoingState::Stored(sent)) = line.tick {
                line.tick = Some(OutgoingState::Delivered(sent));
            }
            let line = line.clone();
            self.record(index, &line);
        }
    }

    fn on_read(&mut self, conv: ConversationId, seq: Seq) {
        if let Some(index) = self.conv_index(conv) {
            self.convs[index].read = self.convs[index].read.max(seq);
        }
    }

    fn on_history(&mut self, conv: ConversationId, mut messages: Vec<Message>) {
        let Some(index) = self.conv_index(conv) else {
            return;
        };
        let done = messages.len() < HISTORY_PAGE as usize;
        self.convs[index].loading = false;
        self.convs[index].history_done |= done;
        messages.sort_by_key(|m| m.seq);
        let transcript = self.transcript.take();
        for msg in messages {
            self.insert_message(index, msg);
        }
        self.transcript = transcript; // history is not news: keep it off the transcript
    }

    fn on_presence(&mut self, list: Vec<natter_api::Presence>, announce: bool) {
        for p in list {
            let key = p.user.name.to_ascii_lowercase();
            let old = self.users.insert(key, (p.user.clone(), p.online));
            let changed = old.is_some_and(|(_, was)| was != p.online);
            if announce && changed && !same_name(&p.user.name, &self.me) {
                let state = if p.online { "online" } else { "offline" };
                self.notice(format!("{} is {state}", p.user.name));
            }
        }
    }

    fn on_members(&mut self, conv: ConversationId, members: &[natter_api::MemberInfo]) {
        let label = self.conv_index(conv).map(|i| self.convs[i].label());
        let label = label.unwrap_or_else(|| format!("#{}", conv.0));
        self.notice(format!("members of {label}: {}", member_list(members)));
    }

    fn on_group(&mut self, info: GroupInfo) -> Vec<Action> {
        let kind = ConversationKind::Group {
            name: info.name,
            public: info.public,
        };
        let index = self.merge_conv(Some(info.id), Some(kind));
        let mut actions = self.select(index);
        let label = self.convs[index].label();
        self.notice(format!("you are in {label}"));
        if self.convs[index].seen.is_empty() && !self.convs[index].loading {
            actions.push(self.request_page(index, Seq::MAX));
        }
        actions
    }

    fn on_left(&mut self, conv: ConversationId) {
        if let Some(index) = self.conv_index(conv) {
            let label = self.remove_conv(index).label();
            self.notice(format!("you left {label}"));
        }
    }
}

/// How far one of my messages got, to raise its tick and never lower it:
/// ⏳, then ✓, then ✓✓; ✗ is final.
fn progress(tick: &OutgoingState) -> u8 {
    match tick {
        OutgoingState::Pending => 0,
        OutgoingState::Stored(_) => 1,
        OutgoingState::Delivered(_) => 2,
        OutgoingState::Failed(_) => 3,
    }
}
