//! Speaking the sync protocol directly, as a device would, without the client SDK: for tests
//! that need to send exactly the bytes they choose (duplicates, reordering, garbage).

use std::io::Write;

use anyhow::Context;
use fieldnotes_protocol::{
    DEVICE_HEADER, ErrorBody, PROTOCOL_VERSION, PushDoc, SYNC_PATH, SyncRequest, SyncResponse,
};
use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::StatusCode;

/// gzip `bytes` as the client SDK does.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// A raw HTTP answer: status and body.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn sync_response(&self) -> anyhow::Result<SyncResponse> {
        anyhow::ensure!(
            self.status.is_success(),
            "sync failed with {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        serde_json::from_slice(&self.body).context("parsing the sync response")
    }

    pub fn error_body(&self) -> anyhow::Result<ErrorBody> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "expected an error body, got {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// POST raw bytes to the sync endpoint (gzip-compressed when `compress`).
pub async fn post_raw(
    http: &reqwest::Client,
    base: &str,
    device: &str,
    body: &[u8],
    compress: bool,
) -> anyhow::Result<RawAnswer> {
    let mut request = http
        .post(format!("{base}{SYNC_PATH}"))
        .header(DEVICE_HEADER, device)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    request = if compress {
        request
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(gzip(body))
    } else {
        request.body(body.to_vec())
    };
    let response = request.send().await.context("sending the sync request")?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .context("reading the answer")?
        .to_vec();
    Ok(RawAnswer { status, body })
}

/// One sync round with `push`, from the start of the feed unless `cursor` is given.
pub async fn sync_round(
    http: &reqwest::Client,
    base: &str,
    device: &str,
    push: Vec<PushDoc>,
    cursor: Option<fieldnotes_protocol::Cursor>,
) -> anyhow::Result<SyncResponse> {
    let request = SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor,
        push,
        max_page_bytes: None,
    };
    let body = serde_json::to_vec(&request)?;
    post_raw(http, base, device, &body, true)
        .await?
        .sync_response()
}
