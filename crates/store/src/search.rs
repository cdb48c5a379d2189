//! Search in message text, and read cursors as others see them (issue 12).

use crate::{ConvId, Message, Result, UserId};

/// Shortest search text in characters: shorter text matches nothing (the
/// SQLite index is made of 3-character pieces).
pub const MIN_SEARCH_CHARS: usize = 3;

/// A message named as a position in search results (see [`Search::search`]
/// for their order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SearchPos {
    /// Its conversation.
    pub conv: ConvId,
    /// Its seq.
    pub seq: u64,
}

impl SearchPos {
    /// The position of `m`.
    pub fn of(m: &Message) -> Self {
        Self {
            conv: m.conv,
            seq: m.seq,
        }
    }
}

/// Parameters of [`Search::search`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    /// Whose view: only messages this user may read.
    pub user: UserId,
    /// The text, matched as a substring ignoring case (see
    /// [`find_ignoring_case`]); fewer than [`MIN_SEARCH_CHARS`] characters
    /// match nothing. Every backend folds case as its index does, so at the
    /// edges of Unicode they may differ: SQLite's trigram tokenizer folds
    /// with an older table (`ς` as `σ`, `ſ` as `s`; no Cherokee or
    /// Georgian Mtavruli capitals), PostgreSQL's `lower()` treats a final
    /// `Σ` as `ς`. Scripts in everyday use (Latin, Cyrillic, Greek apart
    /// from the final sigma, CJK, emoji) match alike everywhere
    /// (conformance `search_ignores_case_alike_before_and_after_indexing`).
    pub text: String,
    /// Only this conversation.
    pub conv: Option<ConvId>,
    /// Only messages stored before this one (the next page); a position
    /// naming no stored message matches nothing.
    pub before: Option<SearchPos>,
    /// At most this many; clamped to [`crate::MAX_PAGE`].
    pub limit: u32,
}

/// Full-text search over message bodies.
pub trait Search {
    /// Text messages ([`crate::MsgKind::Text`], not system messages or
    /// empty bodies) whose body contains `q.text` ignoring case, that
    /// `q.user` may read — in every conversation where they have a
    /// membership row, within its readable range ([`crate::Member::may_read`]:
    /// from the join point, up to the leave point once left) — newest first
    /// in the order they were appended (across conversations), stored
    /// before `q.before`, at most `q.limit`. The filter is part of the
    /// query, so pages are full.
    fn search(&self, q: &SearchQuery) -> Result<Vec<Message>>;

    /// Feeds the search index with at most `max` messages appended (or
    /// changed) since it was last brought up to date, in a transaction of
    /// its own, and returns how many it took: fewer than `max` means the
    /// index is current. Results of [`Search::search`] never depend on it
    /// (a backend with a lagging index also scans what it lacks); it only
    /// moves the indexing cost out of [`crate::Messages::append`], so the
    /// caller runs it when the writer is idle, and often enough that the
    /// lag (what a search scans unindexed) stays short. A backend whose
    /// index follows every write in its own transaction returns 0.
    fn index_pending(&self, max: usize) -> Result<usize> {
        let _ = max;
        Ok(0)
    }
}

/// Read cursors of other members (the "seen" marks and read receipts).
pub trait ReadMarks {
    /// Raises the read cursor of `user` in `conv` like
    /// [`crate::Cursors::set_read`] and returns `(before, after)`: its value
    /// before and after, atomically (so a caller can tell others only when
    /// it rose).
    fn raise_read(&self, user: UserId, conv: ConvId, seq: u64) -> Result<(u64, u64)>;

    /// `(user, read)` of every current member of `conv` (0 where never
    /// set), ordered by user id.
    fn read_cursors(&self, conv: ConvId) -> Result<Vec<(UserId, u64)>>;
}

/// The byte range of the first occurrence of `needle` in `haystack`,
/// comparing characters by their simple lowercase form (a character whose
/// lowercase is several characters compares as itself): the reference
/// semantics of [`Search::search`], also used to cut result snippets.
pub fn find_ignoring_case(haystack: &str, needle: &str) -> Option<std::ops::Range<usize>> {
    let needle: Vec<char> = needle.chars().map(fold).collect();
    if needle.is_empty() {
        return None;
    }
    let hay: Vec<(usize, char)> = haystack.char_indices().collect();
    let end_of = |i: usize| hay.get(i).map_or(haystack.len(), |h| h.0);
    (0..hay.len())
        .find(|&i| {
            let window = hay.get(i..i + needle.len());
            window.is_some_and(|w| w.iter().zip(&needle).all(|(h, n)| fold(h.1) == *n))
        })
        .map(|i| hay[i].0..end_of(i + needle.len()))
}

/// The simple lowercase form of `c`.
fn fold(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ignoring_case_in_any_script() {
        assert_eq!(find_ignoring_case("Hello World", "WORLD"), Some(6..11));
        assert_eq!(find_ignoring_case("Привет, МИР", "мир"), Some(14..20));
        assert_eq!(find_ignoring_case("東京都に住む", "京都"), Some(3..9));
        assert_eq!(find_ignoring_case("party 🎉🎉 time", "🎉 t"), Some(10..16));
        assert_eq!(find_ignoring_case("abc", "abcd"), None);
        assert_eq!(find_ignoring_case("abc", ""), None);
    }
}
