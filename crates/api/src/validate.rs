//! Account rules shared by client (early feedback) and server (enforcement).

use crate::error::ErrorCode;

/// Longest user name, in bytes (names are ASCII).
pub const MAX_NAME_LEN: usize = 32;
/// Shortest password, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password, in bytes (UTF-8). Longer ones are refused before any
/// hashing: `password_too_long` at register and password change,
/// `bad_credentials` at login.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Largest history page the server returns.
pub const MAX_HISTORY_LIMIT: u32 = 500;

/// `Ok` when `name` is 1–32 of `[A-Za-z0-9_-]`, else [`ErrorCode::InvalidName`].
pub fn validate_name(name: &str) -> Result<(), ErrorCode> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if (1..=MAX_NAME_LEN).contains(&name.len()) && name.chars().all(ok_char) {
        Ok(())
    } else {
        Err(ErrorCode::InvalidName)
    }
}

/// Longest group name, in characters (after NFKC normalisation).
pub const MAX_GROUP_NAME_LEN: usize = 64;

/// Why a group name is refused (all map to [`ErrorCode::InvalidName`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupNameError {
    /// Empty or longer than [`MAX_GROUP_NAME_LEN`] characters.
    #[error("a group name has 1 to 64 characters")]
    Length,
    /// Starts or ends with whitespace.
    #[error("a group name must not start or end with a space")]
    Edges,
    /// Contains a control character (newline, ESC, …).
    #[error("a group name must not contain control characters")]
    Control,
    /// Contains an invisible character: zero-width, bidi override or
    /// embedding, another format character, a blank filler, a space other
    /// than U+0020, or an unassigned or private-use code point.
    #[error(
        "a group name must not contain invisible, zero-width or bidirectional-control characters"
    )]
    Invisible,
}

impl From<GroupNameError> for ErrorCode {
    fn from(_: GroupNameError) -> Self {
        Self::InvalidName
    }
}

/// The NFKC form of `name` if it is a valid group name: 1–64 characters,
/// no leading or trailing whitespace, no control or invisible characters
/// (see [`GroupNameError::Invisible`]). The server stores and compares this
/// form; uniqueness among groups is by its confusable skeleton.
pub fn normalize_group_name(name: &str) -> Result<String, GroupNameError> {
    use unicode_normalization::UnicodeNormalization;
    // NFKC expands a character to at most 18; anything longer is refused unread.
    if name.chars().count() > MAX_GROUP_NAME_LEN * 18 {
        return Err(GroupNameError::Length);
    }
    let name: String = name.nfkc().collect();
    if !(1..=MAX_GROUP_NAME_LEN).contains(&name.chars().count()) {
        return Err(GroupNameError::Length);
    }
    if name.chars().any(char::is_control) {
        return Err(GroupNameError::Control);
    }
    if name.chars().any(is_invisible) {
        return Err(GroupNameError::Invisible);
    }
    if name.trim() != name {
        return Err(GroupNameError::Edges);
    }
    Ok(name)
}

/// Characters that show nothing (or nothing reliable) and could make two
/// names look the same. Variation selectors 15 and 16 (emoji vs text style)
/// stay allowed: the confusable skeleton ignores them.
fn is_invisible(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    match c.general_category() {
        G::Format | G::Unassigned | G::PrivateUse | G::Surrogate => true,
        G::LineSeparator | G::ParagraphSeparator => true,
        G::SpaceSeparator => c != ' ',
        _ => matches!(
            c,
            '\u{034f}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0d}'
                | '\u{ffa0}'
                | '\u{e0100}'..='\u{e01ef}'
        ),
    }
}

/// `Ok` when [`normalize_group_name`] accepts `name`, else [`ErrorCode::InvalidName`].
pub fn validate_group_name(name: &str) -> Result<(), ErrorCode> {
    normalize_group_name(name)
        .map(drop)
        .map_err(ErrorCode::from)
}

