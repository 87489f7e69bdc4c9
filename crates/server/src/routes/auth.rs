//! Sign-in, token refresh and sign-out: the only endpoints, with the health checks, that
//! answer without an access token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fieldnotes_protocol::Role;
use fieldnotes_protocol::admin::{Listing, Team};
use fieldnotes_protocol::auth::{
    Colleague, DeviceInfo, ExternalLogin, Me, PasswordLogin, RefreshRequest, Session, Tokens,
};
use fieldnotes_store::StoreError;
use fieldnotes_store::directory::{
    DeviceRecord, NewAudit, NewDevice, RefreshOutcome, RefreshRotation, UserRecord,
};

use super::check_id;
use super::extract::ApiJson;
use crate::auth::AuthDevice;
use crate::auth::extract::active_user;
use crate::auth::password::{MAX_PASSWORD_CHARS, verify_password_blocking};
use crate::auth::throttle::{AddressTry, normalise_username};
use crate::auth::tokens::{hash_refresh_token, new_refresh_token, new_session_id, random};
use crate::clock::now_ms;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// `POST /v1/auth/login`: sign in with a password, registering the device.
///
/// Checked in this order, so that nothing unbounded reaches the audit log or the password
/// hasher: the per-address throttle; the shape of the username, password and device; the
/// per-username throttle; then the password.
pub async fn login(
    _: AddressTry,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PasswordLogin>,
) -> Result<Json<Session>, ApiError> {
    let username = req.username.trim();
    if !valid_username(username) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidUsername,
            format!(
                "a username is 1 to {MAX_USERNAME_CHARS} letters, digits, '-', '_', '.' or '@'; \
                 check what was typed"
            ),
        ));
    }
    if req.password.is_empty() || req.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidPassword,
            format!("a password is 1 to {MAX_PASSWORD_CHARS} characters; check what was typed"),
        ));
    }
    check_device(&req.device)?;
    state
        .username_throttle
        .check(&normalise_username(username))?;
    let user = state.store.get_user_by_username(username).await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    if !verify_password_blocking(&state.password_slots, hash, req.password).await {
        // Kept on the record: repeated failures for one account are worth an admin's look.
        state
            .store
            .append_audit(
                &NewAudit::new("sign_in_failed")
                    .details(serde_json::json!({ "username": username })),
                &fieldnotes_store::directory::Actor {
                    user_id: user.as_ref().map(|u| u.info.user_id.clone()),
                    device_id: None,
                    at_ms: now_ms(),
                },
            )
            .await?;
        return Err(ApiError::Unauthorized {
            code: ErrorCode::InvalidCredentials,
            message: "the username or password is wrong".to_owned(),
        });
    }
    let user = user.ok_or_else(|| ApiError::Internal("verified a password of nobody".into()))?;
    start_session(&state, user, &req.device, "password").await
}

/// `POST /v1/auth/external`: sign in with a token from the authority's identity provider.
pub async fn external(
    _: AddressTry,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ExternalLogin>,
) -> Result<Json<Session>, ApiError> {
    let idp = state.idp.as_ref().ok_or_else(|| ApiError::NotFound {
        what: "an identity provider on this server (it is not configured; sign in with a \
               password)"
            .to_owned(),
    })?;
    check_device(&req.device)?;
    let claims = idp.verify(&req.token)?;
    let user = state
        .store
        .get_user_by_subject(&claims.sub)
        .await?
        .ok_or_else(|| ApiError::Unauthorized {
            code: ErrorCode::UnknownIdentity,
            message: format!(
                "no Fieldnotes account is linked to identity {:?} at {}; ask an admin to link it",
                claims.sub, idp.issuer
            ),
        })?;
    start_session(&state, user, &req.device, "identity_provider").await
}

/// Longest username.
pub const MAX_USERNAME_CHARS: usize = 64;

/// A username: 1 to 64 ASCII letters, digits, `-`, `_`, `.` or `@` (ASCII, so that comparing
/// without case means the same on both databases).
pub(crate) fn valid_username(username: &str) -> bool {
    !username.is_empty()
        && username.len() <= MAX_USERNAME_CHARS
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

/// Refuse a username a new account cannot have.
pub(crate) fn check_username(username: &str) -> Result<(), ApiError> {
    if valid_username(username) {
        return Ok(());
    }
    Err(ApiError::bad_request(
        ErrorCode::InvalidUsername,
        format!(
            "a username must be 1 to {MAX_USERNAME_CHARS} letters, digits, '-', '_', '.' or '@' \
             (no spaces)"
        ),
    ))
}

fn check_device(device: &DeviceInfo) -> Result<(), ApiError> {
    check_id("device_id", &device.device_id)?;
    let actor_ok = device.actor_id.len() >= 2
        && device.actor_id.len() <= 64
        && device.actor_id.len().is_multiple_of(2)
        && device.actor_id.bytes().all(|b| b.is_ascii_hexdigit());
    if !actor_ok {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidDevice,
            format!(
                "actor_id {:?} must be the device's automerge actor id: 2 to 64 hex digits",
                device.actor_id
            ),
        ));
    }
    let name_len = device.name.chars().count();
    if name_len == 0 || name_len > 100 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidDevice,
            "the device name must be 1 to 100 characters (for example \"Sam's laptop\")",
        ));
    }
    Ok(())
}

