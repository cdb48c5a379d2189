//! Account rules shared by client (early feedback) and server (enforcement).

use crate::error::ErrorCode;

/// Longest user name, in bytes (names are ASCII).
pub const MAX_NAME_LEN: usize = 32;
/// Shortest password, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
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

/// Longest group name, in characters.
pub const MAX_GROUP_NAME_LEN: usize = 64;

/// `Ok` when `name` has 1–64 characters, none of them a control character,
/// and does not start or end with whitespace; else [`ErrorCode::InvalidName`].
pub fn validate_group_name(name: &str) -> Result<(), ErrorCode> {
    let len = name.chars().count();
    let trimmed = name.trim() == name;
    if (1..=MAX_GROUP_NAME_LEN).contains(&len) && trimmed && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(ErrorCode::InvalidName)
    }
}

/// `Ok` when `password` has at least 8 characters, else [`ErrorCode::WeakPassword`].
pub fn validate_password(password: &str) -> Result<(), ErrorCode> {
    if password.chars().count() >= MIN_PASSWORD_LEN {
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
    fn passwords() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password("éééééééé").is_ok());
        assert_eq!(validate_password("1234567"), Err(ErrorCode::WeakPassword));
    }
}
