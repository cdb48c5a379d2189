//! A `natter serve` child with its own data directory, a config file
//! naming the server admins, and one client home: what the end-to-end
//! tests of `natter admin` and of every CLI subcommand share.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::Value;

use super::{GUARD, Output, ServerProcess, natter, read_lines, run};

/// Every test account's password.
pub const PASSWORD: &str = "correct horse";
/// The server admin of every [`World`] (`[server] admins = ["root"]`).
pub const ROOT: &str = "root";

/// A server (admin: [`ROOT`]) with its data directory and a client home.
pub struct World {
    pub dir: tempfile::TempDir,
    pub server: ServerProcess,
}

impl World {
    /// Starts a server on a fresh data directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = start_server(dir.path(), &dir.path().join("data"), "serve.log");
        Self { dir, server }
    }

    /// The server's data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The client home every command uses unless told otherwise.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `natter ARGS` as `user` with the right password.
    pub fn cmd(&self, user: &str, args: &[&str]) -> Command {
        self.cmd_with(user, PASSWORD, &self.home(), args)
    }

    /// `natter ARGS` as `user` with `password` and client home `home`.
    pub fn cmd_with(&self, user: &str, password: &str, home: &Path, args: &[&str]) -> Command {
        let mut cmd = natter();
        cmd.args(args)
            .env("NATTER_HOME", home)
            .env("NATTER_SERVER", self.server.addr.to_string())
            .env("NATTER_USER", user)
            .env("NATTER_PASSWORD", password);
        cmd
    }

    /// Runs `natter ARGS` as `user` and expects exit code 0.
    pub fn ok(&self, user: &str, args: &[&str]) -> Output {
        expect_ok(run(self.cmd(user, args)), user, args)
    }

    /// Runs `natter ARGS` as `user`, expecting exit code `code`.
    pub fn fails(&self, user: &str, args: &[&str], code: i32) -> Output {
        let out = run(self.cmd(user, args));
        assert_eq!(out.code, Some(code), "natter {args:?} as {user}: {out:?}");
        out
    }

    /// Runs `natter ARGS --json` as `user` and parses the one object printed.
    pub fn json(&self, user: &str, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let out = self.ok(user, &args);
        serde_json::from_str(out.stdout.trim()).expect("one JSON object")
    }

    /// Registers each user.
    pub fn register(&self, users: &[&str]) {
        for user in users {
            self.ok(user, &["register"]);
        }
    }

    /// Starts `natter listen --json` as `user` and waits until its sync
    /// ended (the `synced` line).
    pub fn listen(&self, user: &str) -> Listener {
        let mut child = self
            .cmd(user, &["listen", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("listen");
        let lines = read_lines(child.stdout.take().expect("stdout"));
        let listener = Listener {
            child: Some(child),
            lines,
        };
        while listener.next()["type"] != "synced" {}
        listener
    }
}

/// Starts a server (admin [`ROOT`]) on `data`, its config and log in `dir`.
pub fn start_server(dir: &Path, data: &Path, log: &str) -> ServerProcess {
    let config = dir.join("natter.toml");
    std::fs::write(&config, format!("[server]\nadmins = [\"{ROOT}\"]\n")).expect("config");
    let config = config.to_str().expect("utf-8 path");
    let args = ["--udp", "127.0.0.1:0", "--http", "off", "--config", config];
    ServerProcess::start_with(data, &args, &dir.join(log))
}

/// Panics with the output unless the command exited 0.
pub fn expect_ok(out: Output, user: &str, args: &[&str]) -> Output {
    assert_eq!(out.code, Some(0), "natter {args:?} as {user}: {out:?}");
    out
}

/// A running `natter listen --json`, killed on drop.
pub struct Listener {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl Listener {
    /// The next JSON line (fails the test after the guard).
    pub fn next(&self) -> Value {
        let line = self.lines.recv_timeout(GUARD).expect("a line from listen");
        serde_json::from_str(&line).expect("JSON line")
    }

    /// Waits (within the guard) for the process to exit on its own;
    /// returns its exit code and stderr.
    pub fn exit(mut self) -> (Option<i32>, String) {
        let child = self.child.take().expect("running");
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        let Ok(out) = rx.recv_timeout(GUARD) else {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("listen did not exit (killed pid {pid})");
        };
        let out = out.expect("wait for listen");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
