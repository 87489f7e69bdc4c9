//! HTTP to the sync server: sync rounds (gzip-compressed JSON) and the auth endpoints (plain
//! JSON), each with the access token as `Authorization: Bearer` where one is needed, and retry
//! with backoff on failures that may pass (no signal, server restarting, overloaded).

use std::cell::Cell;
use std::io::Write;
use std::time::Duration;

use backon::Retryable as _;
use fieldnotes_protocol::{ErrorBody, ErrorCode, SYNC_PATH, SyncRequest, SyncResponse};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::RngExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ClientError;

/// How `sync` retries a round that failed for a reason that may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time, with jitter.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Try once; report failure at once (for tests and interactive tools).
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1): exponential with full
    /// jitter, so many devices coming back at once do not hit the server together.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_backoff);
        let millis = u64::try_from(exp.as_millis()).unwrap_or(u64::MAX);
        if millis == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

impl RetryPolicy {
    /// The waits between `attempts` tries (at least one try): one fewer than the tries.
    fn delays(self, attempts: u32) -> impl Iterator<Item = Duration> + Send + Sync + Unpin {
        (1..attempts.max(1)).map(move |attempt| self.backoff(attempt))
    }
}

impl Default for RetryPolicy {
    /// Four attempts over about three seconds.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
}

/// A request body.
enum Body<'a> {
    None,
    Json(&'a [u8]),
    GzipJson(&'a [u8]),
}

impl Transport {
    /// The HTTP client a [`crate::Client`] builds once and shares with every transport it
    /// makes, so connections to the server are reused across calls and syncs.
    pub(crate) fn http_client() -> Result<reqwest::Client, ClientError> {
        http_builder()
            .user_agent(concat!("fieldnotes-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Config(format!("cannot set up HTTP: {e}")))
    }

    /// A transport to `base` over the shared `http` client (a cheap handle to its pool).
    pub(crate) fn new(http: &reqwest::Client, base: &str, retry: RetryPolicy) -> Self {
        Transport {
            http: http.clone(),
            base: base.trim_end_matches('/').to_owned(),
            retry,
        }
    }

    /// The server's address, for messages.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Send one sync round with the access token, retrying failures that may pass. The request
    /// is idempotent (changes are identified by hash), so resending after a lost answer is safe.
    pub(crate) async fn round(
        &self,
        request: &SyncRequest,
        access_token: &str,
    ) -> Result<SyncResponse, ClientError> {
        let json = serde_json::to_vec(request)
            .map_err(|e| ClientError::Corrupt(format!("cannot encode the sync request: {e}")))?;
        let body = gzip(&json)?;
        self.with_retry(self.retry.max_attempts, || {
            self.call(
                reqwest::Method::POST,
                SYNC_PATH,
                Body::GzipJson(&body),
                Some(access_token),
            )
        })
        .await
    }

    /// POST a JSON body to an auth endpoint and read a JSON answer. `attempts` bounds the
    /// retries of failures that may pass.
    pub(crate) async fn post_json<B, R>(
        &self,
        path: &str,
        body: &B,
        bearer: Option<&str>,
        attempts: u32,
    ) -> Result<R, ClientError>
    where
        B: Serialize,
        R: DeserializeOwned,
    {
        let json = serde_json::to_vec(body)
            .map_err(|e| ClientError::Corrupt(format!("cannot encode the request: {e}")))?;
        self.with_retry(attempts, || {
            self.call(reqwest::Method::POST, path, Body::Json(&json), bearer)
        })
        .await
    }

    /// GET a JSON answer with the access token.
    pub(crate) async fn get_json<R: DeserializeOwned>(
        &self,
        path: &str,
        bearer: &str,
    ) -> Result<R, ClientError> {
        self.with_retry(self.retry.max_attempts, || {
            self.call(reqwest::Method::GET, path, Body::None, Some(bearer))
        })
        .await
    }

    /// Any call with the access token and an optional JSON body. Only reads (GET) are retried:
    /// a change whose answer was lost is not sent twice behind the person's back.
    pub(crate) async fn send_json<R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        json: Option<&[u8]>,
        bearer: &str,
    ) -> Result<R, ClientError> {
        let attempts = if method == reqwest::Method::GET {
            self.retry.max_attempts
        } else {
            1
        };
        self.with_retry(attempts, || {
            let body = match json {
                Some(json) => Body::Json(json),
                None => Body::None,
            };
            self.call(method.clone(), path, body, Some(bearer))
        })
        .await
    }

    /// POST with no body, ignoring the answer's body (sign-out). Tried once.
    pub(crate) async fn post_empty(&self, path: &str, bearer: &str) -> Result<(), ClientError> {
        self.call::<serde::de::IgnoredAny>(reqwest::Method::POST, path, Body::None, Some(bearer))
            .await
            .map(|_| ())
    }

    /// Send with `send`, retrying failures that may pass with the policy's backoff, at most
    /// `attempts` tries in all.
    async fn with_retry<R, F, Fut>(&self, attempts: u32, mut send: F) -> Result<R, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<R, ClientError>>,
    {
        let tried = Cell::new(0u32);
        let result = (|| {
            tried.set(tried.get() + 1);
            send()
        })
        // Sleeps with backon's default: tokio's timer natively, the browser's on wasm32.
        .retry(self.retry.delays(attempts))
        .when(ClientError::is_retryable)
        .notify(|e, wait| tracing::info!(?wait, error = %e, "request failed; retrying"))
        .await;
        match result {
            Err(ClientError::Unreachable { url, reason, .. }) => Err(ClientError::Unreachable {
                url,
                attempts: tried.get(),
                reason,
            }),
            other => other,
        }
    }

    async fn call<R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body<'_>,
        bearer: Option<&str>,
    ) -> Result<R, ClientError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |reason: String| ClientError::Unreachable {
            url: self.base.clone(),
            attempts: 1,
            reason,
        };
        let mut request = self.http.request(method, &url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(json) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json.to_vec()),
            Body::GzipJson(gz) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(gz.to_vec()),
        };
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        let status = response.status();
        // A body cut off mid-answer is a network failure: nothing in it is trusted.
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        if status.is_success() {
            let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(bytes).map_err(|e| ClientError::Server {
                status,
                code: ErrorCode::UnreadableResponse.as_str().into(),
                message: format!("the server's answer could not be read: {e}"),
            });
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) if body.error_code() == Some(ErrorCode::StorageUnavailable) => {
                // The server is reachable; its own storage failed.
                return Err(ClientError::ServerStorage {
                    url: self.base.clone(),
                    reason: storage_reason(body.details.as_ref()).to_owned(),
                });
            }
            Ok(body) => (body.code, body.message),
            Err(_) => (
                "http_error".to_owned(),
                String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            ),
        };
        Err(ClientError::Server {
            status,
            code,
            message,
        })
    }
}

