//! User-controlled text in log lines: truncated and escaped, so a peer can
//! neither flood the log with long strings nor forge lines with newlines or
//! terminal escapes.

use std::fmt;

/// Characters of user text kept in a log line; the rest is counted.
const KEEP: usize = 40;

/// Wraps user text for a log field: `%user_text(&name)` prints at most
/// [`KEEP`] characters, every control, format (bidi, zero-width) or
/// non-ASCII-printable character escaped Rust-style (`\n`, `\u{1b}`), and
/// `…(+N)` when it was cut.
pub(crate) fn user_text(text: &str) -> UserText<'_> {
    UserText(text)
}

/// See [`user_text`].
pub(crate) struct UserText<'a>(&'a str);

impl fmt::Display for UserText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(KEEP) {
            if c.is_ascii_graphic() || c == ' ' {
                f.write_str(c.encode_utf8(&mut [0; 4]))?;
            } else {
                write!(f, "{}", c.escape_default())?;
            }
        }
        let rest = chars.count();
        if rest > 0 {
            write!(f, "…(+{rest})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_unchanged() {
        assert_eq!(user_text("alice_B-2").to_string(), "alice_B-2");
    }

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        let forged = "x\n2026-01-01 INFO login ok user=admin\u{1b}]0;pwn\u{7}\u{202e}";
        let shown = user_text(forged).to_string();
        assert!(!shown.chars().any(|c| c.is_control()), "{shown}");
        assert!(shown.starts_with("x\\n2026"), "{shown}");
    }

    #[test]
    fn long_text_is_cut_and_counted() {
        let shown = user_text(&"a".repeat(150_000)).to_string();
        assert_eq!(shown, format!("{}…(+{})", "a".repeat(KEEP), 150_000 - KEEP));
    }
}
