//! End-to-end encrypted directs in the one-shot commands: `natter send
//! --to USER --e2e`, and the encrypted messages `history` and `listen`
//! show from the device's local store.
//!
//! The device (`NATTER_HOME/e2e/USER@ADDRESS.db`, mode 0600) is unlocked
//! with the account password (NATTER_PASSWORD, --password-file or a
//! prompt), also when the session token would resume without it: its keys
//! are encrypted with a key derived from the password.

use std::path::PathBuf;

use natter_api::Message;
use natter_client::e2e::{self, Announcement, E2eDevice, LocalMessage, Received, Status};
use serde_json::{Value, json};

use super::SendArgs;
use super::common::{self, ClientArgs, Dialed, Home, LoggedIn, block_on, client_fail};
use super::output::{body_text, print_json, safe, utc};
use crate::exit::{Fail, OTHER};

/// Where the device of `user` on the server of `args` is kept.
pub(crate) fn device_file(home: &Home, args: &ClientArgs) -> Result<PathBuf, Fail> {
    let server = args.server_addr()?;
    Ok(home.e2e_file(server, args.user()?))
}

/// Opens (creating on first use) the device, unlocking it with the password.
pub(crate) async fn open_device(home: &Home, args: &ClientArgs) -> Result<E2eDevice, Fail> {
    let name = args.user()?;
    let password = common::password(args, name, false).await?;
    open_device_with(home, args, password).await
}

/// [`open_device`] with the password in hand.
pub(crate) async fn open_device_with(
    home: &Home,
    args: &ClientArgs,
    password: String,
) -> Result<E2eDevice, Fail> {
    let file = device_file(home, args)?;
    if let Some(dir) = file.parent() {
        natter_net::private_files::create_dir(dir)?;
    }
    let user = args.user()?.to_owned();
    let opened =
        tokio::task::spawn_blocking(move || E2eDevice::open(&file, &user, &password)).await;
    let opened = opened.map_err(|e| Fail::new(OTHER, e.to_string()))?;
    opened.map_err(|e| Fail::new(OTHER, format!("cannot open this device's keys: {e}")))
}

/// After a password change: re-encrypts this home's device (if any) under
/// the new password, so the same password keeps unlocking it.
pub(crate) async fn rekey_device(
    home: &Home,
    args: &ClientArgs,
    old: &str,
    new: &str,
) -> Result<(), Fail> {
    let file = device_file(home, args)?;
    if !file.exists() {
        return Ok(());
    }
    let (user, old, new) = (args.user()?.to_owned(), old.to_owned(), new.to_owned());
    let done = tokio::task::spawn_blocking(move || {
        E2eDevice::open(&file, &user, &old)?.change_password(&new)
    });
    let done = done.await.map_err(|e| Fail::new(OTHER, e.to_string()))?;
    done.map_err(|e| {
        Fail::new(
            OTHER,
            format!("password changed, but this device's keys were not re-encrypted: {e}"),
        )
    })
}

/// Connects, names the device for the sync (so encrypted messages arrive
/// with its ciphertexts), logs in, and publishes the device's keys. A new
/// device is created only after the login succeeded (a mistyped password
/// never locks a device).
pub(crate) async fn open(
    args: &ClientArgs,
    home: &Home,
    ack_delivery: bool,
) -> Result<(LoggedIn, E2eDevice), Fail> {
    let existing = match device_file(home, args)?.exists() {
        true => Some(open_device(home, args).await?),
        false => None,
    };
    let session = login(args, home, ack_delivery, existing.as_ref()).await?;
    let mut device = match existing {
        Some(device) => device,
        None => open_device(home, args).await?,
    };
    e2e::publish(&session.client, &mut device)
        .await
        .map_err(|e| e2e_fail(session.server, "cannot publish this device's keys", e))?;
    Ok((session, device))
}

