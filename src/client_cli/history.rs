//! `natter history`: one page of a conversation, oldest first.

use natter_api::{Anchor, HistoryQuery, Order};
use serde_json::json;

use super::common::{Home, block_on, client_fail};
use super::output::{message_json, message_line, print_json};
use super::{Dest, HistoryArgs, find_conversation};
use crate::exit::Fail;

/// Runs `natter history`.
pub(crate) fn history(args: HistoryArgs) -> Result<(), Fail> {
    block_on(async move {
        let home = Home::from_env()?;
        let (session, mut device) = super::e2e::open_if_device(&args.common, &home, false).await?;
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
        let name = Dest::from(&info.kind).label();
        let mut shown = Vec::with_capacity(page.len());
        for m in &page {
            if m.e2e.is_none() {
                shown.push((message_json(&name, m), message_line(&name, m)));
            } else if let Some(e2e) =
                super::e2e::render(&session, device.as_mut(), &name, m).await?
            {
                shown.push(e2e);
            }
        }
        if args.json {
            let messages: Vec<_> = shown.into_iter().map(|(v, _)| v).collect();
            let e2e = info.e2e;
            print_json(
                &json!({ "conversation": name, "conv": info.id.0, "e2e": e2e, "messages": messages }),
            );
        } else {
            if info.e2e {
                println!(
                    "-- {name} is end-to-end encrypted 🔒 (this device reads messages sent since it was added) --"
                );
            }
            shown.iter().for_each(|(_, line)| println!("{line}"));
        }
        Ok(())
    })
}
