//! The one-shot client subcommands: `register`, `users`, `send`, `history`,
//! `listen`, `group …`, `groups`. Each connects with [`common`], does one
//! thing, prints it (human or `--json`) and exits with a code from
//! [`crate::exit`].

mod account;
mod admin;
mod admin_file_store;
mod admin_files;
pub(crate) mod common;
pub(crate) mod e2e;
mod e2e_login;
mod edit;
mod file;
mod groups;
mod history;
mod keys;
mod keys_remove;
mod listen;
pub(crate) mod moderation;
pub(crate) mod output;
mod passwd;
mod receipt;
mod search;
mod send;
mod sessions;

use natter_api::{ConversationInfo, ConversationKind};
use natter_client::Client;

use self::common::ClientArgs;
use crate::exit::{Fail, NOT_FOUND};

pub(crate) use self::account::{register, users};
pub(crate) use self::admin::{AdminArgs, admin};
pub(crate) use self::edit::{DeleteArgs, EditArgs, delete, edit};
pub(crate) use self::file::{FileArgs, file};
pub(crate) use self::groups::{group, groups};
pub(crate) use self::history::history;
pub(crate) use self::keys::{KeysArgs, keys};
pub(crate) use self::listen::listen;
pub(crate) use self::passwd::{PasswdArgs, passwd};
pub(crate) use self::receipt::{ReceiptArgs, receipt};
pub(crate) use self::search::{SearchArgs, search};
pub(crate) use self::send::send;
pub(crate) use self::sessions::{SessionsArgs, sessions};

/// `natter register`.
#[derive(Debug, clap::Args)]
pub(crate) struct RegisterArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A command that only lists something: `natter users`, `natter groups`, `natter listen`.
#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Print JSON (one object; `listen`: one object per line).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `natter send`.
#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    #[command(flatten)]
    pub(crate) dest: SendDest,
    /// Client id (a UUID) of the message: sending the same id again never
    /// stores a second message. Default: a new random id.
    #[arg(long, value_name = "CLIENT_ID")]
    pub(crate) id: Option<uuid::Uuid>,
    /// Wait until the message reached every other member (✓✓), not just
    /// the server (✓).
    #[arg(long)]
    pub(crate) wait_delivered: bool,
    /// End-to-end encrypt it (a direct message only, `--to USER`): the
    /// conversation stays encrypted from then on. Unlocks this device's
    /// keys with the password.
    #[arg(long, requires = "to", conflicts_with = "wait_delivered")]
    pub(crate) e2e: bool,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// The message; several words are joined with spaces.
    #[arg(required = true, value_name = "TEXT")]
    pub(crate) text: Vec<String>,
}

/// Where `natter send` sends.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct SendDest {
    /// A direct message to USER.
    #[arg(long, value_name = "USER")]
    pub(crate) to: Option<String>,
    /// To the group NAME.
    #[arg(long, value_name = "NAME")]
    pub(crate) group: Option<String>,
    /// To the lobby (every user).
    #[arg(long)]
    pub(crate) lobby: bool,
}

/// `natter history`.
#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    #[command(flatten)]
    pub(crate) dest: HistoryDest,
    /// Messages older than SEQ (default: the newest).
    #[arg(long, value_name = "SEQ", conflicts_with = "after")]
    pub(crate) before: Option<u64>,
    /// Messages newer than SEQ.
    #[arg(long, value_name = "SEQ")]
    pub(crate) after: Option<u64>,
    /// At most N messages (the server caps it at 500).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) limit: u32,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Which conversation `natter history` shows.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct HistoryDest {
    /// The direct conversation with USER.
    #[arg(long, value_name = "USER")]
    pub(crate) with: Option<String>,
    /// The group NAME.
    #[arg(long, value_name = "NAME")]
    pub(crate) group: Option<String>,
    /// The lobby.
    #[arg(long)]
    pub(crate) lobby: bool,
}

/// `natter group …`.
#[derive(Debug, clap::Args)]
pub(crate) struct GroupArgs {
    #[command(subcommand)]
    pub(crate) command: GroupCommand,
}

/// One group operation.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group (you become its owner).
    Create {
        #[command(flatten)]
        common: ClientArgs,
        /// Group name.
        name: String,
        /// Initial members besides you, e.g. alice,bob.
        #[arg(long, value_delimiter = ',', value_name = "USERS")]
        members: Vec<String>,
        /// Only invited users may join.
        #[arg(long)]
        invite_only: bool,
    },
    /// Join a public group.
    Join {
        #[command(flatten)]
        common: ClientArgs,
        /// Group name.
        name: String,
    },
    /// Leave a group.
    Leave {
        #[command(flatten)]
        common: ClientArgs,
        /// Group name.
        name: String,
    },
    /// Add USER to a group you are a member of.
    Invite {
        #[command(flatten)]
        common: ClientArgs,
        /// Group name.
        name: String,
        /// Who to add (a user name; the field is not called `user`, which
        /// is the global `-u/--user`).
        #[arg(value_name = "USER")]
        member: String,
    },
    /// List a group's members.
    Members {
        #[command(flatten)]
        common: ClientArgs,
        /// Group name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove USER from a group and ban them (admins; `--no-ban`: only remove).
    Kick(moderation::KickArgs),
    /// Ban USER (member or not) from a group (admins).
    Ban(moderation::GroupUserArgs),
    /// Take USER off a group's ban list (admins).
    Unban(moderation::GroupUserArgs),
    /// Mute USER in a group: they read but cannot post (admins).
    Mute(moderation::GroupUserArgs),
    /// Let a muted USER post again (admins).
    Unmute(moderation::GroupUserArgs),
    /// Make member USER an admin (owner).
    Promote(moderation::GroupUserArgs),
    /// Make admin USER a plain member (owner).
    Demote(moderation::GroupUserArgs),
    /// Make member USER the owner; you become an admin (owner).
    Transfer(moderation::GroupUserArgs),
    /// Show a group's settings, or change its name, topic, visibility or
    /// who may invite (admins).
    Settings(moderation::SettingsArgs),
    /// Delete a group for everyone, with its history (owner; needs --yes).
    Delete(moderation::GroupDeleteArgs),
    /// List a group's ban list (admins).
    Bans(moderation::BansArgs),
}