/// Connects and logs in (naming `device` for the sync, if any).
async fn login(
    args: &ClientArgs,
    home: &Home,
    ack_delivery: bool,
    device: Option<&E2eDevice>,
) -> Result<LoggedIn, Fail> {
    let Dialed {
        client,
        events,
        server,
    } = common::connect(args, home).await?;
    client.set_delivery_acks(ack_delivery).await;
    if let Some(device) = device {
        client.set_e2e_device(Some(device.keys().curve25519)).await;
    }
    let restored = client
        .attach_outbox(home.outbox(server, args.user()?))
        .await?;
    let user = common::authenticate(&client, args, home, server).await?;
    Ok(LoggedIn {
        client,
        events,
        server,
        user,
        restored,
    })
}

/// An end-to-end encryption failure as an exit code and a sentence.
pub(crate) fn e2e_fail(server: std::net::SocketAddr, what: &str, e: e2e::E2eError) -> Fail {
    match e {
        e2e::E2eError::Client(e) => client_fail(server, what, e),
        other => Fail::new(OTHER, format!("{what}: {other}")),
    }
}

/// Runs `natter send --to USER --e2e`.
pub(crate) fn send(args: SendArgs) -> Result<(), Fail> {
    block_on(async move {
        let Some(peer) = args.dest.to.clone() else {
            return Err(Fail::new(
                crate::exit::USAGE,
                "--e2e encrypts direct messages only: use --to USER",
            ));
        };
        let home = Home::from_env()?;
        let (session, mut device) = open(&args.common, &home, false).await?;
        let text = args.text.join(" ");
        // A session the peer's device repaired (see natter_client::e2e)
        // is taken first, so this message goes out on it.
        let repaired = e2e::take_repairs(&session.client, &mut device, &peer).await;
        repaired.map_err(|e| e2e_fail(session.server, "the message was not sent", e))?;
        let sent = e2e::send_encrypted(&session.client, &mut device, &peer, &text).await;
        let (sent, news) =
            sent.map_err(|e| e2e_fail(session.server, "the message was not sent", e))?;
        announce(&news);
        let name = args.dest.dest().label();
        if args.json {
            print_json(&json!({
                "state": "stored", "conversation": name, "conv": sent.conv.0,
                "seq": sent.seq, "ts_ms": sent.ts_ms, "e2e": true,
            }));
        } else {
            println!("✓ {name} #{} 🔒", sent.seq);
        }
        Ok(())
    })
}

/// Tells about contacts' new devices on stderr.
pub(crate) fn announce(news: &[Announcement]) {
    for line in news.iter().map(announcement) {
        eprintln!("natter: {line}");
    }
}

/// One announcement as a sentence.
pub(crate) fn announcement(news: &Announcement) -> String {
    let (user, device, flagged) = match news {
        Announcement::NewDevice {
            user,
            device,
            flagged,
        } => (user, device, flagged),
        Announcement::RemovedDevice { user, device } => {
            let short: String = device.chars().take(10).collect();
            return format!("{} removed a device ({}…)", safe(user), safe(&short));
        }
    };
    let short: String = device.chars().take(10).collect();
    let warn = if *flagged {
        " — NOT VERIFIED: compare with `natter keys verify` again"
    } else {
        ""
    };
    format!(
        "{} added a new device ({}…){warn}",
        safe(user),
        safe(&short)
    )
}

/// Decrypts (once) an encrypted message into the local store and returns
/// what to show: the stored local message (`None`: a replay, not shown).
pub(crate) async fn local(
    session: &LoggedIn,
    device: &mut E2eDevice,
    m: &Message,
) -> Result<Option<LocalMessage>, Fail> {
    let received = e2e::receive(&session.client, device, m).await;
    match received.map_err(|e| e2e_fail(session.server, "cannot decrypt", e))? {
        Received::New(local, news) => {
            announce(&news);
            Ok(Some(local))
        }
        Received::Duplicate => device
            .local_message(m.conv.0, m.seq)
            .map_err(|e| Fail::new(OTHER, format!("local history: {e}"))),
    }
}

