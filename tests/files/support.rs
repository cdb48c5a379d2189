//! A server with file-transfer settings, its data directory, a client
//! home, and helpers to make test files and read `natter file` output.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::world::{PASSWORD, expect_ok};
use crate::common::{GUARD, Output, ServerProcess, natter, run};

/// A server started with `[server.files]` settings (and maybe `--loss`).
pub(crate) struct Files {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) server: ServerProcess,
    files_toml: String,
    loss: Option<String>,
}

impl Files {
    /// A server with default limits.
    pub(crate) fn new() -> Self {
        Self::with("", None)
    }

    /// A server whose `[server.files]` table holds `files_toml`, with
    /// `--loss P` (both directions of its socket) when given.
    pub(crate) fn with(files_toml: &str, loss: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = start(dir.path(), files_toml, loss, "127.0.0.1:0", "serve0.log");
        Self {
            dir,
            server,
            files_toml: files_toml.to_owned(),
            loss: loss.map(str::to_owned),
        }
    }

    /// kill -9 the server.
    pub(crate) fn kill_9(&mut self) {
        self.server.kill_9();
    }

    /// Starts the (killed) server again on the same address and data
    /// directory; its log is `serveN.log`.
    pub(crate) fn start_again(&mut self, n: usize) {
        let addr = self.server.addr.to_string();
        let log = format!("serve{n}.log");
        let (toml, loss) = (&self.files_toml, self.loss.as_deref());
        self.server = start(self.dir.path(), toml, loss, &addr, &log);
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `DATA/files/partial`: uploads in progress.
    pub(crate) fn partials(&self) -> PathBuf {
        self.data().join("files").join("partial")
    }

    /// A path in the test's directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `natter ARGS` as `user` (client home `home-USER`).
    pub(crate) fn cmd(&self, user: &str, args: &[&str]) -> Command {
        let mut cmd = natter();
        cmd.args(args)
            .env("NATTER_HOME", self.path(&format!("home-{user}")))
            .env("NATTER_SERVER", self.server.addr.to_string())
            .env("NATTER_USER", user)
            .env("NATTER_PASSWORD", PASSWORD)
            .current_dir(self.dir.path());
        cmd
    }

    pub(crate) fn ok(&self, user: &str, args: &[&str]) -> Output {
        expect_ok(run(self.cmd(user, args)), user, args)
    }

    pub(crate) fn fails(&self, user: &str, args: &[&str], code: i32) -> Output {
        let out = run(self.cmd(user, args));
        assert_eq!(out.code, Some(code), "natter {args:?} as {user}: {out:?}");
        out
    }

    /// `natter ARGS --json` as `user`: the one object printed.
    pub(crate) fn json(&self, user: &str, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let out = self.ok(user, &args);
        serde_json::from_str(out.stdout.trim()).expect("one JSON object")
    }

    pub(crate) fn register(&self, users: &[&str]) {
        for user in users {
            self.ok(user, &["register"]);
        }
    }

    /// `natter file list --json` as `user`: the files.
    pub(crate) fn list(&self, user: &str) -> Vec<Value> {
        let list = self.json(user, &["file", "list"]);
        list["files"].as_array().expect("files").clone()
    }

    /// The state of `recipient` in the sender's listing of file `id`.
    pub(crate) fn state_for(&self, sender: &str, id: u64, recipient: &str) -> String {
        let file = self.list(sender).into_iter().find(|f| f["id"] == id);
        let file = file.expect("the file in the sender's list");
        let entry = file["recipients"]
            .as_array()
            .expect("recipients")
            .iter()
            .find(|r| r["user"] == recipient)
            .cloned();
        entry.expect("the recipient")["state"]
            .as_str()
            .expect("state")
            .to_owned()
    }

    /// Starts `natter ARGS` as `user` in the background.
    pub(crate) fn spawn(&self, user: &str, args: &[&str]) -> Child {
        self.cmd(user, args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn natter")
    }
}

fn start(dir: &Path, files_toml: &str, loss: Option<&str>, udp: &str, log: &str) -> ServerProcess {
    let config = dir.join("natter.toml");
    std::fs::write(&config, format!("[server.files]\n{files_toml}\n")).expect("config");
    let config = config.to_str().expect("utf-8 path").to_owned();
    let data = dir.join("data");
    let mut args = vec!["--udp", udp, "--http", "off", "--config", &config];
    if let Some(p) = loss {
        args.extend(["--loss", p]);
    }
    ServerProcess::start_with(&data, &args, &dir.join(log))
}

/// Writes `len` pseudo-random bytes (xorshift from `seed`) to `path`.
pub(crate) fn make_file(path: &Path, len: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, &data).expect("write test file");
    blake3::hash(&data).to_hex().to_string()
}

/// BLAKE3 of a file, hex.
pub(crate) fn hash_of(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).expect("read"))
        .to_hex()
        .to_string()
}

/// Waits (failing after the guard) until `cond` holds, checking every 2 ms.
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + GUARD;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Bytes in the one partial upload under `dir` (0 if none).
pub(crate) fn partial_len(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// The file id of the first file in `list` named `name`.
pub(crate) fn id_of(list: &[Value], name: &str) -> u64 {
    let file = list
        .iter()
        .find(|f| f["name"] == name)
        .expect("the file listed");
    file["id"].as_u64().expect("id")
}
