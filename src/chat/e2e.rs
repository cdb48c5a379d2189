//! End-to-end encrypted directs in `natter chat`: the app marks them and
//! asks for encrypted sends; here they are encrypted with this home's
//! device, and incoming encrypted messages are decrypted (once, into the
//! device's local store) before the app sees them, marked 🔒.

use std::sync::Arc;

use natter_api::{ClientEvent, ClientMsgId, Event, Message, OutgoingState};
use natter_client::Client;
use natter_client::e2e::{E2eDevice, LocalMessage, Received, Status};
use natter_tui::AppEvent;
use tokio::sync::{Mutex, mpsc};

/// This home's device, shared by the sends and the receiving loop.
#[derive(Clone)]
pub(super) struct ChatE2e {
    client: Client,
    device: Option<Arc<Mutex<E2eDevice>>>,
}

impl ChatE2e {
    pub(super) fn new(client: Client, device: Option<E2eDevice>) -> Self {
        let device = device.map(|d| Arc::new(Mutex::new(d)));
        Self { client, device }
    }

    /// Encrypts and posts `body` to `peer`; the ✓ (or the error) comes
    /// back like a plain message's.
    pub(super) fn send(
        &self,
        tx: &mpsc::UnboundedSender<AppEvent>,
        client_id: ClientMsgId,
        peer: String,
        body: String,
    ) {
        let (this, tx) = (self.clone(), tx.clone());
        tokio::spawn(async move {
            let Some(device) = &this.device else {
                let why = "/e2e needs this home's device (made at login with the password): run `natter keys` once, then restart natter chat";
                let _ = tx.send(AppEvent::Error(why.into()));
                return;
            };
            let mut device = device.lock().await;
            let sent = natter_client::e2e::send_encrypted_with_id(
                &this.client,
                &mut device,
                &peer,
                &body,
                client_id,
            )
            .await;
            let event = match sent {
                Ok((sent, news)) => {
                    for n in &news {
                        let _ = tx.send(AppEvent::Notice(crate::client_cli::e2e::announcement(n)));
                    }
                    let state = OutgoingState::Stored(sent);
                    ClientEvent::Outgoing { client_id, state }.into()
                }
                Err(e) => AppEvent::Error(format!("not sent: {e}")),
            };
            let _ = tx.send(event);
        });
    }

    /// `event` with an encrypted message's body replaced by its text (a
    /// replayed ciphertext becomes a notice, not a second line); `None` for
    /// a session repair message, which is taken and never shown.
    pub(super) async fn decrypt(&self, event: ClientEvent) -> Option<AppEvent> {
        let ClientEvent::Server(Event::Message(mut m)) = event else {
            return Some(event.into());
        };
        if m.e2e.is_some() {
            let text = self.text_of(&m).await;
            if natter_client::e2e::is_repair(m.client_id) {
                return None;
            }
            match text {
                Some(text) => m.body = text,
                None => {
                    let why = "a replayed encrypted message was not shown";
                    return Some(AppEvent::Notice(why.into()));
                }
            }
        }
        Some(ClientEvent::Server(Event::Message(m)).into())
    }

    /// A history page with each encrypted message's body replaced by its
    /// text (from the local store once decrypted; one from before this
    /// device was added says so); repairs and replays are left out.
    pub(super) async fn decrypt_page(&self, page: Vec<Message>) -> Vec<Message> {
        let mut out = Vec::with_capacity(page.len());
        for mut m in page {
            if m.e2e.is_some() {
                let text = self.text_of(&m).await;
                match text {
                    Some(text) if !natter_client::e2e::is_repair(m.client_id) => m.body = text,
                    _ => continue,
                }
            }
            out.push(m);
        }
        out
    }

    async fn text_of(&self, m: &Message) -> Option<String> {
        let Some(device) = &self.device else {
            return Some(format!("🔒 {}", crate::client_cli::e2e::LOCKED));
        };
        let mut device = device.lock().await;
        let received = natter_client::e2e::receive(&self.client, &mut device, m).await;
        let local = match received {
            Ok(Received::New(local, _)) => local,
            Ok(Received::Duplicate) => device.local_message(m.conv.0, m.seq).ok()??,
            Err(e) => return Some(format!("🔒 [cannot decrypt: {e}]")),
        };
        Some(format!("🔒 {}", shown(&local)))
    }
}

/// True for an encrypted message event (decrypted before the app sees it).
pub(super) fn is_encrypted(event: &ClientEvent) -> bool {
    matches!(event, ClientEvent::Server(Event::Message(m)) if m.e2e.is_some())
}

fn shown(m: &LocalMessage) -> String {
    match m.status {
        Status::Ok => m.body.clone(),
        Status::UnknownDevice => {
            format!("{} [⚠ from a device not published by the sender]", m.body)
        }
        Status::Undecryptable => {
            "[unable to decrypt; a new session is set up with my next message]".into()
        }
        Status::NotForThisDevice => "[encrypted before this device was added]".into(),
    }
}
