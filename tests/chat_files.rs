//! `/file`, `/accept` and `/reject` in `natter chat` (issue 14), the way a
//! user types them: two `natter chat --plain` over pipes against a real
//! `natter serve`; the file arrives byte for byte (the client checks its
//! BLAKE3 hash) and the sender hears each answer.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
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

/// `natter serve` on a free loopback port, a password file, client homes.
struct World {
    _server: Proc,
    addr: String,
    dir: tempfile::TempDir,
}

impl World {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Command::new(env!("CARGO_BIN_EXE_natter"))
            .args(["serve", "--udp", "127.0.0.1:0", "--http", "off"])
            .args(["--log-level", "warn", "--data"])
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

    fn natter(&self, user: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_natter"));
        cmd.args(args)
            .args(["-s", &self.addr, "-u", user, "--password-file"])
            .arg(self.dir.path().join("password"))
            .env("NATTER_HOME", self.dir.path().join(format!("home-{user}")))
            .env_remove("NATTER_PASSWORD")
            .env_remove("NATTER_SERVER")
            .env_remove("NATTER_USER");
        cmd
    }

    fn register(&self, user: &str) {
        let out = self.natter(user, &["register"]).output().expect("register");
        assert!(out.status.success(), "register {user}");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A `natter chat --plain` with its stdin and its stdout lines.
struct PlainChat {
    _proc: Proc,
    stdin: ChildStdin,
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
        let stdin = child.stdin.take().expect("stdin");
        let mut chat = Self {
            _proc: Proc(child),
            stdin,
            lines,
            seen: Vec::new(),
        };
        chat.expect("-- connected");
        chat
    }

    fn type_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to chat");
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
}

/// The id in "…: /accept ID to download, /reject ID".
fn offered_id(line: &str) -> String {
    let (_, rest) = line.split_once("/accept ").expect("an offer line");
    rest.split_whitespace().next().expect("id").to_owned()
}

fn write_file(path: &Path, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(path, &data).expect("write file");
    data
}

#[test]
fn a_file_offered_with_slash_file_is_accepted_or_rejected_and_the_sender_hears_it() {
    let world = World::start();
    world.register("alice");
    world.register("bob");
    let mut bob = PlainChat::start(&world, "bob");
    let mut alice = PlainChat::start(&world, "alice");
    alice.type_line("/msg bob here comes a file");
    bob.expect("alice: here comes a file");

    let data = write_file(&world.path("report.bin"), 300_000);
    alice.type_line(&format!("/file {}", world.path("report.bin").display()));
    alice.expect("-- offered report.bin (293.0 KiB) as file");
    let offer = bob.expect("alice: offers report.bin (293.0 KiB): /accept");
    let id = offered_id(&offer);
    let out = world.path("bobs-copy.bin");
    bob.type_line(&format!("/accept {id} {}", out.display()));
    bob.expect("-- saved");
    assert_eq!(std::fs::read(&out).expect("saved file"), data);
    alice.expect("report.bin: delivered intact to bob");

    write_file(&world.path("spam.bin"), 10);
    alice.type_line(&format!("/file {}", world.path("spam.bin").display()));
    let id = offered_id(&bob.expect("alice: offers spam.bin"));
    bob.type_line(&format!("/reject {id}"));
    bob.expect(&format!("-- rejected file {id}"));
    alice.expect("spam.bin: rejected by bob");

    alice.type_line("/file /no/such/file");
    alice.expect("-- error: /no/such/file");
}
