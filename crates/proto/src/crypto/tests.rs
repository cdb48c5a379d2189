//! Unit tests of `crypto`.

use super::*;

const SERVER_SEED: [u8; 32] = [7; 32];

fn params(max_data: u64) -> TransportParams {
    TransportParams {
        max_data,
        max_streams: 10,
        max_ack_delay_us: 25_000,
        idle_timeout_ms: 30_000,
        max_message_size: 65_536,
    }
}

/// Runs a full handshake; returns (client output, server output).
fn handshake() -> (HandshakeOutput, HandshakeOutput) {
    let server_key = StaticKeypair::generate(SERVER_SEED);
    let (mut client, msg1) = ClientHandshake::new([1; 32], &params(111)).expect("msg1");
    let (msg2, server) = server_respond(&server_key, [2; 32], &msg1, &params(222)).unwrap();
    (client.finish(&msg2).expect("finish"), server)
}

#[test]
fn handshake_completes_and_exchanges_params_and_key() {
    let (client, server) = handshake();
    let server_key = StaticKeypair::generate(SERVER_SEED);
    assert_eq!(client.remote_static, Some(server_key.public));
    assert_eq!(server.remote_static, None);
    assert_eq!(client.remote_params, params(222));
    assert_eq!(server.remote_params, params(111));
    assert_eq!(client.handshake_hash, server.handshake_hash);
}

#[test]
fn handshake_is_deterministic_given_seeds() {
    let (a, msg_a) = ClientHandshake::new([1; 32], &params(1)).unwrap();
    let (_, msg_b) = ClientHandshake::new([1; 32], &params(1)).unwrap();
    let (_, msg_c) = ClientHandshake::new([3; 32], &params(1)).unwrap();
    assert_eq!(msg_a, msg_b);
    assert_ne!(msg_a, msg_c);
    assert_eq!(initial_ephemeral(&msg_a), Some(a.ephemeral()));
}

#[test]
fn both_directions_seal_and_open() {
    let (client, server) = handshake();
    for (tx, rx) in [(&client.keys, &server.keys), (&server.keys, &client.keys)] {
        let mut packet = b"header".to_vec();
        packet.extend_from_slice(b"frames");
        tx.seal_packet(5, &mut packet, 6);
        assert_eq!(packet.len(), 6 + 6 + 16);
        assert_eq!(rx.open_packet(5, &mut packet, 6), Ok(&b"frames"[..]));
        let mut payload = b"more".to_vec();
        tx.seal(6, b"hdr", &mut payload);
        assert_eq!(rx.open(6, b"hdr", &mut payload), Ok(&b"more"[..]));
    }
}

#[test]
fn open_rejects_wrong_pn_header_or_ciphertext() {
    let (client, server) = handshake();
    let mut sealed = b"secret".to_vec();
    client.keys.seal(9, b"hdr", &mut sealed);
    let try_open = |pn: u64, header: &[u8], bytes: &[u8]| {
        server
            .keys
            .open(pn, header, &mut bytes.to_vec())
            .map(<[u8]>::to_vec)
    };
    assert_eq!(try_open(9, b"hdr", &sealed), Ok(b"secret".to_vec()));
    assert_eq!(try_open(10, b"hdr", &sealed), Err(CryptoError::Decrypt));
    assert_eq!(try_open(9, b"hdR", &sealed), Err(CryptoError::Decrypt));
    let mut tampered = sealed.clone();
    tampered[0] ^= 1;
    assert_eq!(try_open(9, b"hdr", &tampered), Err(CryptoError::Decrypt));
    assert_eq!(
        try_open(9, b"hdr", &sealed[..10]),
        Err(CryptoError::Decrypt)
    );
    // A packet is not accepted back by its own sender (separate keys).
    assert!(client.keys.open(9, b"hdr", &mut sealed.clone()).is_err());
    assert!(server.keys.open_packet(0, &mut [0; 4], 9).is_err());
}

#[test]
fn tampered_or_garbage_handshake_messages_fail() {
    let server_key = StaticKeypair::generate(SERVER_SEED);
    let (_, msg1) = ClientHandshake::new([1; 32], &params(1)).unwrap();
    let (msg2, _) = server_respond(&server_key, [2; 32], &msg1, &params(2)).unwrap();
    let (mut client, _) = ClientHandshake::new([1; 32], &params(1)).unwrap();
    for i in [0, 40, msg2.len() - 1] {
        let mut bad = msg2.clone();
        bad[i] ^= 0x80;
        let result = client.finish(&bad);
        assert!(matches!(result, Err(CryptoError::Handshake(_))), "byte {i}");
    }
    assert!(client.finish(&msg2[..50]).is_err());
    // The forgeries left the state intact: the genuine msg2 still works, once.
    let output = client.finish(&msg2).expect("genuine msg2 after forgeries");
    assert_eq!(output.remote_static, Some(server_key.public));
    assert!(client.finish(&msg2).is_err());
    assert!(server_respond(&server_key, [2; 32], &msg1[..20], &params(2)).is_err());
    let garbage_params = &msg1[..KEY_LEN];
    assert!(matches!(
        server_respond(&server_key, [2; 32], garbage_params, &params(2)),
        Err(CryptoError::TransportParams(_))
    ));
}

