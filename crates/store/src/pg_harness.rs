//! A throwaway PostgreSQL cluster for tests (store, server and root tests).
//!
//! [`TestPostgres::start`] runs `initdb` and `postgres` as the `postgres`
//! user in a temporary directory, listening on a free 127.0.0.1 port (socket
//! directory inside the temporary directory), and waits until it accepts
//! connections. [`TestPostgres::shared`] is one cluster per test process that
//! every test shares, each with its own database
//! ([`TestPostgres::url_for_new_db`]).
//!
//! The server process never outlives the test process: it is started through
//! `setpriv --pdeathsig KILL` from a spawner thread that lives as long as the
//! process, so the kernel kills it when the process exits (a static's `Drop`
//! never runs). Directories left by dead test processes are removed by the
//! next start.
//!
//! Binaries: `$NATTER_PG_BIN`, else `/usr/lib/postgresql/*/bin`, else `PATH`.
//! When they are missing, `start` prints why and returns `None` — unless
//! `NATTER_REQUIRE_CLUSTER_TESTS=1` ([`require_cluster_tests`]), then it panics.

#![allow(clippy::missing_panics_doc)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Prefix of the temporary directories (followed by pid and a counter).
const DIR_PREFIX: &str = "natter-pg-";

/// True when cluster tests must run (`NATTER_REQUIRE_CLUSTER_TESTS=1`): a
/// missing binary is then a failure instead of a skip.
pub fn require_cluster_tests() -> bool {
    std::env::var("NATTER_REQUIRE_CLUSTER_TESTS").is_ok_and(|v| v == "1")
}

/// A running (or stopped) PostgreSQL cluster; killed and removed on drop.
pub struct TestPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
    next_db: AtomicU64,
}

