//! The authorization matrix of group moderation (issue 12), through
//! natter-client against an in-process server, on both stores: for every
//! action × role (owner, admin, member, muted, kicked, banned, non-member)
//! the expected answer. Each cell runs in a fresh group, so no cell sees
//! another's effects.

#[macro_use]
mod support;

use natter_api::{
    Anchor, ConversationId, ErrorCode, HistoryQuery, Order, Role, SettingsChange, Target,
};
use natter_client::{Client, ClientError};
use natter_server::{RateConfig, ServerConfig};
use support::{Backend, Harness, user};

/// The seven standings of the matrix, in column order.
const ROLES: [&str; 7] = [
    "owner", "admin", "member", "muted", "kicked", "banned", "nobody",
];

/// What the table expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Allow,
    Deny(ErrorCode),
}

use Want::{Allow, Deny};

const NOT: Want = Deny(ErrorCode::NotMember);
const ADMIN: Want = Deny(ErrorCode::Forbidden { needs: Role::Admin });
const OWNER: Want = Deny(ErrorCode::Forbidden { needs: Role::Owner });
const MEMBERS: [Want; 7] = [Allow, Allow, Allow, Allow, NOT, NOT, NOT];
const ADMINS: [Want; 7] = [Allow, Allow, ADMIN, ADMIN, NOT, NOT, NOT];
const OWNERS: [Want; 7] = [Allow, OWNER, OWNER, OWNER, NOT, NOT, NOT];

