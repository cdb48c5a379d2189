//! `/e2e on`: end-to-end encrypt the shown direct conversation. The app
//! only marks the conversation (🔒 in its label) and asks for encrypted
//! sends ([`Action::SendEncrypted`]); `natter chat` does the Olm part and
//! hands incoming encrypted messages over already decrypted.

use natter_api::{ClientMsgId, ConversationKind, OutgoingState};

use crate::app::App;
use crate::io::Action;
use crate::model::ChatLine;

impl App {
    /// `/e2e on|off` in the shown conversation.
    pub(crate) fn set_e2e(&mut self, on: bool) -> Vec<Action> {
        let conv = self.active();
        let Some(ConversationKind::Direct { peer }) = &conv.kind else {
            self.notice("/e2e: only a direct conversation can be end-to-end encrypted");
            return Vec::new();
        };
        let peer = crate::text::safe_name(&peer.name).into_owned();
        match (on, conv.e2e) {
            (true, true) => self.notice(format!("🔒 @{peer} is end-to-end encrypted already")),
            (true, false) => {
                self.convs[self.active].e2e = true;
                self.notice(format!(
                    "🔒 messages to @{peer} are end-to-end encrypted from now on (for good)"
                ));
            }
            (false, true) => self.notice("an end-to-end encrypted conversation stays encrypted"),
            (false, false) => self.notice("this conversation is not end-to-end encrypted"),
        }
        Vec::new()
    }

    /// The encrypted send of `body` to the direct `index` (⏳ like a plain one).
    pub(crate) fn send_encrypted(&mut self, index: usize, peer: String, body: String) -> Action {
        let client_id = ClientMsgId::new_v4();
        let line = ChatLine {
            sender: Some(self.me.clone()),
            client_id: Some(client_id),
            tick: Some(OutgoingState::Pending),
            ..ChatLine::notice(format!("🔒 {body}"))
        };
        self.push_line(index, line);
        self.scroll = 0;
        Action::SendEncrypted {
            client_id,
            peer,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_api::{ConversationId, ConversationInfo, ConversationKind, UserId, UserInfo};

    use crate::{Action, App, AppEvent};

    fn direct(e2e: bool) -> ConversationInfo {
        let peer = UserInfo {
            id: UserId(2),
            name: "bob".into(),
        };
        ConversationInfo {
            id: ConversationId(5),
            kind: ConversationKind::Direct { peer },
            last_seq: 0,
            delivered: 0,
            read: 0,
            last_ts_ms: 0,
            e2e,
        }
    }

    #[test]
    fn e2e_on_marks_the_direct_and_sends_encrypted() {
        let mut app = App::new("alice");
        app.submit_line("/msg bob");
        assert!(app.submit_line("/e2e on").is_empty());
        assert!(app.active().e2e);
        assert_eq!(app.active().label(), "@bob 🔒");
        let actions = app.submit_line("secret plans");
        assert!(
            matches!(&actions[..], [Action::SendEncrypted { peer, body, .. }]
                if peer == "bob" && body == "secret plans"),
            "{actions:?}"
        );
        assert!(app.submit_line("/e2e off").is_empty(), "it stays on");
        assert!(app.active().e2e);
    }

    #[test]
    fn an_encrypted_direct_from_the_list_is_marked_and_the_lobby_refuses() {
        let mut app = App::new("alice");
        assert!(app.submit_line("/e2e on").is_empty());
        assert!(!app.active().e2e, "the lobby is never encrypted");
        let list =
            natter_api::ClientEvent::Server(natter_api::Event::Conversations(vec![direct(true)]));
        app.apply(AppEvent::from(list));
        app.submit_line("/msg bob");
        assert!(app.active().e2e, "listed as encrypted by the server");
    }
}
