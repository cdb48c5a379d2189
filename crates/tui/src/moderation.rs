//! Group moderation in the TUI: the slash commands `/kick`, `/ban`,
//! `/unban`, `/mute`, `/unmute`, `/promote`, `/demote`, `/transfer`,
//! `/topic`, `/rename`, `/public`, `/invites`, `/deletegroup`, `/bans`,
//! `/settings` (each on the current group), and the `removed` event.

use natter_api::{ConversationId, ModAction, Removal, SettingsChange, UserInfo};

use crate::app::App;
use crate::command::{Command, ParseError};

/// Parses moderation command `name` with `args`; `None` if `name` is not one.
pub(crate) fn parse(name: &str, args: &str) -> Option<Result<Command, ParseError>> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let usage = || usage_of(name);
    Some(match name {
        "kick" => kick(&words).ok_or_else(usage),
        "ban" | "mute" => with_reason(name, &words).ok_or_else(usage),
        "unban" | "unmute" | "promote" | "demote" | "transfer" => match words[..] {
            [user] => Ok(plain(user_action(name, user))),
            _ => Err(usage()),
        },
        "topic" => Ok(settings(SettingsChange {
            topic: Some(args.trim().to_owned()),
            ..SettingsChange::default()
        })),
        "rename" if !args.trim().is_empty() => Ok(settings(SettingsChange {
            name: Some(args.trim().to_owned()),
            ..SettingsChange::default()
        })),
        "public" => choice(&words, "yes", "no").ok_or_else(usage).map(|public| {
            settings(SettingsChange {
                public: Some(public),
                ..SettingsChange::default()
            })
        }),
        "invites" => choice(&words, "admins", "members")
            .ok_or_else(usage)
            .map(|admins| {
                settings(SettingsChange {
                    admins_only_invite: Some(admins),
                    ..SettingsChange::default()
                })
            }),
        "deletegroup" if words.is_empty() => Ok(plain(ModAction::Delete)),
        "bans" if words.is_empty() => Ok(Command::Bans),
        "settings" if words.is_empty() => Ok(Command::Settings),
        "rename" | "deletegroup" | "bans" | "settings" => Err(usage()),
        _ => return None,
    })
}

fn usage_of(name: &str) -> ParseError {
    let line = crate::COMMANDS.iter().find(|(n, _)| n[1..] == *name);
    let line = line.map_or("", |(_, u)| u.split("  ").next().unwrap_or(u));
    ParseError(format!("usage: {}", line.trim()))
}

fn plain(action: ModAction) -> Command {
    Command::Moderate {
        action,
        reason: None,
    }
}

fn settings(change: SettingsChange) -> Command {
    plain(ModAction::Settings(change))
}

fn user_action(name: &str, user: &str) -> ModAction {
    let user = user.to_owned();
    match name {
        "ban" => ModAction::Ban { user },
        "unban" => ModAction::Unban { user },
        "mute" => ModAction::Mute { user },
        "unmute" => ModAction::Unmute { user },
        "promote" => ModAction::Promote { user },
        "demote" => ModAction::Demote { user },
        _ => ModAction::Transfer { user },
    }
}

/// The words after the user as a reason (`None`: none given).
fn reason(words: &[&str]) -> Option<String> {
    (!words.is_empty()).then(|| words.join(" "))
}

fn with_reason(name: &str, words: &[&str]) -> Option<Command> {
    let (user, rest) = words.split_first()?;
    Some(Command::Moderate {
        action: user_action(name, user),
        reason: reason(rest),
    })
}

fn kick(words: &[&str]) -> Option<Command> {
    let (ban, words) = match words.split_first() {
        Some((&"--no-ban", rest)) => (false, rest),
        _ => (true, words),
    };
    let (user, rest) = words.split_first()?;
    let user = (*user).to_owned();
    Some(Command::Moderate {
        action: ModAction::Kick { user, ban },
        reason: reason(rest),
    })
}

fn choice(words: &[&str], yes: &str, no: &str) -> Option<bool> {
    match words {
        [w] if w.eq_ignore_ascii_case(yes) => Some(true),
        [w] if w.eq_ignore_ascii_case(no) => Some(false),
        _ => None,
    }
}

impl App {
    /// I was removed from group `conv` (kicked, banned, or it was deleted):
    /// it leaves the list with a notice saying by whom and why.
    pub(crate) fn on_removed(
        &mut self,
        conv: ConversationId,
        by: &UserInfo,
        kind: Removal,
        reason: Option<&str>,
    ) {
        let Some(index) = self.conv_index(conv) else {
            return;
        };
        let label = self.remove_conv(index).label();
        let what = match kind {
            Removal::Kicked => format!("{} removed you from {label}", by.name),
            Removal::Banned => format!("{} removed and banned you from {label}", by.name),
            Removal::GroupDeleted => format!("{} deleted {label}", by.name),
        };
        match reason {
            Some(reason) => self.notice(format!("{what} (reason: {reason})")),
            None => self.notice(what),
        }
    }
}
