//! What every client subcommand shares — and `natter chat` reuses:
//!
//! - [`ClientArgs`]: `-s/--server`, `-u/--user`, `--password-file`, `--timeout`
//!   (flatten it into a subcommand's clap struct);
//! - [`Home`]: the client's files under `NATTER_HOME` (known server keys,
//!   session tokens, the persistent outbox);
//! - [`connect`] → [`authenticate`] (resume a saved session, else log in with
//!   the password from `--password-file`, `NATTER_PASSWORD` or a prompt), or
//!   [`open`] doing both plus attaching the persistent outbox;
//! - [`client_fail`]: a [`ClientError`] as an exit code and a sentence.
//!
//! Passwords and tokens are never printed nor logged.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use natter_api::{ErrorCode, SessionToken, UserInfo};
use natter_client::{
    Backoff, Client, ClientError, ClientOptions, ConnectError, DialError, EventReceiver,
    FailoverDialer, OutboxDir, OutgoingHandle,
};
use natter_net::{NetConfig, ServerKeyPolicy, private_files};

use crate::exit::{AUTH, Fail, KEY_CHANGED, NOT_FOUND, OTHER, UNREACHABLE, USAGE, VERSION};

/// Options common to every client subcommand.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClientArgs {
    /// Server address, HOST:PORT, or the nodes of a cluster separated by
    /// commas (HOST:PORT,HOST:PORT,…): tried in order, the next when one
    /// does not answer or dies.
    #[arg(short, long, env = "NATTER_SERVER", default_value = "127.0.0.1:7700")]
    pub(crate) server: String,
    /// Account name.
    #[arg(short, long, env = "NATTER_USER", value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Read the password from the first line of FILE (else the environment
    /// variable NATTER_PASSWORD, else a prompt on the terminal).
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// Give up after this long without the server (connecting, answers,
    /// confirmations), e.g. 15s, 500ms, 2m.
    #[arg(long, default_value = "15s", value_parser = crate::config::parse_duration)]
    pub(crate) timeout: Duration,
}

impl ClientArgs {
    /// The user name, or a usage error.
    pub(crate) fn user(&self) -> Result<&str, Fail> {
        self.user
            .as_deref()
            .ok_or_else(|| Fail::new(USAGE, "no user name: pass -u NAME or set NATTER_USER"))
    }

    /// The server's address: the first of the list (the first address its
    /// HOST resolves to). With a cluster it names the cluster in this
    /// home's files (session token, outbox, device), whichever node
    /// answers.
    pub(crate) fn server_addr(&self) -> Result<SocketAddr, Fail> {
        Ok(self.server_addrs()?[0])
    }

    /// Every address of `-s` (each the first address its HOST resolves
    /// to), in order, without repeats; at least one.
    pub(crate) fn server_addrs(&self) -> Result<Vec<SocketAddr>, Fail> {
        let mut addrs = Vec::new();
        for part in self.server.split(',').map(str::trim) {
            let unresolved =
                |why: String| Fail::new(UNREACHABLE, format!("server `{part}`: {why}"));
            if part.is_empty() {
                return Err(Fail::new(
                    USAGE,
                    format!("server `{}`: an empty address", self.server),
                ));
            }
            let mut resolved = part
                .to_socket_addrs()
                .map_err(|e| unresolved(e.to_string()))?;
            let addr = resolved
                .next()
                .ok_or_else(|| unresolved("no address found".into()))?;
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        Ok(addrs)
    }

    /// Client options: every wait is bounded by `--timeout`.
    pub(crate) fn client_options(&self) -> ClientOptions {
        ClientOptions {
            connect_timeout: self.timeout,
            request_timeout: self.timeout,
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(2),
                factor: 2,
            },
        }
    }
}

/// The client's directory (`NATTER_HOME`, default the platform's data dir
/// plus `natter`, e.g. `~/.local/share/natter`):
///
/// ```text
/// known_servers                 pinned server keys (ADDRESS FINGERPRINT per line)
/// sessions/USER@ADDRESS         session token
/// outbox/USER@ADDRESS/ID.json   one unsent message each
/// ```
///
/// Every directory is mode 0700 and every file 0600: created so, and
/// tightened when a command starts (see [`Home::from_env`]).
#[derive(Debug, Clone)]
pub(crate) struct Home {
    root: PathBuf,
}

impl Home {
    /// `NATTER_HOME`, else the platform default; its files made private
    /// (an older version created them readable by others).
    pub(crate) fn from_env() -> Result<Self, Fail> {
        let root = match std::env::var_os("NATTER_HOME").filter(|v| !v.is_empty()) {
            Some(root) => root.into(),
            None => dirs::data_dir()
                .ok_or_else(|| Fail::new(OTHER, "no data directory found: set NATTER_HOME"))?
                .join("natter"),
        };
        let home = Self { root };
        if let Err(e) = home.restrict() {
            let root = home.root.display();
            eprintln!("natter: warning: cannot make {root} private: {e}");
        }
        Ok(home)
    }

