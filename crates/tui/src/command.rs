//! The input line's language: plain text or a slash command.

/// Every slash command with its usage line, for `/help` and Tab completion.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "/msg",
        "/msg USER [text]   open the direct conversation with USER (and send text)",
    ),
    (
        "/join",
        "/join NAME         switch to conversation NAME or join public group NAME",
    ),
    ("/leave", "/leave             leave the current group"),
    ("/create", "/create NAME [members…]   create a public group"),
    (
        "/invite",
        "/invite USER       add USER to the current group",
    ),
    (
        "/users",
        "/users             every user, online or when last seen",
    ),
    (
        "/members",
        "/members           members of the current conversation",
    ),
    (
        "/file",
        "/file PATH         offer a file to the current conversation",
    ),
    (
        "/accept",
        "/accept ID [PATH]  download an offered file (verified)",
    ),
    ("/reject", "/reject ID         reject an offered file"),
    (
        "/edit",
        "/edit [SEQ] TEXT   replace the text of my message SEQ (default: my last one)",
    ),
    (
        "/delete",
        "/delete [SEQ]      delete message SEQ (default: my last one)",
    ),
    (
        "/search",
        "/search TEXT       find TEXT in the messages I may read (newest first)",
    ),
    (
        "/goto",
        "/goto N            open search result N there (loads history up to it)",
    ),
    (
        "/kick",
        "/kick [--no-ban] USER [reason]   remove USER from the group (and ban them)",
    ),
    ("/ban", "/ban USER [reason]   ban USER (member or not)"),
    ("/unban", "/unban USER        take USER off the ban list"),
    ("/mute", "/mute USER [reason]   USER reads but cannot post"),
    ("/unmute", "/unmute USER       let USER post again"),
    ("/promote", "/promote USER      make USER an admin (owner)"),
    (
        "/demote",
        "/demote USER       make an admin a member (owner)",
    ),
    (
        "/transfer",
        "/transfer USER     make USER the owner (owner)",
    ),
    (
        "/topic",
        "/topic [TEXT]      set (or clear) the group's topic",
    ),
    ("/rename", "/rename NAME       rename the group"),
    (
        "/public",
        "/public yes|no     anyone may join, or invite-only",
    ),
    ("/invites", "/invites admins|members   who may invite"),
    (
        "/deletegroup",
        "/deletegroup       delete the group for everyone (owner)",
    ),
    ("/bans", "/bans              the group's ban list (admins)"),
    ("/settings", "/settings          the group's settings"),
    (
        "/e2e",
        "/e2e on            end-to-end encrypt the current direct conversation (for good)",
    ),
    ("/help", "/help              this help"),
    ("/quit", "/quit              leave natter chat"),
];

/// One parsed line of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Text for the current conversation (a leading `//` sends a literal `/`).
    Text(String),
    /// A slash command.
    Command(Command),
}

/// A slash command with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/msg USER [text]`.
    Msg {
        /// Peer name.
        user: String,
        /// Optional text to send at once.
        text: Option<String>,
    },
    /// `/join NAME`.
    Join(String),
    /// `/leave`.
    Leave,
    /// `/create NAME [members…]`.
    Create {
        /// Group name.
        name: String,
        /// Initial members.
        members: Vec<String>,
    },
    /// `/invite USER`.
    Invite(String),
    /// `/users`.
    Users,
    /// `/members`.
    Members,
    /// `/file PATH`: offer a file.
    File(String),
    /// `/accept ID [PATH]`: download an offered file.
    Accept {
        /// The file.
        id: natter_api::FileId,
        /// Where to save it (default: its name in the current directory).
        out: Option<String>,
    },
    /// `/reject ID`.
    Reject(natter_api::FileId),
    /// `/help`.
    Help,
    /// `/quit`.
    Quit,
    /// `/edit [SEQ] TEXT`.
    Edit {
        /// The message (`None`: my last one in the conversation).
        seq: Option<u64>,
        /// The new text.
        text: String,
    },
    /// `/delete [SEQ]` (`None`: my last message in the conversation).
    Delete(Option<u64>),
    /// `/search TEXT`: every conversation I may read.
    Search(String),
    /// A moderation action in the current group (`/kick`, `/ban`,
    /// `/unban`, `/mute`, `/unmute`, `/promote`, `/demote`, `/transfer`,
    /// `/topic`, `/rename`, `/public`, `/invites`, `/deletegroup`).
    Moderate {
        /// What to do.
        action: natter_api::ModAction,
        /// Why (the words after the user name).
        reason: Option<String>,
    },
    /// `/bans`: the current group's ban list.
    Bans,
    /// `/settings`: the current group's settings.
    Settings,
    /// `/e2e on|off`: end-to-end encrypt the current direct.
    E2e(bool),
    /// `/goto N`: open the conversation of search result N (1-based) at
    /// that message.
    Goto(usize),
}

