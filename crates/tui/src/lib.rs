//! Natter's terminal UI as a library with no networking.
//!
//! [`App`] holds everything `natter chat` shows: conversations with unread
//! counts, users online (●) and offline (○), messages with time, sender and
//! ticks (⏳ ✓ ✓✓), the input line and the connection status. The program
//! feeds it key presses ([`App::on_key`]), typed lines ([`App::submit_line`],
//! also used by `--plain`) and [`AppEvent`]s — the client library's own
//! `ClientEvent`s, unchanged, and the outcomes of actions ([`App::apply`]); each call returns the [`Action`]s to carry out, whose
//! outcomes come back as events. [`draw`] renders the state with ratatui,
//! so tests render into a `TestBackend` and compare screens.
#![warn(missing_docs)]

mod actions;
mod app;
mod apply;
mod command;
mod e2e;
mod files;
mod io;
mod jump;
mod keys;
mod marks;
mod model;
mod moderation;
mod render;
mod sidebar;
mod text;

pub use app::{App, HISTORY_PAGE};
pub use command::{COMMANDS, Command, Input, ParseError, parse};
pub use files::{Transfer, size_text};
pub use io::{Action, AppEvent};
pub use model::{ChatLine, Conversation};
pub use render::draw;
pub use text::{CONTINUATION, clock, message_text, safe_name, transcript_line};

/// Re-exported so programs build key events with the same crossterm version.
pub use crossterm;
