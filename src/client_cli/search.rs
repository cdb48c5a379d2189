//! `natter search TEXT [--with USER | --group NAME | --lobby]`: messages I
//! may read that contain TEXT (ignoring case), newest first, one page.

use natter_api::{ConversationId, SearchCursor, SearchHit, search_text};
use serde_json::{Value, json};

use super::common::{self, ClientArgs, Home, block_on, client_fail};
use super::output::{body_text, print_json, safe, utc};
use super::{Dest, find_conversation};
use crate::exit::{Fail, USAGE};

/// `natter search`.
#[derive(Debug, clap::Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    #[command(flatten)]
    pub(crate) dest: SearchDest,
    /// Results stored before this message (`--before` as printed after a
    /// full page: CONV:SEQ).
    #[arg(long, value_name = "CONV:SEQ", value_parser = parse_cursor)]
    pub(crate) before: Option<SearchCursor>,
    /// At most N results (the server caps it at 100).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) limit: u32,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// What to find (at least 3 characters); several words are joined
    /// with spaces and found as one piece of text.
    #[arg(required = true, value_name = "TEXT")]
    pub(crate) text: Vec<String>,
}

/// Where `natter search` looks (default: everywhere I may read).
#[derive(Debug, clap::Args)]
#[group(required = false, multiple = false)]
pub(crate) struct SearchDest {
    /// Only the direct conversation with USER.
    #[arg(long, value_name = "USER")]
    pub(crate) with: Option<String>,
    /// Only the group NAME.
    #[arg(long, value_name = "NAME")]
    pub(crate) group: Option<String>,
    /// Only the lobby.
    #[arg(long)]
    pub(crate) lobby: bool,
}

impl SearchDest {
    fn dest(&self) -> Option<Dest> {
        match (&self.with, &self.group, self.lobby) {
            (Some(u), _, _) => Some(Dest::User(u.clone())),
            (None, Some(g), _) => Some(Dest::Group(g.clone())),
            (None, None, true) => Some(Dest::Lobby),
            (None, None, false) => None,
        }
    }
}

/// Parses `CONV:SEQ`.
fn parse_cursor(text: &str) -> Result<SearchCursor, String> {
    let number = |s: &str| s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
    match text.split_once(':') {
        Some((conv, seq)) => Ok(SearchCursor {
            conv: ConversationId(number(conv)?),
            seq: number(seq)?,
        }),
        None => Err("expected CONV:SEQ (as printed after a full page)".into()),
    }
}

/// Runs `natter search`.
pub(crate) fn search(args: SearchArgs) -> Result<(), Fail> {
    let text = args.text.join(" ");
    search_text(&text).map_err(|e| Fail::new(USAGE, e.to_string()))?;
    block_on(async move {
        let s = common::open(&args.common, &Home::from_env()?, false).await?;
        let conv = match args.dest.dest() {
            Some(dest) => Some(find_conversation(&s.client, s.server, &dest).await?.id),
            None => None,
        };
        let page = s.client.search(&text, conv, args.before, args.limit).await;
        let page = page.map_err(|e| client_fail(s.server, "cannot search", e))?;
        let next = page.next.map(|c| format!("{}:{}", c.conv.0, c.seq));
        if args.json {
            let hits: Vec<Value> = page.hits.iter().map(hit_json).collect();
            print_json(&json!({ "hits": hits, "next": next }));
        } else {
            page.hits.iter().for_each(|h| println!("{}", hit_line(h)));
            if let Some(next) = next {
                println!("-- more: natter search --before {next} …");
            }
        }
        Ok(())
    })
}

/// `TIME CONVERSATION #SEQ SENDER: SNIPPET`, like a history line.
fn hit_line(h: &SearchHit) -> String {
    let from = h.sender.as_ref().map_or("*", |u| u.name.as_str());
    let (time, conv) = (utc(h.ts_ms), Dest::from(&h.kind).label());
    format!(
        "{time} {conv} #{} {}: {}",
        h.seq,
        safe(from),
        body_text(&h.snippet)
    )
}

fn hit_json(h: &SearchHit) -> Value {
    json!({
        "conversation": Dest::from(&h.kind).label(),
        "conv": h.conv.0,
        "seq": h.seq,
        "ts_ms": h.ts_ms,
        "from": h.sender.as_ref().map(|u| u.name.as_str()),
        "snippet": h.snippet,
    })
}
