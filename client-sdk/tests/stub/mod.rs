//! A small in-process stand-in for the sync server's auth and sync endpoints, enough to drive
//! the client through sign-in, token rotation, scopes, revocation and lost connections. The
//! real server is tested end to end in the `tests` crate.

#![allow(dead_code, clippy::unwrap_used, clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use fieldnotes_protocol::auth::{
    ExternalLogin, Me, PasswordLogin, RefreshRequest, Role, Session, Tokens, UserInfo,
};
use fieldnotes_protocol::{
    Cursor, ErrorBody, PulledDoc, PushOutcome, PushResult, RejectCode, SyncRequest, SyncResponse,
};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Account {
    pub password: String,
    pub info: UserInfo,
}

#[derive(Debug, Clone)]
struct AccessToken {
    device_id: String,
    exp: i64,
    valid: bool,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    device_id: String,
    used: bool,
    valid: bool,
}

/// What the stub knows and how it behaves; tests change it between calls.
#[derive(Debug, Default)]
pub struct StubState {
    pub accounts: HashMap<String, Account>,
    pub devices: HashMap<String, String>,
    pub store_keys: HashMap<String, [u8; 32]>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    pub revoked: HashSet<String>,
    /// Lifetime of access tokens issued at sign-in (negative: already expired).
    pub login_access_ttl: i64,
    /// Lifetime of access tokens issued by a refresh.
    pub refresh_access_ttl: i64,
    /// Answer the next N sync requests with 401 `token_expired`, whatever the token.
    pub force_401: u32,
    /// Pushed changes by document.
    pub received: HashMap<String, Vec<Vec<u8>>>,
    /// Documents to send in the next sync answer.
    pub pull_queue: Vec<PulledDoc>,
    /// Scope keys to report complete (until the device lists them).
    pub complete: Vec<String>,
    /// Scope keys that left the device's scope (reported while the device lists them).
    pub remove: Vec<String>,
    /// Documents whose pushes are refused.
    pub reject: HashSet<String>,
    pub sync_requests: Vec<SyncRequest>,
    pub login_calls: u32,
    pub refresh_calls: u32,
    pub logout_calls: u32,
    pub reused_refresh: u32,
    counter: u64,
    cursor: u64,
}

impl StubState {
    pub fn add_user(&mut self, user_id: &str, username: &str, password: &str) {
        self.accounts.insert(
            username.to_owned(),
            Account {
                password: password.to_owned(),
                info: UserInfo {
                    user_id: user_id.to_owned(),
                    username: username.to_owned(),
                    display_name: format!("{username} (test)"),
                    role: Role::SocialWorker,
                    team_id: Some("team-1".into()),
                },
            },
        );
    }

    /// End every session of a device (as an admin or a sign-out elsewhere would).
    pub fn end_sessions(&mut self, device_id: &str) {
        for t in self
            .access
            .values_mut()
            .filter(|t| t.device_id == device_id)
        {
            t.valid = false;
        }
        for t in self
            .refresh
            .values_mut()
            .filter(|t| t.device_id == device_id)
        {
            t.valid = false;
        }
    }

