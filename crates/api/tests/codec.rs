//! Every frame shape round-trips through postcard and JSON; decoding garbage
//! returns an error and never panics.

use natter_api::*;
use proptest::prelude::*;

fn user() -> UserInfo {
    UserInfo {
        id: UserId(7),
        name: "Alice".into(),
    }
}

fn message() -> Message {
    Message {
        conv: ConversationId(1),
        seq: 42,
        ts_ms: 1_700_000_000_000,
        sender: Some(user()),
        client_id: uuid::Uuid::from_bytes([9; 16]),
        body: "hi ✓".into(),
        e2e: None,
        file: None,
        edited_ms: None,
        deleted: false,
        action: None,
    }
}

fn requests() -> Vec<Request> {
    let sync = SyncRequest {
        cursors: vec![Cursor {
            conv: ConversationId(1),
            seq: 3,
        }],
        device: None,
    };
    vec![
        Request::Register {
            name: "a".into(),
            password: "p".into(),
        },
        Request::Login {
            version: PROTOCOL_VERSION,
            name: "a".into(),
            password: "p".into(),
            sync: sync.clone(),
        },
        Request::Resume {
            version: PROTOCOL_VERSION,
            token: SessionToken("ab".into()),
            sync,
        },
        Request::Logout,
        Request::ChangePassword {
            old_password: "o".into(),
            new_password: "n".into(),
        },
        Request::Send {
            target: Target::User("bob".into()),
            client_id: uuid::Uuid::from_bytes([1; 16]),
            body: "x".into(),
        },
        Request::Send {
            target: Target::Conversation(ConversationId(4)),
            client_id: uuid::Uuid::nil(),
            body: String::new(),
        },
        Request::History(HistoryQuery {
            conv: ConversationId(1),
            anchor: Anchor::Before(u64::MAX),
            limit: 500,
            order: Order::NewestFirst,
        }),
        Request::AckDelivered {
            conv: ConversationId(1),
            seq: 9,
        },
        Request::Conversations,
        Request::Users,
        Request::Ping,
        Request::CreateGroup {
            name: "Rust 🦀".into(),
            public: true,
            members: vec!["bob".into()],
        },
        Request::JoinGroup {
            name: "rust".into(),
        },
        Request::LeaveGroup {
            conv: ConversationId(3),
        },
        Request::Invite {
            conv: ConversationId(3),
            user: "carol".into(),
        },
        Request::MyGroups,
        Request::PublicGroups,
        Request::Members {
            conv: ConversationId(3),
        },
        Request::AckRead {
            conv: ConversationId(3),
            seq: 9,
        },
        Request::Receipt {
            conv: ConversationId(3),
            seq: 9,
        },
        Request::Presence,
        Request::Sessions,
        Request::RevokeSession { id: u64::MAX },
    ]
    .into_iter()
    .chain(moderation_requests())
    .collect()
}

/// Every moderation action, the ban list and the settings request.
fn moderation_requests() -> Vec<Request> {
    let conv = ConversationId(3);
    let user = || "kim".to_owned();
    let change = SettingsChange {
        name: Some("Chess club".into()),
        topic: Some("chess".into()),
        public: Some(false),
        admins_only_invite: Some(true),
    };
    let actions = [
        ModAction::Kick {
            user: user(),
            ban: true,
        },
        ModAction::Ban { user: user() },
        ModAction::Unban { user: user() },
        ModAction::Mute { user: user() },
        ModAction::Unmute { user: user() },
        ModAction::Promote { user: user() },
        ModAction::Demote { user: user() },
        ModAction::Transfer { user: user() },
        ModAction::Settings(change),
        ModAction::Delete,
    ];
    let mut list: Vec<Request> = actions
        .into_iter()
        .map(|action| Request::Moderate {
            conv,
            action,
            reason: Some("spam".into()),
        })
        .collect();
    list.extend([Request::Bans { conv }, Request::GroupSettings { conv }]);
    list
}

fn group() -> GroupInfo {
    GroupInfo {
        id: ConversationId(3),
        name: "Rust".into(),
        public: true,
        members: 2,
    }
}

