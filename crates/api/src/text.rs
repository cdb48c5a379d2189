//! Text from other users made safe for a terminal.
//!
//! Message bodies, user and group names, and error messages that echo a
//! server come from peers; printed as is, an ESC, OSC or CSI sequence could
//! clear the screen or change the window title, a CR or a bidi override could
//! forge what a line appears to say. Every place that shows such text on a
//! terminal (the CLI and the TUI) passes it through [`printable`] (multi-line
//! text) or [`printable_line`] (one line).
//!
//! C0 controls and DEL are shown in caret notation, like `cat -v` (`^[` for
//! ESC, `^M` for CR, `^G` for BEL, `^?` for DEL: plain ASCII, so no byte of
//! the output is an 8-bit control either); every other control (C1), bidi
//! override/isolate and invisible format character becomes U+FFFD `�`. Tabs
//! become spaces up to the next multiple of [`TAB_WIDTH`] columns.
//! Zero-width joiner and non-joiner stay: emoji sequences and several
//! scripts need them, and they move no cursor.

use std::borrow::Cow;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Tab stops of [`printable`], in characters.
pub const TAB_WIDTH: usize = 8;

/// Shown instead of a control, bidi or invisible format character that has
/// no control picture.
pub const REPLACEMENT: char = '\u{FFFD}';

/// `text` with every control character except `\n` replaced by a visible
/// character and tabs expanded; borrowed when nothing needed replacing.
/// Lines stay lines: callers print continuation lines so that they cannot
/// pass for new entries (see the CLI's and the TUI's message lines).
pub fn printable(text: &str) -> Cow<'_, str> {
    render(text, true)
}

/// [`printable`] text whose lines after the first start with
/// `continuation`, so that none of them can pass for an entry of its own
/// (the CLI's and the TUI's message bodies).
pub fn printable_indented(text: &str, continuation: &str) -> String {
    printable(text).replace('\n', &format!("\n{continuation}"))
}

/// Like [`printable`], for a single line: `\n` is replaced too (by `^J`).
pub fn printable_line(text: &str) -> Cow<'_, str> {
    render(text, false)
}

/// Whether [`printable`] changes `c` (a tab or an unsafe character; `\n`
/// is not counted).
pub fn is_unsafe(c: char) -> bool {
    c != '\n' && (c.is_ascii_control() || is_invisible(c))
}

fn render(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let clean = |c: char| {
        if c == '\n' {
            keep_newlines
        } else {
            !is_unsafe(c)
        }
    };
    if text.chars().all(clean) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut column = 0;
    for c in text.chars() {
        match c {
            '\n' if keep_newlines => {
                out.push('\n');
                column = 0;
            }
            '\t' => {
                let pad = TAB_WIDTH - column % TAB_WIDTH;
                out.extend(std::iter::repeat_n(' ', pad));
                column += pad;
            }
            _ => column += push_visible(&mut out, c),
        }
    }
    Cow::Owned(out)
}

/// Appends `c`, or its visible stand-in; returns how many characters that
/// took.
fn push_visible(out: &mut String, c: char) -> usize {
    if c.is_ascii_control() {
        // ESC (0x1B) -> `^[`, DEL (0x7F) -> `^?`: the caret and `c ^ 0x40`.
        out.push('^');
        out.push(char::from(c as u8 ^ 0x40));
        2
    } else if is_invisible(c) {
        out.push(REPLACEMENT);
        1
    } else {
        out.push(c);
        1
    }
}

/// C1 controls, format characters (bidi controls, zero-width space, BOM,
/// tags, …; not the joiners), and the line and paragraph separators.
fn is_invisible(c: char) -> bool {
    !matches!(c, '\u{200C}' | '\u{200D}')
        && matches!(
            c.general_category(),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_pictures_and_clean_text_is_borrowed() {
        assert!(matches!(printable("héllo 👋\nbob"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[2Jb\u{7}"), "a^[[2Jb^G");
        assert_eq!(printable("hi\r\nbob: x"), "hi^M\nbob: x");
        assert_eq!(printable_line("a\nb"), "a^Jb");
        assert_eq!(printable("\u{9b}31m\u{7f}\u{8}\0"), "\u{FFFD}31m^?^H^@");
    }

    #[test]
    fn bidi_and_invisible_characters_are_replaced_joiners_kept() {
        let text = "\u{202E}evil\u{2066}x\u{2069}\u{200B}\u{FEFF}\u{E0041}\u{2028}";
        assert_eq!(printable(text), "�evil�x�����");
        let family = "👨\u{200D}👩\u{200D}👧";
        assert_eq!(printable(family), family);
    }

    #[test]
    fn tabs_expand_to_the_next_stop_per_line() {
        assert_eq!(printable("ab\tc"), "ab      c");
        assert_eq!(printable("x\n\ty"), "x\n        y");
        assert_eq!(printable("\u{1b}\tz"), "^[      z");
        assert_eq!(printable_line("\t"), "        ");
    }
}
