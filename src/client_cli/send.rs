//! `natter send`: exits 0 once the message is stored (✓), or with
//! `--wait-delivered` delivered to every other member (✓✓).
//!
//! The message goes through the persistent outbox: if the server cannot be
//! reached (or stops answering) it stays queued on disk and the next
//! `natter send`, `listen` or `chat` of the same user sends it — with the
//! same client id, so it is stored once whatever happens in between.

use natter_api::{Sent, Target};
use natter_client::{OutgoingHandle, QueuedMessage};
use serde_json::json;
use tokio::time::{Instant, timeout_at};

use super::common::{self, Home, LoggedIn, block_on, client_fail};
use super::output::{Labels, print_json, safe};
use super::{Dest, SendArgs, find_conversation};
use crate::exit::{Fail, OTHER, UNREACHABLE};

/// Runs `natter send`.
pub(crate) fn send(args: SendArgs) -> Result<(), Fail> {
    if args.e2e {
        return super::e2e::send(args);
    }
    block_on(async move {
        let home = Home::from_env()?;
        let deadline = Instant::now() + args.common.timeout;
        let msg = QueuedMessage::new(
            args.id.unwrap_or_else(uuid::Uuid::new_v4),
            Target::Lobby, // set below once the destination is resolved
            args.text.join(" "),
        );
        let dest = args.dest.dest();
        let session = match common::open(&args.common, &home, false).await {
            Ok(s) => s,
            Err(f) if f.code == UNREACHABLE => {
                return Err(queue_offline(&args, &home, &dest, msg, f));
            }
            Err(f) => return Err(f),
        };
        let target = target(&session, &dest).await?;
        let own = session
            .client
            .send_with_id(target, msg.body, msg.client_id)
            .await;
        report_restored(&session, deadline).await;
        let sent = wait_stored(&session, own.clone(), deadline).await?;
        let delivered = args.wait_delivered && dest != Dest::Lobby;
        if delivered {
            wait_delivered(&session, own, &sent, deadline).await?;
        }
        print_sent(&dest.label(), msg.client_id, &sent, delivered, args.json);
        Ok(())
    })
}

/// The request target: users and the lobby by name, groups by id.
async fn target(session: &LoggedIn, dest: &Dest) -> Result<Target, Fail> {
    Ok(match dest {
        Dest::User(name) => Target::User(name.clone()),
        Dest::Lobby => Target::Lobby,
        Dest::Group(_) => {
            let conv = find_conversation(&session.client, session.server, dest).await?;
            Target::Conversation(conv.id)
        }
    })
}

/// Waits for ✓, or fails: rejected (its code), or no answer in time (5,
/// the message stays queued).
async fn wait_stored(
    session: &LoggedIn,
    mut own: OutgoingHandle,
    deadline: Instant,
) -> Result<Sent, Fail> {
    match timeout_at(deadline, own.stored()).await {
        Ok(Ok(sent)) => Ok(sent),
        Ok(Err(e)) => Err(client_fail(session.server, "the message was not sent", e)),
        Err(_) => Err(Fail::new(
            UNREACHABLE,
            format!(
                "no confirmation from the server at {} in time: the message stays queued (⏳) \
                 and the next `natter send`, `listen` or `chat` as {} sends it",
                session.server,
                safe(&session.user.name)
            ),
        )),
    }
}

async fn wait_delivered(
    session: &LoggedIn,
    mut own: OutgoingHandle,
    sent: &Sent,
    deadline: Instant,
) -> Result<(), Fail> {
    match timeout_at(deadline, own.delivered()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(client_fail(session.server, "waiting for delivery", e)),
        Err(_) => Err(Fail::new(
            OTHER,
            format!(
                "stored as #{} (✓) but not delivered to every member in time (no ✓✓)",
                sent.seq
            ),
        )),
    }
}

fn print_sent(conversation: &str, id: uuid::Uuid, sent: &Sent, delivered: bool, json: bool) {
    let (state, ticks) = if delivered {
        ("delivered", "✓✓")
    } else {
        ("stored", "✓")
    };
    if json {
        print_json(&json!({
            "state": state, "conversation": conversation, "conv": sent.conv.0,
            "seq": sent.seq, "ts_ms": sent.ts_ms, "client_id": id,
        }));
    } else {
        println!("{ticks} {conversation} #{}", sent.seq);
    }
}

/// Tells (on stderr) what became of the messages an earlier process left
/// in the outbox; those not confirmed by `deadline` stay queued.
async fn report_restored(session: &LoggedIn, deadline: Instant) {
    let mut labels = Labels::default();
    for handle in &session.restored {
        let mut handle = handle.clone();
        let id = handle.client_id;
        match timeout_at(deadline, handle.stored()).await {
            Ok(Ok(sent)) => {
                let conv = labels.get(&session.client, sent.conv).await;
                eprintln!("natter: sent queued message {id}: ✓ {conv} #{}", sent.seq);
            }
            Ok(Err(e)) => {
                let why = safe(&e.to_string()).into_owned();
                eprintln!("natter: queued message {id} was not sent: {why}");
            }
            Err(_) => return,
        }
    }
}

/// The server is unreachable: keep a direct or lobby message in the
/// on-disk outbox for the next run (a group needs the server to resolve
/// its name, so it is not queued).
fn queue_offline(
    args: &SendArgs,
    home: &Home,
    dest: &Dest,
    mut msg: QueuedMessage,
    f: Fail,
) -> Fail {
    msg.target = match dest {
        Dest::User(name) => Target::User(name.clone()),
        Dest::Lobby => Target::Lobby,
        Dest::Group(_) => {
            let why = "a message to a group is not queued while the server is unreachable";
            return Fail::new(f.code, format!("{}; {why}", f.message));
        }
    };
    let (Ok(server), Ok(name)) = (args.common.server_addr(), args.common.user()) else {
        return f;
    };
    if let Err(e) = home.outbox(server, name).save(&msg) {
        return Fail::new(
            f.code,
            format!("{}; could not queue the message: {e}", f.message),
        );
    }
    if args.json {
        let conversation = dest.label();
        print_json(
            &json!({"state": "queued", "conversation": conversation, "client_id": msg.client_id}),
        );
    } else {
        println!("⏳ {} (queued)", dest.label());
    }
    let next = format!("the next `natter send`, `listen` or `chat` as {name} sends it");
    Fail::new(
        f.code,
        format!("{}; the message is queued (⏳) and {next}", f.message),
    )
}