/// Every action with its expected answer per role (columns as [`ROLES`]).
fn table() -> Vec<(Action, [Want; 7])> {
    let already = Deny(ErrorCode::AlreadyMember);
    let muted = Deny(ErrorCode::Muted);
    let banned = Deny(ErrorCode::Banned);
    let owner_stays = Deny(ErrorCode::BadRequest);
    vec![
        (Action::Post, [Allow, Allow, Allow, muted, NOT, NOT, NOT]),
        (
            Action::Read,
            [Allow, Allow, Allow, Allow, Allow, Allow, NOT],
        ),
        (Action::Members, MEMBERS),
        (Action::Settings, MEMBERS),
        (Action::Invite, MEMBERS),
        (
            Action::Join,
            [already, already, already, already, Allow, banned, Allow],
        ),
        (
            Action::Leave,
            [owner_stays, Allow, Allow, Allow, NOT, NOT, NOT],
        ),
        (Action::Kick, ADMINS),
        (Action::KickNoBan, ADMINS),
        (Action::Ban, ADMINS),
        (Action::Unban, ADMINS),
        (Action::Mute, ADMINS),
        (Action::Unmute, ADMINS),
        (Action::Topic, ADMINS),
        (Action::Bans, ADMINS),
        (Action::Promote, OWNERS),
        (Action::Demote, OWNERS),
        (Action::Transfer, OWNERS),
        (Action::Delete, OWNERS),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Post,
    Read,
    Members,
    Settings,
    Invite,
    Join,
    Leave,
    Kick,
    KickNoBan,
    Ban,
    Unban,
    Mute,
    Unmute,
    Topic,
    Bans,
    Promote,
    Demote,
    Transfer,
    Delete,
}

fn config() -> ServerConfig {
    let fast = RateConfig {
        per_second: 100_000.0,
        burst: 100_000.0,
    };
    ServerConfig {
        rate: fast.clone(),
        read_rate: fast,
        max_groups_per_user: 100_000,
        ..ServerConfig::for_tests()
    }
}

/// The answer's code (`None`: allowed).
fn outcome<T>(r: Result<T, ClientError>) -> Want {
    match r {
        Ok(_) => Allow,
        Err(e) => Deny(e.code().unwrap_or_else(|| panic!("not an api error: {e}"))),
    }
}

/// Clients of the standings plus the owner (who sets every cell up).
struct Cast {
    clients: Vec<Client>,
}

impl Cast {
    fn of(&self, role: &str) -> &Client {
        let i = ROLES.iter().position(|r| *r == role).expect("role");
        &self.clients[i]
    }
}

/// A fresh group `name` in which each standing holds (owner olga, admin
/// adam, member mia, muted mute, kicked kim, banned bert, nobody nora) and
/// the targets: `tara` a plain member (muted for `Unmute`), `tadm` an
/// admin, `ursula` banned, `nina` never a member.
async fn cell(cast: &Cast, name: &str, action: Action) -> ConversationId {
    let olga = cast.of("owner");
    let members = [
        "adam", "mia", "mute", "kim", "bert", "tara", "tadm", "ursula",
    ];
    let g = olga
        .create_group(name, true, &members)
        .await
        .expect("create");
    for (step, result) in [
        ("promote", olga.promote(g.id, "adam", true).await),
        ("promote", olga.promote(g.id, "tadm", true).await),
        ("mute", olga.mute(g.id, "mute", true, None).await),
        ("kick", olga.kick(g.id, "kim", false, None).await),
        ("ban", olga.ban(g.id, "bert", None).await),
        ("ban", olga.ban(g.id, "ursula", None).await),
    ] {
        result.unwrap_or_else(|e| panic!("{name}: {step}: {e}"));
    }
    if action == Action::Unmute {
        olga.mute(g.id, "tara", true, None)
            .await
            .expect("mute tara");
    }
    g.id
}

async fn act(c: &Client, conv: ConversationId, name: &str, action: Action) -> Want {
    match action {
        Action::Post => {
            let mut sent = c.send(Target::Conversation(conv), "hello").await;
            outcome(sent.stored().await)
        }
        Action::Read => outcome(
            c.history(HistoryQuery {
                conv,
                anchor: Anchor::After(0),
                limit: 50,
                order: Order::OldestFirst,
            })
            .await,
        ),
        Action::Members => outcome(c.members(conv).await),
        Action::Settings => outcome(c.group_settings(conv).await),
        Action::Invite => outcome(c.invite(conv, "nina").await),
        Action::Join => outcome(c.join_group(name).await),
        Action::Leave => outcome(c.leave_group(conv).await),
        Action::Kick => outcome(c.kick(conv, "tara", true, Some("spam")).await),
        Action::KickNoBan => outcome(c.kick(conv, "tara", false, None).await),
        Action::Ban => outcome(c.ban(conv, "nina", None).await),
        Action::Unban => outcome(c.unban(conv, "ursula").await),
        Action::Mute => outcome(c.mute(conv, "tara", true, None).await),
        Action::Unmute => outcome(c.mute(conv, "tara", false, None).await),
        Action::Topic => {
            let change = SettingsChange {
                topic: Some("chess".into()),
                ..SettingsChange::default()
            };
            outcome(c.change_settings(conv, change).await)
        }
        Action::Bans => outcome(c.bans(conv).await),
        Action::Promote => outcome(c.promote(conv, "tara", true).await),
        Action::Demote => outcome(c.promote(conv, "tadm", false).await),
        Action::Transfer => outcome(c.transfer(conv, "tara").await),
        Action::Delete => outcome(c.delete_group(conv).await),
    }
}

async fn authorization_matrix(backend: Backend) {
    let h = Harness::with_config(backend, config());
    let mut clients = Vec::new();
    for name in ["olga", "adam", "mia", "mute", "kim", "bert", "nora"] {
        let (client, mut events, _dialer) = user(&h, name).await;
        tokio::spawn(async move { while events.0.recv().await.is_some() {} });
        clients.push(client);
    }
    for extra in ["tara", "tadm", "ursula", "nina"] {
        h.store.create_user(extra, "x", 0).expect("user");
    }
    let cast = Cast { clients };
    let mut failures = Vec::new();
    let mut n = 0;
    for (action, wants) in table() {
        for (role, want) in ROLES.iter().zip(wants) {
            n += 1;
            let name = format!("g{n}");
            let conv = cell(&cast, &name, action).await;
            let got = act(cast.of(role), conv, &name, action).await;
            if got != want {
                failures.push(format!("{action:?} by {role}: want {want:?}, got {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{backend:?}:\n{}", failures.join("\n"));
}

both_backends!(authorization_matrix);
