//! Search figures (ignored by default): FTS5 trigram search through the
//! store against a plain `LIKE` scan of the same SQLite file (newest first,
//! stopping at the page size too), measured in the same run. Run with
//! `cargo test --release -p natter-store --test search_bench -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use natter_store::conformance::{new_user, text};
use natter_store::prelude::*;
use natter_store::{NewMessage, SearchQuery, SqliteStore};

/// Messages stored.
const MESSAGES: u32 = 100_000;
const WORDS: &[&str] = &[
    "hello",
    "meeting",
    "tomorrow",
    "lunch",
    "привет",
    "завтра",
    "встреча",
    "東京",
    "会議",
    "ok",
    "thanks",
    "🎉",
    "deploy",
    "review",
    "coffee",
    "later",
    "sure",
    "release",
];

/// A deterministic body: 6–15 words; every 1000th carries "zebra", the
/// 8th "quokka" (one hit, among the oldest).
fn body(n: u32, seed: &mut u64) -> String {
    let mut next = || {
        *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (*seed >> 33) as usize
    };
    let len = 6 + next() % 10;
    let mut words: Vec<&str> = (0..len).map(|_| WORDS[next() % WORDS.len()]).collect();
    if n.is_multiple_of(1000) {
        words.push("zebra");
    }
    if n == 7 {
        words.push("quokka");
    }
    words.join(" ")
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort_unstable();
    runs[runs.len() / 2]
}

fn time(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut found = 0;
    let runs = (0..15)
        .map(|_| {
            let start = Instant::now();
            found = f();
            start.elapsed()
        })
        .collect();
    (median(runs), found)
}

#[test]
#[ignore = "a measurement: run with --release -- --ignored --nocapture"]
fn fts_search_against_a_like_scan() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let path = dir.path().join("bench.db");
    let store = SqliteStore::open(&path).expect("open");
    let a = new_user(&store, "a").id;
    let lobby = store.lobby();
    let mut seed = 42;
    let fill = Instant::now();
    for chunk in 0..MESSAGES / 500 {
        let batch: Vec<NewMessage> = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                let mut m = text(lobby, a, 0, &body(n, &mut seed));
                m.client_id[..4].copy_from_slice(&n.to_be_bytes());
                m.client_id[15] = 1;
                m
            })
            .collect();
        store.append(&batch).expect("append");
    }
    println!("stored {MESSAGES} messages in {:?}", fill.elapsed());
    let index = Instant::now();
    let mut indexed = 0;
    loop {
        let n = store.index_pending(2048).expect("index");
        if n == 0 {
            break;
        }
        indexed += n;
    }
    let per = index.elapsed() / indexed.max(1) as u32;
    println!("indexed {indexed} in chunks of 2 048 (the writer's): {per:?} per message");
    let raw = rusqlite::Connection::open(&path).expect("raw connection");
    for (word, limit) in [
        ("meeting", 20),
        ("встреча", 20),
        ("zebra", 20),
        ("quokka", 20),
        ("nowhere", 20),
        ("meeting tomorrow", 20),
        ("tomorrow meeting lunch coffee", 20),
        ("hello hello hello", 20),
    ] {
        let q = SearchQuery {
            user: a,
            text: word.into(),
            conv: None,
            before: None,
            limit,
        };
        let (fts, hits) = time(|| store.search(&q).expect("search").len());
        let like = "SELECT count(*) FROM (SELECT seq FROM messages
                    WHERE body LIKE '%' || ?1 || '%' ORDER BY rowid DESC LIMIT ?2)";
        let (scan, found) = time(|| {
            raw.query_row(like, (word, limit), |r| r.get::<_, i64>(0))
                .expect("like") as usize
        });
        println!("{word:>8}: search {fts:?} ({hits} hits) vs LIKE scan {scan:?} ({found})");
    }
}
