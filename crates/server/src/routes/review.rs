//! `/v1/review`: the review queue, for managers (their team's items) and admins (all).
//!
//! Items are raised by the merge step inside the push that caused them. A reviewer settles an
//! item with an ordinary change from their own device (choosing a value, writing a merged one,
//! or restoring a locked record), syncs it, and then tells the server which change that was:
//! the server checks the change is stored and is theirs before recording the decision, so the
//! record and the queue never disagree. Accepting an amendment as it stands names the
//! amendment's own (latest) change and is recorded as resolved, like any settlement.
//! Dismissing needs a reason. Every decision goes to the audit log with the item.

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldnotes_model::Document;
use fieldnotes_protocol::admin::Listing;
use fieldnotes_protocol::auth::Role;
use fieldnotes_protocol::review::{
    Decision, DismissRequest, ItemKind, ResolveRequest, ReviewItem, ReviewQuery, Side,
};
use fieldnotes_protocol::{DocKind, ReviewStatus, UnknownValue};
use fieldnotes_store::directory::DeviceRecord;
use fieldnotes_store::review::ReviewFilter;

use super::extract::{ApiJson, ApiQuery, PathResource, Reached};
use crate::auth::AuthDevice;
use crate::clock::{now_ms, rfc3339};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The review queue's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/review", get(list))
        .route("/v1/review/{id}", get(show))
        .route("/v1/review/{id}/resolve", post(resolve))
        .route("/v1/review/{id}/dismiss", post(dismiss))
}

/// Who may review: admins everything, managers their own team's items.
fn reviewer_team(auth: &AuthDevice) -> Result<Option<String>, ApiError> {
    match auth.role {
        Role::Admin => Ok(None),
        Role::Manager => auth.user.info.team_id.clone().map(Some).ok_or_else(|| {
            ApiError::forbidden("a manager reviews their team's items, and you are in no team")
        }),
        Role::SocialWorker | Role::YouthWorker => Err(ApiError::forbidden(
            "the review queue is for managers and admins",
        )),
    }
}

/// Fill in the person and device behind each side's actor, once per actor.
async fn attribute(
    state: &AppState,
    sides: &mut [Side],
    cache: &mut HashMap<String, Option<(DeviceRecord, Option<String>)>>,
) -> Result<(), ApiError> {
    for side in sides {
        if !cache.contains_key(&side.actor) {
            let known = match state.store.device_by_actor(&side.actor).await? {
                Some(device) => {
                    let person = state.store.get_user(&device.user_id).await?;
                    Some((device, person.map(|p| p.info.display_name)))
                }
                None => None,
            };
            cache.insert(side.actor.clone(), known);
        }
        if let Some(Some((device, person))) = cache.get(&side.actor) {
            side.user_id = Some(device.user_id.clone());
            side.device_id = Some(device.device_id.clone());
            side.user_name.clone_from(person);
            side.device_name = Some(device.name.clone());
        }
    }
    Ok(())
}

/// `GET /v1/review?status=&team=&child=&kind=&item=&older_than_hours=&newer_than_hours=`.
pub async fn list(
    State(state): State<AppState>,
    auth: AuthDevice,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> Result<Json<Listing<ReviewItem>>, ApiError> {
    let own_team = reviewer_team(&auth)?;
    if let (Some(own), Some(asked)) = (&own_team, &q.team)
        && own != asked
    {
        return Err(ApiError::forbidden(format!(
            "a manager reviews their own team's items ({own}), not {asked}'s"
        )));
    }
    let limit = super::list_limit(q.limit)?;
    let status = status_filter(q.status.as_deref())?;
    let item_kind = q.item.as_deref().map(item_filter).transpose()?;
    let doc_kind = q.kind.as_deref().map(kind_filter).transpose()?;
    let now = now_ms();
    let hours = |h: u32| i64::from(h) * 3_600_000;
    let mut items = state
        .store
        .list_review(&ReviewFilter {
            status,
            team_id: own_team.or(q.team),
            child_id: q.child,
            doc_kind,
            item_kind,
            doc_id: q.doc,
            created_before_ms: q.older_than_hours.map(|h| now - hours(h)),
            created_after_ms: q.newer_than_hours.map(|h| now - hours(h)),
            after: q.after,
            limit,
        })
        .await?;
    let mut cache = HashMap::new();
    for item in &mut items {
        attribute(&state, &mut item.sides, &mut cache).await?;
    }
    Ok(Json(Listing { items }))
}

/// The statuses a listing asks for: `open` when not given, every status for `all`.
fn status_filter(status: Option<&str>) -> Result<Option<ReviewStatus>, ApiError> {
    match status {
        None => Ok(Some(ReviewStatus::Open)),
        Some("all") => Ok(None),
        Some(text) => ReviewStatus::parse(text).map(Some).ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::InvalidQuery,
                format!("status {text:?} is not one of open, resolved, dismissed, all"),
            )
        }),
    }
}

