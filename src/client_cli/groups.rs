//! `natter group create|join|leave|invite|members` and `natter groups`.

use std::net::SocketAddr;

use natter_api::{GroupInfo, Role};
use natter_client::Client;
use serde_json::{Value, json};

use super::common::{self, Home, LoggedIn, block_on, client_fail};
use super::output::{print_json, safe};
use super::{GroupArgs, GroupCommand, ListArgs};
use crate::exit::{Fail, NOT_FOUND};

/// Runs one `natter group` subcommand.
pub(crate) fn group(args: GroupArgs) -> Result<(), Fail> {
    block_on(async move {
        match args.command {
            GroupCommand::Create {
                common,
                name,
                members,
                invite_only,
            } => {
                let s = session(&common).await?;
                let members: Vec<&str> = members.iter().map(String::as_str).collect();
                let g = s.client.create_group(&name, !invite_only, &members).await;
                let g = g.map_err(|e| {
                    client_fail(s.server, &format!("cannot create group {name}"), e)
                })?;
                println!(
                    "created #{} ({}, {} members)",
                    safe(&g.name),
                    visibility(&g),
                    g.members
                );
            }
            GroupCommand::Join { common, name } => {
                let s = session(&common).await?;
                let g = s.client.join_group(&name).await;
                let g =
                    g.map_err(|e| client_fail(s.server, &format!("cannot join group {name}"), e))?;
                println!("joined #{} ({} members)", safe(&g.name), g.members);
            }
            GroupCommand::Leave { common, name } => {
                let s = session(&common).await?;
                let g = my_group(&s.client, s.server, &name).await?;
                let left = s.client.leave_group(g.id).await;
                left.map_err(|e| client_fail(s.server, &format!("cannot leave group {name}"), e))?;
                println!("left #{}", safe(&g.name));
            }
            GroupCommand::Invite {
                common,
                name,
                member,
            } => {
                let s = session(&common).await?;
                let g = my_group(&s.client, s.server, &name).await?;
                let done = s.client.invite(g.id, &member).await;
                done.map_err(|e| {
                    client_fail(s.server, &format!("cannot invite {member} to {name}"), e)
                })?;
                println!("added {} to #{}", safe(&member), safe(&g.name));
            }
            GroupCommand::Members { common, name, json } => members(&common, &name, json).await?,
            other => moderation_command(other).await?,
        }
        Ok(())
    })
}

/// The moderation subcommands (see [`super::moderation`]).
async fn moderation_command(command: GroupCommand) -> Result<(), Fail> {
    use super::moderation::{self as m, Verb};
    match command {
        GroupCommand::Kick(args) => m::kick(args).await,
        GroupCommand::Ban(args) => m::user_action(args, Verb::Ban).await,
        GroupCommand::Unban(args) => m::user_action(args, Verb::Unban).await,
        GroupCommand::Mute(args) => m::user_action(args, Verb::Mute).await,
        GroupCommand::Unmute(args) => m::user_action(args, Verb::Unmute).await,
        GroupCommand::Promote(args) => m::user_action(args, Verb::Promote).await,
        GroupCommand::Demote(args) => m::user_action(args, Verb::Demote).await,
        GroupCommand::Transfer(args) => m::user_action(args, Verb::Transfer).await,
        GroupCommand::Settings(args) => m::settings(args).await,
        GroupCommand::Delete(args) => m::delete_group(args).await,
        GroupCommand::Bans(args) => m::bans(args).await,
        _ => Ok(()),
    }
}

async fn session(args: &common::ClientArgs) -> Result<LoggedIn, Fail> {
    common::open(args, &Home::from_env()?, false).await
}

fn visibility(g: &GroupInfo) -> &'static str {
    if g.public { "public" } else { "invite-only" }
}

/// One of my groups by name (any case; for a server admin, any group), or
/// exit code 4.
pub(super) async fn my_group(
    client: &Client,
    server: SocketAddr,
    name: &str,
) -> Result<GroupInfo, Fail> {
    let list = client.my_groups().await;
    let list = list.map_err(|e| client_fail(server, "cannot list groups", e))?;
    if let Some(g) = list.into_iter().find(|g| g.name.eq_ignore_ascii_case(name)) {
        return Ok(g);
    }
    // A server admin moderates groups it is not a member of.
    client.admin_group(name).await.map_err(|_| {
        Fail::new(
            NOT_FOUND,
            format!("you are not a member of a group named {name}"),
        )
    })
}

async fn members(args: &common::ClientArgs, name: &str, json: bool) -> Result<(), Fail> {
    let s = session(args).await?;
    let g = my_group(&s.client, s.server, name).await?;
    let list = s.client.members(g.id).await;
    let list =
        list.map_err(|e| client_fail(s.server, &format!("cannot list members of {name}"), e))?;
    if json {
        let members: Vec<_> = list
            .iter()
            .map(|m| json!({"name": m.presence.user.name, "role": role(m.role), "online": m.presence.online, "muted": m.muted}))
            .collect();
        print_json(&json!({"group": g.name, "members": members}));
        return Ok(());
    }
    for m in &list {
        let dot = if m.presence.online { '●' } else { '○' };
        let muted = if m.muted { " (muted)" } else { "" };
        println!(
            "{dot} {:<20} {}{muted}",
            safe(&m.presence.user.name),
            role(m.role)
        );
    }
    Ok(())
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

/// Lists my groups and the public groups I am not in.
pub(crate) fn groups(args: ListArgs) -> Result<(), Fail> {
    block_on(async move {
        let s = session(&args.common).await?;
        let fail = |e| client_fail(s.server, "cannot list groups", e);
        let mine = s.client.my_groups().await.map_err(fail)?;
        let public = s.client.public_groups().await.map_err(fail)?;
        let others = public
            .into_iter()
            .filter(|p| !mine.iter().any(|m| m.id == p.id));
        let rows: Vec<(GroupInfo, bool)> = mine
            .iter()
            .cloned()
            .map(|g| (g, true))
            .chain(others.map(|g| (g, false)))
            .collect();
        if args.json {
            let list: Vec<Value> = rows.iter().map(|(g, m)| group_json(g, *m)).collect();
            print_json(&json!({ "groups": list }));
        } else {
            for (g, member) in &rows {
                let mark = if *member { "member" } else { "" };
                println!(
                    "#{:<20} {:<11} {:>4} members  {mark}",
                    safe(&g.name),
                    visibility(g),
                    g.members
                );
            }
        }
        Ok(())
    })
}

fn group_json(g: &GroupInfo, member: bool) -> Value {
    json!({"name": g.name, "public": g.public, "members": g.members, "member": member})
}
