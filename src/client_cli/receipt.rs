//! `natter receipt (--with USER | --group NAME | --lobby) SEQ`: who has a
//! message, who not yet, and who has read it.

use natter_api::UserInfo;
use serde_json::json;

use super::common::{self, ClientArgs, Home, block_on, client_fail};
use super::output::{print_json, safe};
use super::{Dest, HistoryDest, find_conversation};
use crate::exit::Fail;

/// `natter receipt`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReceiptArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    #[command(flatten)]
    pub(crate) dest: HistoryDest,
    /// The message (its seq, as `natter history` shows it).
    #[arg(value_name = "SEQ")]
    pub(crate) seq: u64,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `natter receipt`.
pub(crate) fn receipt(args: ReceiptArgs) -> Result<(), Fail> {
    block_on(async move {
        let s = common::open(&args.common, &Home::from_env()?, false).await?;
        let info = find_conversation(&s.client, s.server, &args.dest.dest()).await?;
        let view = s.client.receipt_view(info.id, args.seq).await;
        let what = format!("cannot show the receipt of #{}", args.seq);
        let view = view.map_err(|e| client_fail(s.server, &what, e))?;
        let name = Dest::from(&info.kind).label();
        if args.json {
            print_json(&json!({
                "conversation": name,
                "conv": info.id.0,
                "seq": args.seq,
                "delivered": names(&view.delivered),
                "pending": names(&view.pending),
                "read": names(&view.read),
            }));
        } else {
            println!("{name} #{}", args.seq);
            println!("  read by:      {}", list(&view.read));
            println!("  delivered to: {}", list(&view.delivered));
            println!("  pending:      {}", list(&view.pending));
        }
        Ok(())
    })
}

fn names(users: &[UserInfo]) -> Vec<&str> {
    users.iter().map(|u| u.name.as_str()).collect()
}

/// `bob, carol` (terminal-safe), or `-` for nobody.
fn list(users: &[UserInfo]) -> String {
    if users.is_empty() {
        return "-".to_owned();
    }
    let names: Vec<_> = users.iter().map(|u| safe(&u.name)).collect();
    names.join(", ")
}
