//! File transfer frames (issue 14) round-trip through postcard and JSON;
//! chunks are bulk and unlimited, the rest rate-limited.

use natter_api::*;

fn offer() -> FileOffer {
    FileOffer {
        id: FileId(7),
        name: "report.pdf".into(),
        size: 123_456,
        media_type: "application/pdf".into(),
        hash: "ab".repeat(32),
    }
}

fn user() -> UserInfo {
    UserInfo {
        id: UserId(2),
        name: "bob".into(),
    }
}

fn requests() -> Vec<Request> {
    let id = FileId(7);
    vec![
        Request::FileOffer {
            target: Target::User("bob".into()),
            client_id: uuid::Uuid::from_bytes([3; 16]),
            name: "report.pdf".into(),
            size: 123_456,
            media_type: "application/pdf".into(),
            hash: "ab".repeat(32),
        },
        Request::FileUpload {
            id,
            offset: 65536,
            data: vec![0, 1, 255],
        },
        Request::FileFinish { id },
        Request::FileGet {
            id,
            offset: 0,
            len: MAX_FILE_CHUNK,
        },
        Request::FileReject { id },
        Request::FileReport { id, intact: false },
        Request::FileStatus { id },
        Request::Files,
    ]
}

fn responses() -> Vec<ServerFrame> {
    let info = FileInfo {
        offer: offer(),
        conv: ConversationId(4),
        from: user(),
        created_ms: 1,
        expires_ms: 2,
        uploaded: 3,
        complete: false,
        mine: Some(FileState::Corrupted),
        recipients: vec![FileRecipient {
            user: user(),
            state: FileState::Delivered,
        }],
    };
    let id = FileId(7);
    let answers = [
        Response::File(Box::new(info.clone())),
        Response::FileUploaded {
            id,
            uploaded: 9,
            complete: true,
        },
        Response::FileChunk {
            id,
            offset: 4,
            data: vec![9; 10],
        },
        Response::Files(vec![info]),
    ];
    let mut frames: Vec<ServerFrame> = answers
        .into_iter()
        .map(|r| ServerFrame::Response {
            id: 1,
            result: Ok(r),
        })
        .collect();
    frames.push(ServerFrame::Event(Event::FileUpdate {
        id,
        user: user(),
        state: FileState::Rejected,
    }));
    frames
}

fn roundtrip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(value).expect("postcard");
    assert_eq!(&decode::<T>(&bytes).expect("postcard back"), value);
    let text = encode_json(value).expect("json");
    assert_eq!(&decode_json::<T>(&text).expect("json back"), value);
}

#[test]
fn file_requests_responses_and_events_roundtrip() {
    for (id, body) in requests().into_iter().enumerate() {
        roundtrip(&ClientFrame::Request {
            id: id as u64,
            body,
        });
    }
    for frame in responses() {
        roundtrip(&frame);
    }
}

#[test]
fn chunks_are_bulk_and_unlimited_the_rest_is_rate_limited() {
    for request in requests() {
        let bulk = matches!(
            request,
            Request::FileUpload { .. } | Request::FileGet { .. }
        );
        assert_eq!(request.is_bulk(), bulk, "{request:?}");
        let class = request.rate_class();
        match request {
            Request::FileStatus { .. } | Request::Files => assert_eq!(class, RateClass::Read),
            _ if bulk => assert_eq!(class, RateClass::Unlimited),
            _ => assert_eq!(class, RateClass::Write, "{request:?}"),
        }
    }
}

#[test]
fn hashes_are_64_lowercase_hex_digits() {
    assert!(is_file_hash(&"0f".repeat(32)));
    assert!(!is_file_hash(&"0F".repeat(32)));
    assert!(!is_file_hash(&"0f".repeat(31)));
    assert!(!is_file_hash(&format!("{}zz", "0f".repeat(31))));
}
