//! `natter edit` and `natter delete`: change one stored message, named by
//! its conversation (as `natter send` names it) and its seq (the `#N`
//! `natter history` prints). Exits once the change is stored (✓).

use natter_api::{ConversationInfo, Sent};
use serde_json::json;

use super::common::{self, ClientArgs, Home, LoggedIn, block_on, client_fail};
use super::output::print_json;
use super::{Dest, SendDest, find_conversation};
use crate::exit::Fail;

/// `natter edit`.
#[derive(Debug, clap::Args)]
pub(crate) struct EditArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    #[command(flatten)]
    pub(crate) dest: SendDest,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// The message to edit: its seq, as `natter history` shows it (#SEQ).
    #[arg(value_name = "SEQ")]
    pub(crate) seq: u64,
    /// The new text; several words are joined with spaces.
    #[arg(required = true, value_name = "TEXT")]
    pub(crate) text: Vec<String>,
}

/// `natter delete`.
#[derive(Debug, clap::Args)]
pub(crate) struct DeleteArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    #[command(flatten)]
    pub(crate) dest: SendDest,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// The message to delete: its seq, as `natter history` shows it (#SEQ).
    #[arg(value_name = "SEQ")]
    pub(crate) seq: u64,
}

/// Runs `natter edit`.
pub(crate) fn edit(args: EditArgs) -> Result<(), Fail> {
    block_on(async move {
        let (session, info) = open(&args.common, &args.dest).await?;
        let text = args.text.join(" ");
        let sent = session.client.edit_message(info.id, args.seq, text).await;
        let sent =
            sent.map_err(|e| client_fail(session.server, "the message was not edited", e))?;
        report("edited", &info, args.seq, &sent, args.json);
        Ok(())
    })
}

/// Runs `natter delete`.
pub(crate) fn delete(args: DeleteArgs) -> Result<(), Fail> {
    block_on(async move {
        let (session, info) = open(&args.common, &args.dest).await?;
        let sent = session.client.delete_message(info.id, args.seq).await;
        let sent =
            sent.map_err(|e| client_fail(session.server, "the message was not deleted", e))?;
        report("deleted", &info, args.seq, &sent, args.json);
        Ok(())
    })
}

/// Logs in and finds the conversation (exit 4 if I am not in it).
async fn open(common: &ClientArgs, dest: &SendDest) -> Result<(LoggedIn, ConversationInfo), Fail> {
    let home = Home::from_env()?;
    let session = common::open(common, &home, false).await?;
    let info = find_conversation(&session.client, session.server, &dest.dest()).await?;
    Ok((session, info))
}

/// `✓ edited #crew #5 (entry #7)`, or one JSON object.
fn report(state: &str, info: &ConversationInfo, seq: u64, sent: &Sent, json: bool) {
    let conversation = Dest::from(&info.kind).label();
    if json {
        print_json(&json!({
            "state": state, "conversation": conversation, "conv": info.id.0,
            "seq": seq, "entry_seq": sent.seq, "ts_ms": sent.ts_ms,
        }));
    } else {
        println!("✓ {state} {conversation} #{seq} (entry #{})", sent.seq);
    }
}
