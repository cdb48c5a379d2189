//! `natter chat`: a message typed in one chat appears in another, and the
//! sender sees it go ⏳ → ✓ → ✓✓. Runs the real binaries: `natter serve` on
//! a free loopback port and two `natter chat --plain` over pipes, and the same
//! session in the full-screen UI driven through tmux (`.ci/run` installs
//! tmux when it is missing).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Failure guard for anything a test waits for (never synchronization).
const GUARD: Duration = Duration::from_secs(60);
const PASSWORD: &str = "correct horse";

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `natter serve` on a free loopback port, plus a password file and a
/// client home for each user.
struct World {
    _server: Proc,
    addr: String,
    dir: tempfile::TempDir,
}

impl World {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Command::new(env!("CARGO_BIN_EXE_natter"))
            .args([
                "serve",
                "--udp",
                "127.0.0.1:0",
                "--http",
                "off",
                "--log-level",
                "warn",
                "--data",
            ])
            .arg(dir.path().join("data"))
            .env_remove("NATTER_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn natter serve");
        let lines = read_lines(server.stdout.take().expect("stdout"));
        let first = lines.recv_timeout(GUARD).expect("start-up line");
        let addr = first
            .strip_prefix("natter: listening on udp ")
            .unwrap_or_else(|| panic!("unexpected start-up line `{first}`"))
            .to_owned();
        std::fs::write(dir.path().join("password"), PASSWORD).expect("password file");
        Self {
            _server: Proc(server),
            addr,
            dir,
        }
    }

    /// `natter SUBCOMMAND -s ADDR -u USER --password-file F` with its own `NATTER_HOME`.
    fn natter(&self, user: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_natter"));
        cmd.args(args)
            .args(["-s", &self.addr, "-u", user, "--password-file"])
            .arg(self.dir.path().join("password"))
            .env("NATTER_HOME", self.home(user))
            .env_remove("NATTER_PASSWORD")
            .env_remove("NATTER_SERVER")
            .env_remove("NATTER_USER");
        cmd
    }

    fn home(&self, user: &str) -> PathBuf {
        self.dir.path().join(format!("home-{user}"))
    }

    fn register(&self, user: &str) {
        self.run(user, &["register"]);
    }

    /// Runs a CLI command as `user`; it must succeed.
    fn run(&self, user: &str, args: &[&str]) {
        let out = self.natter(user, args).output().expect("run natter");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{user} {args:?}: {err}");
    }
}

