//! Server operators' frames round-trip through postcard and JSON (kept
//! apart from `tests/codec.rs` so helpers do not edit one list at once).

use natter_api::*;

fn roundtrip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(value).expect("postcard encode");
    assert_eq!(&decode::<T>(&bytes).expect("postcard decode"), value);
    let json = encode_json(value).expect("json encode");
    assert_eq!(&decode_json::<T>(&json).expect("json decode"), value);
}

#[test]
fn admin_requests_roundtrip() {
    let requests = [
        AdminRequest::Users,
        AdminRequest::SetDisabled {
            user: "bob".into(),
            disabled: true,
        },
        AdminRequest::ResetPassword {
            user: "bob".into(),
            new_password: "secret ✓".into(),
        },
        AdminRequest::DeleteMessages { user: "bob".into() },
        AdminRequest::Stats,
        AdminRequest::Group {
            name: "Crew ✓".into(),
        },
    ];
    for request in requests {
        let body = Request::Admin(request);
        roundtrip(&ClientFrame::Request { id: 9, body });
    }
}

#[test]
fn admin_responses_and_errors_roundtrip() {
    let user = AdminUserInfo {
        user: UserInfo {
            id: UserId(3),
            name: "Алиса".into(),
        },
        created_ms: 1,
        last_seen_ms: Some(u64::MAX),
        sessions: 2,
        online: true,
        disabled: false,
        server_admin: true,
    };
    let stats = ServerStats {
        users: 1,
        disabled_users: 0,
        conversations: 2,
        groups: 3,
        messages: u64::MAX,
        sessions: 4,
        online_connections: 5,
        db_bytes: 6,
    };
    let answers = [
        AdminResponse::Done,
        AdminResponse::Users(vec![user]),
        AdminResponse::Deleted { messages: 7 },
        AdminResponse::Stats(stats),
        AdminResponse::Group(GroupInfo {
            id: ConversationId(4),
            name: "crew".into(),
            public: false,
            members: 2,
        }),
    ];
    for answer in answers {
        roundtrip(&ServerFrame::Response {
            id: 9,
            result: Ok(Response::Admin(answer)),
        });
    }
    for code in [ErrorCode::AccountDisabled, ErrorCode::NotServerAdmin] {
        let err: ApiError = code.into();
        roundtrip(&ServerFrame::Response {
            id: 1,
            result: Err(err),
        });
    }
    let json = encode_json(&Request::Admin(AdminRequest::Stats)).unwrap();
    assert_eq!(json, r#"{"admin":"stats"}"#);
}
