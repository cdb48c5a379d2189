//! The [`Client`] handle.

use std::sync::Arc;

use natter_api::{
    ClientMsgId, ConversationId, ConversationInfo, GroupInfo, HistoryQuery, MemberInfo, Message,
    PROTOCOL_VERSION, Presence, Request, Response, Sent, Seq, SessionInfo, SessionToken,
    SyncRequest, Target, UserInfo,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::dialer::Dialer;
use crate::driver::{Cmd, Driver};
use crate::error::{ClientError, ConnectError};
use crate::events::{EventReceiver, OutgoingState};
use crate::options::ClientOptions;
use crate::outbox::Entry;
use crate::outbox_dir::OutboxDir;

/// Handle to a connected client. Cheap to clone; the connection stays up
/// (reconnecting as needed) until every clone is dropped.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) cmds: mpsc::Sender<Box<Cmd>>,
    pub(crate) options: Arc<ClientOptions>,
    token: watch::Receiver<Option<SessionToken>>,
}

/// An outgoing message: its client id and its ⏳/✓ state.
#[derive(Debug, Clone)]
pub struct OutgoingHandle {
    /// The id the message is sent (and resent) with.
    pub client_id: ClientMsgId,
    state: watch::Receiver<OutgoingState>,
}

impl OutgoingHandle {
    /// The current state.
    pub fn state(&self) -> OutgoingState {
        self.state.borrow().clone()
    }

    /// Waits until the message is stored (✓) or rejected. Reconnects in
    /// between are transparent: the outbox resends with the same id.
    pub async fn stored(&mut self) -> Result<Sent, ClientError> {
        let state = self.state.wait_for(|s| *s != OutgoingState::Pending).await;
        match state.map_err(|_| ClientError::Closed)?.clone() {
            OutgoingState::Stored(sent) | OutgoingState::Delivered(sent) => Ok(sent),
            OutgoingState::Failed(e) => Err(ClientError::Api(e)),
            OutgoingState::Pending => Err(ClientError::Closed),
        }
    }
}

impl OutgoingHandle {
    /// Waits until the message is delivered to every other member (✓✓) or
    /// rejected. Only messages stored by this client instance are tracked.
    pub async fn delivered(&mut self) -> Result<Sent, ClientError> {
        let done =
            |s: &OutgoingState| matches!(s, OutgoingState::Delivered(_) | OutgoingState::Failed(_));
        let state = self.state.wait_for(done).await;
        match state.map_err(|_| ClientError::Closed)?.clone() {
            OutgoingState::Delivered(sent) => Ok(sent),
            OutgoingState::Failed(e) => Err(ClientError::Api(e)),
            _ => Err(ClientError::Closed),
        }
    }
}

impl Client {
    /// Dials the server (within `options.connect_timeout`) and starts the
    /// background task. The first event is `Connection(Connected)`.
    pub async fn connect(
        dialer: Arc<dyn Dialer>,
        options: ClientOptions,
    ) -> Result<(Self, EventReceiver), ConnectError> {
        let timeout = options.connect_timeout;
        let link = tokio::time::timeout(timeout, dialer.dial())
            .await
            .map_err(|_| ConnectError::Timeout(timeout))??;
        let (cmds, cmd_rx) = mpsc::channel(256);
        let (events, event_rx) = mpsc::unbounded_channel();
        let (token_tx, token) = watch::channel(None);
        let driver = Driver::new(dialer, options.clone(), link, cmd_rx, events, token_tx);
        tokio::spawn(driver.run());
        let client = Self {
            cmds,
            options: Arc::new(options),
            token,
        };
        Ok((client, EventReceiver(event_rx)))
    }

