//! `natter group kick|ban|unban|mute|unmute|promote|demote|transfer|
//! settings|delete|bans`: group moderation from the command line.

use natter_api::{BanInfo, GroupSettingsInfo, ModAction, SettingsChange};
use serde_json::json;

use super::common::{ClientArgs, Home, LoggedIn, client_fail};
use super::output::{print_json, safe};
use crate::exit::{Fail, USAGE};

/// A group and a user it is about.
#[derive(Debug, clap::Args)]
pub(crate) struct GroupUserArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Group name.
    pub(crate) name: String,
    /// The user (not called `user`, which is the global `-u/--user`).
    #[arg(value_name = "USER")]
    pub(crate) member: String,
    /// Why (recorded in the group's log; at most 200 characters).
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

/// `natter group kick`.
#[derive(Debug, clap::Args)]
pub(crate) struct KickArgs {
    #[command(flatten)]
    pub(crate) target: GroupUserArgs,
    /// Only remove them: they are not banned and may come back.
    #[arg(long)]
    pub(crate) no_ban: bool,
}

/// `natter group settings`.
#[derive(Debug, clap::Args)]
pub(crate) struct SettingsArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Group name.
    pub(crate) name: String,
    /// Rename the group.
    #[arg(long, value_name = "NAME")]
    pub(crate) rename: Option<String>,
    /// Set the topic ("" clears it).
    #[arg(long)]
    pub(crate) topic: Option<String>,
    /// Anyone may join.
    #[arg(long, conflicts_with = "invite_only")]
    pub(crate) public: bool,
    /// Only invited users may join.
    #[arg(long)]
    pub(crate) invite_only: bool,
    /// Who may invite: `admins` or `members`.
    #[arg(long, value_name = "WHO", value_parser = ["admins", "members"])]
    pub(crate) invites: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `natter group delete`.
#[derive(Debug, clap::Args)]
pub(crate) struct GroupDeleteArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Group name.
    pub(crate) name: String,
    /// Yes, delete it for everyone with its whole history.
    #[arg(long)]
    pub(crate) yes: bool,
}

/// `natter group bans`.
#[derive(Debug, clap::Args)]
pub(crate) struct BansArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Group name.
    pub(crate) name: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Which user action a [`GroupUserArgs`] subcommand is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verb {
    Ban,
    Unban,
    Mute,
    Unmute,
    Promote,
    Demote,
    Transfer,
}

async fn session(args: &ClientArgs) -> Result<LoggedIn, Fail> {
    super::common::open(args, &Home::from_env()?, false).await
}

/// Runs one user action and prints what was done.
pub(crate) async fn user_action(args: GroupUserArgs, verb: Verb) -> Result<(), Fail> {
    let user = args.member.clone();
    let (action, done) = match verb {
        Verb::Ban => (ModAction::Ban { user }, "banned"),
        Verb::Unban => (ModAction::Unban { user }, "unbanned"),
        Verb::Mute => (ModAction::Mute { user }, "muted"),
        Verb::Unmute => (ModAction::Unmute { user }, "unmuted"),
        Verb::Promote => (ModAction::Promote { user }, "promoted to admin:"),
        Verb::Demote => (ModAction::Demote { user }, "demoted to member:"),
        Verb::Transfer => (ModAction::Transfer { user }, "made the owner:"),
    };
    run(&args, action, done).await
}

/// `natter group kick`.
pub(crate) async fn kick(args: KickArgs) -> Result<(), Fail> {
    let user = args.target.member.clone();
    let ban = !args.no_ban;
    let done = if ban { "kicked and banned" } else { "kicked" };
    run(&args.target, ModAction::Kick { user, ban }, done).await
}

async fn run(args: &GroupUserArgs, action: ModAction, done: &str) -> Result<(), Fail> {
    let s = session(&args.common).await?;
    let g = super::groups::my_group(&s.client, s.server, &args.name).await?;
    let result = s
        .client
        .moderate(g.id, action, args.reason.as_deref())
        .await;
    let what = format!("cannot {} in {}", done.trim_end_matches(':'), args.name);
    result.map_err(|e| client_fail(s.server, &what, e))?;
    println!("{done} {} in #{}", safe(&args.member), safe(&g.name));
    Ok(())
}

