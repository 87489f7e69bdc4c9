//! A log of what a test server was asked and what it answered, for the client SDK's tests:
//! how often a device signed in, refreshed or signed out, which refresh tokens it presented,
//! which tokens it was given, and every sync request as it sent it. The log is a layer around
//! the real server's router ([`crate::TestServer::logged`]); it changes nothing of the
//! conversation. Bodies are kept decompressed.

use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_ENCODING};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use fieldnotes_protocol::auth::{
    EXTERNAL_LOGIN_PATH, LOGIN_PATH, REFRESH_PATH, RefreshRequest, Tokens,
};
use fieldnotes_protocol::{SYNC_PATH, SyncRequest};
use tokio::net::TcpListener;

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: Method,
    pub path: String,
    /// The device its access token names (`did`), if it carried one.
    pub device: Option<String>,
    /// The client's address and port: one per TCP connection.
    pub peer: Option<SocketAddr>,
    pub request: Vec<u8>,
    pub status: StatusCode,
    pub answer: Vec<u8>,
}

/// Every exchange with one server, in the order the answers were sent.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<Exchange>>>);

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, Vec<Exchange>> {
        // A test that panicked while holding the log has failed already.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every exchange so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.lock().clone()
    }

    /// The distinct connections (client address and port) requests to `path` came over.
    pub fn connections(&self, path: &str) -> std::collections::BTreeSet<SocketAddr> {
        self.lock()
            .iter()
            .filter(|e| e.path == path)
            .filter_map(|e| e.peer)
            .collect()
    }

    /// How many requests went to `path` (answered or refused).
    pub fn count(&self, path: &str) -> usize {
        self.lock().iter().filter(|e| e.path == path).count()
    }

    /// Refresh requests.
    pub fn refreshes(&self) -> usize {
        self.count(REFRESH_PATH)
    }

    /// Refresh requests that presented a token presented before (a device must never do
    /// this: the server takes a second use for a stolen copy).
    pub fn refresh_tokens_reused(&self) -> usize {
        let presented: Vec<String> = self
            .bodies(REFRESH_PATH)
            .iter()
            .map(|body| parse::<RefreshRequest>(body).refresh_token)
            .collect();
        let distinct: std::collections::BTreeSet<&String> = presented.iter().collect();
        presented.len() - distinct.len()
    }

    /// Every access and refresh token the server gave out (sign-ins and refreshes).
    pub fn tokens_issued(&self) -> Vec<Tokens> {
        self.lock()
            .iter()
            .filter(|e| e.status.is_success())
            .filter(|e| [LOGIN_PATH, EXTERNAL_LOGIN_PATH, REFRESH_PATH].contains(&e.path.as_str()))
            .map(|e| parse::<Tokens>(&e.answer))
            .collect()
    }

    /// The sync requests `device` sent, in order.
    pub fn sync_requests(&self, device: &str) -> Vec<SyncRequest> {
        self.lock()
            .iter()
            .filter(|e| e.path == SYNC_PATH && e.device.as_deref() == Some(device))
            .map(|e| parse::<SyncRequest>(&e.request))
            .collect()
    }

    /// The changes to `doc_id` that `device` pushed, in the order it sent them.
    pub fn changes_pushed(&self, device: &str, doc_id: &str) -> Vec<Vec<u8>> {
        self.sync_requests(device)
            .into_iter()
            .flat_map(|r| r.push)
            .filter(|p| p.doc_id == doc_id)
            .flat_map(|p| p.changes)
            .map(|c| c.into_inner())
            .collect()
    }

    fn bodies(&self, path: &str) -> Vec<Vec<u8>> {
        self.lock()
            .iter()
            .filter(|e| e.path == path)
            .map(|e| e.request.clone())
            .collect()
    }
}

/// A logged body as `T`; the server answered it, so it parses.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> T {
    match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => panic!(
            "a logged body is not the expected JSON ({e}): {}",
            String::from_utf8_lossy(body)
        ),
    }
}

/// Serve `state`'s router on `listener`, logging every exchange in `log`, until `shutdown`.
pub(crate) async fn serve_logged(
    state: fieldnotes_server::AppState,
    listener: TcpListener,
    log: RequestLog,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app =
        fieldnotes_server::app(state).layer(axum::middleware::from_fn_with_state(log, record));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// The layer: read the request, pass it on, read the answer, log both, send the answer.
async fn record(State(log): State<RequestLog>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let sent = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
    let device = bearer_device(&parts.headers);
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let request_body = decoded(&parts.headers, &sent);
    let response = next.run(Request::from_parts(parts, Body::from(sent))).await;
    let (parts, body) = response.into_parts();
    let answered = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    log.lock().push(Exchange {
        method,
        path,
        device,
        peer,
        request: request_body,
        status: parts.status,
        answer: decoded(&parts.headers, &answered),
    });
    Response::from_parts(parts, Body::from(answered))
}

/// The device (`did`) a request's bearer token names, read without checking it (the server
/// checks it).
fn bearer_device(headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token).ok()?;
    claims.claims["did"].as_str().map(str::to_owned)
}

/// A body as its sender meant it: gunzipped if it says it is gzip.
fn decoded(headers: &HeaderMap, body: &Bytes) -> Vec<u8> {
    let gzip = headers
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let mut out = Vec::new();
    if gzip
        && flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .is_ok()
    {
        return out;
    }
    body.to_vec()
}