    /// Sends any request and waits for its answer (within `request_timeout`).
    pub async fn request(&self, request: Request) -> Result<Response, ClientError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Cmd::Call { request, reply };
        self.cmds
            .send(Box::new(cmd))
            .await
            .map_err(|_| ClientError::Closed)?;
        let timeout = self.options.request_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout(timeout)),
        }
    }

    /// Creates an account (does not log in).
    pub async fn register(&self, name: &str, password: &str) -> Result<UserInfo, ClientError> {
        let request = Request::Register {
            name: name.to_owned(),
            password: password.to_owned(),
        };
        match self.request(request).await? {
            Response::Registered { user } => Ok(user),
            other => Err(unexpected(other)),
        }
    }

    /// Logs in. The offline sync follows as events, ending with
    /// `ClientEvent::Conversations`. The session token is kept for resuming.
    pub async fn login(&self, name: &str, password: &str) -> Result<UserInfo, ClientError> {
        let request = Request::Login {
            version: PROTOCOL_VERSION,
            name: name.to_owned(),
            password: password.to_owned(),
            sync: SyncRequest::default(), // the driver fills in its cursors
        };
        match self.request(request).await? {
            Response::LoggedIn { user, .. } => Ok(user),
            other => Err(unexpected(other)),
        }
    }

    /// Resumes a session with a token saved from an earlier login (see
    /// [`Client::session_token`]), instead of sending the password again.
    /// The offline sync follows as after [`Client::login`]. A server error
    /// `bad_credentials` means the token is unknown or expired: log in.
    pub async fn resume(&self, token: SessionToken) -> Result<UserInfo, ClientError> {
        let request = Request::Resume {
            version: PROTOCOL_VERSION,
            token,
            sync: SyncRequest::default(), // the driver fills in its cursors
        };
        match self.request(request).await? {
            Response::Resumed { user, .. } => Ok(user),
            other => Err(unexpected(other)),
        }
    }

    /// The current session token (after a login or resume), to save for
    /// [`Client::resume`] by a later process. `None` when logged out.
    pub fn session_token(&self) -> Option<SessionToken> {
        self.token.borrow().clone()
    }

    /// Makes the outbox persistent in `dir`: every message queued from now
    /// on is written there until the server stores or rejects it, and the
    /// messages a previous process left there are queued again (same client
    /// ids, so never stored twice). Returns their handles, oldest first.
    /// Call it before logging in so the restored messages go out first.
    pub async fn attach_outbox(&self, dir: OutboxDir) -> std::io::Result<Vec<OutgoingHandle>> {
        let mut restored = Vec::new();
        let mut handles = Vec::new();
        for msg in dir.load()? {
            let (state, rx) = watch::channel(OutgoingState::Pending);
            let client_id = msg.client_id;
            restored.push(Entry::new(msg, state));
            handles.push(OutgoingHandle {
                client_id,
                state: rx,
            });
        }
        let cmd = Cmd::AttachOutbox { dir, restored };
        self.cmds
            .send(Box::new(cmd))
            .await
            .map_err(std::io::Error::other)?;
        Ok(handles)
    }

    /// Turns delivery acknowledgements on (the default) or off. Off suits a
    /// one-shot command that receives the offline sync without showing it:
    /// the messages stay undelivered (no ✓✓ for their senders) and are
    /// synced again to the next client.
    pub async fn set_delivery_acks(&self, on: bool) {
        let _ = self.cmds.send(Box::new(Cmd::DeliveryAcks(on))).await;
    }

    /// Queues a message (⏳) and returns at once. It is sent now if logged in,
    /// else after the next login/resume, and resent with the same client id
    /// after any reconnect until the server stores it (✓).
    pub async fn send(&self, target: Target, text: impl Into<String>) -> OutgoingHandle {
        self.send_with_id(target, text, uuid::Uuid::new_v4()).await
    }

    /// Like [`Client::send`] with a caller-chosen client id (resending the
    /// same id never creates a second message).
    pub async fn send_with_id(
        &self,
        target: Target,
        text: impl Into<String>,
        client_id: ClientMsgId,
    ) -> OutgoingHandle {
        let (state, rx) = watch::channel(OutgoingState::Pending);
        let body = text.into();
        let cmd = Cmd::Send {
            client_id,
            target,
            body,
            state,
        };
        // If the driver is gone the sender is dropped and `stored()` says Closed.
        let _ = self.cmds.send(Box::new(cmd)).await;
        OutgoingHandle {
            client_id,
            state: rx,
        }
    }

    /// One page of a conversation's history.
    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<Message>, ClientError> {
        match self.request(Request::History(query)).await? {
            Response::History { messages, .. } => Ok(messages),
            other => Err(unexpected(other)),
        }
    }

    /// My conversations, in id order: every page of the list, asked for one
    /// after the other (each answer stays far below the message size limit).
    pub async fn conversations(&self) -> Result<Vec<ConversationInfo>, ClientError> {
        let mut list = Vec::new();
        let mut after = None;
        loop {
            let request = Request::ConversationsPage {
                after,
                limit: natter_api::MAX_CONVERSATION_PAGE,
            };
            let (page, more) = match self.request(request).await? {
                Response::ConversationsPage { list, more } => (list, more),
                other => return Err(unexpected(other)),
            };
            after = page.last().map(|c| c.id);
            list.extend(page);
            if !more || after.is_none() {
                return Ok(list);
            }
        }
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<UserInfo>, ClientError> {
        match self.request(Request::Users).await? {
            Response::Users(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// Creates a group (I become its owner; `members` are user names).
    pub async fn create_group(
        &self,
        name: &str,
        public: bool,
        members: &[&str],
    ) -> Result<GroupInfo, ClientError> {
        let members = members.iter().map(|m| (*m).to_owned()).collect();
        let name = name.to_owned();
        let request = Request::CreateGroup {
            name,
            public,
            members,
        };
        match self.request(request).await? {
            Response::Group(group) => Ok(group),
            other => Err(unexpected(other)),
        }
    }

    /// Joins a public group by name.
    pub async fn join_group(&self, name: &str) -> Result<GroupInfo, ClientError> {
        let name = name.to_owned();
        match self.request(Request::JoinGroup { name }).await? {
            Response::Group(group) => Ok(group),
            other => Err(unexpected(other)),
        }
    }

    /// Leaves a group.
    pub async fn leave_group(&self, conv: ConversationId) -> Result<(), ClientError> {
        self.request(Request::LeaveGroup { conv }).await.map(drop)
    }

    /// Adds user `name` to a group I am a member of.
    pub async fn invite(&self, conv: ConversationId, name: &str) -> Result<(), ClientError> {
        let user = name.to_owned();
        self.request(Request::Invite { conv, user }).await.map(drop)
    }

    /// Groups I am a member of.
    pub async fn my_groups(&self) -> Result<Vec<GroupInfo>, ClientError> {
        self.groups(Request::MyGroups).await
    }

    /// Every public group.
    pub async fn public_groups(&self) -> Result<Vec<GroupInfo>, ClientError> {
        self.groups(Request::PublicGroups).await
    }

    async fn groups(&self, request: Request) -> Result<Vec<GroupInfo>, ClientError> {
        match self.request(request).await? {
            Response::Groups(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// Current members of a conversation, with role and status.
    pub async fn members(&self, conv: ConversationId) -> Result<Vec<MemberInfo>, ClientError> {
        match self.request(Request::Members { conv }).await? {
            Response::Members(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// Every user with their status.
    pub async fn presence(&self) -> Result<Vec<Presence>, ClientError> {
        match self.request(Request::Presence).await? {
            Response::Presence(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// Marks `conv` read up to `seq` (all my clients get `ClientEvent::Read`).
    pub async fn mark_read(&self, conv: ConversationId, seq: Seq) -> Result<(), ClientError> {
        self.request(Request::AckRead { conv, seq }).await.map(drop)
    }

    /// Who has message `seq` of `conv` and who not yet: `(delivered, pending)`.
    pub async fn receipt(
        &self,
        conv: ConversationId,
        seq: Seq,
    ) -> Result<(Vec<UserInfo>, Vec<UserInfo>), ClientError> {
        match self.request(Request::Receipt { conv, seq }).await? {
            Response::Receipt {
                delivered, pending, ..
            } => Ok((delivered, pending)),
            other => Err(unexpected(other)),
        }
    }

    /// Changes the password; the account's other sessions end. This session
    /// gets a fresh token, which [`Client::session_token`] returns from now
    /// on (save it again: the old one no longer resumes).
    pub async fn change_password(&self, old: &str, new: &str) -> Result<(), ClientError> {
        let request = Request::ChangePassword {
            old_password: old.to_owned(),
            new_password: new.to_owned(),
        };
        match self.request(request).await? {
            Response::PasswordChanged { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// My login sessions, most recently used first (`current` marks this one).
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, ClientError> {
        match self.request(Request::Sessions).await? {
            Response::Sessions(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// Ends my session `id` (from [`Client::sessions`]): its token stops
    /// working and its connections end at once. Revoking the current session
    /// ends this connection too, after the answer.
    pub async fn revoke_session(&self, id: u64) -> Result<(), ClientError> {
        self.request(Request::RevokeSession { id }).await.map(drop)
    }

    /// Ends the session; the token is forgotten (no more resume), and every
    /// other connection that resumed with it gets `SessionEnded` at once.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.request(Request::Logout).await.map(drop)
    }

    /// Closes the connection cleanly (the session stays valid: it can be
    /// resumed later): what was sent is flushed, the transport's CLOSE is
    /// sent so the server ends this connection at once instead of after
    /// its idle timeout, and the dialer is shut down. Waits a few seconds
    /// at most. Afterwards every call of every clone fails with
    /// [`ClientError::Closed`]. Call it before a short-lived program exits.
    pub async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.cmds.send(Box::new(Cmd::Close(done))).await.is_ok() {
            let _ = rx.await;
        }
    }
}

pub(crate) fn unexpected(response: Response) -> ClientError {
    ClientError::Unexpected(format!("{response:?}"))
}