#[test]
fn client_sees_an_impostor_key() {
    let impostor = StaticKeypair::generate([66; 32]);
    let (mut client, msg1) = ClientHandshake::new([1; 32], &params(1)).unwrap();
    let (msg2, _) = server_respond(&impostor, [2; 32], &msg1, &params(2)).unwrap();
    let output = client.finish(&msg2).unwrap();
    let pinned = parse_fingerprint(&fingerprint(&StaticKeypair::generate(SERVER_SEED).public));
    assert!(!pinned.unwrap().matches(&output.remote_static.unwrap()));
}

#[test]
fn static_keypair_round_trips_through_private_bytes() {
    let key = StaticKeypair::generate([9; 32]);
    assert_eq!(StaticKeypair::from_private(key.private_bytes()), key);
    assert_ne!(StaticKeypair::generate([8; 32]).public, key.public);
    assert!(!format!("{key:?}").contains(&format!("{:?}", key.private)));
}

#[test]
fn fingerprint_format_and_parse() {
    let public = StaticKeypair::generate([9; 32]).public;
    let printed = fingerprint(&public);
    assert_eq!(printed.len(), FINGERPRINT_PREFIX.len() + 32 + 7);
    assert!(printed.starts_with("natter1:"));
    let parsed = parse_fingerprint(&printed).expect("parses");
    assert!(parsed.matches(&public));
    assert_eq!(parsed, Fingerprint::of(&public));
    let loose = printed["natter1:".len()..].replace('-', "").to_uppercase();
    assert_eq!(parse_fingerprint(&loose), Some(parsed));
    assert!(!parsed.matches(&[0; 32]));
    for bad in [
        "",
        "natter1:abcd",
        &printed.replace('a', "1"),
        &format!("{printed}a"),
    ] {
        assert_eq!(parse_fingerprint(bad), None, "{bad}");
    }
}

#[test]
fn fingerprint_known_bits() {
    let fp = Fingerprint([0xff; 20]);
    assert_eq!(fp.to_string(), format!("natter1:{}", ["7777"; 8].join("-")));
    let fp = Fingerprint([0; 20]);
    assert_eq!(fp.to_string(), format!("natter1:{}", ["aaaa"; 8].join("-")));
}

#[test]
fn retry_tokens_validate_only_for_same_client_and_fresh_window() {
    let key = TokenKey::new([5; 32]);
    let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let dcid = ConnectionId([1; 8]);
    let token = key.issue(100, &addr, &dcid);
    assert_eq!(token.len(), 2 + TOKEN_MAC_LEN);
    assert!(key.validate(100, &addr, &dcid, &token));
    assert!(key.validate(101, &addr, &dcid, &token), "previous window");
    assert!(!key.validate(102, &addr, &dcid, &token), "old window");
    assert!(!key.validate(99, &addr, &dcid, &token), "future window");
    let other_ip: SocketAddr = "127.0.0.2:4000".parse().unwrap();
    let other_port: SocketAddr = "127.0.0.1:4001".parse().unwrap();
    assert!(!key.validate(100, &other_ip, &dcid, &token));
    assert!(!key.validate(100, &other_port, &dcid, &token));
    assert!(!key.validate(100, &addr, &ConnectionId([2; 8]), &token));
    assert!(!TokenKey::new([6; 32]).validate(100, &addr, &dcid, &token));
}

#[test]
fn forged_or_malformed_tokens_fail() {
    let key = TokenKey::new([5; 32]);
    let addr: SocketAddr = "[::1]:4000".parse().unwrap();
    let dcid = ConnectionId([1; 8]);
    let token = key.issue(7, &addr, &dcid);
    let mut forged = token.clone();
    forged[5] ^= 1;
    let mut relabelled = token.clone();
    relabelled[0] = 8;
    for bad in [&forged[..], &relabelled, &token[..10], &[], &[0xc0]] {
        assert!(!key.validate(8, &addr, &dcid, bad), "{bad:?}");
    }
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
    let v4: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    assert!(key.validate(7, &v4, &dcid, &key.issue(7, &mapped, &dcid)));
}
