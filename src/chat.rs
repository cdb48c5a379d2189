//! `natter chat [--plain]`: the interactive client.
//!
//! The state, the slash commands and the drawing live in natter-tui (no
//! networking); this module connects them to natter-client. The loop
//! selects on the terminal input and the [`Inputs`]: the client's
//! [`EventReceiver`] (its events go to [`App::apply`] as they are) and the
//! answers of the actions. Every [`Action`] the app asks for runs as its
//! own task (so the screen never waits for the network) whose outcome
//! comes back as an answer.
//! Typing goes on while the connection is down: messages wait in the
//! outbox (⏳) until the server stores them.
//!
//! The full-screen UI runs on a terminal; `--plain` (also chosen when stdin
//! or stdout is not a terminal, or `TERM=dumb`) is a line-mode REPL with the
//! same slash commands.

mod e2e;
mod files;
mod plain;
mod screen;

use std::io::IsTerminal;

use natter_api::{Anchor, Event, HistoryQuery, Order};
use natter_client::{Client, ClientError, EventReceiver};
use natter_tui::{Action, App, AppEvent};
use tokio::sync::mpsc;

use crate::client_cli::common::{ClientArgs, Home, block_on};
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
    /// Typing indicators: tell others when I type and show who is typing
    /// ("off" does neither).
    #[arg(long, env = "NATTER_TYPING", value_name = "on|off", default_value = "on",
          value_parser = ["on", "off"])]
    pub(crate) typing: String,
}

/// Runs `natter chat`.
pub(crate) fn chat(args: ChatArgs) -> Result<(), Fail> {
    block_on(async move {
        let home = Home::from_env()?;
        let (session, device) =
            crate::client_cli::e2e::open_if_device(&args.common, &home, true).await?;
        let e2e = e2e::ChatE2e::new(session.client.clone(), device);
        let mut app = App::new(session.user.name.clone());
        app.set_typing_indicators(args.typing == "on");
        let (bridge, answers) = Bridge::start(session.client, e2e.clone());
        let inputs = Inputs {
            events: session.events,
            answers,
            client_stopped: false,
            e2e,
            pending: None,
        };
        if args.plain || !full_screen_possible() {
            plain::run(bridge, inputs, app).await
        } else {
            screen::run(bridge, inputs, app).await
        }
    })
}

fn full_screen_possible() -> bool {
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal() && !dumb
}

/// What the app hears from outside the terminal: the client's events,
/// and the answers of the actions the [`Bridge`] runs.
struct Inputs {
    events: EventReceiver,
    answers: mpsc::UnboundedReceiver<AppEvent>,
    client_stopped: bool,
    /// Decrypts encrypted messages before the app sees them.
    e2e: e2e::ChatE2e,
    /// An encrypted message [`Self::ready`] left for [`Self::next`].
    pending: Option<natter_client::ClientEvent>,
}

impl Inputs {
    /// The next event of either source. Once the client has stopped its
    /// end is reported once, as an error notice; then only answers come.
    async fn next(&mut self) -> Option<AppEvent> {
        loop {
            if let Some(event) = self.pending.take() {
                match self.e2e.decrypt(event).await {
                    Some(shown) => return Some(shown),
                    None => continue, // a session repair: taken, not shown
                }
            }
            let live = !self.client_stopped;
            return tokio::select! {
                event = self.events.recv(), if live => Some(match event {
                    Some(event) if e2e::is_encrypted(&event) => {
                        match self.e2e.decrypt(event).await {
                            Some(shown) => shown,
                            None => continue,
                        }
                    }
                    Some(event) => event.into(),
                    None => {
                        self.client_stopped = true;
                        AppEvent::Error("the client stopped".into())
                    }
                }),
                answer = self.answers.recv() => answer,
            };
        }
    }

    /// An event that is ready now (a burst, e.g. the sync, draws once).
    fn ready(&mut self) -> Option<AppEvent> {
        if self.pending.is_some() {
            return None;
        }
        match self.events.try_recv() {
            Some(event) if e2e::is_encrypted(&event) => {
                self.pending = Some(event); // decrypted by `next`
                None
            }
            Some(event) => Some(event.into()),
            None => self.answers.try_recv().ok(),
        }
    }
}

/// Carries out the app's actions with the client; their answers come back
/// on a channel of their own (see [`Inputs`]).
#[derive(Clone)]
struct Bridge {
    client: Client,
    tx: mpsc::UnboundedSender<AppEvent>,
    e2e: e2e::ChatE2e,
}

