//! Children and who works with them: allocation to a case holder (managers), referral to a
//! youth worker (case holders and managers), access outside allocation on the record (duty
//! workers), and the audit log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldnotes_protocol::ScopeKey;
use fieldnotes_protocol::admin::{
    AccessGrant, AccessRequest, Allocate, Allocation, AllocationHistory, AuditEntry, AuditQuery,
    Child, GrantsQuery, Listing, NewChild, NewReferral, Referral,
};
use fieldnotes_protocol::auth::Role;
use fieldnotes_store::directory::{
    AuditFilter, GrantFilter, NewReferral as StoreReferral, UserRecord,
};
use time::macros::format_description;

use super::extract::{ApiJson, ApiQuery, PathResource, Reached};
use super::{check_id, check_name, scope_of};
use crate::auth::AuthDevice;
use crate::clock::{now_ms, today};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Default length of access outside allocation.
pub const DEFAULT_ACCESS_MINUTES: u32 = 120;
/// Longest access outside allocation (one long shift).
pub const MAX_ACCESS_MINUTES: u32 = 720;

/// The routes of children, their allocations, referrals and access, and the audit log.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/children", post(create).get(list))
        .route(
            "/v1/children/{id}/allocation",
            post(allocate).delete(end_allocation),
        )
        .route("/v1/children/{id}/allocations", get(allocations))
        .route("/v1/children/{id}/referrals", post(refer).get(referrals))
        .route("/v1/children/{id}/access", post(request_access))
        .route("/v1/referrals/{id}/end", post(end_referral))
        .route("/v1/access-grants", get(list_grants))
        .route("/v1/audit", get(audit))
}

/// Admins, and managers of the child's team, manage a child.
fn manages(auth: &AuthDevice, team_id: &str) -> bool {
    auth.role == Role::Admin
        || (auth.role == Role::Manager && auth.user.info.team_id.as_deref() == Some(team_id))
}

/// The caller manages the child, or is its case holder.
fn manages_or_holds(auth: &AuthDevice, child: &Child) -> bool {
    manages(auth, &child.team_id) || child.case_holder.as_deref() == Some(auth.user_id())
}

async fn child(state: &AppState, child_id: &str) -> Result<Child, ApiError> {
    state
        .store
        .get_child(child_id)
        .await?
        .ok_or_else(|| not_found(child_id))
}

/// The person `user_id`, or "not found".
async fn person(state: &AppState, user_id: &str) -> Result<UserRecord, ApiError> {
    state
        .store
        .get_user(user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            what: format!("person {user_id}"),
        })
}

fn not_found(child_id: &str) -> ApiError {
    ApiError::NotFound {
        what: format!("child {child_id} (or it is not in your scope)"),
    }
}

/// The child, if the caller manages it, holds it, or has it in scope; otherwise "not found",
/// whether or not it exists, so ids cannot be probed.
async fn visible_child(
    state: &AppState,
    auth: &AuthDevice,
    child_id: &str,
) -> Result<Child, ApiError> {
    let child = child(state, child_id).await?;
    if manages_or_holds(auth, &child) {
        return Ok(child);
    }
    let scope = scope_of(state, auth).await?;
    if scope.can_read(&ScopeKey::child(child_id).to_string()) {
        Ok(child)
    } else {
        Err(not_found(child_id))
    }
}

impl PathResource for Child {
    type Id = String;

    async fn reach(
        state: &AppState,
        auth: &AuthDevice,
        child_id: String,
    ) -> Result<Self, ApiError> {
        visible_child(state, auth, &child_id).await
    }
}

fn not_manager(auth: &AuthDevice, child: &Child, what: &str) -> ApiError {
    ApiError::forbidden(format!(
        "only an admin or a manager of team {} can {what}; you are {} ({})",
        child.team_id, auth.user.info.username, auth.role
    ))
}

/// Refuse unless the caller manages the child; `what` is what they were refused.
fn must_manage(auth: &AuthDevice, child: &Child, what: &str) -> Result<(), ApiError> {
    if manages(auth, &child.team_id) {
        Ok(())
    } else {
        Err(not_manager(auth, child, what))
    }
}

