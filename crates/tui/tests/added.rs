//! A group the user is added to (the server's `added` event) appears at
//! once, with a notice naming who added them, and its newest page is asked
//! for.

mod support;

use natter_api::{ConversationId, ConversationKind, Event};
use natter_tui::{Action, App, HISTORY_PAGE};
use support::*;

const CREW: ConversationId = ConversationId(7);

fn labels(app: &App) -> Vec<String> {
    app.conversations().iter().map(|c| c.label()).collect()
}

#[test]
fn a_group_i_am_added_to_shows_at_once() {
    let mut app = alice();
    let kind = ConversationKind::Group {
        name: "crew".into(),
        public: false,
    };
    let added = Event::Added {
        conversation: conv(CREW, kind, 1),
        by: Some(user("bob")),
    };
    let newest = Action::LoadHistory {
        conv: CREW,
        before: u64::MAX,
        limit: HISTORY_PAGE,
    };
    assert_eq!(app.apply(added), [newest]);
    assert!(
        labels(&app).contains(&"#crew".to_owned()),
        "{:?}",
        labels(&app)
    );
    let notice = app.active().lines.last().expect("a notice");
    assert_eq!(notice.body, "bob added you to #crew");
}
