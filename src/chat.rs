//! `natter chat [--plain]`: the interactive client.
//!
//! The state, the slash commands and the drawing live in natter-tui (no
//! networking); this module connects them to natter-client: client events
//! become [`AppEvent`]s, and every [`Action`] the app asks for runs as its
//! own task (so the screen never waits for the network) whose outcome comes
//! back as an event. Typing goes on while the connection is down: messages
//! wait in the outbox (⏳) until the server stores them.
//!
//! The full-screen UI runs on a terminal; `--plain` (also chosen when stdin
//! or stdout is not a terminal, or `TERM=dumb`) is a line-mode REPL with the
//! same slash commands.

mod plain;
mod screen;

use std::io::IsTerminal;

use natter_api::{Anchor, HistoryQuery, Order};
use natter_client::{
    Client, ClientError, ClientEvent, ConnectionState, EventReceiver, OutgoingState,
};
use natter_tui::{Action, App, AppEvent, Link, Outgoing};
use tokio::sync::mpsc;

use crate::client_cli::common::{self, ClientArgs, Home, block_on};
use crate::exit::Fail;

/// `natter chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    pub(crate) common: ClientArgs,
    /// Line mode for dumb terminals and pipes: type lines and slash
    /// commands, incoming messages are printed above the prompt.
    #[arg(long)]
    pub(crate) plain: bool,
}

/// Runs `natter chat`.
pub(crate) fn chat(args: ChatArgs) -> Result<(), Fail> {
    block_on(async move {
        let home = Home::from_env()?;
        let session = common::open(&args.common, &home, true).await?;
        let app = App::new(session.user.name.clone());
        let (bridge, events) = Bridge::start(session.client, session.events);
        if args.plain || !full_screen_possible() {
            plain::run(bridge, events, app).await
        } else {
            screen::run(bridge, events, app).await
        }
    })
}

fn full_screen_possible() -> bool {
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal() && !dumb
}

/// Carries out the app's actions with the client; everything that comes
/// back (client events, answers) arrives on one channel of [`AppEvent`]s.
#[derive(Clone)]
struct Bridge {
    client: Client,
    tx: mpsc::UnboundedSender<AppEvent>,
}

impl Bridge {
    /// Starts forwarding the client's events and asks who is online.
    fn start(client: Client, events: EventReceiver) -> (Self, mpsc::UnboundedReceiver<AppEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(forward(events, tx.clone()));
        let bridge = Self { client, tx };
        bridge.spawn(|c| async move { c.presence().await.map(AppEvent::Presence) });
        (bridge, rx)
    }

    /// Runs `actions`; false once one of them is [`Action::Quit`].
    async fn execute(&self, actions: Vec<Action>) -> bool {
        for action in actions {
            if action == Action::Quit {
                return false;
            }
            self.execute_one(action).await;
        }
        true
    }

    async fn execute_one(&self, action: Action) {
        match action {
            Action::Send {
                client_id,
                target,
                body,
            } => drop(self.client.send_with_id(target, body, client_id).await),
            Action::LoadHistory {
                conv,
                before,
                limit,
            } => self.spawn(move |c| async move {
                let anchor = Anchor::Before(before);
                let order = Order::NewestFirst;
                let query = HistoryQuery {
                    conv,
                    anchor,
                    limit,
                    order,
                };
                let messages = c.history(query).await?;
                Ok(AppEvent::History { conv, messages })
            }),
            Action::MarkRead { conv, seq } => self.spawn(move |c| async move {
                c.mark_read(conv, seq).await?;
                Ok(AppEvent::Read { conv, seq })
            }),
            other => self.execute_command(other),
        }
    }

