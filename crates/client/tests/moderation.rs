//! Group moderation end to end through natter-client (issue 12): what a
//! kick, ban, mute, transfer, settings change and deletion do to members,
//! their events, history and queued messages; the ban list's cap.

#[macro_use]
mod support;

use natter_api::{
    Anchor, ConversationId, ErrorCode, Event, HistoryQuery, Message, Order, Removal, Role,
    SettingsChange, Target,
};
use natter_client::{Client, ClientError, ClientEvent};
use natter_server::ServerConfig;
use support::{Backend, Events, Harness, user};

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.expect_err("expected an error").code()
}

async fn history(c: &Client, conv: ConversationId) -> Result<Vec<Message>, ClientError> {
    c.history(HistoryQuery {
        conv,
        anchor: Anchor::After(0),
        limit: 100,
        order: Order::OldestFirst,
    })
    .await
}

/// The next system message whose body contains `needle`.
async fn system_with(events: &mut Events, needle: &str) -> Message {
    loop {
        let m = events.message().await;
        if m.sender.is_none() && m.body.contains(needle) {
            return m;
        }
    }
}

/// The next `removed` event: (group, by, kind, reason).
async fn removed(events: &mut Events) -> (ConversationId, String, Removal, Option<String>) {
    events
        .until(|e| match e {
            ClientEvent::Server(Event::Removed {
                conv,
                by,
                kind,
                reason,
            }) => Some((conv, by.name, kind, reason)),
            _ => None,
        })
        .await
}

async fn a_kick_removes_bans_and_tells_everyone(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, mut oe, _) = user(&h, "olga").await;
    let (kim, mut ke, _) = user(&h, "kim").await;
    let g = olga.create_group("club", true, &["kim"]).await.unwrap();
    let mut before = kim.send(Target::Conversation(g.id), "before").await;
    let before = before.stored().await.unwrap();
    olga.kick(g.id, "kim", true, Some("spam\u{1b}[31m"))
        .await
        .expect_err("control characters in a reason are refused");
    olga.kick(g.id, "kim", true, Some("spam")).await.unwrap();
    // Kim gets the kick's log entry live (who, why), then `removed`.
    let told = system_with(&mut ke, "kicked").await;
    let (conv, by, kind, reason) = removed(&mut ke).await;
    assert_eq!((conv, by.as_str(), kind), (g.id, "olga", Removal::Banned));
    assert_eq!(reason.as_deref(), Some("spam"));
    let log = system_with(&mut oe, "kicked").await;
    assert_eq!(log.body, "olga kicked kim and banned them (reason: spam)");
    assert_eq!(
        (told.conv, told.seq, &told.body),
        (g.id, log.seq, &log.body)
    );

    olga.send(Target::Conversation(g.id), "after")
        .await
        .stored()
        .await
        .unwrap();
    let mut marker = olga.send(Target::User("kim".into()), "marker").await;
    marker.stored().await.unwrap();
    loop {
        let m = ke.message().await;
        assert_ne!(m.conv, g.id, "kim got {m:?} after the kick");
        if m.body == "marker" {
            break;
        }
    }
    let read = history(&kim, g.id).await.unwrap();
    let tail: Vec<u64> = read.iter().rev().take(2).map(|m| m.seq).collect();
    assert_eq!(
        tail,
        [log.seq, before.seq],
        "reads up to the kick's log entry"
    );
    let mut late = kim.send(Target::Conversation(g.id), "late").await;
    assert_eq!(code(late.stored().await), Some(ErrorCode::NotMember));
    assert_eq!(code(kim.join_group("club").await), Some(ErrorCode::Banned));
    assert_eq!(
        code(olga.invite(g.id, "kim").await),
        Some(ErrorCode::Banned)
    );
    let bans = olga.bans(g.id).await.unwrap();
    assert_eq!(bans.len(), 1);
    assert_eq!(
        (bans[0].user.name.as_str(), bans[0].by.name.as_str()),
        ("kim", "olga")
    );
    assert_eq!(bans[0].reason.as_deref(), Some("spam"));
    olga.unban(g.id, "kim").await.unwrap();
    kim.join_group("club").await.expect("unbanned, joins again");
    assert_eq!(
        code(olga.kick(g.id, "olga", false, None).await),
        Some(ErrorCode::BadRequest)
    );
    let long = "x".repeat(natter_api::MAX_REASON_CHARS + 1);
    let refused = olga.kick(g.id, "kim", false, Some(&long)).await;
    assert_eq!(code(refused), Some(ErrorCode::BadRequest));
}