/// Register (or recognise) the device and start a new session on it.
async fn start_session(
    state: &AppState,
    user: UserRecord,
    device: &DeviceInfo,
    method: &str,
) -> Result<Json<Session>, ApiError> {
    if !user.active {
        return Err(ApiError::Forbidden {
            code: ErrorCode::AccountDisabled,
            message: format!(
                "the account {} is disabled; ask an administrator",
                user.info.username
            ),
        });
    }
    let now = now_ms();
    let store_key = random::<32>()?.to_vec();
    let record = state
        .store
        .register_device(
            &NewDevice {
                device_id: device.device_id.clone(),
                user_id: user.info.user_id.clone(),
                name: device.name.clone(),
                actor_id: device.actor_id.to_ascii_lowercase(),
                store_key,
            },
            now,
        )
        .await?;
    if record.revoked_at_ms.is_some() {
        return Err(ApiError::device_revoked());
    }
    let session_id = new_session_id()?;
    let (refresh, refresh_hash) = new_refresh_token()?;
    let refresh_ttl = state.auth.refresh_ttl;
    state
        .store
        .start_session(
            &record.device_id,
            &session_id,
            &refresh_hash,
            now,
            now.saturating_add(ms(refresh_ttl)),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::device_revoked(),
            other => ApiError::Store(other),
        })?;
    let access = state.auth.issue_access(
        &user.info.user_id,
        &record.device_id,
        &session_id,
        secs(now),
    )?;
    state
        .store
        .append_audit(
            &NewAudit::new("sign_in").details(serde_json::json!({ "method": method })),
            &fieldnotes_store::directory::Actor {
                user_id: Some(user.info.user_id.clone()),
                device_id: Some(record.device_id.clone()),
                at_ms: now,
            },
        )
        .await?;
    Ok(Json(Session {
        tokens: Tokens {
            access_token: access,
            expires_in: state.auth.access_ttl.as_secs(),
            refresh_token: refresh,
            refresh_expires_in: refresh_ttl.as_secs(),
        },
        user: user.info,
        device_id: record.device_id,
        store_key: STANDARD.encode(&record.store_key),
    }))
}

/// `POST /v1/auth/refresh`: a new access token and a new refresh token for a refresh token.
///
/// Each refresh token works once. Presented again by its own device within the grace window
/// (the answer to the first try was lost), it gets the same successor again, still unused;
/// presented again from another device, or later, it ends the device's session.
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<Tokens>, ApiError> {
    check_refresh_request(&req)?;
    let now = now_ms();
    // Derived from the presented token, so a retry names the same successor.
    let (next, next_hash) = state.auth.successor_of(&req.refresh_token);
    let refresh_ttl = state.auth.refresh_ttl;
    let outcome = state
        .store
        .rotate_refresh_retryable(&RefreshRotation {
            token_hash: &hash_refresh_token(&req.refresh_token),
            new_hash: &next_hash,
            device_id: req.device_id.as_deref(),
            at_ms: now,
            new_expires_at_ms: now.saturating_add(ms(refresh_ttl)),
            grace_ms: ms(state.policy.refresh_grace),
        })
        .await?;
    let (device, refresh_expires_in) = rotated(outcome, now, refresh_ttl)?;
    let user = active_user(&state, &device.user_id).await?;
    let session_id = device
        .session_id
        .as_deref()
        .ok_or_else(|| ApiError::Internal("a rotated token's device has no session".into()))?;
    let access =
        state
            .auth
            .issue_access(&user.info.user_id, &device.device_id, session_id, secs(now))?;
    Ok(Json(Tokens {
        access_token: access,
        expires_in: state.auth.access_ttl.as_secs(),
        refresh_token: next,
        refresh_expires_in,
    }))
}

