//! The real server, in-process and without a socket: `fieldnotes_server::app` over an
//! [`AppState`] on a SQLite file, called with `tower::ServiceExt::oneshot`. Every request goes
//! through the same layers, extractors and handlers as in production (body limit, auth, scope,
//! merge, review detection, the store). A restart drops the state and opens the file again.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use fieldnotes_protocol::{ErrorBody, ErrorCode};
use fieldnotes_server::state::Limits;
use fieldnotes_server::{AppState, Config};
use serde::de::DeserializeOwned;
use tower::ServiceExt as _;

use crate::error::SimError;

/// Sign-in tries the simulation allows: many devices sign in from "one address".
const SIGNIN_TRIES: u32 = 1_000_000;

/// The server of one run.
pub(crate) struct SimServer {
    url: String,
    limits: Limits,
    running: Option<Running>,
}

struct Running {
    state: AppState,
    router: Router,
}

/// An answer: its status and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as `T`, when the status is a success.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, SimError> {
        if !self.status.is_success() {
            return Err(self.unexpected(what));
        }
        serde_json::from_slice(&self.body).map_err(|_| self.unexpected(what))
    }

    /// The error code of a refusal, if the body is an error body with a code this build knows.
    pub fn error_code(&self) -> Option<ErrorCode> {
        serde_json::from_slice::<ErrorBody>(&self.body)
            .ok()
            .and_then(|b| b.error_code())
    }

    pub fn unexpected(&self, what: &str) -> SimError {
        SimError::Unexpected {
            what: what.to_owned(),
            status: self.status.as_u16(),
            body: String::from_utf8_lossy(&self.body)
                .chars()
                .take(400)
                .collect(),
        }
    }
}

impl SimServer {
    /// Open (and migrate) the database at `url` and build the server over it.
    pub async fn open(url: &str, limits: Limits) -> Result<SimServer, SimError> {
        let mut server = SimServer {
            url: url.to_owned(),
            limits,
            running: None,
        };
        server.start().await?;
        Ok(server)
    }

    async fn start(&mut self) -> Result<(), SimError> {
        let mut config = Config::with_database(&self.url);
        config.signin_tries_per_username = SIGNIN_TRIES;
        config.signin_tries_per_address = SIGNIN_TRIES;
        let store = fieldnotes_store::open_with(&self.url, config.store_options()).await?;
        let state = AppState::with_store(Arc::from(store), self.limits, config.policy(), None)
            .await
            .map_err(|e| SimError::Server(format!("{e:#}")))?;
        let router = fieldnotes_server::app(state.clone());
        self.running = Some(Running { state, router });
        Ok(())
    }

    /// Stop (dropping every handle on the store) and start again on the same file.
    pub async fn restart(&mut self) -> Result<(), SimError> {
        self.running = None;
        self.start().await
    }

    /// A consistent copy of the database at `path`, taken while the server runs (`VACUUM
    /// INTO`, as an operator's backup); returns its URL.
    pub async fn backup(&self, path: &std::path::Path) -> Result<String, SimError> {
        use sqlx::Connection as _;
        let failed = |e: sqlx::Error| SimError::Server(format!("backing the database up: {e}"));
        let mut conn = sqlx::SqliteConnection::connect(&self.url)
            .await
            .map_err(failed)?;
        let target = path.display().to_string().replace('\'', "''");
        sqlx::query(&format!("VACUUM INTO '{target}'"))
            .execute(&mut conn)
            .await
            .map_err(failed)?;
        conn.close().await.map_err(failed)?;
        Ok(format!("sqlite://{}", path.display()))
    }

    /// Stop, and start again on the database at `url` (a backup restored in place of the one
    /// the server ran on, which is left as it was).
    pub async fn restore(&mut self, url: &str) -> Result<(), SimError> {
        self.running = None;
        self.url = url.to_owned();
        self.start().await
    }

    fn running(&self) -> Result<&Running, SimError> {
        self.running
            .as_ref()
            .ok_or_else(|| SimError::Server("the server is not running".into()))
    }

    /// The server's store, for the end-of-run checks.
    pub fn store(&self) -> Result<&dyn fieldnotes_store::Store, SimError> {
        Ok(&*self.running()?.state.store)
    }

    /// One request through the whole router.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, SimError> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Body::from(body.unwrap_or_default()))
            .map_err(|e| SimError::Server(format!("building a request to {path}: {e}")))?;
        let router = self.running()?.router.clone();
        let response = match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| SimError::Server(format!("reading the answer to {path}: {e}")))?;
        Ok(Answer {
            status,
            body: body.to_vec(),
        })
    }

    /// A JSON request whose success answer is read as `T`.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &impl serde::Serialize,
    ) -> Result<T, SimError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| SimError::Server(format!("encoding a request to {path}: {e}")))?;
        let what = format!("{method} {path}");
        self.call(method, path, token, Some(bytes))
            .await?
            .json(&what)
    }
}
