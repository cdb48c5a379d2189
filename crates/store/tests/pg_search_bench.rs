//! Search figures on PostgreSQL (ignored by default): the store's search
//! (`pg_trgm` GIN index on the folded body) against the same query with
//! the planner kept off every index but the primary key (a scan newest
//! first), on one database in the same run. Run with
//! `cargo test --release -p natter-store --test pg_search_bench -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use natter_store::conformance::{new_user, text};
use natter_store::pg_harness::TestPostgres;
use natter_store::prelude::*;
use natter_store::{NewMessage, PgStore, SearchQuery};

/// Messages stored.
const MESSAGES: u32 = 50_000;
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

fn time(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut found = 0;
    let mut runs: Vec<Duration> = (0..9)
        .map(|_| {
            let start = Instant::now();
            found = f();
            start.elapsed()
        })
        .collect();
    runs.sort_unstable();
    (runs[runs.len() / 2], found)
}

/// The store's query without the trigram index (bitmap and GIN scans off).
const SCAN: &str = "SET enable_bitmapscan = off;";

#[test]
#[ignore = "a measurement: run with --release -- --ignored --nocapture"]
fn trigram_search_against_a_scan() {
    let Some(pg) = TestPostgres::shared() else {
        return;
    };
    let url = pg.url_for_new_db();
    let store = PgStore::connect(&url).expect("connect");
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
    let words = ["meeting", "встреча", "zebra", "quokka", "nowhere"];
    let scans = std::thread::spawn(move || scan_times(&url, &words, a.0))
        .join()
        .expect("scan thread");
    for (word, scan) in words.iter().zip(scans) {
        let q = SearchQuery {
            user: a,
            text: (*word).into(),
            conv: None,
            before: None,
            limit: 20,
        };
        let (indexed, hits) = time(|| store.search(&q).expect("search").len());
        println!(
            "{word:>8}: search {indexed:?} ({hits} hits) vs scan {:?} ({})",
            scan.0, scan.1
        );
    }
}

/// The same query as the store's, timed on a connection of its own with
/// the trigram index out of the planner's reach.
fn scan_times(url: &str, words: &[&str], user: i64) -> Vec<(Duration, usize)> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    client.batch_execute("ANALYZE messages").expect("analyze");
    client.batch_execute(SCAN).expect("planner settings");
    let sql = "SELECT count(*) FROM (SELECT m.seq FROM messages m
               WHERE natter_fold(m.body) LIKE natter_fold('%' || $1 || '%') AND m.kind = 0
                 AND EXISTS (SELECT 1 FROM members mb WHERE mb.user_id = $2
                             AND mb.conv_id = m.conv_id AND m.seq >= mb.joined_seq
                             AND (mb.left_seq IS NULL OR m.seq <= mb.left_seq))
               ORDER BY m.id DESC LIMIT 20) hits";
    words
        .iter()
        .map(|word| {
            time(|| {
                let row = client.query_one(sql, &[word, &user]).expect("scan");
                row.get::<_, i64>(0) as usize
            })
        })
        .collect()
}
