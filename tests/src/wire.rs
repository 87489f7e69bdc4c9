//! Speaking the protocol directly, as a device would, without the client SDK: for tests that
//! need to send exactly the bytes they choose (duplicates, reordering, garbage, forged
//! tokens).

use std::io::Write;

use anyhow::Context;
use automerge::ActorId;
use fieldnotes_model::{Document, EncodedChange, NewRecord};
use fieldnotes_protocol::auth::{DeviceInfo, LOGIN_PATH, PasswordLogin, Session};
use fieldnotes_protocol::{
    ChangeBytes, Cursor, ErrorBody, PROTOCOL_VERSION, PushDoc, SYNC_PATH, SyncRequest, SyncResponse,
};
use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::StatusCode;

/// gzip `bytes` as the client SDK does.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// A raw HTTP answer: status and body.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl RawAnswer {
    /// The answer to a sync request, if it succeeded.
    pub fn sync_response(&self) -> anyhow::Result<SyncResponse> {
        self.parse("sync")
    }

    pub fn error_body(&self) -> anyhow::Result<ErrorBody> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "expected an error body, got {} {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The answer's JSON body as `T`, if it succeeded.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        self.parse("request")
    }

    /// The JSON body of the answer to a `what` request, if it succeeded.
    fn parse<T: serde::de::DeserializeOwned>(&self, what: &str) -> anyhow::Result<T> {
        anyhow::ensure!(
            self.status.is_success(),
            "{what} failed with {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        serde_json::from_slice(&self.body).with_context(|| format!("parsing the {what} answer"))
    }
}

async fn answer(response: reqwest::Response) -> anyhow::Result<RawAnswer> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .context("reading the answer")?
        .to_vec();
    Ok(RawAnswer { status, body })
}

/// POST raw bytes to the sync endpoint (gzip-compressed when `compress`) with a bearer token.
pub async fn post_raw(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    body: &[u8],
    compress: bool,
) -> anyhow::Result<RawAnswer> {
    let mut request = http
        .post(format!("{base}{SYNC_PATH}"))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    request = if compress {
        request
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(gzip(body).context("compressing the request")?)
    } else {
        request.body(body.to_vec())
    };
    answer(request.send().await.context("sending the sync request")?).await
}

/// A JSON request to any endpoint, with an optional bearer token.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<RawAnswer> {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    answer(
        request
            .send()
            .await
            .with_context(|| format!("calling {url}"))?,
    )
    .await
}