async fn a_kicked_members_queued_messages_are_refused(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (kim, mut ke, dialer) = user(&h, "kim").await;
    let g = olga.create_group("club", true, &["kim"]).await.unwrap();
    // Kim's list with the group arrives before the cut (else it could be
    // the list `ke.sync()` reads after the kick).
    ke.until(|e| match e {
        ClientEvent::Server(Event::Conversations(list)) if list.iter().any(|c| c.id == g.id) => {
            Some(())
        }
        _ => None,
    })
    .await;
    dialer.set_refuse(true);
    dialer.cut();
    let mut queued = Vec::new();
    for n in 0..3 {
        queued.push(
            kim.send(Target::Conversation(g.id), format!("queued {n}"))
                .await,
        );
    }
    olga.kick(g.id, "kim", false, None).await.unwrap();
    dialer.set_refuse(false);
    for mut handle in queued {
        assert_eq!(code(handle.stored().await), Some(ErrorCode::NotMember));
    }
    let (_, list) = ke.sync().await;
    assert!(
        list.iter().all(|c| c.id != g.id),
        "the group left kim's list"
    );
    let log = history(&olga, g.id).await.unwrap();
    assert!(log.iter().all(|m| !m.body.starts_with("queued")), "{log:?}");
}

/// The names `members` marks as muted in `conv`.
async fn muted_names(c: &Client, conv: ConversationId) -> Vec<String> {
    let members = c.members(conv).await.unwrap();
    let muted = members.into_iter().filter(|m| m.muted);
    muted.map(|m| m.presence.user.name).collect()
}

async fn mutes_roles_and_ownership(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (adam, _ae, _) = user(&h, "adam").await;
    let (mia, mut me, _) = user(&h, "mia").await;
    let g = olga
        .create_group("club", true, &["adam", "mia"])
        .await
        .unwrap();
    olga.promote(g.id, "adam", true).await.unwrap();
    adam.mute(g.id, "mia", true, Some("calm down"))
        .await
        .unwrap();
    let log = system_with(&mut me, "muted").await;
    assert_eq!(log.body, "adam muted mia (reason: calm down)");
    let mut post = mia.send(Target::Conversation(g.id), "hey").await;
    assert_eq!(code(post.stored().await), Some(ErrorCode::Muted));
    assert!(history(&mia, g.id).await.is_ok(), "a muted member reads");
    assert_eq!(muted_names(&mia, g.id).await, ["mia"], "members show it");
    adam.mute(g.id, "mia", false, None).await.unwrap();
    assert!(muted_names(&adam, g.id).await.is_empty(), "and its end");
    let mut post = mia.send(Target::Conversation(g.id), "thanks").await;
    post.stored().await.expect("unmuted, posts");
    let kick = adam.kick(g.id, "olga", true, None).await;
    assert_eq!(
        code(kick),
        Some(ErrorCode::Forbidden { needs: Role::Owner })
    );
    olga.promote(g.id, "mia", true).await.unwrap();
    let kick = adam.kick(g.id, "mia", false, None).await;
    assert_eq!(
        code(kick),
        Some(ErrorCode::Forbidden { needs: Role::Owner })
    );
    olga.promote(g.id, "mia", false).await.unwrap();

    let leave = olga.leave_group(g.id).await.expect_err("owner leaving");
    assert_eq!(leave.code(), Some(ErrorCode::BadRequest));
    assert!(leave.to_string().contains("transfer"), "{leave}");
    olga.transfer(g.id, "mia").await.unwrap();
    let roles: Vec<_> = olga.members(g.id).await.unwrap();
    let role = |name: &str| {
        roles
            .iter()
            .find(|m| m.presence.user.name == name)
            .map(|m| m.role)
    };
    assert_eq!(role("mia"), Some(Role::Owner));
    assert_eq!(role("olga"), Some(Role::Admin));
    olga.leave_group(g.id).await.expect("no longer the owner");
    mia.promote(g.id, "adam", false).await.unwrap();
    let kick = adam.kick(g.id, "mia", false, None).await;
    assert_eq!(
        code(kick),
        Some(ErrorCode::Forbidden { needs: Role::Admin })
    );
}

