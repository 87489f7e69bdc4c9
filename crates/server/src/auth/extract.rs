//! The authenticated device in a handler's signature is the proof of authentication: a
//! handler that takes [`AuthDevice`] (or [`AdminDevice`]) cannot run for a request without a
//! valid access token from a live session on a device that has not been revoked.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use fieldnotes_protocol::auth::Role;
use fieldnotes_store::directory::{DeviceRecord, UserRecord};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// A request from a signed-in person on a registered, unrevoked device.
#[derive(Debug, Clone)]
pub struct AuthDevice {
    pub user: UserRecord,
    pub role: Role,
    pub device: DeviceRecord,
}

impl AuthDevice {
    pub fn user_id(&self) -> &str {
        &self.user.info.user_id
    }

    pub fn device_id(&self) -> &str {
        &self.device.device_id
    }

    /// The audit-log actor for something this device does now.
    pub fn actor(&self, at_ms: i64) -> fieldnotes_store::directory::Actor {
        fieldnotes_store::directory::Actor {
            user_id: Some(self.user.info.user_id.clone()),
            device_id: Some(self.device.device_id.clone()),
            at_ms,
        }
    }
}

/// The bearer token of a request, or why there is none.
pub fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized {
            code: ErrorCode::Unauthenticated,
            message: "sign in first: send the access token as `Authorization: Bearer TOKEN`"
                .to_owned(),
        })?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized {
            code: ErrorCode::Unauthenticated,
            message: "the Authorization header must be `Bearer TOKEN`".to_owned(),
        })
}

impl FromRequestParts<AppState> for AuthDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        let claims = state.auth.verify_access(token)?;
        let device = state
            .store
            .get_device(&claims.did)
            .await?
            .filter(|d| d.user_id == claims.sub)
            .ok_or_else(|| ApiError::Unauthorized {
                code: ErrorCode::InvalidToken,
                message: "the access token names a device that is not registered; sign in again"
                    .to_owned(),
            })?;
        if device.revoked_at_ms.is_some() {
            return Err(ApiError::device_revoked());
        }
        if device.session_id.as_deref() != Some(claims.sid.as_str()) {
            return Err(ApiError::Unauthorized {
                code: ErrorCode::SessionEnded,
                message: "this device's session has ended (signed out, or ended by the server); \
                          sign in again"
                    .to_owned(),
            });
        }
        let user = active_user(state, &claims.sub).await?;
        let role = user.info.role;
        Ok(AuthDevice { user, role, device })
    }
}

/// The person `user_id`, if their account is still active: a disabled account's sessions
/// end.
pub(crate) async fn active_user(state: &AppState, user_id: &str) -> Result<UserRecord, ApiError> {
    state
        .store
        .get_user(user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::Unauthorized {
            code: ErrorCode::SessionEnded,
            message: "this account is no longer active; ask an administrator".to_owned(),
        })
}

/// A request from an admin.
#[derive(Debug, Clone)]
pub struct AdminDevice(pub AuthDevice);

impl FromRequestParts<AppState> for AdminDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = AuthDevice::from_request_parts(parts, state).await?;
        if auth.role != Role::Admin {
            return Err(ApiError::forbidden(format!(
                "only an admin can do this; you are signed in as {} ({})",
                auth.user.info.username, auth.role
            )));
        }
        Ok(AdminDevice(auth))
    }
}
