//! Edit and delete frames round-trip through postcard and JSON, and a
//! message without the edit/delete fields (an older peer's JSON) still
//! decodes.

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

fn message() -> Message {
    let json = r#"{"conv":3,"seq":9,"ts_ms":1700000000000,"sender":{"id":7,"name":"Алиса"},
        "client_id":"67e55044-10b1-426f-9247-bb680e5fe0c8","body":"привет 🦀"}"#;
    decode_json(json).expect("a message without the new fields")
}

#[test]
fn edit_and_delete_requests_roundtrip() {
    let client_id = uuid::Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
    let requests = [
        Request::EditMessage {
            conv: ConversationId(3),
            seq: 9,
            client_id,
            body: "fixed 東京".into(),
        },
        Request::DeleteMessage {
            conv: ConversationId(3),
            seq: u64::MAX,
            client_id,
        },
    ];
    for body in requests {
        roundtrip(&ClientFrame::Request { id: 5, body });
    }
}

#[test]
fn edited_deleted_messages_and_entries_roundtrip() {
    let plain = message();
    assert_eq!(
        (plain.edited_ms, plain.deleted, plain.action),
        (None, false, None)
    );
    let edited = Message {
        edited_ms: Some(1_700_000_001_000),
        ..message()
    };
    let deleted = Message {
        body: String::new(),
        deleted: true,
        ..message()
    };
    let entry = Message {
        seq: 10,
        action: Some(MessageAction::Edit { seq: 9 }),
        ..edited.clone()
    };
    let gone = Message {
        seq: 11,
        action: Some(MessageAction::Delete { seq: 9 }),
        ..deleted.clone()
    };
    for m in [plain, edited, deleted, entry, gone] {
        roundtrip(&ServerFrame::Event(Event::Message(m)));
    }
    let codes = [
        ErrorCode::NoSuchMessage,
        ErrorCode::NotAuthor,
        ErrorCode::MessageDeleted,
        ErrorCode::EditWindowClosed,
    ];
    for code in codes {
        roundtrip(&ApiError::from(code));
    }
    let json = encode_json(&MessageAction::Delete { seq: 9 }).expect("json");
    assert_eq!(json, r#"{"delete":{"seq":9}}"#);
}