/// A local message as a human line, like a plain one with a 🔒.
pub(crate) fn line(conversation: &str, m: &LocalMessage) -> String {
    let (from, time) = (safe(&m.sender), utc(m.ts_ms));
    format!("{time} {conversation} #{} {from} 🔒: {}", m.seq, text(m))
}

/// The text to show for a local message.
fn text(m: &LocalMessage) -> String {
    match m.status {
        Status::Ok => body_text(&m.body),
        Status::UnknownDevice => format!(
            "{} [⚠ sent from a device {} has not published]",
            body_text(&m.body),
            safe(&m.sender)
        ),
        Status::Undecryptable => {
            "[unable to decrypt this message (tampered, or the session was reset); \
             a new session is set up with the next message]"
                .to_owned()
        }
        Status::NotForThisDevice => {
            "[end-to-end encrypted before this device was added: not readable here]".to_owned()
        }
    }
}

/// A local message as JSON (like a plain message, plus `e2e` and `status`).
pub(crate) fn json(conversation: &str, m: &LocalMessage) -> Value {
    let status = match m.status {
        Status::Ok => "ok",
        Status::UnknownDevice => "unknown_device",
        Status::Undecryptable => "undecryptable",
        Status::NotForThisDevice => "not_for_this_device",
    };
    json!({
        "conversation": conversation, "conv": m.conv, "seq": m.seq, "ts_ms": m.ts_ms,
        "from": m.sender, "body": m.body, "e2e": true, "status": status,
    })
}

/// What a client without this device's keys shows for an encrypted message.
pub(crate) const LOCKED: &str =
    "[end-to-end encrypted: run `natter history` or `natter listen` with the password to read it]";

/// Like [`common::open`], but with this user's device when this
/// `NATTER_HOME` has one (also one its first login just created), unlocked
/// with the password. Without a password at hand (no file, no
/// NATTER_PASSWORD, no terminal) or when its keys cannot be published, it
/// goes on without: encrypted messages are then shown locked.
pub(crate) async fn open_if_device(
    args: &ClientArgs,
    home: &Home,
    ack_delivery: bool,
) -> Result<(LoggedIn, Option<E2eDevice>), Fail> {
    let file = device_file(home, args)?;
    if !super::e2e_login::password_at_hand(args) {
        if file.exists() {
            eprintln!("natter: warning: no password: encrypted messages are shown locked");
        }
        return Ok((common::open(args, home, ack_delivery).await?, None));
    }
    let existing = match file.exists() {
        true => Some(open_device(home, args).await?),
        false => None,
    };
    let session = login(args, home, ack_delivery, existing.as_ref()).await?;
    let device = match existing {
        Some(device) => Some(device),
        None if file.exists() => Some(open_device(home, args).await?),
        None => None,
    };
    let Some(mut device) = device else {
        return Ok((session, None));
    };
    match e2e::publish(&session.client, &mut device).await {
        Ok(()) => Ok((session, Some(device))),
        Err(e) => {
            let why = safe(&e.to_string()).into_owned();
            eprintln!("natter: warning: encrypted messages are shown locked: {why}");
            session.client.set_e2e_device(None).await;
            Ok((session, None))
        }
    }
}

/// JSON and a line for an encrypted message `m` (`None`: a replay, not
/// shown): decrypted once into the local store, then read from it.
pub(crate) async fn render(
    session: &LoggedIn,
    device: Option<&mut E2eDevice>,
    conversation: &str,
    m: &Message,
) -> Result<Option<(Value, String)>, Fail> {
    let Some(device) = device else {
        let from = m.sender.as_ref().map_or("*", |u| u.name.as_str());
        let line = format!(
            "{} {conversation} #{} {} 🔒: {LOCKED}",
            utc(m.ts_ms),
            m.seq,
            safe(from)
        );
        let value = json!({
            "conversation": conversation, "conv": m.conv.0, "seq": m.seq, "ts_ms": m.ts_ms,
            "from": from, "body": "", "e2e": true, "status": "locked",
        });
        return Ok(Some((value, line)));
    };
    Ok(local(session, device, m)
        .await?
        .map(|l| (json(conversation, &l), line(conversation, &l))))
}
