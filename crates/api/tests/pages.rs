//! The largest page of the conversation list fits in one message on every
//! door: postcard over UDP and JSON over WebSocket (both limited to 1 MiB).

use natter_api::{
    ConversationId, ConversationInfo, ConversationKind, Event, MAX_CONVERSATION_PAGE,
    MAX_GROUP_NAME_LEN, MAX_NAME_LEN, Response, ServerFrame, UserId, UserInfo, encode, encode_json,
};

/// The transport's and the WebSocket gateway's message limit.
const MESSAGE_LIMIT: usize = 1024 * 1024;

/// A worst-case entry: largest ids and seqs, the longest name in 4-byte
/// characters (JSON does not escape them; control characters are refused).
fn group_entry(i: u64) -> ConversationInfo {
    ConversationInfo {
        id: ConversationId(u64::MAX - i),
        kind: ConversationKind::Group {
            name: "🦀".repeat(MAX_GROUP_NAME_LEN),
            public: false,
        },
        last_seq: u64::MAX,
        delivered: u64::MAX,
        read: u64::MAX,
        last_ts_ms: u64::MAX,
        e2e: false,
    }
}

fn direct_entry(i: u64) -> ConversationInfo {
    ConversationInfo {
        kind: ConversationKind::Direct {
            peer: UserInfo {
                id: UserId(u64::MAX),
                name: "x".repeat(MAX_NAME_LEN),
            },
        },
        ..group_entry(i)
    }
}

#[test]
fn the_largest_page_fits_in_one_message() {
    for entry in [group_entry, direct_entry] {
        let list: Vec<_> = (0..u64::from(MAX_CONVERSATION_PAGE)).map(entry).collect();
        let frames = [
            ServerFrame::Event(Event::ConversationsPart(list.clone())),
            ServerFrame::Event(Event::Conversations(list.clone())),
            ServerFrame::Response {
                id: u64::MAX,
                result: Ok(Response::ConversationsPage { list, more: true }),
            },
        ];
        for frame in frames {
            let postcard = encode(&frame).expect("postcard").len();
            let json = encode_json(&frame).expect("json").len();
            println!("page of {MAX_CONVERSATION_PAGE}: postcard {postcard} B, JSON {json} B");
            assert!(postcard < MESSAGE_LIMIT / 2, "{postcard}");
            assert!(json < MESSAGE_LIMIT / 2, "{json}");
        }
    }
}
