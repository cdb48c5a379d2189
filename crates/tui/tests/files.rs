//! File transfer in the TUI (issue 14): `/file`, `/accept`, `/reject`
//! become actions; offers show with the commands that answer them; the
//! uploader hears each recipient's result; transfers show in the status line.

mod support;

use natter_api::{Event, FileId, FileOffer, FileState, Target};
use natter_tui::{Action, App, AppEvent, Transfer};
use support::*;

fn offer(id: u64, name: &str, size: u64) -> FileOffer {
    FileOffer {
        id: FileId(id),
        name: name.to_owned(),
        size,
        media_type: "application/pdf".to_owned(),
        hash: "ab".repeat(32),
    }
}

fn notice_of(app: &App) -> String {
    let line = app.active().lines.last().expect("a line");
    assert!(line.sender.is_none(), "not a notice: {line:?}");
    line.body.clone()
}

fn transfer(done: u64, ended: bool) -> AppEvent {
    AppEvent::Transfer(Transfer {
        key: "/tmp/report.pdf".into(),
        upload: true,
        name: "report.pdf".into(),
        done,
        total: 200,
        ended,
    })
}

#[test]
fn file_commands_become_actions() {
    let mut app = alice();
    app.select(1);
    let send = Action::SendFile {
        target: Target::Conversation(WITH_BOB),
        path: "~/My Documents/a b.pdf".into(),
    };
    assert_eq!(app.submit_line("/file ~/My Documents/a b.pdf"), [send]);
    let accept = Action::AcceptFile {
        id: FileId(12),
        out: None,
    };
    assert_eq!(app.submit_line("/accept 12"), [accept]);
    let to = Action::AcceptFile {
        id: FileId(12),
        out: Some("copy.pdf".into()),
    };
    assert_eq!(app.submit_line("/accept #12 copy.pdf"), [to]);
    assert_eq!(
        app.submit_line("/reject 7"),
        [Action::RejectFile(FileId(7))]
    );
    assert!(app.submit_line("/accept x").is_empty());
    assert_eq!(notice_of(&app), "not a file id: x");
    assert!(app.submit_line("/file").is_empty());
    assert_eq!(notice_of(&app), "usage: /file PATH");
    assert!(app.submit_line("/reject").is_empty());
    assert_eq!(notice_of(&app), "usage: /reject ID");
}

#[test]
fn an_offer_shows_how_to_answer_it_and_names_are_sanitized() {
    let mut app = alice();
    app.select(1);
    let mut m = message(WITH_BOB, 1, "bob", "📎 report.pdf (1572864 bytes)");
    m.file = Some(offer(7, "report\u{1b}[31m.pdf", 1_572_864));
    app.apply(Event::Message(m));
    let rows = screen(&mut app, 100, 12);
    let text = show(&rows);
    assert!(
        text.contains("bob: offers report^[[31m.pdf (1.5 MiB): /accept 7 to download, /reject 7"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no escape reaches the terminal");
}

#[test]
fn the_uploader_hears_each_recipients_result_in_the_files_conversation() {
    let mut app = alice();
    let mut m = message(WITH_BOB, 1, "alice", "📎 report.pdf");
    m.file = Some(offer(7, "report.pdf", 100));
    app.apply(Event::Message(m));
    assert_eq!(app.active_index(), 0, "the lobby is shown");
    let update = |state| Event::FileUpdate {
        id: FileId(7),
        user: user("bob"),
        state,
    };
    app.apply(update(FileState::Delivered));
    app.apply(update(FileState::Rejected));
    let lines: Vec<&str> = app.conversations()[1]
        .lines
        .iter()
        .map(|l| l.body.as_str())
        .collect();
    assert_eq!(
        lines,
        [
            "offered report.pdf (100 B) [file 7]",
            "report.pdf: delivered intact to bob",
            "report.pdf: rejected by bob",
        ]
    );
    app.apply(Event::FileUpdate {
        id: FileId(99),
        user: user("carol"),
        state: FileState::Corrupted,
    });
    assert_eq!(notice_of(&app), "file 99: arrived CORRUPTED at carol");
}

#[test]
fn a_transfer_shows_its_progress_in_the_status_line_until_it_ends() {
    let mut app = alice();
    app.apply(transfer(90, false));
    let rows = screen(&mut app, 80, 12);
    assert_eq!(
        rows[10],
        " connected │ alice │ #lobby │ upload report.pdf 45%",
        "{}",
        show(&rows)
    );
    app.apply(transfer(200, true));
    let rows = screen(&mut app, 80, 12);
    assert_eq!(rows[10], " connected │ alice │ #lobby", "{}", show(&rows));
}