    /// Restricts the directories and files Natter keeps here (only those:
    /// `NATTER_HOME` may be a directory shared with other things).
    fn restrict(&self) -> std::io::Result<()> {
        private_files::restrict(&self.root)?;
        private_files::restrict(&self.known_servers())?;
        private_files::restrict_tree(&self.root.join("sessions"), 1)?;
        match private_files::restrict_tree(&self.root.join("outbox"), 2) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// The known-servers file (server key pinning, trust on first use).
    pub(crate) fn known_servers(&self) -> PathBuf {
        self.root.join("known_servers")
    }

    /// Where the session token of `user` on `server` is kept.
    pub(crate) fn session_file(&self, server: SocketAddr, user: &str) -> PathBuf {
        self.root.join("sessions").join(account_key(server, user))
    }

    /// The end-to-end encryption device of `user` on `server`.
    pub(crate) fn e2e_file(&self, server: SocketAddr, user: &str) -> PathBuf {
        let key = account_key(server, user);
        self.root.join("e2e").join(format!("{key}.db"))
    }

    /// The persistent outbox of `user` on `server`.
    pub(crate) fn outbox(&self, server: SocketAddr, user: &str) -> OutboxDir {
        OutboxDir::new(self.root.join("outbox").join(account_key(server, user)))
    }
}

/// `user@address`, lowercased, safe as a file name.
fn account_key(server: SocketAddr, user: &str) -> String {
    let key = format!("{}@{server}", user.to_lowercase());
    let safe = |c: char| c.is_ascii_alphanumeric() || "@._-".contains(c);
    key.chars().map(|c| if safe(c) { c } else { '_' }).collect()
}

/// A client whose connection is up (not logged in yet). Not natter-net's
/// `Connection`: this is the client library's handle and event stream.
pub(crate) struct Dialed {
    pub(crate) client: Client,
    pub(crate) events: EventReceiver,
    pub(crate) server: SocketAddr,
}

/// Connects to the server within `--timeout`, pinning its key in the
/// known-servers file (a changed key is refused with an explanation).
/// With several addresses the first that answers is used (see
/// [`FailoverDialer`]; the key learnt first is pinned for all of them),
/// and the client moves to another one when its node dies.
pub(crate) async fn connect(args: &ClientArgs, home: &Home) -> Result<Dialed, Fail> {
    let servers = args.server_addrs()?;
    let server = servers[0];
    let policy = ServerKeyPolicy::KnownServers(home.known_servers());
    let dialer = FailoverDialer::udp(&servers, policy, NetConfig::default()).await?;
    let connected = Client::connect(Arc::new(dialer), args.client_options()).await;
    let (client, events) = connected.map_err(|e| connect_fail(&list(&servers), e))?;
    remember_open(&client);
    Ok(Dialed {
        client,
        events,
        server,
    })
}

/// The addresses of `-s`, for messages.
fn list(servers: &[SocketAddr]) -> String {
    let names: Vec<_> = servers.iter().map(SocketAddr::to_string).collect();
    names.join(", ")
}

fn connect_fail(server: &str, e: ConnectError) -> Fail {
    let unreachable = |why: String| {
        Fail::new(
            UNREACHABLE,
            format!("cannot reach the server at {server}: {why}"),
        )
    };
    match e {
        ConnectError::Timeout(t) => unreachable(format!("no answer within {t:?}")),
        ConnectError::Dial(DialError::Unreachable(why)) => unreachable(why),
        ConnectError::Dial(e @ DialError::Io(_)) => unreachable(e.to_string()),
        ConnectError::Dial(DialError::KeyMismatch { detail, .. }) => Fail::new(KEY_CHANGED, detail),
        ConnectError::Dial(e @ DialError::VersionMismatch(_)) => Fail::new(
            VERSION,
            format!("cannot talk to the server at {server}: {e}; upgrade natter on one side"),
        ),
        ConnectError::Dial(e) => Fail::new(OTHER, e.to_string()),
    }
}

/// A logged-in client with its persistent outbox attached (not the
/// server's `Session`).
pub(crate) struct LoggedIn {
    pub(crate) client: Client,
    pub(crate) events: EventReceiver,
    pub(crate) server: SocketAddr,
    pub(crate) user: UserInfo,
    /// Messages a previous process left in the outbox, being sent now.
    pub(crate) restored: Vec<OutgoingHandle>,
}

/// Connects, attaches the outbox of `-u` (so earlier unsent messages go
/// out first) and authenticates. `ack_delivery`: acknowledge the messages
/// received (true for a client that shows them, like `listen` and `chat`;
/// false leaves them undelivered for the next one).
pub(crate) async fn open(
    args: &ClientArgs,
    home: &Home,
    ack_delivery: bool,
) -> Result<LoggedIn, Fail> {
    let name = args.user()?;
    let Dialed {
        client,
        events,
        server,
    } = connect(args, home).await?;
    client.set_delivery_acks(ack_delivery).await;
    let restored = client.attach_outbox(home.outbox(server, name)).await?;
    let user = authenticate(&client, args, home, server).await?;
    Ok(LoggedIn {
        client,
        events,
        server,
        user,
        restored,
    })
}

/// Resumes the session saved for `-u` on this server, else logs in with
/// the password and saves the new session token.
pub(crate) async fn authenticate(
    client: &Client,
    args: &ClientArgs,
    home: &Home,
    server: SocketAddr,
) -> Result<UserInfo, Fail> {
    let name = args.user()?;
    let file = home.session_file(server, name);
    if let Some(token) = read_token(&file) {
        match client.resume(token).await {
            Ok(user) => return Ok(user),
            Err(e) if e.code() == Some(ErrorCode::BadCredentials) => forget_token(&file),
            Err(e) => return Err(client_fail(server, "cannot resume the session", e)),
        }
    }
    let password = password(args, name, false).await?;
    let user = client.login(name, &password).await;
    let user = user.map_err(|e| client_fail(server, &format!("cannot log in as {name}"), e))?;
    save_token(client, &file);
    // The first login of this home creates its end-to-end encryption device.
    super::e2e_login::first_login(client, args, home, &password).await;
    Ok(user)
}

/// Saves the client's session token in `file`, so the next command resumes.
pub(crate) fn save_token(client: &Client, file: &Path) {
    if let Some(token) = client.session_token()
        && let Err(e) = write_private(file, token.0.as_bytes())
    {
        let file = file.display();
        eprintln!("natter: warning: cannot save the session in {file}: {e}");
    }
}

fn read_token(file: &Path) -> Option<SessionToken> {
    let text = std::fs::read_to_string(file).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| SessionToken(token.to_owned()))
}