/// Why a line is not a valid command; the text is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses one line. Blank lines are `Ok(None)`.
pub fn parse(line: &str) -> Result<Option<Input>, ParseError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    if let Some(rest) = line.strip_prefix("//") {
        return Ok(Some(Input::Text(format!("/{rest}"))));
    }
    match line.strip_prefix('/') {
        Some(rest) => parse_command(rest).map(|c| Some(Input::Command(c))),
        None => Ok(Some(Input::Text(line.to_owned()))),
    }
}

fn parse_command(rest: &str) -> Result<Command, ParseError> {
    let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
    let words: Vec<&str> = args.split_whitespace().collect();
    match name {
        "msg" => parse_msg(args),
        "join" => one_word("/join NAME", &words).map(Command::Join),
        "invite" => one_word("/invite USER", &words).map(Command::Invite),
        "create" => parse_create(&words),
        "leave" => no_args(Command::Leave, &words),
        "users" => no_args(Command::Users, &words),
        "members" => no_args(Command::Members, &words),
        "file" => parse_file(args),
        "accept" | "reject" => parse_answer(name, &words),
        "edit" => parse_edit(args),
        "delete" => parse_delete(&words),
        "search" => parse_search(args),
        "goto" => match words.as_slice() {
            [n] => n.parse().map(Command::Goto).map_err(|_| usage("/goto N")),
            _ => Err(usage("/goto N")),
        },
        "e2e" => match words.as_slice() {
            ["on"] => Ok(Command::E2e(true)),
            ["off"] => Ok(Command::E2e(false)),
            _ => Err(usage("/e2e on")),
        },
        "help" => Ok(Command::Help),
        "quit" | "exit" => Ok(Command::Quit),
        other => crate::moderation::parse(other, args).unwrap_or_else(|| {
            Err(ParseError(format!(
                "unknown command /{other} (type /help for the list)"
            )))
        }),
    }
}

fn parse_msg(args: &str) -> Result<Command, ParseError> {
    let args = args.trim_start();
    let (user, text) = args.split_once(' ').unwrap_or((args, ""));
    if user.is_empty() {
        return Err(usage("/msg USER [text]"));
    }
    let text = (!text.trim().is_empty()).then(|| text.to_owned());
    let user = user.to_owned();
    Ok(Command::Msg { user, text })
}

/// A seq as typed: `12` or `#12`.
fn seq_word(word: &str) -> Option<u64> {
    word.strip_prefix('#').unwrap_or(word).parse().ok()
}

fn parse_edit(args: &str) -> Result<Command, ParseError> {
    let args = args.trim();
    let (first, rest) = args.split_once(' ').unwrap_or((args, ""));
    let (seq, text) = match seq_word(first) {
        Some(seq) => (Some(seq), rest.trim_start()),
        None => (None, args),
    };
    if text.is_empty() {
        return Err(usage("/edit [SEQ] TEXT"));
    }
    let text = text.to_owned();
    Ok(Command::Edit { seq, text })
}

