//! Search in history, typing indicators and read markers (issue 12): the
//! records and limits their requests and events use.

use serde::{Deserialize, Serialize};

use crate::types::{ConversationId, ConversationKind, Seq, UserInfo};

/// Shortest search text, in characters (Unicode scalar values) after
/// trimming: the index is made of 3-character pieces (trigrams), so shorter
/// text cannot use it and is refused with `bad_request`.
pub const MIN_SEARCH_CHARS: usize = 3;

/// Longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 256;

/// Largest page of search results; bigger limits are capped to it.
pub const MAX_SEARCH_LIMIT: u32 = 100;

/// Longest snippet of a search hit, in characters (plus "…" marks).
pub const MAX_SNIPPET_CHARS: usize = 160;

/// A client sends [`crate::Request::Typing`] at most this often (ms) while
/// its user types; the server drops faster ones per connection and
/// conversation.
pub const TYPING_INTERVAL_MS: u64 = 3_000;

/// A receiver forgets a "typing" state this long (ms) after its last
/// [`crate::Event::Typing`] unless a new one arrives.
pub const TYPING_EXPIRY_MS: u64 = 6_000;

/// What to search: see [`crate::Request::Search`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// The text to find ([`MIN_SEARCH_CHARS`]–[`MAX_SEARCH_CHARS`]
    /// characters after trimming), matched as a substring, ignoring case.
    pub query: String,
    /// Only this conversation; `None`: every conversation the caller may read.
    pub conv: Option<ConversationId>,
    /// Results stored before this one (the `next` of the previous page);
    /// `None` for the first page. A cursor naming a message that no longer
    /// exists (its group was deleted) ends the search: an empty page.
    pub before: Option<SearchCursor>,
    /// Most hits wanted (capped at [`MAX_SEARCH_LIMIT`]).
    pub limit: u32,
}

/// A position in the results of a search: the message (conversation and
/// seq) after which the next page starts. Results are newest first in the
/// order the server stored the messages (their time order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchCursor {
    /// Its conversation.
    pub conv: ConversationId,
    /// Its seq.
    pub seq: Seq,
}

/// One message that matched a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Where it is.
    pub conv: ConversationId,
    /// What kind of conversation that is (the group's name, the direct's peer).
    pub kind: ConversationKind,
    /// Its seq (a client can open history there).
    pub seq: Seq,
    /// Who wrote it.
    pub sender: Option<UserInfo>,
    /// Server time (ms since the Unix epoch).
    pub ts_ms: u64,
    /// Up to [`MAX_SNIPPET_CHARS`] characters of the body around the first
    /// match, with "…" where it was cut. User text: print it sanitized.
    pub snippet: String,
}

impl SearchHit {
    /// The cursor to ask for the results after this one.
    pub fn cursor(&self) -> SearchCursor {
        SearchCursor {
            conv: self.conv,
            seq: self.seq,
        }
    }
}

/// Why a search text is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SearchTextError {
    /// Fewer than [`MIN_SEARCH_CHARS`] characters.
    #[error("search needs at least {MIN_SEARCH_CHARS} characters")]
    TooShort,
    /// More than [`MAX_SEARCH_CHARS`] characters.
    #[error("search text is longer than {MAX_SEARCH_CHARS} characters")]
    TooLong,
}

/// The search text as the server uses it (trimmed), or why it is refused.
pub fn search_text(query: &str) -> Result<&str, SearchTextError> {
    let text = query.trim();
    let chars = text.chars().count();
    if chars < MIN_SEARCH_CHARS {
        Err(SearchTextError::TooShort)
    } else if chars > MAX_SEARCH_CHARS {
        Err(SearchTextError::TooLong)
    } else {
        Ok(text)
    }
}

/// The snippet of `body` around byte range `at` (a match): at most
/// [`MAX_SNIPPET_CHARS`] characters, "…" where cut, line breaks as spaces.
pub fn snippet(body: &str, at: std::ops::Range<usize>) -> String {
    let start = body.get(..at.start).map_or(0, |b| b.chars().count());
    let total = body.chars().count();
    let before = (MAX_SNIPPET_CHARS / 3).min(start);
    let first = start - before;
    let last = (first + MAX_SNIPPET_CHARS).min(total);
    let mut out = String::new();
    if first > 0 {
        out.push('…');
    }
    let piece = body.chars().skip(first).take(last - first);
    out.extend(piece.map(|c| if c == '\n' || c == '\r' { ' ' } else { c }));
    if last < total {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_trimmed_and_bounded() {
        assert_eq!(search_text("  abc "), Ok("abc"));
        assert_eq!(search_text("ab"), Err(SearchTextError::TooShort));
        assert_eq!(search_text("  ab   "), Err(SearchTextError::TooShort));
        assert_eq!(search_text("東京都"), Ok("東京都"));
        let long = "x".repeat(MAX_SEARCH_CHARS + 1);
        assert_eq!(search_text(&long), Err(SearchTextError::TooLong));
    }

    #[test]
    fn snippets_are_cut_around_the_match() {
        assert_eq!(snippet("hello world", 6..11), "hello world");
        let body = format!("{}needle{}", "a".repeat(300), "b\nc".repeat(100));
        let s = snippet(&body, 300..306);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("needle") && !s.contains('\n'), "{s}");
        assert_eq!(s.chars().count(), MAX_SNIPPET_CHARS + 2);
        let cjk = "東京都".repeat(100);
        assert!(snippet(&cjk, 0..9).starts_with("東京都"));
    }
}