fn forget_token(file: &Path) {
    let _ = std::fs::remove_file(file);
}

/// Writes `bytes` to `file` readable by the owner only (mode 0600, in
/// directories of mode 0700), replacing it atomically.
pub(crate) fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    private_files::write_atomic(file, bytes)
}

/// The password of `name`: the first line of `--password-file`, else
/// `NATTER_PASSWORD`, else a prompt when stdin is a terminal (asked twice
/// when `confirm`). Never a command-line value.
pub(crate) async fn password(args: &ClientArgs, name: &str, confirm: bool) -> Result<String, Fail> {
    let source = SecretSource {
        file: args.password_file.as_deref(),
        flag: "--password-file",
        env: "NATTER_PASSWORD",
    };
    let prompt = format!("Password for {name}@{}: ", args.server);
    secret(&source, prompt, confirm).await
}

/// Where a secret may come from, in this order: a file, an environment
/// variable, a prompt on the terminal.
pub(crate) struct SecretSource<'a> {
    /// The file given with `flag`, if any (its first line is the secret).
    pub(crate) file: Option<&'a Path>,
    /// The flag naming the file, for messages.
    pub(crate) flag: &'static str,
    /// The environment variable.
    pub(crate) env: &'static str,
}

/// Reads a secret from `source`, prompting (twice when `confirm`) only when
/// stdin is a terminal.
pub(crate) async fn secret(
    source: &SecretSource<'_>,
    prompt: String,
    confirm: bool,
) -> Result<String, Fail> {
    if let Some(file) = source.file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Fail::new(USAGE, format!("{} {}: {e}", source.flag, file.display())))?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    if let Some(pw) = std::env::var_os(source.env) {
        return pw
            .into_string()
            .map_err(|_| Fail::new(USAGE, format!("{} is not valid UTF-8", source.env)));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let (env, flag) = (source.env, source.flag);
        let hint = format!("no password: set {env}, pass {flag} FILE, or run on a terminal");
        return Err(Fail::new(USAGE, hint));
    }
    tokio::task::spawn_blocking(move || prompt_password(&prompt, confirm))
        .await
        .map_err(|e| Fail::new(OTHER, e.to_string()))?
}