async fn settings_rename_topic_and_invite_policy(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (mia, mut me, _) = user(&h, "mia").await;
    let (_nora, _ne, _) = user(&h, "nora").await;
    let g = olga.create_group("club", true, &["mia"]).await.unwrap();
    olga.create_group("Chess", true, &[]).await.unwrap();
    let rename = |name: &str| SettingsChange {
        name: Some(name.into()),
        ..SettingsChange::default()
    };
    let taken = olga.change_settings(g.id, rename("CHESS")).await;
    assert_eq!(code(taken), Some(ErrorCode::NameTaken));
    let change = SettingsChange {
        name: Some("Go club".into()),
        topic: Some("weiqi".into()),
        admins_only_invite: Some(true),
        public: Some(false),
    };
    let now = olga.change_settings(g.id, change).await.unwrap();
    assert_eq!(
        (now.name.as_str(), now.topic.as_str()),
        ("Go club", "weiqi")
    );
    assert!(now.admins_only_invite && !now.public);
    assert_eq!(mia.group_settings(g.id).await.unwrap(), now);
    let log = system_with(&mut me, "renamed").await;
    assert!(
        log.body
            .starts_with("olga renamed the group to Go club; set the topic to weiqi")
    );
    let invite = mia.invite(g.id, "nora").await;
    assert_eq!(
        code(invite),
        Some(ErrorCode::Forbidden { needs: Role::Admin })
    );
    let topic = mia.change_settings(g.id, rename("Mine")).await;
    assert_eq!(
        code(topic),
        Some(ErrorCode::Forbidden { needs: Role::Admin })
    );
    olga.invite(g.id, "nora").await.expect("the owner invites");
}

async fn deleting_a_group_ends_it_for_everyone(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (mia, mut me, _) = user(&h, "mia").await;
    let g = olga.create_group("club", true, &["mia"]).await.unwrap();
    mia.send(Target::Conversation(g.id), "secret")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(
        code(mia.delete_group(g.id).await),
        Some(ErrorCode::Forbidden { needs: Role::Owner })
    );
    olga.delete_group(g.id).await.unwrap();
    let (conv, by, kind, _) = removed(&mut me).await;
    assert_eq!(
        (conv, by.as_str(), kind),
        (g.id, "olga", Removal::GroupDeleted)
    );
    for c in [&olga, &mia] {
        assert_eq!(
            code(history(c, g.id).await),
            Some(ErrorCode::NoSuchConversation)
        );
    }
    assert_eq!(
        code(mia.join_group("club").await),
        Some(ErrorCode::NoSuchGroup)
    );
    let mut post = mia.send(Target::Conversation(g.id), "anyone?").await;
    assert_eq!(
        code(post.stored().await),
        Some(ErrorCode::NoSuchConversation)
    );
    assert!(mia.my_groups().await.unwrap().is_empty());
    olga.create_group("club", true, &[])
        .await
        .expect("the name is free");
}

