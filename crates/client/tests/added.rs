//! A user added to a group by someone else (listed at creation, or
//! invited) gets `Event::Added` with the group's entry at once, before any
//! message is posted; conversation lists carry the newest message's time.

#[macro_use]
mod support;

use natter_api::{ConversationInfo, ConversationKind, Event, Target, UserInfo};
use natter_client::ClientEvent;
use support::{Backend, Events, Harness, user};

/// The next `added` event: the group's entry and who added.
async fn added(events: &mut Events) -> (ConversationInfo, Option<UserInfo>) {
    events
        .until(|e| match e {
            ClientEvent::Server(Event::Added { conversation, by }) => Some((conversation, by)),
            _ => None,
        })
        .await
}

fn group_name(info: &ConversationInfo) -> &str {
    match &info.kind {
        ConversationKind::Group { name, .. } => name,
        other => panic!("not a group: {other:?}"),
    }
}

async fn added_members_are_told_at_once(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (_bob, mut be, _) = user(&h, "bob").await;
    let (_carol, mut ce, _) = user(&h, "carol").await;
    let group = alice.create_group("crew", false, &["bob"]).await.unwrap();
    let (info, by) = added(&mut be).await;
    assert_eq!((info.id, group_name(&info)), (group.id, "crew"));
    assert_eq!(by.map(|u| u.name).as_deref(), Some("alice"));
    assert_eq!(info.last_seq, 1, "the creation's system message");
    assert!(info.last_ts_ms > 0, "{info:?}");
    assert_eq!((info.delivered, info.read), (0, 0));

    alice.send(Target::Conversation(group.id), "hi").await;
    alice.invite(group.id, "carol").await.unwrap();
    let (info, by) = added(&mut ce).await;
    assert_eq!(info.id, group.id);
    assert_eq!(by.map(|u| u.name).as_deref(), Some("alice"));
    assert!(info.last_seq >= 3, "creation, hi, the invite: {info:?}");
    assert_eq!(
        info.delivered,
        info.last_seq - 1,
        "joined after the backlog"
    );
}

async fn lists_carry_the_newest_message_time(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (_bob, _be, _) = user(&h, "bob").await;
    let sent = alice
        .send(Target::User("bob".into()), "hello")
        .await
        .stored()
        .await
        .unwrap();
    let list = alice.conversations().await.unwrap();
    let dm = list.iter().find(|c| c.id == sent.conv).expect("the direct");
    assert_eq!((dm.last_seq, dm.last_ts_ms), (sent.seq, sent.ts_ms));
    for c in &list {
        assert_eq!(c.last_seq == 0, c.last_ts_ms == 0, "{c:?}");
    }
}

both_backends!(
    added_members_are_told_at_once,
    lists_carry_the_newest_message_time
);