    fn issue(&mut self, device_id: &str, ttl: i64) -> Tokens {
        self.counter += 1;
        let exp = now_secs() + ttl;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!(r#"{{"exp":{exp},"did":"{device_id}"}}"#));
        let access_token = format!("eyJhbGciOiJub25lIn0.{payload}.sig{}", self.counter);
        let refresh_token = format!("refresh-{}-{}", self.counter, uuid::Uuid::new_v4());
        self.access.insert(
            access_token.clone(),
            AccessToken {
                device_id: device_id.to_owned(),
                exp,
                valid: true,
            },
        );
        self.refresh.insert(
            refresh_token.clone(),
            RefreshToken {
                device_id: device_id.to_owned(),
                used: false,
                valid: true,
            },
        );
        Tokens {
            access_token,
            expires_in: u64::try_from(ttl.max(0)).unwrap_or(0),
            refresh_token,
            refresh_expires_in: 86_400,
        }
    }

    fn session(&mut self, info: UserInfo, device_id: &str) -> Result<Session, Response> {
        if self.revoked.contains(device_id) {
            return Err(error(StatusCode::FORBIDDEN, "device_revoked", "revoked"));
        }
        let owner = self
            .devices
            .entry(device_id.to_owned())
            .or_insert_with(|| info.user_id.clone())
            .clone();
        if owner != info.user_id {
            return Err(error(
                StatusCode::CONFLICT,
                "conflict",
                "device registered to someone else",
            ));
        }
        let key = *self
            .store_keys
            .entry(device_id.to_owned())
            .or_insert_with(rand::random);
        let ttl = self.login_access_ttl;
        let tokens = self.issue(device_id, ttl);
        Ok(Session {
            tokens,
            user: info,
            device_id: device_id.to_owned(),
            store_key: base64::engine::general_purpose::STANDARD.encode(key),
        })
    }

    /// The device a bearer token belongs to, or the error the real server would give.
    fn check_bearer(&self, headers: &HeaderMap) -> Result<String, Response> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "unauthenticated", "no token"))?;
        let access = self
            .access
            .get(token)
            .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "invalid_token", "unknown token"))?;
        if self.revoked.contains(&access.device_id) {
            return Err(error(StatusCode::FORBIDDEN, "device_revoked", "revoked"));
        }
        if !access.valid {
            return Err(error(StatusCode::UNAUTHORIZED, "session_ended", "ended"));
        }
        if access.exp <= now_secs() {
            return Err(error(StatusCode::UNAUTHORIZED, "token_expired", "expired"));
        }
        Ok(access.device_id.clone())
    }
}

fn now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
    .unwrap_or(0)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            code: code.into(),
            message: message.into(),
            details: None,
        }),
    )
        .into_response()
}

type Shared = Arc<Mutex<StubState>>;

async fn login(State(s): State<Shared>, Json(req): Json<PasswordLogin>) -> Response {
    let mut s = s.lock().unwrap();
    s.login_calls += 1;
    let Some(account) = s.accounts.get(&req.username).cloned() else {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong");
    };
    if account.password != req.password {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the username or password is wrong",
        );
    }
    match s.session(account.info, &req.device.device_id) {
        Ok(session) => Json(session).into_response(),
        Err(r) => r,
    }
}

async fn external(State(s): State<Shared>, Json(req): Json<ExternalLogin>) -> Response {
    let mut s = s.lock().unwrap();
    s.login_calls += 1;
    let Some(username) = req.token.strip_prefix("idp:") else {
        return error(StatusCode::UNAUTHORIZED, "invalid_token", "bad id token");
    };
    let Some(account) = s.accounts.get(username).cloned() else {
        return error(StatusCode::UNAUTHORIZED, "unknown_identity", "no account");
    };
    match s.session(account.info, &req.device.device_id) {
        Ok(session) => Json(session).into_response(),
        Err(r) => r,
    }
}

async fn refresh(State(s): State<Shared>, Json(req): Json<RefreshRequest>) -> Response {
    let mut s = s.lock().unwrap();
    s.refresh_calls += 1;
    let Some(token) = s.refresh.get(&req.refresh_token).cloned() else {
        return error(StatusCode::UNAUTHORIZED, "refresh_invalid", "unknown");
    };
    if s.revoked.contains(&token.device_id) {
        return error(StatusCode::FORBIDDEN, "device_revoked", "revoked");
    }
    if token.used {
        s.reused_refresh += 1;
        s.end_sessions(&token.device_id);
        return error(StatusCode::UNAUTHORIZED, "refresh_reused", "reused");
    }
    if !token.valid {
        return error(
            StatusCode::UNAUTHORIZED,
            "session_ended",
            "the session has ended",
        );
    }
    if let Some(t) = s.refresh.get_mut(&req.refresh_token) {
        t.used = true;
    }
    let ttl = s.refresh_access_ttl;
    let tokens = s.issue(&token.device_id, ttl);
    Json(tokens).into_response()
}

async fn logout(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let mut s = s.lock().unwrap();
    let device = match s.check_bearer(&headers) {
        Ok(d) => d,
        Err(r) => return r,
    };
    s.logout_calls += 1;
    s.end_sessions(&device);
    StatusCode::NO_CONTENT.into_response()
}

async fn me(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let s = s.lock().unwrap();
    let device = match s.check_bearer(&headers) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let user_id = s.devices.get(&device).cloned().unwrap_or_default();
    let Some(account) = s.accounts.values().find(|a| a.info.user_id == user_id) else {
        return error(StatusCode::UNAUTHORIZED, "session_ended", "no user");
    };
    Json(Me {
        user: account.info.clone(),
        device_id: device,
    })
    .into_response()
}

