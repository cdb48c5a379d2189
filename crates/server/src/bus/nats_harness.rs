//! Test support: a throwaway `nats-server` on a free loopback port, killed
//! on drop (also when the test panics). Not part of the server's API.
//!
//! Tests that need it call [`TestNats::start`]: `None` (with a line on
//! stderr) when the binary is missing, unless `NATTER_REQUIRE_CLUSTER_TESTS=1`
//! is set, then it panics.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `nats-server` is looked for.
const CANDIDATES: [&str; 3] = [
    "/usr/sbin/nats-server",
    "/usr/bin/nats-server",
    "/usr/local/bin/nats-server",
];

/// A running `nats-server`.
#[derive(Debug)]
pub struct TestNats {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl TestNats {
    /// Starts one on a free loopback port, or `None` when `nats-server`
    /// is not installed (see the module docs).
    pub fn start(test: &str) -> Option<Self> {
        let Some(bin) = CANDIDATES.iter().map(Path::new).find(|p| p.exists()) else {
            let why = "nats-server not installed (apt-get install nats-server)";
            if std::env::var("NATTER_REQUIRE_CLUSTER_TESTS").as_deref() == Ok("1") {
                panic!("{test}: {why}, and NATTER_REQUIRE_CLUSTER_TESTS=1");
            }
            eprintln!("{test}: skipped: {why}");
            return None;
        };
        let port = free_port();
        let mut nats = Self {
            bin: bin.to_owned(),
            port,
            child: None,
        };
        nats.restart();
        Some(nats)
    }

    /// The URL for [`crate::Bus::nats`].
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port; returns once it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "nats-server is running");
        // Killed by the kernel if this thread ends without the drop
        // (a killed test process), where setpriv exists.
        let setpriv = Path::new("/usr/bin/setpriv");
        let mut command = if setpriv.exists() {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(&self.bin);
            c
        } else {
            Command::new(&self.bin)
        };
        let child = command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let give_up = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < give_up, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port free on loopback right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}