/// A `natter chat --plain` with its stdin and its stdout lines.
struct PlainChat {
    proc: Proc,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl PlainChat {
    fn start(world: &World, user: &str) -> Self {
        let mut child = world
            .natter(user, &["chat", "--plain"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn natter chat");
        let lines = read_lines(child.stdout.take().expect("stdout"));
        let stdin = child.stdin.take();
        Self {
            proc: Proc(child),
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to chat");
    }

    /// Waits (guarded) for an output line containing `needle`.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                panic!("no line with `{needle}` in:\n{}", self.seen.join("\n"));
            };
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// `/quit`, and the process exits successfully (guarded).
    fn quit(mut self) {
        self.type_line("/quit");
        let deadline = Instant::now() + GUARD;
        while Instant::now() < deadline {
            // Draining stdout keeps the child from blocking on a full pipe.
            if let Some(status) = self.proc.0.try_wait().expect("try_wait") {
                assert!(status.success(), "chat exited with {status}");
                return;
            }
            let _ = self.lines.recv_timeout(Duration::from_millis(50));
        }
        panic!("chat did not exit after /quit");
    }
}

fn read_lines(stdout: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn a_message_typed_in_one_chat_appears_in_the_other_with_two_ticks() {
    let world = World::start();
    world.register("alice");
    world.register("bob");
    let mut bob = PlainChat::start(&world, "bob");
    bob.expect("-- connected");
    let mut alice = PlainChat::start(&world, "alice");
    alice.expect("-- connected");

    alice.type_line("/msg bob hello from alice");
    alice.expect("@bob alice: hello from alice ⏳");
    let got = bob.expect("alice: hello from alice");
    assert!(got.starts_with('['), "a message line: {got}");
    alice.expect("@bob alice: hello from alice ✓✓");

    // The answer goes the other way; slash commands work in line mode too.
    bob.type_line("/msg alice hi alice");
    alice.expect("bob: hi alice");
    bob.expect("@alice bob: hi alice ✓✓");
    alice.type_line("/users");
    alice.expect("-- users: alice (online), bob (online)");
    alice.type_line("/bogus");
    alice.expect("-- unknown command /bogus");

    alice.quit();
    bob.quit();
}

/// The same session in the full-screen UI, driven through tmux.
#[test]
fn the_full_screen_ui_in_tmux_shows_a_message_with_two_ticks() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let world = World::start();
    world.register("alice");
    world.register("bob");
    let bob = Tmux::start(&world, "bob");
    bob.wait_for("connected");
    let alice = Tmux::start(&world, "alice");
    alice.wait_for("connected");
    alice.keys(&["/msg bob hello from tmux", "Enter"]);
    bob.wait_for("@alice (1)");
    bob.keys(&["C-n"]);
    bob.wait_for("alice: hello from tmux");
    alice.wait_for("alice: hello from tmux ✓✓");
    alice.keys(&["/quit", "Enter"]);
    bob.keys(&["C-c"]);
}

/// Typing indicators and "seen" in the full-screen UI: bob reads alice's
/// message (alice sees "seen" under it), types (alice's status line says
/// so) and clears his line (it goes away at once).
#[test]
fn the_full_screen_ui_shows_typing_and_seen() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let world = World::start();
    world.register("alice");
    world.register("bob");
    let bob = Tmux::start(&world, "bob");
    bob.wait_for("connected");
    let alice = Tmux::start(&world, "alice");
    alice.wait_for("connected");
    alice.keys(&["/msg bob are you there", "Enter"]);
    bob.wait_for("@alice (1)");
    bob.keys(&["C-n"]);
    bob.wait_for("alice: are you there");
    alice.wait_for("      seen");
    bob.keys(&["h", "e", "l", "l", "o"]);
    alice.wait_for("bob is typing…");
    bob.keys(&["C-u"]);
    alice.wait_until_gone("bob is typing…");
    alice.keys(&["/quit", "Enter"]);
    bob.keys(&["C-c"]);
}

/// `/search` numbers its hits; `/goto N` scrolls the full-screen view to
/// hit N (far above the newest lines) and off the results below it.
#[test]
fn goto_scrolls_the_full_screen_ui_to_a_search_result() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let world = World::start();
    world.register("alice");
    world.register("bob");
    let mut bob = PlainChat::start(&world, "bob");
    bob.expect("-- connected");
    bob.type_line("the needle in the haystack");
    for n in 1..=60 {
        bob.type_line(&format!("hay {n}"));
    }
    bob.expect("bob: hay 60 ✓");
    let alice = Tmux::start(&world, "alice");
    alice.wait_for("#lobby (61)");
    alice.keys(&["C-n"]);
    alice.wait_for("bob: hay 60");
    alice.keys(&["/search needle", "Enter"]);
    alice.wait_for("[1] #lobby #");
    alice.keys(&["/goto 1", "Enter"]);
    alice.wait_until_gone("[1] #lobby #");
    alice.wait_for("bob: the needle in the haystack");
    alice.keys(&["/quit", "Enter"]);
    bob.quit();
}

/// Each conversation shows once in the panel, with its right label, on
/// every path: a DM from a new contact, `/msg` to them, `/join`, a rename
/// by the group's owner, and a restart (whose sync brings messages before
/// the conversation list).
#[test]
fn the_full_screen_ui_shows_each_conversation_once() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let world = World::start();
    world.register("alice");
    world.register("bob");
    world.register("carol");
    world.run("bob", &["group", "create", "crew"]);
    let alice = Tmux::start(&world, "alice");
    alice.wait_for("connected");
    world.run(
        "bob",
        &["send", "--to", "alice", "hello from a new contact"],
    );
    alice.wait_for("@bob (1)");
    alice.keys(&["/msg bob hi bob", "Enter"]);
    alice.wait_for("alice: hi bob ✓");
    // `/msg carol` opens "@carol" before the conversation exists; carol's
    // first message arrives in a conversation known only by its id.
    alice.keys(&["/msg carol", "Enter"]);
    alice.wait_for("> @carol");
    world.run("carol", &["send", "--to", "alice", "hi from carol"]);
    alice.wait_for("carol: hi from carol");
    alice.wait_for_panel(&["#lobby", "@bob", "@carol (1)"]);
    alice.keys(&["/join crew", "Enter"]);
    alice.wait_for("you are in #crew");
    alice.wait_for_panel(&["#lobby", "@bob", "@carol (1)", "#crew"]);
    world.run("bob", &["group", "settings", "crew", "--rename", "crew2"]);
    alice.wait_for_panel(&["#lobby", "@bob", "@carol (1)", "#crew2"]);
    alice.keys(&["/quit", "Enter"]);
    alice.wait_exit();
    drop(alice);

