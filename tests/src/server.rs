//! The real server, in-process on an ephemeral port or as a separate process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use fieldnotes_protocol::auth::ME_PATH;
use fieldnotes_server::auth::AuthKeys;
use fieldnotes_server::auth::tokens::SIGNING_KEY_NAME;
use fieldnotes_server::state::{Limits, Policy};
use fieldnotes_server::{AppState, Config};
use fieldnotes_store::StoreOptions;
use tokio::net::TcpListener;

use crate::client::Device;
use crate::requests::{RequestLog, serve_logged};
use crate::wire::RawAnswer;
use crate::{Backend, TestDb};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The test identity provider's issuer.
pub const IDP_ISSUER: &str = "https://idp.test.invalid";
/// The audience the test identity provider's tokens name.
pub const IDP_AUDIENCE: &str = "fieldnotes";
/// The test identity provider's signing key (PEM) and its id.
pub const IDP_PRIVATE_KEY: &str = include_str!("../fixtures/idp_test_key.pem");
pub const IDP_PUBLIC_KEY: &str = include_str!("../fixtures/idp_test_key.pub.pem");
pub const IDP_KEY_ID: &str = "test-idp-key";

/// A server running inside the test process on 127.0.0.1 with an ephemeral port. The listener is
/// bound before this returns, so clients can connect at once.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    /// Every exchange, for servers started by [`TestServer::logged`].
    log: Option<RequestLog>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Sign-in tries per username and per address the harness allows: tests sign in many devices
/// from 127.0.0.1 in a second, so the production throttle would get in their way
/// (`tests/tests/hygiene.rs` tests the throttle itself, with its own settings).
pub const TEST_SIGNIN_TRIES: u32 = 100_000;

/// The server's default configuration for `database_url`, with the harness's sign-in limits.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::with_database(database_url);
    config.signin_tries_per_username = TEST_SIGNIN_TRIES;
    config.signin_tries_per_address = TEST_SIGNIN_TRIES;
    config
}

impl TestServer {
    /// A fresh database on `backend` and a server on it. Keep the database for as long as the
    /// server runs: it is removed when dropped.
    pub async fn fresh(backend: Backend) -> anyhow::Result<(TestDb, TestServer)> {
        let db = TestDb::new(backend).await?;
        let server = TestServer::start(&db.url).await?;
        Ok((db, server))
    }

    /// [`TestServer::fresh`] holding the standard organisation with `children` children
    /// (see [`crate::Org::standard`]).
    pub async fn standard(
        backend: Backend,
        children: usize,
    ) -> anyhow::Result<(TestDb, TestServer)> {
        let (db, server) = Self::fresh(backend).await?;
        server.org().standard(children).await?;
        Ok((db, server))
    }

    pub async fn start(database_url: &str) -> anyhow::Result<TestServer> {
        Self::start_with_config(&test_config(database_url)).await
    }

    /// Start a server with these settings.
    pub async fn start_with_config(config: &Config) -> anyhow::Result<TestServer> {
        let state = AppState::open(config).await?;
        Self::start_with_state(state).await
    }

    /// Start a server that also trusts the test identity provider (`tests/fixtures`), issuer
    /// [`IDP_ISSUER`], audience [`IDP_AUDIENCE`].
    pub async fn start_with_idp(database_url: &str) -> anyhow::Result<TestServer> {
        let mut config = test_config(database_url);
        config.idp_issuer = Some(IDP_ISSUER.to_owned());
        config.idp_audience = Some(IDP_AUDIENCE.to_owned());
        config.idp_jwks_file =
            Some(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/idp_test_jwks.json").into());
        let state = AppState::open(&config).await?;
        Self::start_with_state(state).await
    }

    /// Start a server on the database at `database_url`, opened with `options`, enforcing
    /// `limits` and `policy`.
    pub async fn start_with_parts(
        database_url: &str,
        options: StoreOptions,
        limits: Limits,
        policy: Policy,
    ) -> anyhow::Result<TestServer> {
        let store: fieldnotes_server::SharedStore =
            Arc::from(fieldnotes_store::open_with(database_url, options).await?);
        Self::start_with_state(AppState::with_store(store, limits, policy, None).await?).await
    }

    /// Start a server with the production settings but these request `limits`.
    pub async fn start_with_limits(
        database_url: &str,
        limits: Limits,
    ) -> anyhow::Result<TestServer> {
        let policy = Config::with_database(database_url).policy();
        Self::start_with_parts(database_url, StoreOptions::default(), limits, policy).await
    }

    /// Start another server on an already opened state (several servers, one database).
    pub async fn start_with_state(state: AppState) -> anyhow::Result<TestServer> {
        Self::serve_on(state, None).await
    }

    /// Start a server with these settings that logs every request and answer (see
    /// [`TestServer::requests`]).
    pub async fn logged(config: &Config) -> anyhow::Result<TestServer> {
        let state = AppState::open(config).await?;
        Self::serve_on(state, Some(RequestLog::default())).await
    }

    async fn serve_on(state: AppState, log: Option<RequestLog>) -> anyhow::Result<TestServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut server = TestServer {
            addr: listener.local_addr()?,
            state,
            log,
            shutdown: None,
            task: None,
        };
        server.serve(listener);
        Ok(server)
    }