/// `natter group settings`: shows them, or changes what is given.
pub(crate) async fn settings(args: SettingsArgs) -> Result<(), Fail> {
    let s = session(&args.common).await?;
    let g = super::groups::my_group(&s.client, s.server, &args.name).await?;
    let change = SettingsChange {
        name: args.rename.clone(),
        topic: args.topic.clone(),
        public: match (args.public, args.invite_only) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        admins_only_invite: args.invites.as_deref().map(|w| w == "admins"),
    };
    let what = format!("cannot change the settings of {}", args.name);
    let info = if change.is_empty() {
        s.client.group_settings(g.id).await
    } else {
        s.client.change_settings(g.id, change).await
    };
    let info = info.map_err(|e| client_fail(s.server, &what, e))?;
    if args.json {
        print_json(&settings_json(&info));
    } else {
        settings_lines(&info).iter().for_each(|l| println!("{l}"));
    }
    Ok(())
}

fn settings_json(info: &GroupSettingsInfo) -> serde_json::Value {
    json!({
        "name": info.name,
        "topic": info.topic,
        "public": info.public,
        "invites": if info.admins_only_invite { "admins" } else { "members" },
    })
}

/// A group's settings as lines for a terminal (peer text made safe).
pub(crate) fn settings_lines(info: &GroupSettingsInfo) -> Vec<String> {
    let visibility = if info.public { "public" } else { "invite-only" };
    let invites = if info.admins_only_invite {
        "admins only"
    } else {
        "every member"
    };
    vec![
        format!("#{} ({visibility})", safe(&info.name)),
        format!("topic:   {}", safe(&info.topic)),
        format!("invites: {invites}"),
    ]
}

/// `natter group delete GROUP --yes`.
pub(crate) async fn delete_group(args: GroupDeleteArgs) -> Result<(), Fail> {
    if !args.yes {
        let text = format!(
            "deleting {} ends it for every member and its history is gone: add --yes",
            args.name
        );
        return Err(Fail::new(USAGE, text));
    }
    let s = session(&args.common).await?;
    let g = super::groups::my_group(&s.client, s.server, &args.name).await?;
    let done = s.client.delete_group(g.id).await;
    done.map_err(|e| client_fail(s.server, &format!("cannot delete {}", args.name), e))?;
    println!("deleted #{}", safe(&g.name));
    Ok(())
}

/// `natter group bans GROUP`.
pub(crate) async fn bans(args: BansArgs) -> Result<(), Fail> {
    let s = session(&args.common).await?;
    let g = super::groups::my_group(&s.client, s.server, &args.name).await?;
    let list = s.client.bans(g.id).await;
    let what = format!("cannot list the bans of {}", args.name);
    let list = list.map_err(|e| client_fail(s.server, &what, e))?;
    if args.json {
        let bans: Vec<_> = list
            .iter()
            .map(|b| json!({"user": b.user.name, "by": b.by.name, "reason": b.reason, "at_ms": b.at_ms}))
            .collect();
        print_json(&json!({"group": g.name, "bans": bans}));
    } else {
        ban_lines(&list).iter().for_each(|l| println!("{l}"));
    }
    Ok(())
}

/// A ban list as lines for a terminal (peer text made safe).
pub(crate) fn ban_lines(list: &[BanInfo]) -> Vec<String> {
    if list.is_empty() {
        return vec!["nobody is banned".to_owned()];
    }
    let line = |b: &BanInfo| {
        let reason = b.reason.as_deref().map(|r| format!(": {}", safe(r)));
        let reason = reason.unwrap_or_default();
        format!("{:<20} by {}{reason}", safe(&b.user.name), safe(&b.by.name))
    };
    list.iter().map(line).collect()
}

/// `{"type": "removed", ...}` and `-- removed from #club by olga (banned) --`
/// for [`natter_api::Event::Removed`]; `name` is already terminal-safe.
pub(crate) fn removed(
    name: &str,
    by: &str,
    kind: natter_api::Removal,
    reason: Option<&str>,
) -> (serde_json::Value, String) {
    use natter_api::Removal;
    let (what, line) = match kind {
        Removal::Kicked => ("kicked", format!("removed from {name} by {}", safe(by))),
        Removal::Banned => (
            "banned",
            format!("removed and banned from {name} by {}", safe(by)),
        ),
        Removal::GroupDeleted => (
            "group_deleted",
            format!("{name} was deleted by {}", safe(by)),
        ),
    };
    let why = reason
        .map(|r| format!(" (reason: {})", safe(r)))
        .unwrap_or_default();
    let v =
        json!({"type": "removed", "conversation": name, "by": by, "kind": what, "reason": reason});
    (v, format!("-- {line}{why} --"))
}
