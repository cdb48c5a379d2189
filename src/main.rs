//! `natter`: the Natter server and client in one binary.
//!
//! Each subcommand lives in its own module; this file only parses the
//! command line, runs the subcommand and turns its error into an exit code
//! (see [`exit`]). To add a subcommand: one `mod` line, one `Command`
//! variant, one arm in [`run`]. A client subcommand flattens
//! [`client_cli::common::ClientArgs`] and connects with
//! [`client_cli::common::open`].

mod bench;
mod chat;
mod client_cli;
mod config;
mod data_lock;
mod exit;
mod serve;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Natter: chat on its own reliable, encrypted UDP transport.
#[derive(Debug, Parser)]
#[command(name = "natter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the chat server. A flag given twice: the last one wins (so a
    /// wrapper script or test can override what it passed first).
    #[command(args_override_self = true)]
    Serve(config::ServeArgs),
    /// Create an account (-u NAME; the password is asked, or read from
    /// NATTER_PASSWORD / --password-file).
    Register(client_cli::RegisterArgs),
    /// List every user: online, or offline and when last seen.
    Users(client_cli::ListArgs),
    /// Send a message; exits once the server stored it (✓).
    Send(client_cli::SendArgs),
    /// Show a page of a conversation's history.
    History(client_cli::HistoryArgs),
    /// Print what was missed, then messages and events as they come.
    Listen(client_cli::ListArgs),
    /// Create, join, leave a group, invite to it, list its members.
    Group(client_cli::GroupArgs),
    /// List my groups and the public groups.
    Groups(client_cli::ListArgs),
    /// List my login sessions, or end one: `natter sessions revoke ID`.
    Sessions(client_cli::SessionsArgs),
    /// Change my password (old: --password-file / NATTER_PASSWORD / prompt;
    /// new: --new-password-file / NATTER_NEW_PASSWORD / prompt); every other
    /// session ends.
    Passwd(client_cli::PasswdArgs),
    /// Load test a server (or a spawned one) and check nothing is lost.
    Bench(natter_bench::BenchArgs),
    /// The interactive client: a terminal UI, or a line-mode REPL with --plain.
    Chat(chat::ChatArgs),
    /// Operate the server: users, disable/enable, reset a password, delete
    /// a user's messages, statistics (as a server admin account), and
    /// backup/restore of the data directory.
    Admin(client_cli::AdminArgs),
    /// Send a file to a user or group, list files, fetch (verified) or
    /// reject one.
    File(client_cli::FileArgs),
    /// End-to-end encryption: this device's keys, or `natter keys verify
    /// USER` (safety number; marks USER's devices verified).
    Keys(client_cli::KeysArgs),
    /// Edit one of my messages: `natter edit --to USER|--group NAME|--lobby
    /// SEQ TEXT` (SEQ as `natter history` shows it).
    Edit(client_cli::EditArgs),
    /// Delete a message (mine, or anyone's in a group I am an admin of):
    /// `natter delete --to USER|--group NAME|--lobby SEQ`.
    Delete(client_cli::DeleteArgs),
    /// Search the messages I may read: `natter search TEXT [--with USER |
    /// --group NAME | --lobby]`, newest first.
    Search(client_cli::SearchArgs),
    /// Who has message SEQ, who not yet, and who has read it: `natter
    /// receipt --with USER|--group NAME|--lobby SEQ`.
    Receipt(client_cli::ReceiptArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => fail.report(),
    }
}

/// Runs one subcommand. Exit codes: see [`exit`].
fn run(command: Command) -> Result<(), exit::Fail> {
    match command {
        Command::Serve(args) => Ok(serve::serve(args)?),
        Command::Register(args) => client_cli::register(args),
        Command::Users(args) => client_cli::users(args),
        Command::Send(args) => client_cli::send(args),
        Command::History(args) => client_cli::history(args),
        Command::Edit(args) => client_cli::edit(args),
        Command::Delete(args) => client_cli::delete(args),
        Command::Listen(args) => client_cli::listen(args),
        Command::Group(args) => client_cli::group(args),
        Command::Groups(args) => client_cli::groups(args),
        Command::Sessions(args) => client_cli::sessions(args),
        Command::Passwd(args) => client_cli::passwd(args),
        Command::Bench(args) => Ok(bench::bench(args)?),
        Command::Chat(args) => chat::chat(args),
        Command::Admin(args) => client_cli::admin(args),
        Command::Keys(args) => client_cli::keys(args),
        Command::File(args) => client_cli::file(args),
        Command::Search(args) => client_cli::search(args),
        Command::Receipt(args) => client_cli::receipt(args),
    }
}

/// Logs go to stderr (stdout is for output scripts parse), filtered by
/// `filter` (`info`, `debug`, or tracing directives).
fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("invalid log level `{filter}`"))?;
    // Colours only on a terminal: a log file must hold no escape sequences.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks over every subcommand (a clash such
    /// as a positional named like a global flag panics here, not in a
    /// user's terminal).
    #[test]
    fn every_subcommand_is_well_formed() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