    fn serve(&mut self, listener: TcpListener) {
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = rx.await;
        };
        let state = self.state.clone();
        self.task = Some(match &self.log {
            None => tokio::spawn(fieldnotes_server::serve_state(state, listener, shutdown)),
            Some(log) => tokio::spawn(serve_logged(state, listener, log.clone(), shutdown)),
        });
        self.shutdown = Some(tx);
    }

    /// What this server was asked and answered. Panics unless it was started by
    /// [`TestServer::logged`].
    pub fn requests(&self) -> &RequestLog {
        match &self.log {
            Some(log) => log,
            None => panic!("this test server keeps no log: start it with TestServer::logged"),
        }
    }

    /// Stop answering, as when the signal goes: every connection is closed and new ones are
    /// refused until [`TestServer::resume`]. The database and the state stay.
    pub async fn halt(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.context("server task panicked")??;
        }
        Ok(())
    }

    /// Answer again, on the same address, after [`TestServer::halt`].
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.task.is_none(), "the server is running");
        let listener = TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("listening on {} again", self.addr))?;
        self.serve(listener);
        Ok(())
    }

    /// Restart on the same address and database with `change` made to the state (new
    /// settings, new keys), as an operator restarting the server with another configuration.
    pub async fn restart(&mut self, change: impl FnOnce(&mut AppState)) -> anyhow::Result<()> {
        self.halt().await?;
        change(&mut self.state);
        self.resume().await
    }

    /// Restart issuing access tokens that live for `ttl` (those already issued keep theirs).
    pub async fn set_access_ttl(&mut self, ttl: Duration) -> anyhow::Result<()> {
        let secret = self.signing_key().await?;
        self.restart(|state| {
            state.policy.access_ttl = ttl;
            state.auth = Arc::new(AuthKeys::new(&secret, ttl, state.policy.refresh_ttl));
        })
        .await
    }

    /// Restart with a new access-token signing key, as a server whose key was replaced: every
    /// access token issued so far is refused (401), while refresh tokens, kept in the
    /// database, still work. Only this server uses the new key (the database keeps the old
    /// one for any other).
    pub async fn replace_signing_key(&mut self) -> anyhow::Result<()> {
        let secret = AuthKeys::new_secret().map_err(|e| anyhow::anyhow!("{e}"))?;
        self.restart(|state| {
            let (access, refresh) = (state.auth.access_ttl, state.auth.refresh_ttl);
            state.auth = Arc::new(AuthKeys::new(&secret, access, refresh));
        })
        .await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes people and structure into this server's store.
    pub fn org(&self) -> crate::Org<'_> {
        crate::Org::new(&*self.state.store)
    }

    /// Sign in over HTTP as `username` (password [`crate::PASSWORD`]) on a new raw device.
    pub async fn device(&self, username: &str) -> anyhow::Result<crate::RawDevice> {
        crate::RawDevice::login(&self.url(), username, crate::PASSWORD).await
    }

    /// A real device for `user`, in a temporary folder of its own, signed in online.
    pub async fn client(&self, user: &str) -> anyhow::Result<Device> {
        Device::sign_in(&self.url(), user).await
    }

    /// A request to `path` from no device: with `token` and a JSON `body` when given.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<RawAnswer> {
        let url = format!("{}{path}", self.url());
        crate::wire::call(&reqwest::Client::new(), method, &url, token, body).await
    }

    /// `GET /v1/me` with `token`: who the server takes its bearer for.
    pub async fn me(&self, token: &str) -> anyhow::Result<RawAnswer> {
        self.call(reqwest::Method::GET, ME_PATH, Some(token), None)
            .await
    }

    /// A POST of JSON from no device (sign-in, refresh).
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<RawAnswer> {
        self.call(reqwest::Method::POST, path, None, Some(body))
            .await
    }

    /// The key the server signs access tokens with, read from its database as any instance
    /// reads it.
    pub async fn signing_key(&self) -> anyhow::Result<Vec<u8>> {
        Ok(self
            .state
            .store
            .server_secret(SIGNING_KEY_NAME, b"unused")
            .await?)
    }

    /// Stop accepting, let in-flight requests finish, and wait for the server to end.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.halt().await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The server binary as a child process, for tests that kill it.
#[derive(Debug)]
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: Child,
}

impl ServerProcess {
    /// Start `fieldnotes-test-server` (the server's own entry point) on an ephemeral port and
    /// wait for the line in which it reports the address it listens on.
    pub fn start(binary: &str, database_url: &str) -> anyhow::Result<ServerProcess> {
        let mut child = Command::new(binary)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
                "--log",
                "info",
                "--signin-tries-per-username",
                &TEST_SIGNIN_TRIES.to_string(),
                "--signin-tries-per-address",
                &TEST_SIGNIN_TRIES.to_string(),
            ])
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let Some(line) = lines.next() else {
                let status = child.wait()?;
                bail!("the server exited ({status}) before it listened");
            };
            let line = line?;
            if let Some(rest) = line
                .split("addr=")
                .nth(1)
                .filter(|_| line.contains("listening"))
            {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                break addr
                    .parse::<SocketAddr>()
                    .with_context(|| format!("parsing {line:?}"))?;
            }
        };
        // Keep draining its output so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(ServerProcess { addr, child })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's process id (for reading its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flushing, the harshest crash there is.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
