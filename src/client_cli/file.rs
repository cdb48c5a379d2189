//! `natter file send | list | get | reject`: file transfer (issue 14).
//! Progress bars (rate, ETA) go to stderr, and only on a terminal.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use natter_api::{FileId, FileInfo, FileState, Target};
use natter_client::files::{FileError, LocalFile};
use serde_json::{Value, json};

use super::common::{self, ClientArgs, Home, LoggedIn, block_on, client_fail};
use super::output::{print_json, safe};
use super::{Dest, SendDest, find_conversation};
use crate::exit::{Fail, OTHER, USAGE};

/// `natter file …`.
#[derive(Debug, clap::Args)]
pub(crate) struct FileArgs {
    #[command(subcommand)]
    pub(crate) command: FileCommand,
}

/// One file operation.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FileCommand {
    /// Offer a file to a user or a group and upload it (resumes an
    /// interrupted upload of the same file to the same conversation).
    Send {
        #[command(flatten)]
        common: ClientArgs,
        #[command(flatten)]
        dest: SendDest,
        /// The file.
        path: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Files offered to me or by me, with each recipient's state.
    List {
        #[command(flatten)]
        common: ClientArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download a file offered to me (resumes from OUT.part), verify its
    /// BLAKE3 hash and save it; the sender is told the result.
    Get {
        #[command(flatten)]
        common: ClientArgs,
        /// The file's id (from `natter file list`).
        id: u64,
        /// Where to save it (default: its name in the current directory).
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reject a file offered to me; the sender is told.
    Reject {
        #[command(flatten)]
        common: ClientArgs,
        /// The file's id.
        id: u64,
    },
}

/// Runs `natter file …`.
pub(crate) fn file(args: FileArgs) -> Result<(), Fail> {
    block_on(async move {
        let home = Home::from_env()?;
        match args.command {
            FileCommand::Send {
                common,
                dest,
                path,
                json,
            } => send(&common, &home, &dest.dest(), &path, json).await,
            FileCommand::List { common, json } => list(&common, &home, json).await,
            FileCommand::Get {
                common,
                id,
                out,
                json,
            } => get(&common, &home, FileId(id), out, json).await,
            FileCommand::Reject { common, id } => reject(&common, &home, FileId(id)).await,
        }
    })
}

async fn send(
    args: &ClientArgs,
    home: &Home,
    dest: &Dest,
    path: &Path,
    json: bool,
) -> Result<(), Fail> {
    if *dest == Dest::Lobby {
        return Err(Fail::new(
            USAGE,
            "files go to a user (--to) or a group (--group)",
        ));
    }
    let local = LocalFile::read(path).map_err(|e| file_fail("cannot read the file", e))?;
    let session = common::open(args, home, false).await?;
    let target = match dest {
        Dest::User(name) => Target::User(name.clone()),
        _ => Target::Conversation(
            find_conversation(&session.client, session.server, dest)
                .await?
                .id,
        ),
    };
    let bar = progress_bar(local.size, "uploading");
    let sent = session
        .client
        .send_file(target, &local, |n| bar.set_position(n))
        .await;
    bar.finish_and_clear();
    let (offered, sent) = sent.map_err(|e| transfer_fail(&session, "the upload failed", e))?;
    let info = session.client.file_status(offered.offer.id).await;
    let info = info.map_err(|e| client_fail(session.server, "the file's status", e))?;
    if json {
        print_json(&json!({
            "file": info_json(&info),
            "resumed_from": offered.uploaded,
            "conv": sent.conv.0,
            "seq": sent.seq,
        }));
    } else {
        println!(
            "offered {} ({} bytes) to {} as file {}",
            safe(&local.name),
            local.size,
            dest.label(),
            info.offer.id.0
        );
    }
    Ok(())
}

async fn list(args: &ClientArgs, home: &Home, json: bool) -> Result<(), Fail> {
    let session = common::open(args, home, false).await?;
    let files = session.client.files().await;
    let files = files.map_err(|e| client_fail(session.server, "cannot list files", e))?;
    if json {
        let list: Vec<Value> = files.iter().map(info_json).collect();
        print_json(&json!({ "files": list }));
        return Ok(());
    }
    for info in &files {
        println!("{}", info_line(info, &session));
    }
    Ok(())
}

async fn get(
    args: &ClientArgs,
    home: &Home,
    id: FileId,
    out: Option<PathBuf>,
    json: bool,
) -> Result<(), Fail> {
    let session = common::open(args, home, false).await?;
    let info = session.client.file_status(id).await;
    let info = info.map_err(|e| client_fail(session.server, "no such file", e))?;
    let out = out.unwrap_or_else(|| default_out(&info.offer.name));
    if out.exists() {
        let text = format!("{} exists; choose another --out", out.display());
        return Err(Fail::new(USAGE, text));
    }
    let bar = progress_bar(info.offer.size, "downloading");
    let done = session
        .client
        .download_file(id, &out, |n| bar.set_position(n))
        .await;
    bar.finish_and_clear();
    let done = done.map_err(|e| transfer_fail(&session, "the download failed", e))?;
    if json {
        print_json(&json!({
            "path": done.path,
            "size": done.size,
            "resumed_from": done.resumed_from,
            "verified": true,
        }));
    } else {
        println!(
            "saved {} ({} bytes, BLAKE3 verified)",
            done.path.display(),
            done.size
        );
    }
    Ok(())
}

async fn reject(args: &ClientArgs, home: &Home, id: FileId) -> Result<(), Fail> {
    let session = common::open(args, home, false).await?;
    let done = session.client.reject_file(id).await;
    done.map_err(|e| client_fail(session.server, "cannot reject the file", e))?;
    println!("rejected file {}", id.0);
    Ok(())
}

/// The offered name as a file in the current directory: its last path
/// part only (a name from the network never picks a directory).
fn default_out(name: &str) -> PathBuf {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    match last {
        "" | "." | ".." => PathBuf::from("download"),
        last => PathBuf::from(last),
    }
}

/// A bar with rate and ETA on stderr if it is a terminal, else hidden.
fn progress_bar(len: u64, what: &'static str) -> ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

fn transfer_fail(session: &LoggedIn, what: &str, e: FileError) -> Fail {
    match e {
        FileError::Client(e) => client_fail(session.server, what, e),
        other => file_fail(what, other),
    }
}

fn file_fail(what: &str, e: FileError) -> Fail {
    Fail::new(OTHER, format!("{what}: {e}"))
}

/// One human line: id, name, size, who from, and the states.
fn info_line(info: &FileInfo, session: &LoggedIn) -> String {
    let head = format!(
        "{:>5}  {}  {} bytes",
        info.offer.id.0,
        safe(&info.offer.name),
        info.offer.size
    );
    if info.from.id != session.user.id {
        let state = info.mine.map_or("?", state_word);
        return format!("{head}  from {}  [{state}]", safe(&info.from.name));
    }
    let mut parts = Vec::new();
    if !info.complete {
        parts.push(format!("uploaded {}/{}", info.uploaded, info.offer.size));
    }
    for r in &info.recipients {
        parts.push(recipient_text(&r.user.name, r.state));
    }
    format!("{head}  sent by you  [{}]", parts.join(", "))
}

/// "delivered intact to bob", "rejected by bob", …
fn recipient_text(name: &str, state: FileState) -> String {
    let name = safe(name);
    match state {
        FileState::Pending => format!("pending for {name}"),
        FileState::Accepted => format!("being fetched by {name}"),
        FileState::Rejected => format!("rejected by {name}"),
        FileState::Delivered => format!("delivered intact to {name}"),
        FileState::Corrupted => format!("corrupted at {name}"),
    }
}

/// What `natter listen` prints when a recipient of my file changes state:
/// `{"type": "file", ...}` and `file 7: delivered intact to bob`.
pub(crate) fn update(id: FileId, user: &str, state: FileState) -> (Value, String) {
    let v = json!({"type": "file", "id": id.0, "user": user, "state": state_word(state)});
    (v, format!("file {}: {}", id.0, recipient_text(user, state)))
}

fn state_word(state: FileState) -> &'static str {
    match state {
        FileState::Pending => "pending",
        FileState::Accepted => "accepted",
        FileState::Rejected => "rejected",
        FileState::Delivered => "delivered",
        FileState::Corrupted => "corrupted",
    }
}

fn info_json(info: &FileInfo) -> Value {
    let recipients: Vec<Value> = info
        .recipients
        .iter()
        .map(|r| json!({ "user": r.user.name, "state": state_word(r.state) }))
        .collect();
    json!({
        "id": info.offer.id.0,
        "name": info.offer.name,
        "size": info.offer.size,
        "media_type": info.offer.media_type,
        "hash": info.offer.hash,
        "conv": info.conv.0,
        "from": info.from.name,
        "uploaded": info.uploaded,
        "complete": info.complete,
        "mine": info.mine.map(state_word),
        "recipients": recipients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offered_name_never_picks_a_directory() {
        assert_eq!(default_out("report.pdf"), PathBuf::from("report.pdf"));
        assert_eq!(default_out("../../etc/passwd"), PathBuf::from("passwd"));
        assert_eq!(default_out("a\\b.txt"), PathBuf::from("b.txt"));
        assert_eq!(default_out(".."), PathBuf::from("download"));
        assert_eq!(default_out("dir/"), PathBuf::from("download"));
    }
}
