//! Admin endpoints: teams, people and devices. Every one takes an [`AdminDevice`]; every change
//! is written to the audit log by the store in the same transaction.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use fieldnotes_protocol::Role;
use fieldnotes_protocol::admin::{
    Device, DevicesQuery, Listing, NewTeam, NewUser, Team, TeamPatch, Timestamp, User, UserPatch,
    UsersQuery,
};
use fieldnotes_store::directory::{DeviceRecord, UserInfo, UserRecord, UserUpdate};

use super::extract::{ApiJson, ApiQuery};
use super::{check_id, check_name};
use crate::auth::AdminDevice;
use crate::auth::password::{check_new_password, hash_password_blocking};
use crate::clock::now_ms;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The admin endpoints, under `/v1/admin`.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/teams", post(create_team).get(list_teams))
        .route("/v1/admin/teams/{id}", patch(update_team))
        .route("/v1/admin/users", post(create_user).get(list_users))
        .route("/v1/admin/users/{id}", patch(update_user))
        .route("/v1/admin/devices", get(list_devices))
        .route("/v1/admin/devices/{id}/revoke", post(revoke_device))
}

fn check_plan_limit(limit: Option<u32>) -> Result<(), ApiError> {
    match limit {
        Some(n) if !(1..=20).contains(&n) => Err(ApiError::bad_request(
            ErrorCode::InvalidPlanPointLimit,
            format!("plan_point_limit must be between 1 and 20, got {n}"),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn user_view(u: UserRecord) -> User {
    User {
        info: u.info,
        has_password: u.password_hash.is_some(),
        active: u.active,
        external_subject: u.external_subject,
    }
}

pub(crate) fn device_view(d: DeviceRecord) -> Device {
    Device {
        device_id: d.device_id,
        user_id: d.user_id,
        name: d.name,
        actor_id: d.actor_id,
        registered_at: Timestamp(d.registered_at_ms),
        last_sync_at: d.last_sync_ms.map(Timestamp),
        revoked_at: d.revoked_at_ms.map(Timestamp),
        pending_review: u64::try_from(d.pending_review).unwrap_or(0),
    }
}

/// `POST /v1/admin/teams`.
pub async fn create_team(
    State(state): State<AppState>,
    AdminDevice(admin): AdminDevice,
    ApiJson(req): ApiJson<NewTeam>,
) -> Result<(StatusCode, Json<Team>), ApiError> {
    check_id("team_id", &req.team_id)?;
    check_name("name", &req.name)?;
    check_plan_limit(req.plan_point_limit)?;
    let plan_point_limit = req
        .plan_point_limit
        .unwrap_or(u32::try_from(fieldnotes_model::PLAN_POINT_LIMIT).unwrap_or(u32::MAX));
    let team = Team {
        team_id: req.team_id,
        name: req.name,
        pod_read_access: req.pod_read_access,
        plan_point_limit,
    };
    state
        .store
        .create_team(&team, &admin.actor(now_ms()))
        .await?;
    Ok((StatusCode::CREATED, Json(team)))
}

/// `GET /v1/admin/teams`.
pub async fn list_teams(
    State(state): State<AppState>,
    AdminDevice(_): AdminDevice,
) -> Result<Json<Listing<Team>>, ApiError> {
    let items = state.store.list_teams().await?;
    Ok(Json(Listing { items }))
}

/// `PATCH /v1/admin/teams/{id}`.
pub async fn update_team(
    State(state): State<AppState>,
    AdminDevice(admin): AdminDevice,
    Path(team_id): Path<String>,
    ApiJson(req): ApiJson<TeamPatch>,
) -> Result<Json<Team>, ApiError> {
    if let Some(name) = &req.name {
        check_name("name", name)?;
    }
    check_plan_limit(req.plan_point_limit)?;
    let team = state
        .store
        .update_team(&team_id, &req, &admin.actor(now_ms()))
        .await?;
    Ok(Json(team))
}

/// `POST /v1/admin/users`.
pub async fn create_user(
    State(state): State<AppState>,
    AdminDevice(admin): AdminDevice,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user_id = req.user_id.unwrap_or_else(|| req.username.clone());
    check_id("user_id", &user_id)?;
    super::auth::check_username(&req.username)?;
    check_name("display_name", &req.display_name)?;
    if let Some(team_id) = &req.team_id {
        check_id("team_id", team_id)?;
    }
    if req.password.is_none() && req.external_subject.is_none() {
        return Err(ApiError::bad_request(
            ErrorCode::NoCredential,
            "give the person a password, or the external_subject their identity provider \
             signs them in with; otherwise they cannot sign in",
        ));
    }
    let password_hash = hash_new_password(req.password).await?;
    let now = now_ms();
    let user = UserRecord {
        info: UserInfo {
            user_id,
            username: req.username,
            display_name: req.display_name,
            role: req.role,
            team_id: req.team_id,
        },
        password_hash,
        external_subject: req.external_subject,
        active: true,
        created_at_ms: now,
    };
    state.store.create_user(&user, &admin.actor(now)).await?;
    Ok((StatusCode::CREATED, Json(user_view(user))))
}

/// The stored hash of a new password, if one is given and acceptable.
async fn hash_new_password(password: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(password) = password else {
        return Ok(None);
    };
    check_new_password(&password)?;
    Ok(Some(hash_password_blocking(password).await?))
}

/// `GET /v1/admin/users?team=ID`.
pub async fn list_users(
    State(state): State<AppState>,
    AdminDevice(_): AdminDevice,
    ApiQuery(q): ApiQuery<UsersQuery>,
) -> Result<Json<Listing<User>>, ApiError> {
    let users = state.store.list_users(q.team.as_deref()).await?;
    Ok(Json(users.into_iter().map(user_view).collect()))
}

/// `PATCH /v1/admin/users/{id}`.
pub async fn update_user(
    State(state): State<AppState>,
    AdminDevice(admin): AdminDevice,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<UserPatch>,
) -> Result<Json<User>, ApiError> {
    if let Some(name) = &req.display_name {
        check_name("display_name", name)?;
    }
    if let Some(Some(team_id)) = &req.team_id {
        check_id("team_id", team_id)?;
    }
    if user_id == admin.user.info.user_id
        && (req.active == Some(false) || req.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(ApiError::bad_request(
            ErrorCode::OwnAccount,
            "an admin cannot disable or demote their own account; ask another admin",
        ));
    }
    let password_hash = hash_new_password(req.password).await?;
    let update = UserUpdate {
        display_name: req.display_name,
        role: req.role,
        team_id: req.team_id,
        active: req.active,
        password_hash,
        external_subject: req.external_subject,
    };
    let user = state
        .store
        .update_user(&user_id, &update, &admin.actor(now_ms()))
        .await?;
    Ok(Json(user_view(user)))
}

/// `GET /v1/admin/devices?user=ID`: every device, with its person, last sync and what it sent
/// that waits for review.
pub async fn list_devices(
    State(state): State<AppState>,
    AdminDevice(_): AdminDevice,
    ApiQuery(q): ApiQuery<DevicesQuery>,
) -> Result<Json<Listing<Device>>, ApiError> {
    let devices = state.store.list_devices(q.user.as_deref()).await?;
    Ok(Json(devices.into_iter().map(device_view).collect()))
}

/// `POST /v1/admin/devices/{id}/revoke`: the device's session ends at once, and its next
/// contact tells it to wipe its store.
pub async fn revoke_device(
    State(state): State<AppState>,
    AdminDevice(admin): AdminDevice,
    Path(device_id): Path<String>,
) -> Result<Json<Device>, ApiError> {
    let device = state
        .store
        .revoke_device(&device_id, &admin.actor(now_ms()))
        .await?;
    tracing::warn!(%device_id, by = %admin.user.info.user_id, "device revoked");
    Ok(Json(device_view(device)))
}