fn parse_delete(words: &[&str]) -> Result<Command, ParseError> {
    match words {
        [] => Ok(Command::Delete(None)),
        [word] => seq_word(word)
            .map(|seq| Command::Delete(Some(seq)))
            .ok_or_else(|| usage("/delete [SEQ]")),
        _ => Err(usage("/delete [SEQ]")),
    }
}

fn parse_create(words: &[&str]) -> Result<Command, ParseError> {
    let (name, members) = words
        .split_first()
        .ok_or_else(|| usage("/create NAME [members…]"))?;
    let members = members
        .iter()
        .flat_map(|m| m.split(','))
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect();
    let name = (*name).to_owned();
    Ok(Command::Create { name, members })
}

fn parse_search(args: &str) -> Result<Command, ParseError> {
    natter_api::search_text(args).map_err(|e| ParseError(format!("/search TEXT: {e}")))?;
    Ok(Command::Search(args.trim().to_owned()))
}

fn parse_file(args: &str) -> Result<Command, ParseError> {
    let path = args.trim();
    if path.is_empty() {
        return Err(usage("/file PATH"));
    }
    Ok(Command::File(path.to_owned()))
}

fn parse_answer(name: &str, words: &[&str]) -> Result<Command, ParseError> {
    let id = |w: &str| {
        crate::files::parse_id(w).ok_or_else(|| ParseError(format!("not a file id: {w}")))
    };
    match (name, words) {
        ("accept", [w]) => Ok(Command::Accept {
            id: id(w)?,
            out: None,
        }),
        ("accept", [w, out]) => Ok(Command::Accept {
            id: id(w)?,
            out: Some((*out).to_owned()),
        }),
        ("reject", [w]) => Ok(Command::Reject(id(w)?)),
        ("accept", _) => Err(usage("/accept ID [PATH]")),
        _ => Err(usage("/reject ID")),
    }
}

fn one_word(usage_line: &str, words: &[&str]) -> Result<String, ParseError> {
    match words {
        [word] => Ok((*word).to_owned()),
        _ => Err(usage(usage_line)),
    }
}

fn no_args(command: Command, words: &[&str]) -> Result<Command, ParseError> {
    match words {
        [] => Ok(command),
        _ => Err(ParseError("this command takes no arguments".to_owned())),
    }
}

fn usage(line: &str) -> ParseError {
    ParseError(format!("usage: {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &str) -> Command {
        match parse(line) {
            Ok(Some(Input::Command(c))) => c,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn text_and_blank_lines() {
        assert_eq!(parse("  "), Ok(None));
        assert_eq!(parse("hi there"), Ok(Some(Input::Text("hi there".into()))));
        assert_eq!(parse("//slash"), Ok(Some(Input::Text("/slash".into()))));
    }

    #[test]
    fn every_command_parses() {
        let msg = Command::Msg {
            user: "bob".into(),
            text: Some("hello  you".into()),
        };
        assert_eq!(cmd("/msg bob hello  you"), msg);
        let open = Command::Msg {
            user: "bob".into(),
            text: None,
        };
        assert_eq!(cmd("/msg bob"), open);
        assert_eq!(cmd("/join rust"), Command::Join("rust".into()));
        assert_eq!(cmd("/leave"), Command::Leave);
        let create = Command::Create {
            name: "team".into(),
            members: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(cmd("/create team a b,c"), create);
        assert_eq!(cmd("/invite carol"), Command::Invite("carol".into()));
        assert_eq!(cmd("/users"), Command::Users);
        assert_eq!(cmd("/members"), Command::Members);
        assert_eq!(cmd("/help"), Command::Help);
        assert_eq!(cmd("/quit"), Command::Quit);
    }

    #[test]
    fn bad_commands_explain_themselves() {
        let err = |line: &str| parse(line).expect_err(line).0;
        assert_eq!(err("/msg"), "usage: /msg USER [text]");
        assert_eq!(err("/join a b"), "usage: /join NAME");
        assert_eq!(err("/create"), "usage: /create NAME [members…]");
        assert!(err("/frobnicate").contains("unknown command /frobnicate"));
        assert!(err("/leave now").contains("no arguments"));
    }
}
