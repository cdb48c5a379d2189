//! `natter sessions`: list my login sessions (the current one marked), and
//! `natter sessions revoke ID`: end one of them everywhere at once.

use natter_api::SessionInfo;
use serde_json::json;

use super::common::{self, ClientArgs, Home, block_on, client_fail};
use super::output::{print_json, safe, utc};
use crate::exit::Fail;

/// `natter sessions [revoke ID]`.
#[derive(Debug, clap::Args)]
pub(crate) struct SessionsArgs {
    #[command(subcommand)]
    pub(crate) command: Option<SessionsCommand>,
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What to do with the sessions (default: list them).
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SessionsCommand {
    /// End session ID (see `natter sessions`): its token stops working and
    /// its connections end at once.
    Revoke {
        #[command(flatten)]
        common: ClientArgs,
        /// The session's id, as `natter sessions` lists it.
        id: u64,
    },
}

/// Lists the sessions, or revokes one.
pub(crate) fn sessions(args: SessionsArgs) -> Result<(), Fail> {
    match args.command {
        None => block_on(list(args.common, args.json)),
        Some(SessionsCommand::Revoke { common, id }) => block_on(revoke(common, id)),
    }
}

async fn list(args: ClientArgs, json: bool) -> Result<(), Fail> {
    let home = Home::from_env()?;
    let session = common::open(&args, &home, false).await?;
    let list = session.client.sessions().await;
    let list = list.map_err(|e| client_fail(session.server, "cannot list sessions", e))?;
    if json {
        let rows: Vec<_> = list.iter().map(session_json).collect();
        print_json(&json!({ "sessions": rows }));
        return Ok(());
    }
    println!(
        "  {:>6}  {:<19}  {:<19}  FROM",
        "ID", "CREATED (UTC)", "LAST USED (UTC)"
    );
    for s in &list {
        println!("{}", session_line(s));
    }
    Ok(())
}

async fn revoke(args: ClientArgs, id: u64) -> Result<(), Fail> {
    let home = Home::from_env()?;
    let session = common::open(&args, &home, false).await?;
    let fail = |e| client_fail(session.server, &format!("cannot revoke session {id}"), e);
    let list = session.client.sessions().await.map_err(fail)?;
    let current = list.iter().any(|s| s.id == id && s.current);
    session.client.revoke_session(id).await.map_err(fail)?;
    if current {
        let name = args.user()?;
        let _ = std::fs::remove_file(home.session_file(session.server, name));
        println!("revoked session {id} (this one: the next command logs in again)");
    } else {
        println!("revoked session {id}");
    }
    Ok(())
}

/// One table row: `* ID CREATED LAST_USED FROM` (`*` marks the current one).
fn session_line(s: &SessionInfo) -> String {
    let mark = if s.current { '*' } else { ' ' };
    let from = s.last_addr.as_deref().map_or("-".into(), safe);
    let (created, used) = (utc(s.created_ms), utc(s.last_used_ms));
    format!("{mark} {:>6}  {created}  {used}  {from}", s.id)
}

fn session_json(s: &SessionInfo) -> serde_json::Value {
    json!({
        "id": s.id,
        "created_ms": s.created_ms,
        "last_used_ms": s.last_used_ms,
        "last_addr": s.last_addr,
        "current": s.current,
    })
}