fn presence() -> Presence {
    Presence {
        user: user(),
        online: false,
        last_seen_ms: Some(1_700_000_000_000),
    }
}

fn server_frames() -> Vec<ServerFrame> {
    let ok = |r| ServerFrame::Response {
        id: 1,
        result: Ok(r),
    };
    let conv = ConversationInfo {
        id: ConversationId(2),
        kind: ConversationKind::Direct { peer: user() },
        last_seq: 5,
        delivered: 4,
        read: 3,
        last_ts_ms: 1_700_000_000_000,
        e2e: false,
    };
    vec![
        ok(Response::Registered { user: user() }),
        ok(Response::LoggedIn {
            user: user(),
            token: SessionToken("00ff".into()),
            max_body: 16384,
        }),
        ok(Response::Resumed {
            user: user(),
            max_body: 16384,
        }),
        ok(Response::Done),
        ok(Response::Sent(Sent {
            conv: ConversationId(1),
            seq: 1,
            ts_ms: 2,
        })),
        ok(Response::History {
            conv: ConversationId(1),
            messages: vec![message()],
        }),
        ok(Response::Conversations(vec![conv.clone()])),
        ok(Response::Users(vec![user()])),
        ok(Response::Group(group())),
        ok(Response::Groups(vec![group()])),
        ok(Response::Members(vec![MemberInfo {
            role: Role::Owner,
            presence: presence(),
            muted: true,
        }])),
        ok(Response::Receipt {
            conv: ConversationId(3),
            seq: 2,
            delivered: vec![user()],
            pending: vec![],
            read: vec![user()],
        }),
        ok(Response::Presence(vec![presence()])),
        ok(Response::Sessions(vec![SessionInfo {
            id: 3,
            created_ms: 1,
            last_used_ms: 2,
            last_addr: Some("127.0.0.1".into()),
            current: true,
        }])),
        ok(Response::PasswordChanged {
            token: SessionToken("ab".repeat(32)),
        }),
        ServerFrame::Response {
            id: 8,
            result: Err(ErrorCode::NoSuchSession.into()),
        },
        ServerFrame::Response {
            id: 7,
            result: Err(ErrorCode::RateLimited { retry_after_ms: 50 }.into()),
        },
        ServerFrame::Event(Event::Delivered {
            conv: ConversationId(3),
            seq: 2,
        }),
        ServerFrame::Event(Event::Read {
            conv: ConversationId(3),
            seq: 2,
        }),
        ServerFrame::Event(Event::Presence(vec![presence()])),
        ServerFrame::Event(Event::Behind {
            reason: "re-sync".into(),
            closing: false,
        }),
        ServerFrame::Event(Event::Conversations(vec![ConversationInfo {
            id: ConversationId(3),
            kind: ConversationKind::Group {
                name: "Rust".into(),
                public: false,
            },
            last_seq: 1,
            delivered: 1,
            read: 0,
            last_ts_ms: 1_700_000_000_000,
            e2e: false,
        }])),
        ServerFrame::Response {
            id: u64::MAX,
            result: Err(ErrorCode::TooManyAttempts {
                retry_after_ms: 1500,
            }
            .into()),
        },
        ServerFrame::Response {
            id: 0,
            result: Err(ApiError::new(ErrorCode::NotMember, "no")),
        },
        ServerFrame::Event(Event::Message(message())),
        ServerFrame::Event(Event::Conversations(vec![
            conv,
            ConversationInfo {
                id: ConversationId(1),
                kind: ConversationKind::Lobby,
                last_seq: 0,
                delivered: 0,
                read: 0,
                last_ts_ms: 0,
                e2e: false,
            },
        ])),
        ServerFrame::Event(Event::ServerClosing {
            reason: "bye".into(),
        }),
        ServerFrame::Event(Event::SessionEnded {
            reason: "pw".into(),
        }),
        ServerFrame::Event(Event::Added {
            conversation: ConversationInfo {
                id: ConversationId(7),
                kind: ConversationKind::Group {
                    name: "crew".into(),
                    public: true,
                },
                last_seq: 1,
                delivered: 0,
                read: 0,
                last_ts_ms: 5,
                e2e: false,
            },
            by: Some(user()),
        }),
        ServerFrame::Event(Event::Removed {
            conv: ConversationId(7),
            by: user(),
            kind: Removal::Banned,
            reason: Some("spam".into()),
        }),
        ServerFrame::Response {
            id: 5,
            result: Ok(Response::Bans(vec![BanInfo {
                user: user(),
                by: user(),
                reason: None,
                at_ms: 9,
            }])),
        },
        ServerFrame::Response {
            id: 6,
            result: Ok(Response::GroupSettings(GroupSettingsInfo {
                id: ConversationId(7),
                name: "crew".into(),
                topic: "chess".into(),
                public: false,
                admins_only_invite: true,
            })),
        },
        ServerFrame::Response {
            id: 7,
            result: Err(ApiError::new(
                ErrorCode::Forbidden { needs: Role::Owner },
                "only the group's owner may do this",
            )),
        },
    ]
}