/// Native HTTP, with time limits of its own.
#[cfg(not(target_arch = "wasm32"))]
fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
}

/// The browser's fetch, which keeps its own time limits (reqwest's wasm client takes none).
#[cfg(target_arch = "wasm32")]
fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
}

/// What a `storage_unavailable` answer's `details.reason` means, in words.
fn storage_reason(details: Option<&serde_json::Value>) -> &'static str {
    match details
        .and_then(|d| d.get("reason"))
        .and_then(|r| r.as_str())
    {
        Some("full") => "its storage is full",
        Some("read_only") => "its database is read-only",
        Some("io_error") => "its disk failed to read or write",
        Some("corrupt") => "its database is damaged",
        _ => "its database is not answering",
    }
}

/// A short cause for a failed request: "Connection refused (os error 111)", "timed out", ...
/// (the innermost cause; reqwest's outer layers only repeat the URL).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "the server did not answer in time".to_owned();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 2), Compression::fast());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| ClientError::Corrupt(format!("cannot compress the sync request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();
        for attempt in 1..10 {
            let wait = policy.backoff(attempt);
            assert!(wait <= policy.max_backoff, "attempt {attempt}: {wait:?}");
        }
        let first = policy.backoff(1);
        assert!(
            first >= Duration::from_millis(125) && first <= Duration::from_millis(250),
            "{first:?}"
        );
        assert_eq!(RetryPolicy::none().backoff(1), Duration::ZERO);
    }
}