/// `POST /v1/children`: admins, or managers for their own team.
pub async fn create(
    State(state): State<AppState>,
    auth: AuthDevice,
    ApiJson(req): ApiJson<NewChild>,
) -> Result<(StatusCode, Json<Child>), ApiError> {
    check_id("child_id", &req.child_id)?;
    check_id("team_id", &req.team_id)?;
    check_name("display_name", &req.display_name)?;
    if !manages(&auth, &req.team_id) {
        return Err(ApiError::forbidden(format!(
            "only an admin or a manager of team {} can add a child to it",
            req.team_id
        )));
    }
    state
        .store
        .create_child(&req, &auth.actor(now_ms()))
        .await?;
    let child = Child {
        child_id: req.child_id,
        display_name: req.display_name,
        team_id: req.team_id,
        case_holder: None,
    };
    Ok((StatusCode::CREATED, Json(child)))
}

/// `GET /v1/children`: the children the caller may see (all for admins, the team's for
/// managers, the ones in scope for everyone else).
pub async fn list(
    State(state): State<AppState>,
    auth: AuthDevice,
) -> Result<Json<Listing<Child>>, ApiError> {
    let children = match auth.role {
        Role::Admin => state.store.list_children(None).await?,
        Role::Manager => match &auth.user.info.team_id {
            Some(team) => state.store.list_children(Some(team)).await?,
            None => Vec::new(),
        },
        Role::SocialWorker | Role::YouthWorker => {
            let scope = scope_of(&state, &auth).await?;
            state
                .store
                .list_children(None)
                .await?
                .into_iter()
                .filter(|c| scope.can_read(&ScopeKey::child(c.child_id.as_str()).to_string()))
                .collect()
        }
    };
    Ok(Json(Listing { items: children }))
}

/// `POST /v1/children/{id}/allocation`: allocate the child to a social worker, ending the
/// current allocation. The new worker's devices receive the child's whole record on their next
/// sync; the previous worker's devices are told to remove it.
pub async fn allocate(
    State(state): State<AppState>,
    Reached(auth, child): Reached<Child>,
    ApiJson(req): ApiJson<Allocate>,
) -> Result<Json<Allocation>, ApiError> {
    must_manage(&auth, &child, "allocate this child")?;
    let worker = person(&state, &req.worker_id).await?;
    if worker.info.role != Role::SocialWorker || !worker.active {
        return Err(ApiError::bad_request(
            ErrorCode::NotACaseHolder,
            format!(
                "{} is {} ({}); children are allocated to an active social worker",
                worker.info.user_id,
                worker.info.role,
                if worker.active { "active" } else { "disabled" }
            ),
        ));
    }
    if auth.role == Role::Manager && worker.info.team_id.as_deref() != Some(child.team_id.as_str())
    {
        return Err(ApiError::bad_request(
            ErrorCode::OtherTeam,
            format!(
                "{} is not in team {}; a manager allocates within their team (an admin can move \
                 a child between teams)",
                worker.info.user_id, child.team_id
            ),
        ));
    }
    let allocation = state
        .store
        .allocate(&child.child_id, &worker.info.user_id, &auth.actor(now_ms()))
        .await?;
    Ok(Json(allocation))
}

/// `DELETE /v1/children/{id}/allocation`: end the current allocation (for example when the
/// case closes). The worker's devices are told to remove the child's records.
pub async fn end_allocation(
    State(state): State<AppState>,
    Reached(auth, child): Reached<Child>,
) -> Result<Json<Allocation>, ApiError> {
    must_manage(&auth, &child, "end this child's allocation")?;
    let ended = state
        .store
        .end_allocation(&child.child_id, &auth.actor(now_ms()))
        .await?;
    Ok(Json(ended))
}

/// `GET /v1/children/{id}/allocations`: every allocation, and how many different social
/// workers the child has had.
pub async fn allocations(
    State(state): State<AppState>,
    Reached(auth, child): Reached<Child>,
) -> Result<Json<AllocationHistory>, ApiError> {
    if !manages_or_holds(&auth, &child) {
        return Err(not_manager(
            &auth,
            &child,
            "see this child's allocation history",
        ));
    }
    let history = state.store.allocation_history(&child.child_id).await?;
    let mut workers: Vec<&str> = history.iter().map(|a| a.worker_id.as_str()).collect();
    workers.sort_unstable();
    workers.dedup();
    Ok(Json(AllocationHistory {
        distinct_workers: u32::try_from(workers.len()).unwrap_or(u32::MAX),
        child_id: child.child_id,
        allocations: history,
    }))
}