impl Bridge {
    /// A bridge for `client` and the receiver of its answers; asks who is
    /// online at once (applied like the server's presence updates).
    fn start(client: Client, e2e: e2e::ChatE2e) -> (Self, mpsc::UnboundedReceiver<AppEvent>) {
        let (tx, answers) = mpsc::unbounded_channel();
        let bridge = Self { client, tx, e2e };
        bridge.answer(|c| async move { c.presence().await.map(|p| Event::Presence(p).into()) });
        (bridge, answers)
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
            Action::SendEncrypted {
                client_id,
                peer,
                body,
            } => self.e2e.send(&self.tx, client_id, peer, body),
            Action::LoadHistory {
                conv,
                before,
                limit,
            } => {
                let e2e = self.e2e.clone();
                self.spawn(move |c| async move {
                    let anchor = Anchor::Before(before);
                    let order = Order::NewestFirst;
                    let query = HistoryQuery {
                        conv,
                        anchor,
                        limit,
                        order,
                    };
                    let messages = e2e.decrypt_page(c.history(query).await?).await;
                    Ok(Some(AppEvent::History { conv, messages }))
                })
            }
            // The server tells every client of mine (this one too) with
            // `Event::Read`, which comes with the client's events.
            Action::MarkRead { conv, seq } => {
                self.spawn(move |c| async move { c.mark_read(conv, seq).await.map(|()| None) })
            }
            other => self.execute_command(other),
        }
    }

    /// The slash commands' requests.
    fn execute_command(&self, action: Action) {
        match action {
            Action::Join(name) => {
                self.answer(move |c| async move { c.join_group(&name).await.map(AppEvent::Group) })
            }
            Action::Leave(conv) => self.answer(move |c| async move {
                c.leave_group(conv).await.map(|()| AppEvent::Left(conv))
            }),
            Action::Create { name, members } => self.answer(move |c| async move {
                let members: Vec<&str> = members.iter().map(String::as_str).collect();
                c.create_group(&name, true, &members)
                    .await
                    .map(AppEvent::Group)
            }),
            Action::Invite { conv, user } => self.answer(move |c| async move {
                c.invite(conv, &user).await?;
                Ok(AppEvent::Notice(format!("invited {user}")))
            }),
            Action::ListUsers => {
                self.answer(|c| async move { c.presence().await.map(AppEvent::Users) })
            }
            Action::ListMembers(conv) => self.answer(move |c| async move {
                let members = c.members(conv).await?;
                Ok(AppEvent::Members { conv, members })
            }),
            Action::RefreshConversations => self
                .answer(|c| async move { c.conversations().await.map(AppEvent::ConversationList) }),
            Action::SendFile { target, path } => self.send_file(target, path),
            Action::AcceptFile { id, out } => self.accept_file(id, out),
            Action::RejectFile(id) => self.reject_file(id),
            Action::Edit { conv, seq, body } => self.answer(move |c| async move {
                c.edit_message(conv, seq, body).await?;
                Ok(AppEvent::Notice(format!("edited #{seq}")))
            }),
            // Ephemeral: a refusal (e.g. no longer a member) is not worth a notice.
            Action::Typing { conv, typing } => self.spawn(move |c| async move {
                let _ = c.typing(conv, typing).await;
                Ok(None)
            }),
            Action::Search { query } => self.answer(move |c| async move {
                let page = c.search(&query, None, None, 20).await?;
                let hits = page.hits;
                Ok(AppEvent::SearchResults { query, hits })
            }),
            Action::Delete { conv, seq } => self.answer(move |c| async move {
                c.delete_message(conv, seq).await?;
                Ok(AppEvent::Notice(format!("deleted #{seq}")))
            }),
            Action::Moderate {
                conv,
                action,
                reason,
            } => self.answer(move |c| async move {
                let settings = c.moderate(conv, action, reason.as_deref()).await?;
                let text = match settings {
                    natter_api::Response::GroupSettings(info) => {
                        crate::client_cli::moderation::settings_lines(&info).join("\n")
                    }
                    _ => "done".to_owned(),
                };
                Ok(AppEvent::Notice(text))
            }),
            Action::Bans(conv) => self.answer(move |c| async move {
                let list = c.bans(conv).await?;
                let lines = crate::client_cli::moderation::ban_lines(&list);
                Ok(AppEvent::Notice(lines.join("\n")))
            }),
            Action::GroupSettings(conv) => self.answer(move |c| async move {
                let info = c.group_settings(conv).await?;
                let lines = crate::client_cli::moderation::settings_lines(&info);
                Ok(AppEvent::Notice(lines.join("\n")))
            }),
            _ => {}
        }
    }

    /// [`Self::spawn`] for a request that always has an answer.
    fn answer<F, Fut>(&self, request: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<AppEvent, ClientError>> + Send + 'static,
    {
        self.spawn(|c| {
            let answer = request(c);
            async move { answer.await.map(Some) }
        });
    }

    /// Runs one request in its own task; its answer (if any) or error
    /// becomes an event.
    fn spawn<F, Fut>(&self, request: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<Option<AppEvent>, ClientError>> + Send + 'static,
    {
        let tx = self.tx.clone();
        let answer = request(self.client.clone());
        tokio::spawn(async move {
            let event = match answer.await {
                Ok(event) => event,
                Err(e) => Some(AppEvent::Error(explain(&e))),
            };
            if let Some(event) = event {
                let _ = tx.send(event);
            }
        });
    }
}

/// A request error in words (the server's own text for its errors).
fn explain(e: &ClientError) -> String {
    match e {
        ClientError::Api(api) => api.message.clone(),
        ClientError::Disconnected => "not connected right now; try again shortly".to_owned(),
        other => other.to_string(),
    }
}
