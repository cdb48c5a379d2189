//! Who is in which group, and the body format that carries the send time.

use std::time::Duration;

/// Group membership: `groups[g]` lists the client indexes of group `g`.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) groups: Vec<Vec<usize>>,
}

impl Plan {
    /// `groups` groups of `members` clients each, assigned round robin
    /// (group g holds clients g·M, g·M+1, … modulo the number of clients).
    pub(crate) fn new(clients: usize, groups: usize, members: usize) -> Self {
        let members = members.min(clients);
        let groups = (0..groups)
            .map(|g| (0..members).map(|i| (g * members + i) % clients).collect())
            .collect();
        Self { groups }
    }

    /// The groups client `c` is a member of.
    pub(crate) fn groups_of(&self, c: usize) -> Vec<usize> {
        (0..self.groups.len())
            .filter(|&g| self.groups[g].contains(&c))
            .collect()
    }

    /// Clients that are in at least one group (they send).
    pub(crate) fn senders(&self, clients: usize) -> usize {
        (0..clients)
            .filter(|&c| !self.groups_of(c).is_empty())
            .count()
    }
}

/// Words that pad a body: chat-like text for the server's search index.
/// A run of one letter (the earlier padding) is a pathological input for
/// SQLite's FTS5 with `secure-delete`: a trigram repeated 64 times or more
/// in one body sends every flush down its delete path (about 3× the
/// indexing cost per message, a cost real chat text does not have).
const WORDS: [&str; 16] = [
    "see", "you", "at", "the", "standup", "after", "lunch", "shipping", "build", "looks", "green",
    "review", "my", "patch", "please", "thanks",
];

/// A body of at least `size` bytes: `"<sender> <nanos since start> "` then
/// words (where in [`WORDS`] they start varies with the time).
pub(crate) fn body(sender: usize, since_start: Duration, size: usize) -> String {
    let nanos = since_start.as_nanos();
    let mut text = format!("{sender} {nanos} ");
    let header = text.len();
    let first = (nanos % WORDS.len() as u128) as usize;
    for word in WORDS.iter().cycle().skip(first) {
        if text.len() >= size {
            break;
        }
        text.push_str(word);
        text.push(' ');
    }
    text.truncate(size.max(header));
    text
}

/// Reads back what [`body`] wrote; `None` for anything else.
pub(crate) fn parse_body(text: &str) -> Option<(usize, Duration)> {
    let mut parts = text.split(' ');
    let sender = parts.next()?.parse().ok()?;
    let nanos: u64 = parts.next()?.parse().ok()?;
    Some((sender, Duration::from_nanos(nanos)))
}

/// Spacing between two sends of one sender for `rate` messages/s in total
/// over `senders` senders; `None` for 0 (as fast as possible).
pub(crate) fn pace(rate: f64, senders: usize) -> Option<Duration> {
    (rate > 0.0 && senders > 0).then(|| Duration::from_secs_f64(senders as f64 / rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_groups() {
        let plan = Plan::new(4, 2, 3);
        assert_eq!(plan.groups, vec![vec![0, 1, 2], vec![3, 0, 1]]);
        assert_eq!(plan.groups_of(0), vec![0, 1]);
        assert_eq!(plan.senders(4), 4);
        assert_eq!(Plan::new(10, 1, 3).senders(10), 3);
    }

    #[test]
    fn bodies_round_trip() {
        let text = body(7, Duration::from_micros(1500), 100);
        assert_eq!(text.len(), 100);
        assert_eq!(parse_body(&text), Some((7, Duration::from_micros(1500))));
        assert_eq!(parse_body("hello world"), None);
        let short = body(7, Duration::from_micros(1500), 4);
        assert_eq!(parse_body(&short), Some((7, Duration::from_micros(1500))));
        let words = body(1, Duration::from_nanos(3), 1000);
        assert!(words.len() == 1000 && !words.contains("xxx"), "{words}");
        assert_eq!(pace(100.0, 4), Some(Duration::from_millis(40)));
        assert_eq!(pace(0.0, 4), None);
    }
}
