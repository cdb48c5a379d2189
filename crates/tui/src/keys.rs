//! Keys: line editing, Tab completion, scrolling, switching conversations.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::app::App;
use crate::command::COMMANDS;
use crate::io::Action;

impl App {
    /// Handles one key press; returns the actions it causes.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Action> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('c') if ctrl => self.submit_line("/quit"),
            KeyCode::Char('n') if ctrl => self.cycle(1),
            KeyCode::Char('p') if ctrl => self.cycle(-1),
            KeyCode::Down if alt => self.cycle(1),
            KeyCode::Up if alt => self.cycle(-1),
            KeyCode::Char('u') if ctrl => self.edit(|text, cursor| {
                text.clear();
                *cursor = 0;
            }),
            KeyCode::Char(c) if !ctrl && !alt => self.edit(|text, cursor| insert(text, cursor, c)),
            KeyCode::Enter => self.enter(),
            KeyCode::Tab => self.complete(),
            KeyCode::PageUp => self.scroll_up(),
            KeyCode::PageDown => self.scroll_down(),
            code => self.edit(|text, cursor| move_or_delete(text, cursor, code)),
        }
    }

    fn edit(&mut self, f: impl FnOnce(&mut String, &mut usize)) -> Vec<Action> {
        f(&mut self.input, &mut self.cursor);
        self.typing_actions()
    }

    fn enter(&mut self) -> Vec<Action> {
        let line = std::mem::take(&mut self.input);
        self.cursor = 0;
        self.sent_line();
        self.submit_line(&line)
    }

    fn cycle(&mut self, step: isize) -> Vec<Action> {
        let n = self.convs.len() as isize;
        let next = (self.active as isize + step).rem_euclid(n);
        self.select(next as usize)
    }

    fn scroll_up(&mut self) -> Vec<Action> {
        self.jump.focus = None;
        let page = self.page.max(1);
        let wanted = self.scroll.saturating_add(page);
        self.scroll = wanted.min(self.max_scroll);
        if wanted >= self.max_scroll {
            return self.request_older(self.active).into_iter().collect();
        }
        Vec::new()
    }

    fn scroll_down(&mut self) -> Vec<Action> {
        self.jump.focus = None;
        self.scroll = self.scroll.saturating_sub(self.page.max(1));
        Vec::new()
    }

    /// Completes the word before the cursor: a command name as the first
    /// word, else a user or group name. One match is completed with a
    /// trailing space; several are completed to their common prefix and
    /// listed in the status line.
    fn complete(&mut self) -> Vec<Action> {
        let before: String = self.input.chars().take(self.cursor).collect();
        let start_byte = before.rfind(' ').map_or(0, |i| i + 1);
        let word = &before[start_byte..];
        let start = before[..start_byte].chars().count();
        let candidates = self.candidates(word, start == 0);
        match candidates.as_slice() {
            [] => self.hint = Some("no completion".to_owned()),
            [only] => self.replace_word(start, &format!("{only} ")),
            many => {
                let prefix = common_prefix(many);
                self.replace_word(start, &prefix);
                self.hint = Some(many.join("  "));
            }
        }
        Vec::new()
    }

    fn candidates(&self, word: &str, first: bool) -> Vec<String> {
        let names: Vec<String> = if first && word.starts_with('/') {
            COMMANDS.iter().map(|(c, _)| (*c).to_owned()).collect()
        } else {
            self.names(word.starts_with('#'))
        };
        let lower = word.to_lowercase();
        let mut found: Vec<String> = names
            .into_iter()
            .filter(|n| n.to_lowercase().starts_with(&lower))
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// User names, or conversation labels (`#group`) when `hash`.
    fn names(&self, hash: bool) -> Vec<String> {
        if hash {
            return self.convs.iter().map(|c| c.name()).collect();
        }
        let users = self.users.values().map(|(user, _)| user.name.clone());
        let groups = self.convs.iter().filter_map(|c| match &c.kind {
            Some(natter_api::ConversationKind::Group { name, .. }) => Some(name.clone()),
            _ => None,
        });
        users.chain(groups).collect()
    }

    fn replace_word(&mut self, start: usize, with: &str) {
        let head: String = self.input.chars().take(start).collect();
        let tail: String = self.input.chars().skip(self.cursor).collect();
        self.input = format!("{head}{with}{tail}");
        self.cursor = head.chars().count() + with.chars().count();
    }
}

fn insert(text: &mut String, cursor: &mut usize, c: char) {
    let at = byte_index(text, *cursor);
    text.insert(at, c);
    *cursor += 1;
}

fn move_or_delete(text: &mut String, cursor: &mut usize, code: KeyCode) {
    let len = text.chars().count();
    match code {
        KeyCode::Left => *cursor = cursor.saturating_sub(1),
        KeyCode::Right => *cursor = (*cursor + 1).min(len),
        KeyCode::Home => *cursor = 0,
        KeyCode::End => *cursor = len,
        KeyCode::Backspace if *cursor > 0 => {
            *cursor -= 1;
            text.remove(byte_index(text, *cursor));
        }
        KeyCode::Delete if *cursor < len => {
            text.remove(byte_index(text, *cursor));
        }
        _ => {}
    }
}

fn byte_index(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| i)
}

/// Longest case-insensitive common prefix, spelled as in the first name.
fn common_prefix(names: &[String]) -> String {
    let first = &names[0];
    let mut len = first.chars().count();
    for name in &names[1..] {
        let same = first
            .chars()
            .zip(name.chars())
            .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
            .count();
        len = len.min(same);
    }
    first.chars().take(len).collect()
}
