//! Drawing the app with ratatui.
//!
//! ```text
//! ┌Conversations───┐┌#lobby──────────────────────┐
//! │> #lobby        ││12:01 alice: hi ✓✓           │
//! │  @bob (2)      ││                             │
//! └────────────────┘│                             │
//! ┌Users───────────┐│                             │
//! │● alice         ││                             │
//! │○ bob           ││                             │
//! └────────────────┘└─────────────────────────────┘
//!  connected │ alice │ #lobby
//! > input
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::App;
use crate::text::{message_text, safe_name};
use natter_api::OutgoingState;

/// Width of the left panel (conversations and users).
const SIDE_WIDTH: u16 = 20;

/// Draws the whole screen; remembers the message view's size for scrolling.
pub fn draw(frame: &mut Frame<'_>, app: &mut App) {
    let [main, status, input] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let [side, messages] =
        Layout::horizontal([Constraint::Length(SIDE_WIDTH), Constraint::Min(10)]).areas(main);
    draw_side(frame, app, side);
    draw_messages(frame, app, messages);
    draw_status(frame, app, status);
    draw_input(frame, app, input);
}

fn draw_side(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let wanted = app.convs.len() as u16 + 2;
    let [convs, users] = Layout::vertical([
        Constraint::Length(wanted.min(area.height.saturating_sub(3)).max(3)),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(conversation_list(app), convs);
    frame.render_widget(user_list(app), users);
}

fn conversation_list(app: &App) -> Paragraph<'static> {
    let lines: Vec<Line<'static>> = app
        .convs
        .iter()
        .enumerate()
        .map(|(i, conv)| {
            let marker = if i == app.active { "> " } else { "  " };
            let unread = conv.unread(&app.me);
            let count = if unread > 0 {
                format!(" ({unread})")
            } else {
                String::new()
            };
            let style = if i == app.active {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            Line::styled(format!("{marker}{}{count}", conv.label()), style)
        })
        .collect();
    Paragraph::new(lines).block(Block::bordered().title("Conversations"))
}

fn user_list(app: &App) -> Paragraph<'static> {
    let mut users: Vec<(&str, bool)> = app.users().collect();
    users.sort_by_key(|&(name, online)| (!online, name.to_lowercase()));
    let lines: Vec<Line<'static>> = users
        .into_iter()
        .map(|(name, online)| {
            let dot = if online { "● " } else { "○ " };
            Line::raw(format!("{dot}{}", safe_name(name)))
        })
        .collect();
    Paragraph::new(lines).block(Block::bordered().title("Users"))
}

fn draw_messages(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let conv = &app.convs[app.active];
    let seen = app.seen_line(app.active);
    let focused = app.focused_line();
    let mut focus_at = None;
    let mut lines: Vec<Line<'static>> = Vec::new();
    for (i, line) in conv.lines.iter().enumerate() {
        if focused == Some(i) {
            focus_at = Some(lines.len());
            let mark = Style::new().add_modifier(Modifier::REVERSED);
            lines.extend(message_lines(line).into_iter().map(|l| l.style(mark)));
        } else {
            lines.extend(message_lines(line));
        }
        if seen == Some(i) {
            let dim = Style::new().add_modifier(Modifier::DIM);
            lines.push(Line::styled("      seen", dim));
        }
    }
    let block = Block::bordered().title(conv.label());
    let inner = block.inner(area);
    let above = focus_at.map(|at| Paragraph::new(lines[..at].to_vec()).wrap(Wrap { trim: false }));
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total = paragraph.line_count(inner.width);
    let total = u16::try_from(total).unwrap_or(u16::MAX);
    app.page = inner.height.saturating_sub(1).max(1);
    app.max_scroll = total.saturating_sub(inner.height);
    if let Some(above) = above {
        let above = u16::try_from(above.line_count(inner.width)).unwrap_or(u16::MAX);
        app.scroll = app.max_scroll - above.saturating_sub(1).min(app.max_scroll);
    }
    app.scroll = app.scroll.min(app.max_scroll);
    let top = app.max_scroll - app.scroll;
    frame.render_widget(paragraph.block(block).scroll((top, 0)), area);
}

/// One screen line per line of the (terminal-safe) message text.
fn message_lines(line: &crate::model::ChatLine) -> Vec<Line<'static>> {
    let style = match (&line.sender, &line.tick) {
        (None, _) => Style::new().add_modifier(Modifier::DIM),
        _ if line.deleted => Style::new().add_modifier(Modifier::DIM | Modifier::ITALIC),
        (_, Some(OutgoingState::Pending | OutgoingState::Failed(_))) => {
            Style::new().add_modifier(Modifier::ITALIC)
        }
        _ => Style::new(),
    };
    let text = message_text(line);
    text.split('\n')
        .map(|part| Line::from(Span::styled(part.to_owned(), style)))
        .collect()
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let me = safe_name(&app.me).into_owned();
    let status = app
        .status
        .map_or_else(|| "connecting…".to_owned(), |s| s.to_string());
    let mut parts = vec![status, me, app.active().label()];
    let pending = app.pending();
    if pending > 0 {
        parts.push(format!("{pending} ⏳"));
    }
    if app.scroll > 0 {
        parts.push(format!("↑{}", app.scroll));
    }
    parts.extend(app.transfers_text());
    parts.extend(app.typing_text());
    parts.extend(app.hint.as_deref().map(|h| safe_name(h).into_owned()));
    let text = format!(" {}", parts.join(" │ "));
    let style = Style::new().add_modifier(Modifier::REVERSED);
    frame.render_widget(Paragraph::new(text).style(style), area);
}

fn draw_input(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let room = usize::from(area.width.saturating_sub(3)).max(1);
    let skip = app.cursor.saturating_sub(room);
    let shown: String = app.input.chars().skip(skip).collect();
    let shown = safe_name(&shown);
    frame.render_widget(Paragraph::new(format!("> {shown}")), area);
    let x = area.x + 2 + (app.cursor - skip) as u16;
    frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
}