fn roundtrip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(value).unwrap();
    assert_eq!(&decode::<T>(&bytes).unwrap(), value, "postcard");
    let json = encode_json(value).unwrap();
    assert_eq!(&decode_json::<T>(&json).unwrap(), value, "json {json}");
}

#[test]
fn every_request_roundtrips_in_both_encodings() {
    for (id, body) in requests().into_iter().enumerate() {
        roundtrip(&ClientFrame::Request {
            id: id as u64,
            body,
        });
    }
}

#[test]
fn every_server_frame_roundtrips_in_both_encodings() {
    for frame in server_frames() {
        roundtrip(&frame);
    }
}

#[test]
fn json_is_readable() {
    let frame = ClientFrame::Request {
        id: 3,
        body: Request::Logout,
    };
    assert_eq!(
        encode_json(&frame).unwrap(),
        r#"{"request":{"id":3,"body":"logout"}}"#
    );
    let err: ApiError = ErrorCode::TooManyAttempts { retry_after_ms: 5 }.into();
    let json = encode_json(&err).unwrap();
    assert!(
        json.contains(r#"{"too_many_attempts":{"retry_after_ms":5}}"#),
        "{json}"
    );
    let id = uuid::Uuid::from_bytes([0xab; 16]);
    assert_eq!(
        encode_json(&id).unwrap(),
        r#""abababab-abab-abab-abab-abababababab""#
    );
}

#[test]
fn client_id_is_16_bytes_in_postcard() {
    assert_eq!(encode(&uuid::Uuid::nil()).unwrap().len(), 17); // length prefix + 16
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = encode(&ClientFrame::Request {
        id: 1,
        body: Request::Ping,
    })
    .unwrap();
    bytes.push(0);
    assert!(matches!(
        decode::<ClientFrame>(&bytes),
        Err(CodecError::TrailingBytes(1))
    ));
}

#[test]
fn garbage_json_is_an_error() {
    assert!(decode_json::<ClientFrame>("{").is_err());
    assert!(decode_json::<ClientFrame>(r#"{"request":{"id":1,"body":"nope"}}"#).is_err());
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode::<ClientFrame>(&bytes);
        let _ = decode::<ServerFrame>(&bytes);
    }

    #[test]
    fn decode_of_mutated_frames_never_panics(idx in 0usize..14, pos in any::<usize>(), byte in any::<u8>()) {
        let frames = server_frames();
        let mut bytes = encode(&frames[idx % frames.len()]).unwrap();
        let at = pos % bytes.len();
        bytes[at] = byte;
        let _ = decode::<ServerFrame>(&bytes);
        bytes.truncate(at);
        let _ = decode::<ServerFrame>(&bytes);
    }

    #[test]
    fn send_roundtrips(body in ".{0,64}", id in any::<u64>(), cid in any::<[u8; 16]>()) {
        let frame = ClientFrame::Request { id, body: Request::Send {
            target: Target::Lobby,
            client_id: uuid::Uuid::from_bytes(cid),
            body,
        }};
        roundtrip(&frame);
    }
}