/// A device speaking the protocol by hand: signed in, with its own actor id.
#[derive(Debug, Clone)]
pub struct RawDevice {
    pub base: String,
    pub http: reqwest::Client,
    pub actor: ActorId,
    pub session: Session,
    /// Scope keys this device holds in full (see [`RawDevice::sync_round`]).
    pub held: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RawDevice {
    /// Sign in as `username` with `password`, registering a new device with a new actor.
    pub async fn login(base: &str, username: &str, password: &str) -> anyhow::Result<RawDevice> {
        let actor = ActorId::from(uuid::Uuid::new_v4().as_bytes().as_slice());
        Self::login_with_actor(base, username, password, actor).await
    }

    /// Sign in on a new device that writes as `actor`.
    pub async fn login_with_actor(
        base: &str,
        username: &str,
        password: &str,
        actor: ActorId,
    ) -> anyhow::Result<RawDevice> {
        let http = reqwest::Client::new();
        let login = PasswordLogin {
            username: username.to_owned(),
            password: password.to_owned(),
            device: DeviceInfo {
                device_id: uuid::Uuid::new_v4().to_string(),
                actor_id: actor.to_hex_string(),
                name: format!("{username}'s test device"),
            },
        };
        let body = serde_json::to_value(&login)?;
        let session: Session = call(
            &http,
            reqwest::Method::POST,
            &format!("{base}{LOGIN_PATH}"),
            None,
            Some(&body),
        )
        .await?
        .json()
        .with_context(|| format!("signing in as {username}"))?;
        Ok(RawDevice {
            base: base.to_owned(),
            http,
            actor,
            session,
            held: std::sync::Arc::default(),
        })
    }

    pub fn token(&self) -> &str {
        &self.session.tokens.access_token
    }

    pub fn device_id(&self) -> &str {
        &self.session.device_id
    }

    pub fn user_id(&self) -> &str {
        &self.session.user.user_id
    }

    /// A new document written with this device's actor.
    pub fn create(&self, record: NewRecord) -> anyhow::Result<Document> {
        Ok(Document::create(
            &uuid::Uuid::new_v4().to_string(),
            self.actor.clone(),
            record,
            1_763_900_000_000,
        )?)
    }

    /// POST raw bytes to the sync endpoint as this device.
    pub async fn post_raw(&self, body: &[u8], compress: bool) -> anyhow::Result<RawAnswer> {
        post_raw(&self.http, &self.base, self.token(), body, compress).await
    }

    /// One sync round: `push`, and pull from `cursor`, as a device holding `scopes`.
    pub async fn round(
        &self,
        push: Vec<PushDoc>,
        cursor: Option<Cursor>,
        scopes: Vec<String>,
    ) -> anyhow::Result<SyncResponse> {
        let request = SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor,
            push,
            max_page_bytes: None,
            scopes,
            anchor: None,
            verify: Vec::new(),
        };
        let body = serde_json::to_vec(&request)?;
        self.post_raw(&body, true).await?.sync_response()
    }

    /// One round pushing `push` and pulling from `cursor`, listing (and then updating) the
    /// scope keys this device holds, as the SDK does.
    pub async fn sync_round(
        &self,
        push: Vec<PushDoc>,
        cursor: Option<Cursor>,
    ) -> anyhow::Result<SyncResponse> {
        let poisoned = |_| anyhow::anyhow!("a thread panicked holding the device's scope keys");
        let held = self.held.lock().map_err(poisoned)?.clone();
        let response = self.round(push, cursor, held).await?;
        let mut held = self.held.lock().map_err(poisoned)?;
        held.retain(|k| !response.remove_scopes.contains(k));
        for key in &response.scopes_complete {
            if !held.contains(key) {
                held.push(key.clone());
            }
        }
        drop(held);
        Ok(response)
    }

    /// A request to `path` with this device's token and a JSON `body` when given.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<RawAnswer> {
        let url = format!("{}{path}", self.base);
        call(&self.http, method, &url, Some(self.token()), body).await
    }

    /// A GET with this device's token.
    pub async fn get(&self, path: &str) -> anyhow::Result<RawAnswer> {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// A PATCH of JSON with this device's token.
    pub async fn patch(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<RawAnswer> {
        self.request(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// A POST of JSON with this device's token.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<RawAnswer> {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    /// One round pushing `push` and pulling nothing new, holding no scope keys.
    pub async fn push(&self, push: Vec<PushDoc>) -> anyhow::Result<SyncResponse> {
        self.round(push, None, Vec::new()).await
    }
}

/// A push entry carrying `changes`.
pub fn push_doc(doc_id: &str, changes: &[EncodedChange]) -> PushDoc {
    PushDoc {
        doc_id: doc_id.to_owned(),
        changes: changes
            .iter()
            .map(|c| ChangeBytes(c.bytes.clone()))
            .collect(),
    }
}

/// A push entry carrying every change of `doc`.
pub fn push_all(doc: &mut Document) -> PushDoc {
    let changes = doc.all_changes();
    push_doc(doc.id(), &changes)
}

/// A push entry carrying exactly these change bytes.
pub fn raw_push(doc_id: &str, changes: Vec<Vec<u8>>) -> PushDoc {
    PushDoc {
        doc_id: doc_id.to_owned(),
        changes: changes.into_iter().map(ChangeBytes).collect(),
    }
}
