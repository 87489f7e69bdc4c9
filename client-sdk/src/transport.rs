//! One sync round over HTTP: gzip-compressed JSON, with retry and backoff on failures that
//! may pass (no signal, server restarting, overloaded).

use std::io::Write;
use std::time::Duration;

use fieldnotes_protocol::{DEVICE_HEADER, ErrorBody, SYNC_PATH, SyncRequest, SyncResponse};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::Rng as _;

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
    device_id: String,
    retry: RetryPolicy,
}

impl Transport {
    pub(crate) fn new(
        base: &str,
        device_id: &str,
        retry: RetryPolicy,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("fieldnotes-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Config(format!("cannot set up HTTP: {e}")))?;
        Ok(Transport {
            http,
            base: base.trim_end_matches('/').to_owned(),
            device_id: device_id.to_owned(),
            retry,
        })
    }

    /// Send one sync round, retrying failures that may pass. The request is idempotent (changes
    /// are identified by hash), so resending after a lost answer is safe.
    pub(crate) async fn round(&self, request: &SyncRequest) -> Result<SyncResponse, ClientError> {
        let json = serde_json::to_vec(request)
            .map_err(|e| ClientError::Corrupt(format!("cannot encode the sync request: {e}")))?;
        let body = gzip(&json);
        let attempts = self.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.send(&body).await {
                Ok(response) => return Ok(response),
                Err(e) if e.is_retryable() && attempt < attempts => {
                    let wait = self.retry.backoff(attempt);
                    tracing::info!(attempt, ?wait, error = %e, "sync round failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(ClientError::Unreachable { url, reason, .. }) => {
                    return Err(ClientError::Unreachable {
                        url,
                        attempts: attempt,
                        reason,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send(&self, body: &[u8]) -> Result<SyncResponse, ClientError> {
        let url = format!("{}{SYNC_PATH}", self.base);
        let unreachable = |reason: String| ClientError::Unreachable {
            url: self.base.clone(),
            attempts: 1,
            reason,
        };
        let response = self
            .http
            .post(&url)
            .header(DEVICE_HEADER, &self.device_id)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body.to_vec())
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
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Server {
                status: status.as_u16(),
                code: "unreadable_response".into(),
                message: format!("the server's answer could not be read: {e}"),
            });
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => (body.code, body.message),
            Err(_) => (
                "http_error".to_owned(),
                String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            ),
        };
        Err(ClientError::Server {
            status: status.as_u16(),
            code,
            message,
        })
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

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 2), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
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