/// A conversation by name, as the command line names it (`--to`,
/// `--group`) and as output writes it ([`Dest::label`], the one label
/// function of the CLI; a listed conversation is labelled through
/// `Dest::from(&info.kind)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dest {
    /// The direct conversation with this user.
    User(String),
    /// This group.
    Group(String),
    /// The lobby.
    Lobby,
}

impl SendDest {
    pub(crate) fn dest(&self) -> Dest {
        pick(self.to.as_ref(), self.group.as_ref())
    }
}

impl HistoryDest {
    pub(crate) fn dest(&self) -> Dest {
        pick(self.with.as_ref(), self.group.as_ref())
    }
}

fn pick(user: Option<&String>, group: Option<&String>) -> Dest {
    match (user, group) {
        (Some(u), _) => Dest::User(u.clone()),
        (None, Some(g)) => Dest::Group(g.clone()),
        (None, None) => Dest::Lobby,
    }
}

impl From<&ConversationKind> for Dest {
    fn from(kind: &ConversationKind) -> Self {
        match kind {
            ConversationKind::Lobby => Self::Lobby,
            ConversationKind::Direct { peer } => Self::User(peer.name.clone()),
            ConversationKind::Group { name, .. } => Self::Group(name.clone()),
        }
    }
}

impl Dest {
    /// Whether `info` is this conversation (names compare case-insensitively).
    fn matches(&self, info: &ConversationInfo) -> bool {
        match (self, Self::from(&info.kind)) {
            (Self::Lobby, Self::Lobby) => true,
            (Self::User(a), Self::User(b)) | (Self::Group(a), Self::Group(b)) => {
                a.eq_ignore_ascii_case(&b)
            }
            _ => false,
        }
    }

    /// How it is written in output: `lobby`, `@USER`, `#GROUP` (terminal-safe).
    pub(crate) fn label(&self) -> String {
        match self {
            Self::User(u) => format!("@{}", output::safe(u)),
            Self::Group(g) => format!("#{}", output::safe(g)),
            Self::Lobby => "lobby".to_owned(),
        }
    }
}

/// Finds one of my conversations, or fails with exit code 4.
pub(crate) async fn find_conversation(
    client: &Client,
    server: std::net::SocketAddr,
    dest: &Dest,
) -> Result<ConversationInfo, Fail> {
    let list = client.conversations().await;
    let list = list.map_err(|e| common::client_fail(server, "cannot list conversations", e))?;
    list.into_iter().find(|c| dest.matches(c)).ok_or_else(|| {
        let what = match dest {
            Dest::User(u) => format!("no conversation with {u} (unknown user, or no message yet)"),
            Dest::Group(g) => format!("you are not a member of a group named {g}"),
            Dest::Lobby => "no lobby on this server".to_owned(),
        };
        Fail::new(NOT_FOUND, what)
    })
}

#[cfg(test)]
mod tests {
    use natter_api::{ConversationId, UserId, UserInfo};

    use super::*;

    fn info(kind: ConversationKind) -> ConversationInfo {
        ConversationInfo {
            id: ConversationId(1),
            kind,
            last_seq: 0,
            delivered: 0,
            read: 0,
            last_ts_ms: 0,
            e2e: false,
        }
    }

    #[test]
    fn a_listed_conversation_is_labelled_and_found_like_a_named_one() {
        let peer = UserInfo {
            id: UserId(2),
            name: "Bob\u{1b}[2J".into(),
        };
        let kinds = [
            (ConversationKind::Lobby, "lobby"),
            (ConversationKind::Direct { peer }, "@Bob^[[2J"),
            (
                ConversationKind::Group {
                    name: "Crew".into(),
                    public: true,
                },
                "#Crew",
            ),
        ];
        for (kind, label) in kinds {
            assert_eq!(Dest::from(&kind).label(), label);
        }
        let crew = info(ConversationKind::Group {
            name: "Crew".into(),
            public: false,
        });
        assert!(Dest::Group("crew".into()).matches(&crew));
        assert!(!Dest::User("crew".into()).matches(&crew));
        assert!(Dest::Lobby.matches(&info(ConversationKind::Lobby)));
    }
}