fn check_date(field: &str, value: &str) -> Result<time::Date, ApiError> {
    time::Date::parse(value, format_description!("[year]-[month]-[day]")).map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidDate,
            format!("{field} must be a date like 2026-12-15, got {value:?}"),
        )
    })
}

/// `POST /v1/children/{id}/referrals`: the case holder (or a manager) asks a youth worker to
/// work with the young person, from a start date to a planned end.
pub async fn refer(
    State(state): State<AppState>,
    Reached(auth, child): Reached<Child>,
    ApiJson(req): ApiJson<NewReferral>,
) -> Result<(StatusCode, Json<Referral>), ApiError> {
    if !manages_or_holds(&auth, &child) {
        return Err(ApiError::forbidden(
            "only the case holder, a manager of the team or an admin can refer this young person",
        ));
    }
    let youth_worker = person(&state, &req.youth_worker_id).await?;
    if youth_worker.info.role != Role::YouthWorker || !youth_worker.active {
        return Err(ApiError::bad_request(
            ErrorCode::NotAYouthWorker,
            format!(
                "{} is not an active youth worker; referrals are to youth workers",
                youth_worker.info.user_id
            ),
        ));
    }
    let starts_on = req.starts_on.unwrap_or_else(today);
    let start = check_date("starts_on", &starts_on)?;
    let end = check_date("planned_end", &req.planned_end)?;
    if end < start {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidDate,
            format!(
                "planned_end ({}) is before starts_on ({starts_on})",
                req.planned_end
            ),
        ));
    }
    let referral = state
        .store
        .create_referral(
            &StoreReferral {
                child_id: child.child_id,
                youth_worker_id: youth_worker.info.user_id,
                starts_on,
                planned_end: req.planned_end,
            },
            &auth.actor(now_ms()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(referral)))
}

/// `GET /v1/children/{id}/referrals`.
pub async fn referrals(
    State(state): State<AppState>,
    Reached(_, child): Reached<Child>,
) -> Result<Json<Listing<Referral>>, ApiError> {
    let items = state
        .store
        .list_referrals(Some(&child.child_id), None)
        .await?;
    Ok(Json(Listing { items }))
}

/// `POST /v1/referrals/{id}/end`: the youth work ends; the youth worker's devices are told to
/// remove the young person's records.
pub async fn end_referral(
    State(state): State<AppState>,
    auth: AuthDevice,
    Path(referral_id): Path<i64>,
) -> Result<Json<Referral>, ApiError> {
    let referral = state
        .store
        .get_referral(referral_id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            what: format!("referral {referral_id}"),
        })?;
    let child = visible_child(&state, &auth, &referral.child_id).await?;
    let allowed = manages_or_holds(&auth, &child) || referral.referred_by == auth.user.info.user_id;
    if !allowed {
        return Err(ApiError::forbidden(
            "only the case holder, the worker who referred, a manager of the team or an admin \
             can end a referral",
        ));
    }
    let ended = state
        .store
        .end_referral(referral_id, &auth.actor(now_ms()))
        .await?;
    Ok(Json(ended))
}