    /// The slash commands' requests.
    fn execute_command(&self, action: Action) {
        match action {
            Action::Join(name) => {
                self.spawn(move |c| async move { c.join_group(&name).await.map(AppEvent::Group) })
            }
            Action::Leave(conv) => self.spawn(move |c| async move {
                c.leave_group(conv).await.map(|()| AppEvent::Left(conv))
            }),
            Action::Create { name, members } => self.spawn(move |c| async move {
                let members: Vec<&str> = members.iter().map(String::as_str).collect();
                c.create_group(&name, true, &members)
                    .await
                    .map(AppEvent::Group)
            }),
            Action::Invite { conv, user } => self.spawn(move |c| async move {
                c.invite(conv, &user).await?;
                Ok(AppEvent::Notice(format!("invited {user}")))
            }),
            Action::ListUsers => {
                self.spawn(|c| async move { c.presence().await.map(AppEvent::Users) })
            }
            Action::ListMembers(conv) => self.spawn(move |c| async move {
                let members = c.members(conv).await?;
                Ok(AppEvent::Members { conv, members })
            }),
            Action::RefreshConversations => {
                self.spawn(|c| async move { c.conversations().await.map(AppEvent::Conversations) })
            }
            _ => {}
        }
    }

    /// Runs one request in its own task; its answer (or error) becomes an event.
    fn spawn<F, Fut>(&self, request: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<AppEvent, ClientError>> + Send + 'static,
    {
        let tx = self.tx.clone();
        let answer = request(self.client.clone());
        tokio::spawn(async move {
            let event = answer
                .await
                .unwrap_or_else(|e| AppEvent::Error(explain(&e)));
            let _ = tx.send(event);
        });
    }
}

/// Forwards the client's events as app events until either side stops.
async fn forward(mut events: EventReceiver, tx: mpsc::UnboundedSender<AppEvent>) {
    while let Some(event) = events.recv().await {
        if let Some(event) = translate(event)
            && tx.send(event).is_err()
        {
            return;
        }
    }
    let _ = tx.send(AppEvent::Error("the client stopped".into()));
}

fn translate(event: ClientEvent) -> Option<AppEvent> {
    Some(match event {
        ClientEvent::Message(m) => AppEvent::MessageArrived(m),
        ClientEvent::Conversations(list) => AppEvent::Conversations(list),
        ClientEvent::Connection(state) => AppEvent::Connection(link(state)),
        ClientEvent::Outgoing { client_id, state } => AppEvent::Ticks {
            client_id,
            state: outgoing(state)?,
        },
        ClientEvent::Delivered { conv, seq } => AppEvent::Delivered { conv, seq },
        ClientEvent::Read { conv, seq } => AppEvent::Read { conv, seq },
        ClientEvent::Presence(list) => AppEvent::Presence(list),
        ClientEvent::SessionEnded { reason } => AppEvent::Error(format!(
            "the server ended the session ({reason}): /quit and log in again"
        )),
        ClientEvent::ServerClosing { reason } => {
            AppEvent::Notice(format!("the server is shutting down ({reason})"))
        }
    })
}

fn link(state: ConnectionState) -> Link {
    match state {
        ConnectionState::Connected => Link::Connected,
        ConnectionState::Reconnecting { attempt } => Link::Reconnecting(attempt),
        ConnectionState::Resumed => Link::Resumed,
    }
}

fn outgoing(state: OutgoingState) -> Option<Outgoing> {
    Some(match state {
        OutgoingState::Pending => return None,
        OutgoingState::Stored(s) => Outgoing::Stored {
            conv: s.conv,
            seq: s.seq,
            ts_ms: s.ts_ms,
        },
        OutgoingState::Delivered(s) => Outgoing::Delivered {
            conv: s.conv,
            seq: s.seq,
            ts_ms: s.ts_ms,
        },
        OutgoingState::Failed(e) => Outgoing::Failed(e.message),
    })
}

/// A request error in words (the server's own text for its errors).
fn explain(e: &ClientError) -> String {
    match e {
        ClientError::Api(api) => api.message.clone(),
        ClientError::Disconnected => "not connected right now; try again shortly".to_owned(),
        other => other.to_string(),
    }
}
