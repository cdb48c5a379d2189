//! `natter chat --plain`: read lines, print the app's transcript.

use std::borrow::Cow;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use natter_tui::App;
use tokio::sync::mpsc;

use super::{Bridge, Inputs};
use crate::exit::Fail;

/// How long to wait, after the end of input, for queued messages to be stored.
const DRAIN: Duration = Duration::from_secs(15);

/// Runs the REPL until `/quit`, Ctrl-C, or the end of input (after the
/// messages typed so far are stored, or [`DRAIN`] passed).
pub(super) async fn run(bridge: Bridge, mut inputs: Inputs, mut app: App) -> Result<(), Fail> {
    app.keep_transcript();
    let out = Output::new();
    let mut lines = read_stdin();
    let mut input_open = true;
    let drain = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain);
    out.prompt(&app);
    loop {
        let actions = tokio::select! {
            line = lines.recv(), if input_open => match line {
                Some(line) => app.submit_line(&alias(&line)),
                None => {
                    input_open = false;
                    drain.as_mut().reset(tokio::time::Instant::now() + DRAIN);
                    Vec::new()
                }
            },
            Some(event) = inputs.next() => app.apply(event),
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = &mut drain => return Ok(()),
        };
        out.print(&app.take_transcript());
        if app.should_quit() || !bridge.execute(actions).await {
            return Ok(());
        }
        if !input_open && app.pending() == 0 {
            return Ok(());
        }
        out.prompt(&app);
    }
}

/// The original design's spellings, accepted in line mode as aliases:
/// `!private USER TEXT` is `/msg USER TEXT`, `!online` is `/users` (who is
/// online), `!bye` is `/quit`. Any other line is unchanged.
fn alias(line: &str) -> Cow<'_, str> {
    let trimmed = line.trim_start();
    let (word, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    match (word, rest.trim()) {
        ("!private", _) => Cow::Owned(format!("/msg {}", rest.trim_start())),
        ("!online", "") => Cow::Borrowed("/users"),
        ("!bye", "") => Cow::Borrowed("/quit"),
        _ => Cow::Borrowed(line),
    }
}

/// Prints above the prompt on a terminal; plain lines otherwise.
struct Output {
    tty: bool,
}

impl Output {
    fn new() -> Self {
        let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        Self { tty }
    }

    fn print(&self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        for line in lines {
            let clear = if self.tty { "\r\x1b[2K" } else { "" };
            let _ = writeln!(out, "{clear}{line}");
        }
        let _ = out.flush();
    }

    fn prompt(&self, app: &App) {
        if self.tty {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{}> ", app.active().label());
            let _ = out.flush();
        }
    }
}

/// Reads stdin's lines on a thread of its own; the channel closes at the
/// end of input (or on a read error).
fn read_stdin() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::alias;

    #[test]
    fn the_original_spellings_are_aliases() {
        assert_eq!(alias("!private bob hi there"), "/msg bob hi there");
        assert_eq!(alias("  !private bob  x"), "/msg bob  x");
        assert_eq!(alias("!online"), "/users");
        assert_eq!(alias("!bye"), "/quit");
        for unchanged in ["hello", "!online now", "!privately", "/msg a b", "!bye bye"] {
            assert_eq!(alias(unchanged), unchanged);
        }
    }
}