/// A flood of bans stops at `max_bans_per_group`; the list stays readable.
async fn the_ban_list_is_capped(backend: Backend) {
    const MAX: usize = 40;
    let config = ServerConfig {
        max_bans_per_group: MAX,
        rate: natter_server::RateConfig {
            per_second: 100_000.0,
            burst: 100_000.0,
        },
        ..ServerConfig::for_tests()
    };
    let h = Harness::with_config(backend, config);
    let (olga, _oe, _) = user(&h, "olga").await;
    let g = olga.create_group("club", true, &[]).await.unwrap();
    for n in 0..=MAX {
        h.store.create_user(&format!("spam{n}"), "x", 0).unwrap();
    }
    for n in 0..MAX {
        olga.ban(g.id, &format!("spam{n}"), None).await.unwrap();
    }
    let over = olga.ban(g.id, &format!("spam{MAX}"), None).await;
    assert_eq!(code(over), Some(ErrorCode::LimitReached));
    olga.ban(g.id, "spam0", Some("again"))
        .await
        .expect("re-banning fits");
    assert_eq!(olga.bans(g.id).await.unwrap().len(), MAX);
    olga.unban(g.id, "spam1").await.unwrap();
    olga.ban(g.id, &format!("spam{MAX}"), None)
        .await
        .expect("room again");
}

/// A server admin (the `admins` setting) moderates a group they are not in.
async fn a_server_admin_moderates_any_group(backend: Backend) {
    let config = ServerConfig {
        admins: vec!["Root".into()],
        ..ServerConfig::for_tests()
    };
    let h = Harness::with_config(backend, config);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (root, _re, _) = user(&h, "root").await;
    let (_kim, mut ke, _) = user(&h, "kim").await;
    let g = olga.create_group("club", true, &["kim"]).await.unwrap();
    root.kick(g.id, "kim", true, None)
        .await
        .expect("server admin kicks");
    let (_, by, kind, _) = removed(&mut ke).await;
    assert_eq!((by.as_str(), kind), ("root", Removal::Banned));
    assert_eq!(root.bans(g.id).await.unwrap().len(), 1);
    let owner = root.kick(g.id, "olga", false, None).await;
    assert_eq!(
        code(owner),
        Some(ErrorCode::Forbidden { needs: Role::Owner })
    );
    let mut post = root.send(Target::Conversation(g.id), "hi").await;
    assert_eq!(code(post.stored().await), Some(ErrorCode::NotMember));
    root.delete_group(g.id).await.expect("server admin deletes");
}

/// Kim is kicked while offline: the next sync brings what was said up to
/// the kick and the kick's system message (who, why), once.
async fn a_member_kicked_offline_learns_it_at_sync(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (kim, mut ke, dialer) = user(&h, "kim").await;
    let g = olga.create_group("club", true, &["kim"]).await.unwrap();
    ke.until(|e| match e {
        ClientEvent::Server(Event::Conversations(list)) => {
            list.iter().any(|c| c.id == g.id).then_some(())
        }
        _ => None,
    })
    .await;
    dialer.set_refuse(true);
    dialer.cut();
    let conv = Target::Conversation(g.id);
    olga.send(conv.clone(), "while you were out")
        .await
        .stored()
        .await
        .unwrap();
    olga.kick(g.id, "kim", false, Some("spam")).await.unwrap();
    olga.send(conv, "after the kick")
        .await
        .stored()
        .await
        .unwrap();
    dialer.set_refuse(false);
    let (messages, list) = ke.sync().await;
    let in_club: Vec<&str> = messages
        .iter()
        .filter(|m| m.conv == g.id)
        .map(|m| m.body.as_str())
        .collect();
    assert_eq!(
        in_club,
        ["while you were out", "olga kicked kim (reason: spam)"],
        "{messages:?}"
    );
    assert!(list.iter().all(|c| c.id != g.id), "the group left the list");
    drop(kim);
    let again = h.dialer();
    let (kim, mut ke) = support::connect(again).await;
    kim.login("kim", support::PASSWORD).await.unwrap();
    let (messages, _) = ke.sync().await;
    assert!(
        messages.iter().all(|m| m.conv != g.id),
        "sent once: {messages:?}"
    );
}

both_backends!(
    a_member_kicked_offline_learns_it_at_sync,
    a_server_admin_moderates_any_group,
    a_kick_removes_bans_and_tells_everyone,
    a_kicked_members_queued_messages_are_refused,
    mutes_roles_and_ownership,
    settings_rename_topic_and_invite_policy,
    deleting_a_group_ends_it_for_everyone,
    the_ban_list_is_capped,
);