/// Refuse a refresh request whose token or device id cannot be one this server issued.
fn check_refresh_request(req: &RefreshRequest) -> Result<(), ApiError> {
    if req.refresh_token.is_empty() || req.refresh_token.len() > MAX_REFRESH_TOKEN_BYTES {
        return Err(refresh_invalid(
            "this is not a refresh token from this server; sign in again",
        ));
    }
    if let Some(device_id) = &req.device_id {
        check_id("device_id", device_id)?;
    }
    Ok(())
}

/// Longest refresh token looked up (the server's own are 43 characters).
const MAX_REFRESH_TOKEN_BYTES: usize = 256;

fn refresh_invalid(message: &str) -> ApiError {
    ApiError::Unauthorized {
        code: ErrorCode::RefreshInvalid,
        message: message.to_owned(),
    }
}

/// The device whose token was rotated and how long its new refresh token lives (seconds), or
/// why there is no new token.
fn rotated(
    outcome: RefreshOutcome,
    now: i64,
    refresh_ttl: std::time::Duration,
) -> Result<(DeviceRecord, u64), ApiError> {
    match outcome {
        RefreshOutcome::Rotated { device } => Ok((device, refresh_ttl.as_secs())),
        RefreshOutcome::Replayed {
            device,
            expires_at_ms,
        } => {
            tracing::info!(device_id = %device.device_id,
                "a refresh token came back from its own device within the grace window; \
                 its successor is sent again");
            let left = u64::try_from(expires_at_ms.saturating_sub(now) / 1000).unwrap_or(0);
            Ok((device, left))
        }
        RefreshOutcome::Reused { device_id } => {
            tracing::warn!(%device_id, "a used refresh token came back; the session is ended");
            Err(ApiError::Unauthorized {
                code: ErrorCode::RefreshReused,
                message: "this refresh token was already used, so a copy of it may exist \
                          elsewhere; the device's session has been ended for safety. Sign in \
                          again"
                    .to_owned(),
            })
        }
        RefreshOutcome::Unknown => Err(refresh_invalid(
            "this refresh token is not known to the server; sign in again",
        )),
        RefreshOutcome::Expired => Err(refresh_invalid(
            "this refresh token has expired; sign in again",
        )),
        RefreshOutcome::SessionEnded => Err(ApiError::Unauthorized {
            code: ErrorCode::SessionEnded,
            message: "the session this refresh token belongs to has ended; sign in again"
                .to_owned(),
        }),
        RefreshOutcome::Revoked { .. } => Err(ApiError::device_revoked()),
    }
}

/// `POST /v1/auth/logout`: end this device's session.
pub async fn logout(
    State(state): State<AppState>,
    auth: AuthDevice,
) -> Result<StatusCode, ApiError> {
    let now = now_ms();
    state.store.end_session(auth.device_id(), now).await?;
    state
        .store
        .append_audit(&NewAudit::new("sign_out"), &auth.actor(now))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me`.
pub async fn me(auth: AuthDevice) -> Result<Json<Me>, ApiError> {
    Ok(Json(Me {
        user: auth.user.info,
        device_id: auth.device.device_id,
    }))
}

/// `GET /v1/team`: the caller's team and its rules, so a device can keep to them with no
/// signal (the most points a short plan may have).
pub async fn team(State(state): State<AppState>, auth: AuthDevice) -> Result<Json<Team>, ApiError> {
    let no_team = || ApiError::NotFound {
        what: format!(
            "a team for {}: they are in no team; an admin can add them to one",
            auth.user.info.username
        ),
    };
    let team_id = auth.user.info.team_id.as_deref().ok_or_else(no_team)?;
    let team = state.store.get_team(team_id).await?.ok_or_else(no_team)?;
    Ok(Json(team))
}

/// `GET /v1/team/people`: the people of the caller's team who can sign in (who they are,
/// not how they sign in); an admin, who sees every team's devices and quarantine, gets
/// everyone.
pub async fn team_people(
    State(state): State<AppState>,
    auth: AuthDevice,
) -> Result<Json<Listing<Colleague>>, ApiError> {
    let team = match (auth.role, auth.user.info.team_id.as_deref()) {
        (Role::Admin, _) => None,
        (_, Some(team)) => Some(team),
        (_, None) => return Ok(Json(Listing { items: Vec::new() })),
    };
    let people = state.store.list_users(team).await?;
    Ok(Json(
        people
            .into_iter()
            .filter(|p| p.active)
            .map(|p| Colleague {
                user_id: p.info.user_id,
                display_name: p.info.display_name,
                role: p.info.role,
                team_id: p.info.team_id,
            })
            .collect(),
    ))
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn secs(now_ms: i64) -> u64 {
    u64::try_from(now_ms / 1000).unwrap_or(0)
}
