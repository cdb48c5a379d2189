//! Moderation attacked the way a hostile member or a careless owner would
//! (issue 12 review): text that could forge a log line, ownership handed
//! to a muted member, races of kicks with promotions and leaves.

#[macro_use]
mod support;

use natter_api::{ErrorCode, Role, SettingsChange, Target};
use natter_client::ClientError;
use support::{Backend, Harness, user};

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.expect_err("expected an error").code()
}

/// A reason or topic with a line break would print as a second, forged
/// system line ("* olga made kim the owner") under the real one.
async fn line_breaks_in_reasons_and_topics_are_refused(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (_kim, _ke, _) = user(&h, "kim").await;
    let g = olga.create_group("club", true, &["kim"]).await.unwrap();
    for forged in ["spam\nolga made kim the owner", "a\r\nb", "x\u{2028}y"] {
        let kick = olga.mute(g.id, "kim", true, Some(forged)).await;
        assert_eq!(code(kick), Some(ErrorCode::BadRequest), "{forged:?}");
        let topic = SettingsChange {
            topic: Some(forged.into()),
            ..SettingsChange::default()
        };
        let change = olga.change_settings(g.id, topic).await;
        assert_eq!(code(change), Some(ErrorCode::BadRequest), "{forged:?}");
    }
    let settings = olga.group_settings(g.id).await.unwrap();
    assert_eq!(settings.topic, "");
    olga.mute(g.id, "kim", true, Some("one line"))
        .await
        .expect("a plain reason");
}

/// The owner cannot be unmuted by anyone (nobody acts on the owner, not
/// even themselves), so ownership must not go to a muted member.
async fn ownership_never_goes_to_a_muted_member(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (mia, _me, _) = user(&h, "mia").await;
    let g = olga.create_group("club", true, &["mia"]).await.unwrap();
    olga.mute(g.id, "mia", true, None).await.unwrap();
    let refused = olga.transfer(g.id, "mia").await.expect_err("muted heir");
    assert_eq!(refused.code(), Some(ErrorCode::BadRequest));
    assert!(refused.to_string().contains("unmute"), "{refused}");
    let members = olga.members(g.id).await.unwrap();
    let owner = members.iter().find(|m| m.role == Role::Owner).unwrap();
    assert_eq!(owner.presence.user.name, "olga", "nothing changed");

    olga.mute(g.id, "mia", false, None).await.unwrap();
    olga.transfer(g.id, "mia").await.expect("unmuted heir");
    mia.send(Target::Conversation(g.id), "the new owner speaks")
        .await
        .stored()
        .await
        .expect("the owner posts");
}

/// A mute survives leaving and joining again (else a public group's mute
/// is one `leave` + `join` away from useless).
async fn a_mute_survives_leaving_and_joining_again(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (kim, _ke, _) = user(&h, "kim").await;
    let g = olga.create_group("club", true, &["kim"]).await.unwrap();
    olga.mute(g.id, "kim", true, None).await.unwrap();
    kim.leave_group(g.id).await.unwrap();
    kim.join_group("club").await.unwrap();
    let mut post = kim.send(Target::Conversation(g.id), "free again?").await;
    assert_eq!(code(post.stored().await), Some(ErrorCode::Muted));
}

/// A rename to a look-alike of another group (other script, width, case)
/// is `name_taken`, as at creation.
async fn a_rename_to_a_look_alike_is_refused(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let g = olga.create_group("club", true, &[]).await.unwrap();
    olga.create_group("Chess", true, &[]).await.unwrap();
    for twin in ["\u{421}hess", "\u{FF23}hess", "cHESS"] {
        let rename = SettingsChange {
            name: Some(twin.into()),
            ..SettingsChange::default()
        };
        let refused = olga.change_settings(g.id, rename).await;
        assert_eq!(code(refused), Some(ErrorCode::NameTaken), "{twin:?}");
    }
}

