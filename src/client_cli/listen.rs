//! `natter listen`: prints what was missed (the offline sync), then every
//! event as it comes, until Ctrl-C. Messages are acknowledged as delivered.
//!
//! `--json` prints one object per line with a `type`: `message`, `synced`
//! (the offline sync is complete), `delivered` (✓✓ watermark), `presence`,
//! `connection`, `added` (someone added me to a group), `outgoing` (a
//! queued message from an earlier run was stored or rejected).

use std::borrow::Cow;

use natter_api::Event;
use natter_client::{ClientEvent, ConnectionState, OutgoingState};
use serde_json::{Value, json};

use super::common::{Home, LoggedIn, block_on};
use super::output::{Labels, message_json, message_line, print_json, safe};
use super::{Dest, ListArgs};
use crate::exit::{AUTH, Fail, OTHER};

/// Runs `natter listen`.
pub(crate) fn listen(args: ListArgs) -> Result<(), Fail> {
    block_on(async move {
        let home = Home::from_env()?;
        let (mut session, device) = super::e2e::open_if_device(&args.common, &home, true).await?;
        eprintln!(
            "natter: listening as {} on {} (Ctrl-C to stop)",
            safe(&session.user.name),
            session.server
        );
        let mut printer = Printer {
            json: args.json,
            labels: Labels::default(),
            device,
        };
        loop {
            let event = tokio::select! {
                event = session.events.recv() => event,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            let Some(event) = event else {
                return Err(Fail::new(OTHER, "the client stopped"));
            };
            printer.print(&session, event).await?;
        }
    })
}

struct Printer {
    json: bool,
    labels: Labels,
    /// This user's end-to-end encryption device, if this home has one.
    device: Option<natter_client::e2e::E2eDevice>,
}

impl Printer {
    async fn print(&mut self, session: &LoggedIn, event: ClientEvent) -> Result<(), Fail> {
        let (value, line) = match event {
            ClientEvent::Server(event) => match self.server_event(session, event).await? {
                Some(printed) => printed,
                None => return Ok(()),
            },
            ClientEvent::Connection(state) => connection(state),
            ClientEvent::Outgoing { client_id, state } => outgoing(client_id, &state),
        };
        self.emit(value, &line);
        Ok(())
    }

    /// What to print for one of the server's events (`None`: nothing).
    async fn server_event(
        &mut self,
        session: &LoggedIn,
        event: Event,
    ) -> Result<Option<(Value, String)>, Fail> {
        let client = &session.client;
        Ok(Some(match event {
            Event::Message(m) if m.e2e.is_some() => {
                let conv = self.labels.get(client, m.conv).await;
                let device = self.device.as_mut();
                return super::e2e::render(session, device, &conv, &m).await;
            }
            Event::Message(m) => {
                let conv = self.labels.get(client, m.conv).await;
                (message_json(&conv, &m), message_line(&conv, &m))
            }
            Event::Conversations(list) => {
                self.labels.set(&list);
                self.catch_up(session).await?;
                (json!({"type": "synced"}), "-- up to date --".to_owned())
            }
            Event::Delivered { conv, seq } => {
                let name = self.labels.get(client, conv).await;
                let v =
                    json!({"type": "delivered", "conversation": name, "conv": conv.0, "seq": seq});
                (v, format!("✓✓ {name} up to #{seq}"))
            }
            Event::Presence(list) => {
                let users: Vec<_> = list
                    .iter()
                    .map(|p| json!({"name": p.user.name, "online": p.online}))
                    .collect();
                let text: Vec<_> = list
                    .iter()
                    .map(|p| format!("{} is {}", safe(&p.user.name), online(p.online)))
                    .collect();
                (json!({"type": "presence", "users": users}), text.join(", "))
            }
            Event::SessionEnded { reason } => {
                return Err(Fail::new(
                    AUTH,
                    format!("the server ended the session: {reason}"),
                ));
            }
            Event::Added { conversation, by } => added(&conversation, by.as_ref()),
            Event::Removed {
                conv,
                by,
                kind,
                reason,
            } => {
                let name = self.labels.get(client, conv).await;
                super::moderation::removed(&name, &by.name, kind, reason.as_deref())
            }
            Event::Seen { conv, seq } => {
                let name = self.labels.get(client, conv).await;
                let v = json!({"type": "seen", "conversation": name, "conv": conv.0, "seq": seq});
                (v, format!("-- {name} has seen up to #{seq} --"))
            }
            Event::Typing { conv, user, typing } => {
                let name = self.labels.get(client, conv).await;
                let v = json!({"type": "typing", "conversation": name, "conv": conv.0,
                               "user": user.name, "typing": typing});
                let doing = if typing {
                    "is typing"
                } else {
                    "stopped typing"
                };
                (v, format!("-- {} {doing} in {name} --", safe(&user.name)))
            }
            Event::FileUpdate { id, user, state } => super::file::update(id, &user.name, state),
            Event::ServerClosing { .. }
            | Event::Read { .. }
            | Event::ConversationsPart(_)
            | Event::Behind { .. } => return Ok(None),
        }))
    }

    /// Prints the encrypted messages this device missed (the sync starts
    /// from the user's cursor, which another device may have moved).
    async fn catch_up(&mut self, session: &LoggedIn) -> Result<(), Fail> {
        let Some(device) = self.device.as_mut() else {
            return Ok(());
        };
        let caught = natter_client::e2e::catch_up(&session.client, device).await;
        let caught =
            caught.map_err(|e| super::e2e::e2e_fail(session.server, "cannot catch up", e))?;
        for (m, received) in caught {
            let natter_client::e2e::Received::New(local, news) = received else {
                continue;
            };
            super::e2e::announce(&news);
            let conv = self.labels.get(&session.client, m.conv).await;
            let value = super::e2e::json(&conv, &local);
            self.emit(value, &super::e2e::line(&conv, &local));
        }
        Ok(())
    }

    fn emit(&self, mut value: Value, line: &str) {
        if !self.json {
            // Every part is already safe; this is the last line of defence.
            println!("{}", natter_api::text::printable(line));
            return;
        }
        if value.get("type").is_none() {
            value["type"] = json!("message");
        }
        print_json(&value);
    }
}

/// `{"type": "added", ...}` and `-- added to #crew by ann --`.
fn added(
    conv: &natter_api::ConversationInfo,
    by: Option<&natter_api::UserInfo>,
) -> (Value, String) {
    let name = Dest::from(&conv.kind).label();
    let by = by.map(|u| u.name.as_str());
    let who = by.map_or(Cow::Borrowed("the server"), safe);
    let v = json!({"type": "added", "conversation": name, "conv": conv.id.0, "by": by});
    (v, format!("-- added to {name} by {who} --"))
}

fn online(on: bool) -> &'static str {
    if on { "online" } else { "offline" }
}

fn connection(state: ConnectionState) -> (Value, String) {
    let value = match state {
        ConnectionState::Connected => json!({"type": "connection", "state": "connected"}),
        ConnectionState::Resumed => json!({"type": "connection", "state": "resumed"}),
        ConnectionState::Reconnecting { attempt } => {
            json!({"type": "connection", "state": "reconnecting", "attempt": attempt})
        }
    };
    (value, format!("-- {state} --"))
}

fn outgoing(client_id: uuid::Uuid, state: &OutgoingState) -> (Value, String) {
    let glyph = state.glyph();
    let (name, text) = match state {
        OutgoingState::Pending => ("pending", glyph.to_owned()),
        OutgoingState::Stored(s) => ("stored", format!("{glyph} #{}", s.seq)),
        OutgoingState::Delivered(s) => ("delivered", format!("{glyph} #{}", s.seq)),
        OutgoingState::Failed(e) => ("failed", format!("failed: {}", safe(&e.message))),
    };
    let value = json!({"type": "outgoing", "client_id": client_id, "state": name});
    (value, format!("queued message {client_id}: {text}"))
}
