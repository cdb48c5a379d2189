//! The full-screen UI: crossterm keys in, ratatui frames out.

use crossterm::event::Event;
use natter_tui::{App, draw};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use super::{Bridge, Inputs};
use crate::exit::Fail;

/// Runs the UI until `/quit` or Ctrl-C; the terminal is restored on every way out.
pub(super) async fn run(bridge: Bridge, inputs: Inputs, app: App) -> Result<(), Fail> {
    let terminal = ratatui::init();
    let result = run_on(terminal, bridge, inputs, app).await;
    ratatui::restore();
    result
}

async fn run_on(
    mut terminal: DefaultTerminal,
    bridge: Bridge,
    mut inputs: Inputs,
    mut app: App,
) -> Result<(), Fail> {
    let mut keys = read_terminal();
    // Redraws about once a second so typing indicators expire on screen.
    let mut clock = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        terminal.draw(|frame| draw(frame, &mut app))?;
        let mut actions = tokio::select! {
            Some(input) = keys.recv() => {
                app.set_now(std::time::Instant::now());
                on_input(&mut app, input)
            }
            Some(event) = inputs.next() => {
                app.set_now(std::time::Instant::now());
                app.apply(event)
            }
            _ = clock.tick(), if !keys.is_closed() => {
                app.set_now(std::time::Instant::now());
                Vec::new()
            }
            else => return Ok(()),
        };
        while let Some(event) = inputs.ready() {
            actions.extend(app.apply(event)); // a burst (sync) draws once
        }
        if app.should_quit() || !bridge.execute(actions).await {
            return Ok(());
        }
    }
}

fn on_input(app: &mut App, input: Event) -> Vec<natter_tui::Action> {
    match input {
        Event::Key(key) => app.on_key(key),
        Event::Paste(text) => text.lines().flat_map(|l| app.submit_line(l)).collect(),
        _ => Vec::new(), // resize and the like: the loop redraws
    }
}

/// Reads terminal events on a thread of its own (crossterm's reads block).
fn read_terminal() -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(event) = crossterm::event::read() {
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    rx
}