/// A transfer to a member and an admin's kick of that member, sent at the
/// same time: the writer orders them, so exactly one succeeds and the
/// group keeps exactly one owner, who is a member.
async fn a_transfer_racing_a_kick_leaves_one_owner(backend: Backend) {
    let h = Harness::new(backend);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (adam, _ae, _) = user(&h, "adam").await;
    let (_mia, _me, _) = user(&h, "mia").await;
    for round in 0..6 {
        let name = format!("club{round}");
        let g = olga
            .create_group(&name, true, &["adam", "mia"])
            .await
            .unwrap();
        olga.promote(g.id, "adam", true).await.unwrap();
        let (transfer, kick) = tokio::join!(
            olga.transfer(g.id, "mia"),
            adam.kick(g.id, "mia", true, None)
        );
        assert!(
            transfer.is_ok() != kick.is_ok(),
            "round {round}: {transfer:?} {kick:?}"
        );
        let members = adam.members(g.id).await.unwrap();
        let owners: Vec<_> = members.iter().filter(|m| m.role == Role::Owner).collect();
        assert_eq!(owners.len(), 1, "round {round}: {members:?}");
        let expected = if transfer.is_ok() { "mia" } else { "olga" };
        assert_eq!(owners[0].presence.user.name, expected, "round {round}");
    }
}

/// A server admin who may change a group's settings may also read them,
/// and its ban list, without being a member.
async fn a_server_admin_reads_the_settings_it_may_change(backend: Backend) {
    let config = natter_server::ServerConfig {
        admins: vec!["root".into()],
        ..natter_server::ServerConfig::for_tests()
    };
    let h = Harness::with_config(backend, config);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (root, _re, _) = user(&h, "root").await;
    let (kim, _ke, _) = user(&h, "kim").await;
    let g = olga.create_group("club", true, &[]).await.unwrap();
    let topic = SettingsChange {
        topic: Some("chess".into()),
        ..SettingsChange::default()
    };
    let changed = root.change_settings(g.id, topic).await.unwrap();
    assert_eq!(root.group_settings(g.id).await.unwrap(), changed);
    assert!(root.bans(g.id).await.unwrap().is_empty());
    let outsider = kim.group_settings(g.id).await;
    assert_eq!(code(outsider), Some(ErrorCode::NotMember));
    olga.delete_group(g.id).await.unwrap();
    let gone = root.group_settings(g.id).await;
    assert_eq!(code(gone), Some(ErrorCode::NoSuchConversation));
}

/// A flood of mute/unmute toggles (each a system message fanned out to
/// every member) passes the write rate limit: refused ones store nothing.
async fn a_mute_toggle_flood_is_rate_limited(backend: Backend) {
    let config = natter_server::ServerConfig {
        rate: natter_server::RateConfig {
            per_second: 1.0,
            burst: 5.0,
        },
        ..natter_server::ServerConfig::for_tests()
    };
    let h = Harness::with_config(backend, config);
    let (olga, _oe, _) = user(&h, "olga").await;
    let (kim, _ke, _) = user(&h, "kim").await;
    let g = olga.create_group("club", true, &["kim"]).await.unwrap();
    let (mut done, mut limited, mut muted) = (0, 0, false);
    for _ in 0..20 {
        match olga.mute(g.id, "kim", !muted, None).await {
            Ok(()) => {
                done += 1;
                muted = !muted;
            }
            Err(e) => {
                assert!(
                    matches!(e.code(), Some(ErrorCode::RateLimited { .. })),
                    "{e}"
                );
                limited += 1;
            }
        }
    }
    assert!(limited > 0, "20 toggles at 1/s, burst 5: some refused");
    let log = kim
        .history(natter_api::HistoryQuery {
            conv: g.id,
            anchor: natter_api::Anchor::After(0),
            limit: 100,
            order: natter_api::Order::OldestFirst,
        })
        .await
        .unwrap();
    let toggles = log.iter().filter(|m| m.body.contains("muted kim")).count();
    assert_eq!(toggles, done, "one system message per allowed toggle only");
}

both_backends!(
    line_breaks_in_reasons_and_topics_are_refused,
    ownership_never_goes_to_a_muted_member,
    a_mute_survives_leaving_and_joining_again,
    a_rename_to_a_look_alike_is_refused,
    a_transfer_racing_a_kick_leaves_one_owner,
    a_server_admin_reads_the_settings_it_may_change,
    a_mute_toggle_flood_is_rate_limited,
);
