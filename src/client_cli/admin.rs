//! `natter admin …`: what whoever runs the server does.
//!
//! Live actions (users, disable, enable, reset-password, delete-messages,
//! stats) are requests over the normal protocol from an account the
//! server's configuration names in `[server] admins`, so the running
//! server acts at once (a disabled account's connections end). `backup`
//! and `restore` work on the data directory itself (see [`super::admin_files`]).

use std::path::PathBuf;

use natter_api::{AdminUserInfo, ServerStats};
use serde_json::json;

use super::common::{self, ClientArgs, Home, LoggedIn, SecretSource, block_on, client_fail};
use super::output::{print_json, safe, utc};
use crate::exit::Fail;

/// `natter admin …`.
#[derive(Debug, clap::Args)]
pub(crate) struct AdminArgs {
    #[command(subcommand)]
    pub(crate) command: AdminCommand,
}

/// One operator action. Live ones log in as `-u`, a server admin.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AdminCommand {
    /// List every account: last seen, login sessions, online, disabled, admin.
    Users {
        #[command(flatten)]
        common: ClientArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: its sessions end at once, its logins are refused.
    Disable {
        #[command(flatten)]
        common: ClientArgs,
        /// The account (not called `user`: that is the global `-u/--user`).
        #[arg(value_name = "USER")]
        account: String,
    },
    /// Enable a disabled account again.
    Enable {
        #[command(flatten)]
        common: ClientArgs,
        /// The account.
        #[arg(value_name = "USER")]
        account: String,
    },
    /// Set a new password for an account (read from --new-password-file,
    /// else NATTER_NEW_PASSWORD, else a prompt); its sessions end at once.
    ResetPassword {
        #[command(flatten)]
        common: ClientArgs,
        /// The account.
        #[arg(value_name = "USER")]
        account: String,
        /// Read the new password from the first line of FILE.
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
    /// Delete every message an account sent, everywhere (the text is
    /// erased; history shows "message deleted").
    DeleteMessages {
        #[command(flatten)]
        common: ClientArgs,
        /// The account.
        #[arg(value_name = "USER")]
        account: String,
    },
    /// Server statistics: users, conversations, messages, sessions, database size.
    Stats {
        #[command(flatten)]
        common: ClientArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy the database into FILE (SQLite's online backup: consistent
    /// while the server runs and writes) and the stored files (complete
    /// ones, from DATA/files) into FILE.files/.
    Backup(super::admin_files::BackupArgs),
    /// Replace the database of a STOPPED server with a backup (refused
    /// while a server uses the data directory); the replaced one is kept
    /// as natter.db.before-restore. Stored files in FILE.files/ are
    /// copied back into DATA/files.
    Restore(super::admin_files::RestoreArgs),
}

/// Runs one `natter admin` subcommand.
pub(crate) fn admin(args: AdminArgs) -> Result<(), Fail> {
    use AdminCommand as C;
    match args.command {
        C::Users { common, json } => block_on(users(common, json)),
        C::Disable { common, account } => block_on(set_disabled(common, account, true)),
        C::Enable { common, account } => block_on(set_disabled(common, account, false)),
        C::ResetPassword {
            common,
            account,
            new_password_file,
        } => block_on(reset_password(common, account, new_password_file)),
        C::DeleteMessages { common, account } => block_on(delete_messages(common, account)),
        C::Stats { common, json } => block_on(stats(common, json)),
        C::Backup(args) => super::admin_files::backup(&args),
        C::Restore(args) => super::admin_files::restore(&args),
    }
}

/// Logs in as `-u` (resuming a saved session).
async fn open(args: &ClientArgs) -> Result<LoggedIn, Fail> {
    let home = Home::from_env()?;
    common::open(args, &home, false).await
}

async fn users(args: ClientArgs, json: bool) -> Result<(), Fail> {
    let session = open(&args).await?;
    let list = session.client.admin_users().await;
    let list = list.map_err(|e| client_fail(session.server, "cannot list the users", e))?;
    if json {
        let rows: Vec<_> = list.iter().map(user_json).collect();
        print_json(&json!({ "users": rows }));
        return Ok(());
    }
    println!(
        "{:>6}  {:<32}  {:<19}  {:>8}  FLAGS",
        "ID", "NAME", "LAST SEEN (UTC)", "SESSIONS"
    );
    for u in &list {
        println!("{}", user_line(u));
    }
    Ok(())
}

/// One table row: `ID NAME LAST_SEEN SESSIONS FLAGS`.
fn user_line(u: &AdminUserInfo) -> String {
    let seen = u.last_seen_ms.map_or_else(|| "never".to_owned(), utc);
    let flags: Vec<&str> = [
        (u.online, "online"),
        (u.disabled, "disabled"),
        (u.server_admin, "admin"),
    ]
    .into_iter()
    .filter_map(|(on, flag)| on.then_some(flag))
    .collect();
    let flags = if flags.is_empty() {
        "-".to_owned()
    } else {
        flags.join(",")
    };
    let (id, name, sessions) = (u.user.id.0, safe(&u.user.name), u.sessions);
    format!("{id:>6}  {name:<32}  {seen:<19}  {sessions:>8}  {flags}")
}

fn user_json(u: &AdminUserInfo) -> serde_json::Value {
    json!({
        "id": u.user.id.0,
        "name": u.user.name,
        "created_ms": u.created_ms,
        "last_seen_ms": u.last_seen_ms,
        "sessions": u.sessions,
        "online": u.online,
        "disabled": u.disabled,
        "server_admin": u.server_admin,
    })
}

async fn set_disabled(args: ClientArgs, account: String, disabled: bool) -> Result<(), Fail> {
    let session = open(&args).await?;
    let what = if disabled { "disable" } else { "enable" };
    let done = session.client.admin_set_disabled(&account, disabled).await;
    let fail = |e| client_fail(session.server, &format!("cannot {what} {account}"), e);
    done.map_err(fail)?;
    match disabled {
        true => println!("disabled {}; its sessions have ended", safe(&account)),
        false => println!("enabled {}", safe(&account)),
    }
    Ok(())
}

async fn reset_password(
    args: ClientArgs,
    account: String,
    file: Option<PathBuf>,
) -> Result<(), Fail> {
    let source = SecretSource {
        file: file.as_deref(),
        flag: "--new-password-file",
        env: "NATTER_NEW_PASSWORD",
    };
    let prompt = format!("New password for {account}: ");
    let new = common::secret(&source, prompt, true).await?;
    let session = open(&args).await?;
    let done = session.client.admin_reset_password(&account, &new).await;
    let what = format!("cannot reset the password of {account}");
    done.map_err(|e| client_fail(session.server, &what, e))?;
    let who = safe(&account);
    println!("password of {who} reset; every session of {who} has ended");
    Ok(())
}

async fn delete_messages(args: ClientArgs, account: String) -> Result<(), Fail> {
    let session = open(&args).await?;
    let done = session.client.admin_delete_messages(&account).await;
    let what = format!("cannot delete the messages of {account}");
    let n = done.map_err(|e| client_fail(session.server, &what, e))?;
    println!("deleted {n} messages of {}", safe(&account));
    Ok(())
}

async fn stats(args: ClientArgs, json: bool) -> Result<(), Fail> {
    let session = open(&args).await?;
    let stats = session.client.admin_stats().await;
    let stats = stats.map_err(|e| client_fail(session.server, "cannot read statistics", e))?;
    if json {
        print_json(&stats_json(&stats));
        return Ok(());
    }
    let rows = [
        ("users", stats.users),
        ("disabled users", stats.disabled_users),
        ("conversations", stats.conversations),
        ("groups", stats.groups),
        ("messages", stats.messages),
        ("login sessions", stats.sessions),
        ("online connections", stats.online_connections),
        ("database bytes", stats.db_bytes),
    ];
    for (what, n) in rows {
        println!("{what:<20} {n}");
    }
    Ok(())
}

fn stats_json(s: &ServerStats) -> serde_json::Value {
    json!({
        "users": s.users,
        "disabled_users": s.disabled_users,
        "conversations": s.conversations,
        "groups": s.groups,
        "messages": s.messages,
        "sessions": s.sessions,
        "online_connections": s.online_connections,
        "db_bytes": s.db_bytes,
    })
}