/// `POST /v1/children/{id}/access`: a social worker or manager opens a child outside their
/// allocation, giving a reason. Time-limited, audited, and listed for the child's team manager.
pub async fn request_access(
    State(state): State<AppState>,
    auth: AuthDevice,
    Path(child_id): Path<String>,
    ApiJson(req): ApiJson<AccessRequest>,
) -> Result<(StatusCode, Json<AccessGrant>), ApiError> {
    if !matches!(auth.role, Role::SocialWorker | Role::Manager) {
        return Err(ApiError::forbidden(format!(
            "access outside allocation is for social workers and managers on duty; you are {}",
            auth.role
        )));
    }
    let reason = req.reason.trim();
    super::check_reason_length(reason)?;
    if reason.chars().count() < 10 {
        return Err(ApiError::bad_request(
            ErrorCode::ReasonRequired,
            "say why you need this child's record (at least 10 characters, for example \"duty: \
             school called about Sam, case holder on leave\"); it is kept in the audit log and \
             shown to the team manager",
        ));
    }
    let minutes = req.minutes.unwrap_or(DEFAULT_ACCESS_MINUTES);
    if !(1..=MAX_ACCESS_MINUTES).contains(&minutes) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidMinutes,
            format!("minutes must be between 1 and {MAX_ACCESS_MINUTES}, got {minutes}"),
        ));
    }
    // Duty access covers colleagues in one's own team; an admin can move a child between
    // teams when the work moves.
    let child = child(&state, &child_id).await?;
    if auth.user.info.team_id.as_deref() != Some(child.team_id.as_str()) {
        return Err(not_found(&child_id));
    }
    let now = now_ms();
    let grant = state
        .store
        .create_grant(
            auth.user_id(),
            &child_id,
            reason,
            now + i64::from(minutes) * 60_000,
            &auth.actor(now),
        )
        .await?;
    tracing::info!(user = %auth.user_id(), %child_id, minutes, "access outside allocation");
    Ok((StatusCode::CREATED, Json(grant)))
}

/// `GET /v1/access-grants?active=true`: admins see all; managers see grants on their team's
/// children (and their own); everyone else their own.
pub async fn list_grants(
    State(state): State<AppState>,
    auth: AuthDevice,
    ApiQuery(q): ApiQuery<GrantsQuery>,
) -> Result<Json<Listing<AccessGrant>>, ApiError> {
    let active_at_ms = q.active.then(now_ms);
    let grants = match auth.role {
        Role::Admin => {
            state
                .store
                .list_grants(&GrantFilter {
                    active_at_ms,
                    ..GrantFilter::default()
                })
                .await?
        }
        Role::Manager => {
            let mut grants = match &auth.user.info.team_id {
                Some(team) => {
                    state
                        .store
                        .list_grants(&GrantFilter {
                            team_id: Some(team.clone()),
                            active_at_ms,
                            ..GrantFilter::default()
                        })
                        .await?
                }
                None => Vec::new(),
            };
            let own = state
                .store
                .list_grants(&GrantFilter {
                    user_id: Some(auth.user.info.user_id.clone()),
                    active_at_ms,
                    ..GrantFilter::default()
                })
                .await?;
            for g in own {
                if !grants.iter().any(|x| x.grant_id == g.grant_id) {
                    grants.push(g);
                }
            }
            grants.sort_by_key(|g| g.grant_id);
            grants
        }
        Role::SocialWorker | Role::YouthWorker => {
            state
                .store
                .list_grants(&GrantFilter {
                    user_id: Some(auth.user.info.user_id.clone()),
                    active_at_ms,
                    ..GrantFilter::default()
                })
                .await?
        }
    };
    Ok(Json(Listing { items: grants }))
}

/// `GET /v1/audit?child=ID&user=ID&after=N&limit=N`: the append-only audit log, oldest first.
/// Admins see all of it; a manager sees the entries about one child of their team
/// (`child` required).
pub async fn audit(
    State(state): State<AppState>,
    auth: AuthDevice,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Listing<AuditEntry>>, ApiError> {
    let limit = super::list_limit(q.limit)?;
    match auth.role {
        Role::Admin => {}
        Role::Manager => {
            let child_id = q.child.as_deref().ok_or_else(|| {
                ApiError::forbidden(
                    "a manager reads the audit log one child at a time: add ?child=ID",
                )
            })?;
            let child = child(&state, child_id).await?;
            if !manages(&auth, &child.team_id) {
                return Err(not_found(child_id));
            }
        }
        Role::SocialWorker | Role::YouthWorker => {
            return Err(ApiError::forbidden(
                "the audit log is for admins and managers",
            ));
        }
    }
    let items = state
        .store
        .list_audit(&AuditFilter {
            child_id: q.child,
            user_id: q.user,
            after: q.after,
            limit,
        })
        .await?;
    Ok(Json(Listing { items }))
}
