//! Typing, search and read-marker frames round-trip through postcard and
//! JSON (the shapes of `tests/codec.rs`, kept apart so helpers do not edit
//! one list at the same time).

use natter_api::*;

fn user() -> UserInfo {
    UserInfo {
        id: UserId(7),
        name: "Алиса".into(),
    }
}

fn roundtrip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(value).expect("postcard encode");
    assert_eq!(&decode::<T>(&bytes).expect("postcard decode"), value);
    let json = encode_json(value).expect("json encode");
    assert_eq!(&decode_json::<T>(&json).expect("json decode"), value);
}

fn cursor() -> SearchCursor {
    SearchCursor {
        conv: ConversationId(3),
        seq: 9,
    }
}

#[test]
fn typing_and_search_requests_roundtrip() {
    let requests = [
        Request::Typing {
            conv: ConversationId(3),
            typing: true,
        },
        Request::Search(SearchQuery {
            query: "東京 🦀".into(),
            conv: Some(ConversationId(3)),
            before: Some(cursor()),
            limit: 20,
        }),
        Request::Search(SearchQuery {
            query: "abc".into(),
            conv: None,
            before: None,
            limit: 0,
        }),
    ];
    for body in requests {
        roundtrip(&ClientFrame::Request { id: 5, body });
    }
}

#[test]
fn results_typing_and_seen_roundtrip() {
    let hit = SearchHit {
        conv: ConversationId(3),
        kind: ConversationKind::Direct { peer: user() },
        seq: 9,
        sender: Some(user()),
        ts_ms: 1_700_000_000_000,
        snippet: "…привет мир…".into(),
    };
    assert_eq!(hit.cursor(), cursor());
    let frames = [
        ServerFrame::Response {
            id: 5,
            result: Ok(Response::SearchResults {
                hits: vec![hit],
                next: Some(cursor()),
            }),
        },
        ServerFrame::Event(Event::Typing {
            conv: ConversationId(3),
            user: user(),
            typing: false,
        }),
        ServerFrame::Event(Event::Seen {
            conv: ConversationId(3),
            seq: 4,
        }),
    ];
    for frame in frames {
        roundtrip(&frame);
    }
}

#[test]
fn a_receipt_without_readers_still_decodes_from_json() {
    let receipt = Response::Receipt {
        conv: ConversationId(3),
        seq: 2,
        delivered: vec![user()],
        pending: vec![],
        read: vec![],
    };
    let json = encode_json(&receipt).expect("encode");
    let old = json.replace(r#","read":[]"#, "");
    assert_ne!(old, json, "{json}");
    assert_eq!(decode_json::<Response>(&old).expect("decode"), receipt);
}
