//! Groups, ✓✓ receipts, read cursors, presence, authorization and limits,
//! end to end over the in-memory dialer.

mod support;

use natter_api::{
    Anchor, ConversationId, ConversationKind, ErrorCode, Event, HistoryQuery, Message, Order,
    Request, Role, Target,
};
use natter_client::{Client, ClientError, ClientEvent, OutgoingState};
use natter_server::ServerConfig;
use support::{Backend, Events, Harness, PASSWORD, connect, user};

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.expect_err("expected an error").code()
}

fn fast() -> ServerConfig {
    ServerConfig {
        presence_batch_ms: 20,
        ..ServerConfig::for_tests()
    }
}

async fn register(h: &Harness, name: &str) {
    let (c, _e) = connect(h.dialer()).await;
    c.register(name, PASSWORD).await.expect("register");
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

/// The next message that is not a system message.
async fn text(events: &mut Events) -> Message {
    loop {
        let m = events.message().await;
        if m.sender.is_some() {
            return m;
        }
    }
}

async fn system(events: &mut Events) -> Message {
    loop {
        let m = events.message().await;
        if m.sender.is_none() {
            return m;
        }
    }
}

/// The next system message whose body contains `needle`.
async fn system_with(events: &mut Events, needle: &str) -> Message {
    loop {
        let m = system(events).await;
        if m.body.contains(needle) {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_life_cycle() {
    for backend in [Backend::Memory, Backend::Sqlite] {
        life_cycle(backend).await;
    }
}

async fn life_cycle(backend: Backend) {
    let h = Harness::new(backend);
    let (alice, mut ae, _) = user(&h, "alice").await;
    let (bob, mut be, _) = user(&h, "bob").await;
    let (carol, mut ce, _) = user(&h, "carol").await;
    assert_eq!(
        code(alice.create_group("", true, &[]).await),
        Some(ErrorCode::InvalidName)
    );
    let long = "x".repeat(65);
    assert_eq!(
        code(alice.create_group(&long, true, &[]).await),
        Some(ErrorCode::InvalidName)
    );
    assert_eq!(
        code(alice.create_group("Rust", true, &["nobody"]).await),
        Some(ErrorCode::NoSuchUser)
    );
    let g = alice.create_group("Rust", true, &["BOB"]).await.unwrap();
    assert_eq!((g.name.as_str(), g.public, g.members), ("Rust", true, 2));
    assert_eq!(
        code(bob.create_group("rUST", false, &[]).await),
        Some(ErrorCode::NameTaken)
    );

    // Bob learns about the group: its opening system message and the list.
    let opened = system(&mut be).await;
    assert_eq!((opened.conv, opened.seq), (g.id, 1));
    let list = be.until(|e| match e {
        ClientEvent::Server(Event::Conversations(l)) => Some(l),
        _ => None,
    });
    let list = list.await;
    let info = list.iter().find(|c| c.id == g.id).expect("group listed");
    assert_eq!(
        info.kind,
        ConversationKind::Group {
            name: "Rust".into(),
            public: true
        }
    );

    // Carol joins by name, any case.
    assert_eq!(
        code(carol.join_group("nope").await),
        Some(ErrorCode::NoSuchGroup)
    );
    assert_eq!(carol.join_group("rust").await.unwrap().members, 3);
    assert_eq!(
        code(carol.join_group("Rust").await),
        Some(ErrorCode::AlreadyMember)
    );
    let joined = system_with(&mut ae, "carol joined").await;
    assert_eq!(
        system(&mut ce).await.seq,
        joined.seq,
        "carol sees her own join"
    );

    assert_eq!(carol.my_groups().await.unwrap().len(), 1);
    assert_eq!(bob.public_groups().await.unwrap()[0].name, "Rust");
    let members = bob.members(g.id).await.unwrap();
    let roles: Vec<_> = members
        .iter()
        .map(|m| (m.presence.user.name.as_str(), m.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("alice", Role::Owner),
            ("bob", Role::Member),
            ("carol", Role::Member)
        ]
    );

    // Everyone chats.
    let sent = alice
        .send(Target::Conversation(g.id), "hi all")
        .await
        .stored()
        .await
        .unwrap();
    assert_eq!(text(&mut be).await.seq, sent.seq);
    assert_eq!(text(&mut ce).await.seq, sent.seq);

    // Carol leaves: the others see it, she stops receiving and reading.
    carol.leave_group(g.id).await.unwrap();
    let left = system_with(&mut be, "carol left").await;
    assert!(left.seq > sent.seq, "{left:?}");
    assert_eq!(
        code(carol.leave_group(g.id).await),
        Some(ErrorCode::NotMember)
    );
    let after = bob
        .send(Target::Conversation(g.id), "bye carol")
        .await
        .stored()
        .await
        .unwrap();
    let seen = ae.until(|e| match e {
        ClientEvent::Server(Event::Message(m)) if m.seq == after.seq => Some(m),
        _ => None,
    });
    assert_eq!(seen.await.body, "bye carol");
    let mut carol_h = carol.send(Target::Conversation(g.id), "wait").await;
    assert_eq!(code(carol_h.stored().await), Some(ErrorCode::NotMember));
    let kept: Vec<_> = history(&carol, g.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(
        kept,
        (joined.seq..left.seq).collect::<Vec<_>>(),
        "readable up to the leave point"
    );
    assert!(ce.no_message_queued(), "carol got a message after leaving");
    assert_eq!(carol.my_groups().await.unwrap().len(), 0);
    let seqs: Vec<_> = history(&bob, g.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=after.seq).collect::<Vec<_>>(),
        "bob reads everything"
    );

    // Re-joining starts a fresh window: the gap stays unreadable.
    carol.join_group("Rust").await.unwrap();
    let rejoin = system(&mut ce).await;
    let readable = history(&carol, g.id).await.unwrap();
    assert!(readable.iter().all(|m| m.seq >= rejoin.seq), "{readable:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_only_rules() {
    let h = Harness::new(Backend::Memory);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (bob, _be, _) = user(&h, "bob").await;
    let (carol, mut ce, _) = user(&h, "carol").await;
    let g = alice.create_group("secret", false, &[]).await.unwrap();
    // Answered like a group that does not exist: its name stays private.
    assert_eq!(
        code(carol.join_group("SECRET").await),
        Some(ErrorCode::NoSuchGroup)
    );
    assert!(bob.public_groups().await.unwrap().is_empty());
    assert_eq!(
        code(bob.invite(g.id, "carol").await),
        Some(ErrorCode::NotMember)
    );
    assert_eq!(
        code(alice.invite(g.id, "nobody").await),
        Some(ErrorCode::NoSuchUser)
    );
    assert_eq!(
        code(alice.invite(ConversationId(999), "carol").await),
        Some(ErrorCode::NoSuchGroup)
    );
    alice.invite(g.id, "carol").await.unwrap();
    assert_eq!(
        code(alice.invite(g.id, "CAROL").await),
        Some(ErrorCode::AlreadyMember)
    );
    let added = system(&mut ce).await;
    assert!(added.body.contains("alice added carol"), "{added:?}");
    // Carol, now a member, may invite too.
    carol.invite(g.id, "bob").await.unwrap();
    assert_eq!(alice.members(g.id).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_ticks_wait_for_the_offline_member() {
    let h = Harness::new(Backend::Sqlite);
    register(&h, "carol").await;
    let (alice, _ae, alice_dialer) = user(&h, "alice").await;
    let (bob, mut be, _) = user(&h, "bob").await;
    let g = alice
        .create_group("trio", false, &["bob", "carol"])
        .await
        .unwrap();
    let mut handle = alice.send(Target::Conversation(g.id), "m1").await;
    let sent = handle.stored().await.unwrap();
    assert_eq!(text(&mut be).await.seq, sent.seq);

    // Bob has it (his client acked), carol not: no ✓✓ yet.
    let bob_name =
        |v: &Vec<natter_api::UserInfo>| v.iter().map(|u| u.name.clone()).collect::<Vec<_>>();
    let detail = loop {
        let (delivered, pending) = alice.receipt(g.id, sent.seq).await.unwrap();
        if !delivered.is_empty() {
            break (delivered, pending);
        }
        bob.request(Request::Ping).await.unwrap(); // bob's ack is in flight
    };
    assert_eq!(bob_name(&detail.0), ["bob"]);
    assert_eq!(bob_name(&detail.1), ["carol"]);
    assert!(matches!(handle.state(), OutgoingState::Stored(_)));

    // The sender goes offline; carol logs in and syncs.
    alice_dialer.set_refuse(true);
    drop(alice);
    let (_carol, _ce, _) = user(&h, "carol").await;

    // Alice, back on a new client, gets the receipt with her sync.
    let (alice2, mut ae2) = connect(h.dialer()).await;
    alice2.login("alice", PASSWORD).await.unwrap();
    let mark = ae2
        .until(|e| match e {
            ClientEvent::Server(Event::Delivered { conv, seq })
                if conv == g.id && seq >= sent.seq =>
            {
                Some(seq)
            }
            _ => None,
        })
        .await;
    assert!(mark >= sent.seq);

    // Live: with everyone online a message reaches ✓✓ on its own.
    let mut live = alice2.send(Target::Conversation(g.id), "m2").await;
    let live_sent = live.delivered().await.unwrap();
    let (delivered, pending) = alice2.receipt(g.id, live_sent.seq).await.unwrap();
    assert_eq!((delivered.len(), pending.len()), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_cursor_syncs_to_my_other_clients() {
    let h = Harness::new(Backend::Memory);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (alice2, mut ae2, _) = user(&h, "alice").await;
    let (_bob, _be, _) = user(&h, "bob").await;
    let sent = alice
        .send(Target::User("bob".into()), "hey")
        .await
        .stored()
        .await
        .unwrap();
    alice.mark_read(sent.conv, sent.seq).await.unwrap();
    let read = ae2
        .until(|e| match e {
            ClientEvent::Server(Event::Read { conv, seq }) => Some((conv, seq)),
            _ => None,
        })
        .await;
    assert_eq!(read, (sent.conv, sent.seq));
    let list = alice2.conversations().await.unwrap();
    assert_eq!(
        list.iter().find(|c| c.id == sent.conv).unwrap().read,
        sent.seq
    );
}

/// The next presence event about `name`: `(online, last_seen present)`.
async fn presence_of(events: &mut Events, name: &str) -> (bool, bool) {
    events
        .until(|e| match e {
            ClientEvent::Server(Event::Presence(list)) => list
                .into_iter()
                .find(|p| p.user.name == name)
                .map(|p| (p.online, p.last_seen_ms.is_some())),
            _ => None,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_reaches_contacts_only() {
    let h = Harness::with_config(Backend::Memory, fast());
    register(&h, "bob").await;
    register(&h, "eve").await;
    let (alice, mut ae, _) = user(&h, "alice").await;
    let (dave, mut de, _) = user(&h, "dave").await;
    alice
        .send(Target::User("bob".into()), "hi")
        .await
        .stored()
        .await
        .unwrap();
    dave.send(Target::User("eve".into()), "hi")
        .await
        .stored()
        .await
        .unwrap();

    // Login, logout, and a link drop without goodbye.
    let (bob, _be, _) = user(&h, "bob").await;
    assert_eq!(presence_of(&mut ae, "bob").await, (true, false));
    bob.logout().await.unwrap();
    assert_eq!(presence_of(&mut ae, "bob").await, (false, true));
    let (_bob2, _be2, bob_dialer) = user(&h, "bob").await;
    assert_eq!(presence_of(&mut ae, "bob").await, (true, false));
    bob_dialer.set_refuse(true);
    bob_dialer.cut();
    assert_eq!(presence_of(&mut ae, "bob").await, (false, true));

    // The who-is-online table and members with status.
    let table = alice.presence().await.unwrap();
    let online: Vec<_> = table
        .iter()
        .filter(|p| p.online)
        .map(|p| p.user.name.as_str())
        .collect();
    assert_eq!(online, ["alice", "dave"]);

    // Dave shares nothing with bob: the first presence he gets is eve's.
    let (_eve, _ee, _) = user(&h, "eve").await;
    let first = de
        .until(|e| match e {
            ClientEvent::Server(Event::Presence(list)) => Some(list),
            _ => None,
        })
        .await;
    let names: Vec<_> = first.iter().map(|p| p.user.name.as_str()).collect();
    assert_eq!(names, ["eve"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    let h = Harness::new(Backend::Memory);
    let (alice, _ae, _) = user(&h, "alice").await;
    let (_bob, _be, _) = user(&h, "bob").await;
    let (dave, _de, _) = user(&h, "dave").await;
    let g = alice.create_group("club", true, &["bob"]).await.unwrap();
    let dm = alice
        .send(Target::User("bob".into()), "psst")
        .await
        .stored()
        .await
        .unwrap();
    for conv in [g.id, dm.conv] {
        let mut h = dave.send(Target::Conversation(conv), "let me in").await;
        assert_eq!(
            code(h.stored().await),
            Some(ErrorCode::NotMember),
            "post {conv:?}"
        );
        assert_eq!(
            code(history(&dave, conv).await),
            Some(ErrorCode::NotMember),
            "read"
        );
        let page = dave
            .history(HistoryQuery {
                conv,
                anchor: Anchor::Before(u64::MAX),
                limit: 10,
                order: Order::NewestFirst,
            })
            .await;
        assert_eq!(code(page), Some(ErrorCode::NotMember), "page");
        assert_eq!(
            code(dave.members(conv).await),
            Some(ErrorCode::NotMember),
            "members"
        );
        assert_eq!(
            code(dave.receipt(conv, 1).await),
            Some(ErrorCode::NotMember),
            "receipt"
        );
        assert_eq!(
            code(dave.mark_read(conv, 1).await),
            Some(ErrorCode::NotMember),
            "read"
        );
    }
    assert_eq!(
        code(dave.leave_group(g.id).await),
        Some(ErrorCode::NotMember)
    );
    assert_eq!(
        code(dave.leave_group(dm.conv).await),
        Some(ErrorCode::NoSuchGroup)
    );
    let ghost = ConversationId(4242);
    assert_eq!(
        code(dave.members(ghost).await),
        Some(ErrorCode::NoSuchConversation)
    );
    assert_eq!(
        code(history(&dave, ghost).await),
        Some(ErrorCode::NoSuchConversation)
    );
    let mut h = dave.send(Target::Conversation(ghost), "anyone?").await;
    assert_eq!(code(h.stored().await), Some(ErrorCode::NoSuchConversation));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_and_the_client_retries() {
    let mut config = ServerConfig::for_tests();
    config.rate.per_second = 20.0;
    config.rate.burst = 2.0;
    config.max_groups_per_user = 2; // lobby excluded: groups only
    let h = Harness::with_config(Backend::Memory, config);
    let (alice, _ae, _) = user(&h, "alice").await;
    let mut codes = Vec::new();
    for i in 0..3u8 {
        let request = Request::Send {
            target: Target::Lobby,
            client_id: uuid::Uuid::from_bytes([i; 16]),
            body: "x".into(),
        };
        codes.push(alice.request(request).await.err().and_then(|e| e.code()));
    }
    assert_eq!(codes[..2], [None, None]);
    match codes[2] {
        Some(ErrorCode::RateLimited { retry_after_ms }) => assert!(retry_after_ms > 0),
        other => panic!("expected rate_limited, got {other:?}"),
    }
    alice
        .request(Request::Ping)
        .await
        .expect("connection survives");
    // The outbox waits and resends on its own.
    let handles: Vec<_> = futures_join(&alice, 5).await;
    for mut h in handles {
        h.stored().await.unwrap();
    }
    // Caps.
    create_retrying(&alice, "one").await.unwrap();
    create_retrying(&alice, "two").await.unwrap();
    assert_eq!(
        code(create_retrying(&alice, "three").await),
        Some(ErrorCode::LimitReached)
    );
}

/// `create_group`, waiting out `rate_limited` answers as told.
async fn create_retrying(c: &Client, name: &str) -> Result<natter_api::GroupInfo, ClientError> {
    loop {
        match c.create_group(name, true, &[]).await {
            Err(e) => match e.code() {
                Some(ErrorCode::RateLimited { retry_after_ms }) => {
                    let wait = std::time::Duration::from_millis(retry_after_ms);
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(e),
            },
            ok => return ok,
        }
    }
}

async fn futures_join(c: &Client, n: usize) -> Vec<natter_client::OutgoingHandle> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(c.send(Target::Lobby, format!("burst {i}")).await);
    }
    out
}