async fn sync(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = s.check_bearer(&headers) {
        return r;
    }
    if s.force_401 > 0 {
        s.force_401 -= 1;
        return error(StatusCode::UNAUTHORIZED, "token_expired", "expired");
    }
    let mut json = Vec::new();
    if flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut json)
        .is_err()
    {
        return error(StatusCode::BAD_REQUEST, "bad_gzip", "bad gzip");
    }
    let req: SyncRequest = match serde_json::from_slice(&json) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "malformed_request", &e.to_string()),
    };
    let mut results = Vec::new();
    for doc in &req.push {
        if s.reject.contains(&doc.doc_id) {
            results.push(PushResult {
                doc_id: doc.doc_id.clone(),
                outcome: PushOutcome::Rejected {
                    code: RejectCode::OutOfScope,
                    reason: "outside your caseload".into(),
                    quarantine_id: Some(1),
                },
            });
            continue;
        }
        let mut hashes = Vec::new();
        for change in &doc.changes {
            let bytes = change.clone().into_inner();
            match automerge::Change::from_bytes(bytes.clone()) {
                Ok(c) => hashes.push(fieldnotes_model::hash_hex(&c.hash())),
                Err(e) => {
                    return error(StatusCode::BAD_REQUEST, "malformed_change", &e.to_string());
                }
            }
            s.received
                .entry(doc.doc_id.clone())
                .or_default()
                .push(bytes);
        }
        results.push(PushResult {
            doc_id: doc.doc_id.clone(),
            outcome: PushOutcome::Accepted { hashes },
        });
    }
    let pull = std::mem::take(&mut s.pull_queue);
    let scopes_complete = s
        .complete
        .iter()
        .filter(|k| !req.scopes.contains(k))
        .cloned()
        .collect();
    let remove_scopes = s
        .remove
        .iter()
        .filter(|k| req.scopes.contains(k))
        .cloned()
        .collect();
    s.cursor += 1;
    let cursor = Cursor(format!("1.{}", s.cursor));
    s.sync_requests.push(req);
    Json(SyncResponse {
        protocol: fieldnotes_protocol::PROTOCOL_VERSION,
        results,
        pull,
        cursor,
        more: false,
        scopes_complete,
        remove_scopes,
        read_only_scopes: Vec::new(),
        anchor: None,
        feed_reset: None,
        lacking: Vec::new(),
    })
    .into_response()
}

/// The running stub. Dropping it stops it.
pub struct Stub {
    pub url: String,
    pub state: Shared,
    down: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Stub {
    /// Start a stub with one account, `sam` / `pw` (user `u-sam`).
    pub async fn start() -> Stub {
        let mut state = StubState {
            login_access_ttl: 3600,
            refresh_access_ttl: 3600,
            ..Default::default()
        };
        state.add_user("u-sam", "sam", "pw");
        let state = Arc::new(Mutex::new(state));
        let app = axum::Router::new()
            .route(fieldnotes_protocol::auth::LOGIN_PATH, post(login))
            .route(
                fieldnotes_protocol::auth::EXTERNAL_LOGIN_PATH,
                post(external),
            )
            .route(fieldnotes_protocol::auth::REFRESH_PATH, post(refresh))
            .route(fieldnotes_protocol::auth::LOGOUT_PATH, post(logout))
            .route(fieldnotes_protocol::auth::ME_PATH, get(me))
            .route(fieldnotes_protocol::SYNC_PATH, post(sync))
            .with_state(state.clone());
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inner_addr = inner.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(inner, app).await;
        });
        // A front door that can "lose the signal": while down it drops every connection.
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", front.local_addr().unwrap());
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let down2 = down.clone();
        let proxy = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = front.accept().await else {
                    return;
                };
                if down2.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut upstream) = tokio::net::TcpStream::connect(inner_addr).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Stub {
            url,
            state,
            down,
            tasks: vec![server, proxy],
        }
    }

    /// Run `f` on the stub's state.
    pub fn with<R>(&self, f: impl FnOnce(&mut StubState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Lose (true) or regain (false) the connection.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