/// The item kind a listing asks for.
fn item_filter(item: &str) -> Result<ItemKind, ApiError> {
    ItemKind::parse(item).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!(
                "item {item:?} is not one of conflict, amendment, pending_amendment, \
                 plan_limit, invalid_merge"
            ),
        )
    })
}

/// The document kind a listing asks for.
fn kind_filter(kind: &str) -> Result<DocKind, ApiError> {
    kind.parse()
        .map_err(|e: UnknownValue| ApiError::bad_request(ErrorCode::InvalidQuery, e.to_string()))
}

/// The item, if the caller may review it; otherwise "not found".
impl PathResource for ReviewItem {
    type Id = i64;

    async fn reach(state: &AppState, auth: &AuthDevice, item_id: i64) -> Result<Self, ApiError> {
        let own_team = reviewer_team(auth)?;
        state
            .store
            .get_review(item_id)
            .await?
            .filter(|r| own_team.is_none() || r.team_id == own_team)
            .ok_or_else(|| ApiError::NotFound {
                what: format!("review item {item_id} (or it is not your team's)"),
            })
    }
}

/// `GET /v1/review/{id}`: one item with both sides in full, each with who wrote it, from
/// which device, and when (device time and server time).
pub async fn show(
    State(state): State<AppState>,
    Reached(_, mut item): Reached<ReviewItem>,
) -> Result<Json<ReviewItem>, ApiError> {
    attribute(&state, &mut item.sides, &mut HashMap::new()).await?;
    let changes = state.store.document_changes(&item.doc_id).await?;
    for side in &mut item.sides {
        if let Some(c) = changes.iter().find(|c| c.hash == side.change) {
            side.received_at = Some(rfc3339(c.received_at_ms));
        }
    }
    Ok(Json(item))
}

/// `POST /v1/review/{id}/resolve`: record the reviewer's resolving change, or their
/// acceptance of an amendment as it stands.
pub async fn resolve(
    State(state): State<AppState>,
    Reached(auth, record): Reached<ReviewItem>,
    ApiJson(req): ApiJson<ResolveRequest>,
) -> Result<Json<ReviewItem>, ApiError> {
    if !acceptance(&record, &req)? {
        check_settling_change(&state, &auth, &record, &req.change).await?;
    }
    if record.item_kind == ItemKind::PlanLimit {
        check_plan_within_limit(&state, &record).await?;
    }
    let reason = decision_reason(
        req.reason.as_deref().unwrap_or_default(),
        "say why the item is settled this way (it is kept with the decision)",
    )?;
    let decision = Decision {
        action: ReviewStatus::Resolved,
        value: Some(req.value),
        change: Some(req.change),
        reason: Some(reason),
    };
    record_decision(&state, &auth, record.item_id, &decision).await
}

/// Refuse `change` as the settlement of `record` unless it is stored for the document, newer
/// than the item's last update, and written on the caller's device.
async fn check_settling_change(
    state: &AppState,
    auth: &AuthDevice,
    record: &ReviewItem,
    change: &str,
) -> Result<(), ApiError> {
    let changes = state.store.document_changes(&record.doc_id).await?;
    let Some(stored) = changes.iter().find(|c| c.hash == change) else {
        return Err(ApiError::bad_request(
            ErrorCode::ChangeNotSynced,
            format!(
                "change {change} is not stored for document {}: sync the resolving edit first, \
                 then resolve",
                record.doc_id
            ),
        ));
    };
    if stored.received_at_ms < record.updated_at.ms() {
        return Err(ApiError::bad_request(
            ErrorCode::StaleChange,
            format!(
                "change {change} is older than the item's last update: the item changed since; \
                 look at it again and settle it with a new edit"
            ),
        ));
    }
    if stored.device_id != auth.device_id() {
        return Err(ApiError::bad_request(
            ErrorCode::NotYourChange,
            format!(
                "change {change} was written on device {}, not this one: a resolution is your \
                 own edit",
                stored.device_id
            ),
        ));
    }
    Ok(())
}