    world.run("bob", &["send", "--lobby", "while you were away"]);
    world.run("bob", &["send", "--group", "crew2", "and here"]);
    world.run("bob", &["send", "--to", "alice", "and to you"]);
    let alice = Tmux::start(&world, "alice");
    alice.wait_for_panel(&["#lobby (1)", "@bob (1)", "@carol (1)", "#crew2 (1)"]);
    alice.keys(&["/msg bob", "Enter"]);
    alice.wait_for("bob: and to you");
    alice.wait_for_panel(&["#lobby (1)", "@bob", "@carol (1)", "#crew2 (1)"]);
    alice.keys(&["/quit", "Enter"]);
    alice.wait_exit();
}

/// One `natter chat` in a detached tmux session of its own.
struct Tmux {
    socket: PathBuf,
    name: String,
}

impl Tmux {
    fn start(world: &World, user: &str) -> Self {
        let socket = world.dir.path().join(format!("tmux-{user}"));
        let name = format!("natter-{user}");
        let chat = world.natter(user, &["chat"]);
        let mut line = vec![chat.get_program().to_string_lossy().into_owned()];
        line.extend(chat.get_args().map(|a| a.to_string_lossy().into_owned()));
        let env = format!("NATTER_HOME={}", world.home(user).display());
        let this = Self { socket, name };
        this.tmux(&[
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            &this.name,
        ])
        .args(["-e", &env, "-e", "TERM=xterm-256color"])
        .args(line)
        .status()
        .expect("tmux new-session");
        this
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket).args(args);
        cmd
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend(keys);
        assert!(self.tmux(&args).status().expect("send-keys").success());
    }

    fn screen(&self) -> String {
        let out = self
            .tmux(&["capture-pane", "-p", "-t", &self.name])
            .output();
        String::from_utf8_lossy(&out.expect("capture-pane").stdout).into_owned()
    }

    /// Polls the screen until it no longer shows `needle` (guarded).
    fn wait_until_gone(&self, needle: &str) {
        let deadline = Instant::now() + GUARD;
        let mut screen = self.screen();
        while screen.contains(needle) {
            assert!(Instant::now() < deadline, "still `{needle}` on:\n{screen}");
            std::thread::sleep(Duration::from_millis(50)); // polling interval
            screen = self.screen();
        }
    }

    /// The entries of the conversation panel, top to bottom, as shown
    /// (label and unread count, without the marker of the shown one).
    fn panel(screen: &str) -> Vec<String> {
        let rows = screen.lines().skip_while(|r| !r.contains("Conversations"));
        rows.skip(1)
            .take_while(|r| r.starts_with('│'))
            .map(|r| {
                let inside: String = r.chars().skip(1).take(18).collect();
                let entry = inside.trim_end();
                entry.strip_prefix("> ").unwrap_or(entry).trim().to_owned()
            })
            .collect()
    }

    /// Polls the screen until the conversation panel lists exactly
    /// `entries`, each once, in any order (guarded).
    fn wait_for_panel(&self, entries: &[&str]) {
        let mut wanted: Vec<&str> = entries.to_vec();
        wanted.sort_unstable();
        let sorted = |mut panel: Vec<String>| {
            panel.sort_unstable();
            panel
        };
        let deadline = Instant::now() + GUARD;
        let mut screen = self.screen();
        while sorted(Self::panel(&screen)) != wanted {
            assert!(
                Instant::now() < deadline,
                "panel not {entries:?} on:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50)); // polling interval
            screen = self.screen();
        }
    }

    /// Polls until the chat has exited and its tmux session ended (guarded).
    fn wait_exit(&self) {
        let deadline = Instant::now() + GUARD;
        while self
            .tmux(&["has-session", "-t", &self.name])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(
                Instant::now() < deadline,
                "still running:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50)); // polling interval
        }
    }

    /// Polls the screen until it shows `needle` (guarded by a deadline).
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + GUARD;
        let mut screen = self.screen();
        while !screen.contains(needle) {
            assert!(Instant::now() < deadline, "no `{needle}` on:\n{screen}");
            std::thread::sleep(Duration::from_millis(50)); // polling interval
            screen = self.screen();
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).status();
    }
}
