//! `natter history`: one page of a conversation, oldest first.

use natter_api::{Anchor, HistoryQuery, Order};
use serde_json::json;

use super::common::{self, Home, block_on, client_fail};
use super::output::{label, message_json, message_line, print_json};
use super::{HistoryArgs, find_conversation};
use crate::exit::Fail;

/// Runs `natter history`.
pub(crate) fn history(args: HistoryArgs) -> Result<(), Fail> {
    block_on(async move {
        let home = Home::from_env()?;
        let session = common::open(&args.common, &home, false).await?;
        let info = find_conversation(&session.client, session.server, &args.dest.dest()).await?;
        let anchor = match (args.before, args.after) {
            (_, Some(after)) => Anchor::After(after),
            (before, None) => Anchor::Before(before.unwrap_or(u64::MAX)),
        };
        let query = HistoryQuery {
            conv: info.id,
            anchor,
            limit: args.limit,
            order: Order::OldestFirst,
        };
        let page = session.client.history(query).await;
        let page = page.map_err(|e| client_fail(session.server, "cannot read the history", e))?;
        let name = label(&info);
        if args.json {
            let messages: Vec<_> = page.iter().map(|m| message_json(&name, m)).collect();
            print_json(&json!({ "conversation": name, "conv": info.id.0, "messages": messages }));
        } else {
            page.iter()
                .for_each(|m| println!("{}", message_line(&name, m)));
        }
        Ok(())
    })
}
