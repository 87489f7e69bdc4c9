//! The real `fieldnotes-server` binary on 127.0.0.1, for what runs in a browser and needs a
//! server to talk to (the SDK's sync conformance suite in `sdk_browser`; browser benchmarks).
//!
//! [`TestServer::start`] builds the workspace's tests (a no-op once built), gives the server
//! a fresh SQLite database in a folder of its own under the target folder, creates its first
//! admin with `create-admin` (a random password, passed in `FIELDNOTES_ADMIN_PASSWORD`), then
//! serves on an ephemeral port, with CORS open to the origins the caller names (the page's
//! origin: a browser's `fetch` from it to the server is cross-origin). It returns once the
//! server answers `/healthz`. Dropping it kills the server and removes its folder, also when
//! the step that used it failed.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::workspace::{Workspace, run, step};

/// The admin `create-admin` makes (username and user id).
pub const ADMIN: &str = "admin";

/// Sign-in tries the server allows per username and per address in its window: browser tests
/// sign the admin and many devices in from 127.0.0.1 within a minute, which the production
/// throttle (5 per username) would refuse.
const SIGNIN_TRIES: &str = "100000";

/// How long the server may take to open its database and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `fieldnotes-server` (see the module's documentation).
#[derive(Debug)]
pub struct TestServer {
    /// Where it answers, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The admin's username ([`ADMIN`]) and password.
    pub admin: String,
    pub admin_password: String,
    child: Child,
    /// Dropped after the server is killed.
    _dir: ServerDir,
}

impl TestServer {
    /// Build the server if needed and start it, allowing cross-origin calls from each of
    /// `cors_origins` (for example `http://127.0.0.1:8000`, a test page's origin).
    pub fn start(ws: &Workspace, cors_origins: &[String]) -> anyhow::Result<TestServer> {
        let binary = server_binary(ws)?;
        // Removed on drop, when anything below fails too.
        let dir = ServerDir::new(ws)?;
        let admin_password = random_password();
        let database = format!("sqlite://{}", dir.0.join("fieldnotes.db").display());
        step(&format!(
            "starting {} on 127.0.0.1 (database in {})",
            binary.display(),
            dir.0.display()
        ));
        let mut create_admin = Command::new(&binary);
        create_admin
            .args(["create-admin", "--username", ADMIN])
            .env("FIELDNOTES_DATABASE_URL", &database)
            .env("FIELDNOTES_ADMIN_PASSWORD", &admin_password)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null());
        run(&mut create_admin)?;

        let mut serve = Command::new(&binary);
        serve
            .args(["--listen", "127.0.0.1:0", "--log", "info"])
            .args(["--signin-tries-per-username", SIGNIN_TRIES])
            .args(["--signin-tries-per-address", SIGNIN_TRIES])
            .env("FIELDNOTES_DATABASE_URL", &database)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for origin in cors_origins {
            serve.args(["--cors-origin", origin]);
        }
        let child = serve
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        // From here a failure kills the server (on drop).
        let mut server = TestServer {
            url: String::new(),
            admin: ADMIN.to_owned(),
            admin_password,
            child,
            _dir: dir,
        };
        let addr = listening_addr(&mut server.child)?;
        server.url = format!("http://{addr}");
        healthy(addr)?;
        step(&format!(
            "the server answers at {} (admin {ADMIN})",
            server.url
        ));
        Ok(server)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server's own folder, under the target folder; removed with everything in it on drop.
#[derive(Debug)]
struct ServerDir(PathBuf);

impl ServerDir {
    /// A new, empty folder.
    fn new(ws: &Workspace) -> anyhow::Result<ServerDir> {
        let parent = ws.target_dir.join("test-server");
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let dir = parent.join(format!("{}-{:016x}", std::process::id(), random()));
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(ServerDir(dir))
    }
}

impl Drop for ServerDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port on 127.0.0.1 that nothing listens on now, for a program that must be told its port
/// in advance (another program could take it before that one binds it, rarely).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The server binary the workspace's tests run (`fieldnotes-test-server`, the tests crate's
/// copy of `fieldnotes-server`: the same `fieldnotes_server::cli::main`), built if it is not up
/// to date.
///
/// It comes from `cargo test --workspace --no-run`, so features and profile are those of the
/// test build: after the workspace's tests, as in `cargo xtask test`, nothing is built again.
/// (`cargo build` of `fieldnotes-server` would resolve features differently, or link every
/// test binary a second time in another profile.)
fn server_binary(ws: &Workspace) -> anyhow::Result<PathBuf> {
    step("building the server: cargo test --workspace --locked --no-run");
    let mut cargo = ws.cargo();
    cargo.args(["test", "--workspace", "--locked", "--no-run"]);
    run(&mut cargo)?;
    let binary = ws.target_dir.join("debug").join(format!(
        "fieldnotes-test-server{}",
        std::env::consts::EXE_SUFFIX
    ));
    if !binary.is_file() {
        bail!("the build left no server at {}", binary.display());
    }
    Ok(binary)
}

/// 64 random bits from the standard library's hasher keys (seeded by the operating system).
fn random() -> u64 {
    RandomState::new().build_hasher().finish()
}

/// A password for one run's admin (the server wants at least 10 characters).
fn random_password() -> String {
    format!("admin-{:016x}{:016x}", random(), random())
}

/// The address in the server's "fieldnotes-server listening addr=..." log line (written once
/// it is bound). Its output is drained afterwards, so that it never blocks on a full pipe,
/// and its warnings and errors shown.
fn listening_addr(child: &mut Child) -> anyhow::Result<SocketAddr> {
    let stdout = child.stdout.take().context("the server has no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sent {
                // Its warnings and errors say why a test's call failed.
                if line.contains(" WARN ") || line.contains(" ERROR ") {
                    eprintln!("fieldnotes-server: {line}");
                }
            } else if line.contains("fieldnotes-server listening") {
                let addr = line.split("addr=").nth(1).map(|rest| {
                    rest.chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect::<String>()
                });
                sent = tx.send(addr).is_ok();
            }
        }
    });
    let addr = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(addr)) => addr,
        Ok(None) => bail!("the server said it listens, but not where"),
        Err(mpsc::RecvTimeoutError::Timeout) => bail!(
            "the server did not listen within {}s",
            START_TIMEOUT.as_secs()
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = child.wait()?;
            bail!("the server exited ({status}) before it listened")
        }
    };
    addr.parse()
        .with_context(|| format!("the server's address {addr:?}"))
}

/// `GET /healthz` answers 200.
fn healthy(addr: SocketAddr) -> anyhow::Result<()> {
    let mut stream =
        TcpStream::connect(addr).with_context(|| format!("connecting to the server at {addr}"))?;
    stream.set_read_timeout(Some(START_TIMEOUT))?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .context("reading the server's /healthz answer")?;
    let status = answer.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        bail!("the server's /healthz answered {status:?}");
    }
    Ok(())
}
