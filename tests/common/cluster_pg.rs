//! The throwaway PostgreSQL of a test cluster: `initdb` in a temporary
//! directory, a free loopback port, run as the `postgres` user when we are
//! root (PostgreSQL refuses root), under a watchdog shell that stops it when
//! the pipe from the test closes (so it never outlives the test binary).

use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use super::{Tools, free_port, is_root, wait_until};

/// A throwaway PostgreSQL on a loopback port, run as the `postgres` user
/// when we are root (it refuses root), with its data in a temporary
/// directory.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Dropping the stdin pipe makes the watchdog shell stop PostgreSQL.
    running: Option<(Child, ChildStdin)>,
    started: usize,
}

impl Postgres {
    /// initdb (trust auth for the `postgres` superuser) and start.
    pub fn start(tools: &Tools, fsync: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut pg = Self {
            bin: tools.pg_bin.clone(),
            dir,
            port: free_port(),
            running: None,
            started: 0,
        };
        pg.initdb(fsync);
        pg.restart();
        pg
    }

    /// The connection URL nodes get with `--store`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `ARGV` run as the `postgres` user when we are root.
    fn as_owner(argv: &[&OsStr]) -> Command {
        let mut cmd = match is_root() {
            true => {
                let mut c = Command::new("setpriv");
                c.args([
                    "--reuid",
                    "postgres",
                    "--regid",
                    "postgres",
                    "--clear-groups",
                    "--",
                ]);
                c.arg(argv[0]);
                c
            }
            false => Command::new(argv[0]),
        };
        cmd.args(&argv[1..]);
        cmd
    }

    fn initdb(&self, fsync: bool) {
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(self.dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the PostgreSQL directory");
        }
        let initdb = self.bin.join("initdb");
        let data = self.dir.path().join("db");
        let out = Self::as_owner(&[initdb.as_os_str(), OsStr::new("-D"), data.as_os_str()])
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb: {out:?}");
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             fsync = {fsync}\nmax_connections = 200\n",
            self.port,
            self.dir.path().display()
        );
        let path = self.dir.path().join("db/postgresql.auto.conf");
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .expect("write the PostgreSQL settings");
    }

    /// The server's log (all runs).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Starts it again on the same port and data (after [`Self::stop`]),
    /// returning once it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "PostgreSQL is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("log file");
        // A watchdog shell: PostgreSQL in the background, stopped at once
        // (SIGQUIT: immediate shutdown, its backends too) when stdin closes.
        let script = r#""$@" & pg=$!; read _; kill -QUIT $pg; wait $pg"#;
        let (postgres, data) = (self.bin.join("postgres"), self.dir.path().join("db"));
        let argv = ["sh", "-c", script, "sh"].map(OsStr::new);
        let argv = [
            &argv[..],
            &[postgres.as_os_str(), OsStr::new("-D"), data.as_os_str()],
        ];
        let mut child = Self::as_owner(&argv.concat())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start PostgreSQL");
        let stdin = child.stdin.take().expect("stdin");
        self.running = Some((child, stdin));
        self.started += 1;
        let want = self.started;
        let log = self.log();
        wait_until("PostgreSQL ready", || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.matches("ready to accept connections").count() >= want
        });
    }

    /// Stops it now (immediate shutdown) and waits until it exited.
    pub fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.running.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