impl TestPostgres {
    /// The cluster shared by every test of this process (started on first
    /// use); `None` when PostgreSQL is not installed (see the module docs).
    pub fn shared() -> Option<&'static Self> {
        static SHARED: OnceLock<Option<TestPostgres>> = OnceLock::new();
        SHARED.get_or_init(Self::start).as_ref()
    }

    /// Starts a new cluster of its own (for tests that stop or restart it).
    pub fn start() -> Option<Self> {
        let bin = match find_bin() {
            Ok(bin) => bin,
            Err(why) => return skip(&why),
        };
        remove_stale_dirs();
        match Self::init_and_run(bin) {
            Ok(pg) => Some(pg),
            Err(why) => panic!("starting a test PostgreSQL failed: {why}"),
        }
    }

    fn init_and_run(bin: PathBuf) -> Result<Self, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("sock")).map_err(|e| format!("{dir:?}: {e}"))?;
        run_ok(
            Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(&dir),
        )?;
        let template = initdb_template(&bin)?;
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg(&template)
                .arg(dir.join("data")),
        )?;
        let pg = Self {
            bin,
            dir,
            port: free_port()?,
            child: Mutex::new(None),
            next_db: AtomicU64::new(0),
        };
        pg.run()?;
        Ok(pg)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of database `db` as the superuser `postgres`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a database with a fresh name and returns its URL.
    pub fn url_for_new_db(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("natter_{n}");
        let sql = format!("CREATE DATABASE {name}");
        let admin = self.url("postgres");
        on_own_thread(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)?;
            client.batch_execute(&sql)
        })
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(&name)
    }

    /// Stops the server (fast shutdown: connections are cut) and waits.
    pub fn stop(&self) {
        let child = self.child.lock().expect("child lock").take();
        if let Some(mut child) = child {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL (a crash) and waits.
    pub fn kill(&self) {
        let child = self.child.lock().expect("child lock").take();
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again (same data and port) after [`TestPostgres::stop`]
    /// or [`TestPostgres::kill`]; waits until it accepts connections.
    pub fn restart(&self) {
        self.stop();
        self.run()
            .unwrap_or_else(|e| panic!("restarting PostgreSQL: {e}"));
    }

    /// Starts `postgres` and waits until it accepts connections.
    fn run(&self) -> Result<(), String> {
        let mut cmd = as_postgres(&self.bin.join("postgres"));
        cmd.arg("-D").arg(self.dir.join("data"));
        cmd.args(["-p", &self.port.to_string(), "-k"]);
        cmd.arg(self.dir.join("sock"));
        cmd.args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=200",
        ]);
        let log =
            std::fs::File::create(self.dir.join("postgres.log")).map_err(|e| e.to_string())?;
        cmd.stdout(Stdio::null()).stderr(log);
        let child = spawn_tied(cmd)?;
        *self.child.lock().expect("child lock") = Some(child);
        self.wait_ready()
    }

    /// Polls until a connection succeeds (deadline [`READY_TIMEOUT`]).
    fn wait_ready(&self) -> Result<(), String> {
        let url = self.url("postgres");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let url = url.clone();
            let ok =
                on_own_thread(move || postgres::Client::connect(&url, postgres::NoTls).map(drop));
            match ok {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.join("postgres.log"));
                    return Err(format!(
                        "not ready in time: {e}; log: {}",
                        log.unwrap_or_default()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Prints why the cluster tests are skipped, or panics when they are required.
fn skip(why: &str) -> Option<TestPostgres> {
    if require_cluster_tests() {
        panic!("NATTER_REQUIRE_CLUSTER_TESTS=1 but PostgreSQL is unavailable: {why}");
    }
    eprintln!("skipping PostgreSQL tests: {why}");
    None
}

/// The directory holding `initdb` and `postgres`.
fn find_bin() -> Result<PathBuf, String> {
    let has = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("NATTER_PG_BIN") {
        let dir = PathBuf::from(dir);
        return match has(&dir) {
            true => Ok(dir),
            false => Err(format!("NATTER_PG_BIN={dir:?} has no initdb and postgres")),
        };
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    dirs.sort();
    dirs.reverse();
    let path = std::env::var_os("PATH").unwrap_or_default();
    dirs.extend(std::env::split_paths(&path));
    dirs.into_iter()
        .find(|d| has(d))
        .ok_or_else(|| "initdb/postgres not found (set NATTER_PG_BIN)".to_owned())
}

/// A fresh `initdb` output for `bin`, made once per machine and copied for
/// each cluster (`initdb` takes seconds; a copy milliseconds). Made under a
/// temporary name and renamed, so concurrent test processes never see half
/// of one.
fn initdb_template(bin: &Path) -> Result<PathBuf, String> {
    let key: String = bin
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let template = std::env::temp_dir().join(format!("natter-pgdata-template{key}"));
    // Tests of one process start clusters on several threads at once: one
    // of them makes the template, the others wait for it (each partial
    // directory is still unique, for other processes doing the same).
    static MAKING: Mutex<()> = Mutex::new(());
    let _making = MAKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if template.join("PG_VERSION").is_file() {
        return Ok(template);
    }
    static PARTIALS: AtomicU64 = AtomicU64::new(0);
    let n = PARTIALS.fetch_add(1, Ordering::Relaxed);
    let partial = template.with_extension(format!("partial-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| format!("{partial:?}: {e}"))?;
    run_ok(Command::new("chown").arg("postgres:postgres").arg(&partial))?;
    let mut initdb = as_postgres(&bin.join("initdb"));
    initdb.args([
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--no-sync",
        "-D",
    ]);
    run_ok(initdb.arg(&partial))?;
    if std::fs::rename(&partial, &template).is_err() {
        // Another process made it first.
        let _ = std::fs::remove_dir_all(&partial);
    }
    Ok(template)
}

/// A command run as the `postgres` user (root may not run PostgreSQL).
fn as_postgres(program: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid",
        "postgres",
        "--regid",
        "postgres",
        "--clear-groups",
    ]);
    cmd.args(["--pdeathsig", "KILL"]);
    cmd.arg(program);
    cmd
}

fn run_ok(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// A port free right now on 127.0.0.1.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// A spawn request for the spawner thread.
type SpawnJob = (Command, Sender<std::io::Result<Child>>);

/// Spawns `cmd` from a thread that lives as long as the process, so that
/// `--pdeathsig` (which fires when the spawning thread ends) fires only
/// when the process exits.
fn spawn_tied(cmd: Command) -> Result<Child, String> {
    static SPAWNER: OnceLock<Mutex<Sender<SpawnJob>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("natter-pg-spawner".to_owned())
            .spawn(move || {
                for (mut cmd, answer) in queue {
                    let _ = answer.send(cmd.spawn());
                }
            })
            .expect("spawner thread");
        Mutex::new(jobs)
    });
    let (answer, reply) = mpsc::channel();
    spawner
        .lock()
        .expect("spawner lock")
        .send((cmd, answer))
        .map_err(|_| "spawner thread gone".to_owned())?;
    reply
        .recv()
        .map_err(|_| "spawner thread gone".to_owned())?
        .map_err(|e| format!("spawning postgres: {e}"))
}

/// Runs `f` (which uses a sync `postgres::Client`) on a fresh thread, so it
/// also works when called from inside a tokio runtime.
fn on_own_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, postgres::Error> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || f().map_err(|e| e.to_string()))
        .join()
        .map_err(|_| "panicked".to_owned())?
}

/// Removes directories of test processes that are gone.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
