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
    /// `/help`.
    Help,
    /// `/quit`.
    Quit,
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
        "help" => Ok(Command::Help),
        "quit" | "exit" => Ok(Command::Quit),
        other => Err(ParseError(format!(
            "unknown command /{other} (type /help for the list)"
        ))),
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