/// `Ok` when `password` has at least 8 characters and at most 1024 bytes,
/// else [`ErrorCode::WeakPassword`] or [`ErrorCode::PasswordTooLong`].
pub fn validate_password(password: &str) -> Result<(), ErrorCode> {
    if password.len() > MAX_PASSWORD_LEN {
        Err(ErrorCode::PasswordTooLong)
    } else if password.chars().count() >= MIN_PASSWORD_LEN {
        Ok(())
    } else {
        Err(ErrorCode::WeakPassword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("a").is_ok());
        assert!(validate_name("Alice_B-2").is_ok());
        assert!(validate_name(&"x".repeat(32)).is_ok());
        for bad in ["", "a b", "é", "a.b", &"x".repeat(33)] {
            assert_eq!(validate_name(bad), Err(ErrorCode::InvalidName), "{bad:?}");
        }
    }

    #[test]
    fn group_names() {
        assert!(validate_group_name("Rust fans 🦀").is_ok());
        assert!(validate_group_name(&"é".repeat(64)).is_ok());
        for bad in ["", " x", "x ", "a\nb", &"x".repeat(65)] {
            assert_eq!(
                validate_group_name(bad),
                Err(ErrorCode::InvalidName),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn group_names_are_nfkc_normalised() {
        assert_eq!(normalize_group_name("ｔｅａｍ").unwrap(), "team");
        assert_eq!(
            normalize_group_name("e\u{301}t\u{e9}").unwrap(),
            "\u{e9}t\u{e9}"
        );
        assert_eq!(
            normalize_group_name("Rust fans 🦀").unwrap(),
            "Rust fans 🦀"
        );
        assert_eq!(
            normalize_group_name("love ❤\u{fe0f}").unwrap(),
            "love ❤\u{fe0f}"
        );
        assert_eq!(
            normalize_group_name("a\u{a0}b").unwrap(),
            "a b",
            "NBSP is a space"
        );
        assert_eq!(normalize_group_name("a\u{3000}b").unwrap(), "a b");
    }

    #[test]
    fn invisible_and_bidi_characters_are_refused() {
        let invisible = [
            "team\u{200b}",
            "te\u{200d}am",
            "\u{202e}team",
            "team\u{2066}x",
            "\u{feff}team",
            "te\u{ad}am",
            "te\u{2060}am",
            "team\u{3164}",
            "team\u{115f}",
            "te\u{2800}am",
            "a\u{2028}b",
            "te\u{e000}am",
            "te\u{fe00}am",
            "te\u{e0041}am",
        ];
        for bad in invisible {
            assert_eq!(
                normalize_group_name(bad),
                Err(GroupNameError::Invisible),
                "{bad:?}"
            );
            assert_eq!(validate_group_name(bad), Err(ErrorCode::InvalidName));
        }
        assert_eq!(
            normalize_group_name("a\u{1b}[2J"),
            Err(GroupNameError::Control)
        );
        assert_eq!(normalize_group_name(" team"), Err(GroupNameError::Edges));
        let long = "x".repeat(MAX_GROUP_NAME_LEN * 100);
        assert_eq!(normalize_group_name(&long), Err(GroupNameError::Length));
        // U+FDFA expands to 18 characters under NFKC: 4 of them make 72.
        assert_eq!(
            normalize_group_name(&"\u{fdfa}".repeat(4)),
            Err(GroupNameError::Length)
        );
    }

    #[test]
    fn passwords() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password("éééééééé").is_ok());
        assert_eq!(validate_password("1234567"), Err(ErrorCode::WeakPassword));
        assert!(validate_password(&"x".repeat(MAX_PASSWORD_LEN)).is_ok());
        let long = "x".repeat(MAX_PASSWORD_LEN + 1);
        assert_eq!(validate_password(&long), Err(ErrorCode::PasswordTooLong));
        // 342 three-byte characters: 1026 bytes.
        let wide = "€".repeat(342);
        assert_eq!(validate_password(&wide), Err(ErrorCode::PasswordTooLong));
    }
}