/// A plan over its team's limit is settled by writing a plan within it: refused while the
/// stored plan (with the reviewer's edit) still has more points than the limit of the child's
/// team. (A manager who decides the plan may stand as it is dismisses the item, with a reason.)
async fn check_plan_within_limit(state: &AppState, record: &ReviewItem) -> Result<(), ApiError> {
    let Some(stored) = state.store.get_document(&record.doc_id).await? else {
        return Ok(());
    };
    let points = Document::load(&stored.doc_id, &stored.snapshot)
        .and_then(|document| document.read())
        .map_err(|e| {
            ApiError::Internal(format!(
                "stored document {} does not read: {e}",
                stored.doc_id
            ))
        })?
        .plan_points()
        .unwrap_or(0);
    // The child's team (the item's own, if the child is not known).
    let child_team = match &stored.child_id {
        Some(child_id) => state.store.get_child(child_id).await?.map(|c| c.team_id),
        None => None,
    };
    let team = match child_team.or_else(|| record.team_id.clone()) {
        Some(team_id) => state.store.get_team(&team_id).await?,
        None => None,
    };
    let limit = team
        .and_then(|t| usize::try_from(t.plan_point_limit).ok())
        .unwrap_or(fieldnotes_model::PLAN_POINT_LIMIT);
    if points > limit {
        return Err(ApiError::bad_request(
            ErrorCode::PlanOverLimit,
            format!(
                "the plan still has {points} points and its team's limit is {limit}: take points \
                 out (or raise the team's limit), sync, then settle it"
            ),
        ));
    }
    Ok(())
}

/// Whether `req` accepts an amendment as it stands: the item is an amendment or a pending
/// amendment and `req.change` is its latest amending change (not the locked version). The
/// record already holds the amendment, so there is no new change to check; the decision is
/// recorded as resolved (accepted), not dismissed. A change that is only an earlier side
/// means the item changed since the reviewer looked at it.
fn acceptance(record: &ReviewItem, req: &ResolveRequest) -> Result<bool, ApiError> {
    let kind = record.item_kind;
    if !matches!(kind, ItemKind::Amendment | ItemKind::PendingAmendment) {
        return Ok(false);
    }
    // A pending amendment's first side is the locked version; the rest are the edits.
    let skip = usize::from(kind == ItemKind::PendingAmendment);
    let amending: Vec<&Side> = record.sides.iter().skip(skip).collect();
    match amending.iter().position(|s| s.change == req.change) {
        None => Ok(false),
        Some(i) if i + 1 == amending.len() => Ok(true),
        Some(_) => Err(ApiError::bad_request(
            ErrorCode::StaleChange,
            format!(
                "change {} is not the item's latest edit: the item changed since; look at it \
                 again and accept or restore it",
                req.change
            ),
        )),
    }
}

/// The reason kept with a decision, trimmed: refused when shorter than 3 characters (`ask`
/// says what to write) or too long to keep.
fn decision_reason(reason: &str, ask: &'static str) -> Result<String, ApiError> {
    let reason = reason.trim();
    if reason.chars().count() < 3 {
        return Err(ApiError::bad_request(ErrorCode::ReasonRequired, ask));
    }
    super::check_reason_length(reason)?;
    Ok(reason.to_owned())
}

/// Record `decision` on the item (its action is the item's new status) and show the item.
async fn record_decision(
    state: &AppState,
    auth: &AuthDevice,
    item_id: i64,
    decision: &Decision,
) -> Result<Json<ReviewItem>, ApiError> {
    let decided = state
        .store
        .decide_review(item_id, decision, &auth.actor(now_ms()))
        .await?;
    Ok(Json(decided))
}

/// `POST /v1/review/{id}/dismiss`: nothing needs changing; the reason is kept.
pub async fn dismiss(
    State(state): State<AppState>,
    Reached(auth, item): Reached<ReviewItem>,
    ApiJson(req): ApiJson<DismissRequest>,
) -> Result<Json<ReviewItem>, ApiError> {
    let reason = decision_reason(
        &req.reason,
        "say why the item needs no change (it is kept with the decision)",
    )?;
    let decision = Decision {
        action: ReviewStatus::Dismissed,
        value: None,
        change: None,
        reason: Some(reason),
    };
    record_decision(&state, &auth, item.item_id, &decision).await
}
