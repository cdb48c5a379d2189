//! The end-to-end encryption requests, responses and the encrypted message
//! round-trip through postcard and JSON.

use natter_api::*;

fn roundtrip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(value).unwrap();
    assert_eq!(&decode::<T>(&bytes).unwrap(), value, "postcard");
    let json = encode_json(value).unwrap();
    assert_eq!(&decode_json::<T>(&json).unwrap(), value, "json {json}");
}

fn device() -> DeviceKeys {
    DeviceKeys {
        curve25519: "c".repeat(43),
        ed25519: "e".repeat(43),
    }
}

fn key(id: &str) -> SignedKey {
    SignedKey {
        key_id: id.into(),
        key: "k".repeat(43),
        signature: "s".repeat(86),
    }
}

fn ciphertext() -> DeviceCiphertext {
    DeviceCiphertext {
        device: "c".repeat(43),
        kind: 0,
        body: vec![0, 1, 2, 255],
    }
}

#[test]
fn e2e_requests_roundtrip() {
    let requests = [
        Request::PublishKeys {
            device: device(),
            one_time_keys: vec![key("AAAAAQ"), key("AAAAAg")],
            fallback_key: Some(key("AAAAAw")),
        },
        Request::PublishKeys {
            device: device(),
            one_time_keys: vec![],
            fallback_key: None,
        },
        Request::Devices { user: "bob".into() },
        Request::ClaimKeys {
            user: "bob".into(),
            devices: vec!["c".repeat(43)],
        },
        Request::SendEncrypted {
            peer: "bob".into(),
            client_id: uuid::Uuid::from_bytes([3; 16]),
            sender_device: "a".repeat(43),
            ciphertexts: vec![ciphertext()],
        },
        Request::RemoveDevice {
            device: "c".repeat(43),
        },
        Request::Login {
            version: PROTOCOL_VERSION,
            name: "bob".into(),
            password: "pw".into(),
            sync: SyncRequest {
                cursors: vec![],
                device: Some("c".repeat(43)),
            },
        },
    ];
    for (id, body) in requests.into_iter().enumerate() {
        roundtrip(&ClientFrame::Request {
            id: id as u64,
            body,
        });
    }
}

#[test]
fn e2e_responses_and_messages_roundtrip() {
    let user = UserInfo {
        id: UserId(2),
        name: "bob".into(),
    };
    let claimed = ClaimedKey {
        device: device(),
        key: key("AAAAAQ"),
        fallback: true,
    };
    let message = Message {
        conv: ConversationId(5),
        seq: 7,
        ts_ms: 1,
        sender: Some(user.clone()),
        client_id: uuid::Uuid::from_bytes([4; 16]),
        body: String::new(),
        e2e: Some(Encrypted {
            sender_device: "a".repeat(43),
            ciphertexts: vec![ciphertext()],
        }),
        ..message_defaults()
    };
    let frames = [
        ServerFrame::Response {
            id: 1,
            result: Ok(Response::Devices {
                user,
                devices: vec![device()],
            }),
        },
        ServerFrame::Response {
            id: 2,
            result: Ok(Response::ClaimedKeys(vec![claimed])),
        },
        ServerFrame::Response {
            id: 3,
            result: Err(ApiError::new(ErrorCode::EncryptionRequired, "encrypted")),
        },
        ServerFrame::Event(Event::Message(message)),
    ];
    for frame in &frames {
        roundtrip(frame);
    }
}

/// A message whose fields other helpers add keep their defaults here.
fn message_defaults() -> Message {
    serde_json::from_value(serde_json::json!({
        "conv": 1, "seq": 1, "ts_ms": 1, "sender": null,
        "client_id": uuid::Uuid::nil(), "body": "",
    }))
    .expect("a message from its required fields")
}

#[test]
fn encrypted_keeps_only_the_devices_own_ciphertext() {
    let mut e = Encrypted {
        sender_device: "a".into(),
        ciphertexts: vec![
            DeviceCiphertext {
                device: "x".into(),
                ..ciphertext()
            },
            DeviceCiphertext {
                device: "y".into(),
                ..ciphertext()
            },
        ],
    };
    let mut none = e.clone();
    e.keep_only(Some("y"));
    assert_eq!(e.ciphertexts.len(), 1);
    assert_eq!(e.ciphertexts[0].device, "y");
    none.keep_only(None);
    assert!(none.ciphertexts.is_empty());
}