fn prompt_password(prompt: &str, confirm: bool) -> Result<String, Fail> {
    let first = rpassword::prompt_password(prompt)?;
    if confirm && rpassword::prompt_password("Repeat the password: ")? != first {
        return Err(Fail::new(USAGE, "the passwords differ"));
    }
    Ok(first)
}

/// A failed request as an exit code and a sentence starting with `what`.
pub(crate) fn client_fail(server: SocketAddr, what: &str, e: ClientError) -> Fail {
    match e {
        ClientError::Api(api) => {
            Fail::new(api_exit_code(api.code), format!("{what}: {}", api.message))
        }
        ClientError::Disconnected => Fail::new(
            UNREACHABLE,
            format!("{what}: lost the connection to the server at {server}"),
        ),
        ClientError::Timeout(t) => Fail::new(
            UNREACHABLE,
            format!("{what}: no answer from the server at {server} within {t:?}"),
        ),
        other => Fail::new(OTHER, format!("{what}: {other}")),
    }
}

/// The exit code for a server error code.
pub(crate) fn api_exit_code(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::BadCredentials
        | ErrorCode::AccountDisabled
        | ErrorCode::TooManyAttempts { .. }
        | ErrorCode::Unauthenticated => AUTH,
        ErrorCode::NoSuchUser
        | ErrorCode::NoSuchConversation
        | ErrorCode::NotMember
        | ErrorCode::NoSuchGroup
        | ErrorCode::InviteOnly
        | ErrorCode::NoSuchSession
        | ErrorCode::NoSuchFile
        | ErrorCode::NotServerAdmin
        | ErrorCode::Forbidden { .. }
        | ErrorCode::Banned
        | ErrorCode::Muted
        | ErrorCode::NoSuchMessage
        | ErrorCode::NotAuthor
        | ErrorCode::MessageDeleted
        | ErrorCode::EditWindowClosed
        | ErrorCode::LimitReached => NOT_FOUND,
        _ => OTHER,
    }
}

/// Clients [`connect`] opened in this process, closed by [`block_on`] when
/// the command is done (successful or not).
static OPEN_CLIENTS: std::sync::Mutex<Vec<Client>> = std::sync::Mutex::new(Vec::new());

fn remember_open(client: &Client) {
    if let Ok(mut open) = OPEN_CLIENTS.lock() {
        open.push(client.clone());
    }
}

/// Closes every client [`connect`] opened: the server sees each connection
/// end at once, instead of retransmitting to a gone process until its idle
/// timeout.
async fn close_open_clients() {
    let open = OPEN_CLIENTS
        .lock()
        .map(|mut open| std::mem::take(&mut *open))
        .unwrap_or_default();
    for client in open {
        client.close().await;
    }
}

/// Runs `f` on a multi-threaded tokio runtime (client subcommands are
/// synchronous at the top, like `natter serve`), logging warnings to
/// stderr (the environment variable NATTER_LOG_LEVEL overrides). The
/// connections `f` opened are closed cleanly before it returns.
pub(crate) fn block_on<F: Future<Output = Result<(), Fail>>>(f: F) -> Result<(), Fail> {
    let filter = std::env::var("NATTER_LOG_LEVEL").unwrap_or_else(|_| "warn".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| Fail::new(USAGE, format!("NATTER_LOG_LEVEL `{filter}`: {e}")))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let result = f.await;
        close_open_clients().await;
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_are_file_names() {
        let v6: SocketAddr = "[::1]:7700".parse().expect("addr");
        assert_eq!(account_key(v6, "Alice"), "alice@___1__7700");
        let v4: SocketAddr = "127.0.0.1:7700".parse().expect("addr");
        assert_eq!(account_key(v4, "bob"), "bob@127.0.0.1_7700");
    }

    #[test]
    fn each_dial_error_has_its_own_exit_code() {
        let server: SocketAddr = "127.0.0.1:7700".parse().expect("addr");
        let server = &server.to_string();
        let code = |e: DialError| connect_fail(server, ConnectError::Dial(e)).code;
        assert_eq!(
            code(DialError::Unreachable("no answer".into())),
            UNREACHABLE
        );
        let mismatch = DialError::KeyMismatch {
            expected: "natter1:a".into(),
            got: "natter1:b".into(),
            detail: "remove the line".into(),
        };
        assert_eq!(code(mismatch), KEY_CHANGED);
        assert_eq!(code(DialError::VersionMismatch(vec![2])), VERSION);
        let timeout = ConnectError::Timeout(Duration::from_secs(1));
        assert_eq!(connect_fail(server, timeout).code, UNREACHABLE);
        let codes = [
            UNREACHABLE,
            KEY_CHANGED,
            VERSION,
            AUTH,
            NOT_FOUND,
            USAGE,
            OTHER,
        ];
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
    }
}
