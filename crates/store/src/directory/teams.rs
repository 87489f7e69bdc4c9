//! Teams (pods).

use crate::StoreError;
use crate::backend::Backend;
use crate::directory::audit::Audited;
use crate::directory::{Actor, NewAudit, TeamRecord};
use crate::sql_store::SqlStore;

pub(super) const TEAM_COLUMNS: &str =
    "team_id, name, pod_read_access, plan_point_limit, created_at_ms";

pub(super) async fn create<DB: Backend>(
    store: &SqlStore<DB>,
    team: &TeamRecord,
    by: &Actor,
) -> Result<(), StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let insert = DB::sql(format!(
        "INSERT INTO teams ({TEAM_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
    ))
    .bind(&team.team_id)
    .bind(&team.name)
    .bind(team.pod_read_access)
    .bind(team.plan_point_limit)
    .bind(team.created_at_ms);
    tx.insert(insert, || format!("team {:?} already exists", team.team_id))
        .await?;
    let entry = NewAudit::new("create_team").details(serde_json::json!({
        "team_id": team.team_id, "name": team.name, "pod_read_access": team.pod_read_access,
    }));
    tx.commit(&[entry], ()).await
}

/// Changes to a team; `None` leaves a field as it is.
pub(super) struct TeamUpdate<'a> {
    pub name: Option<&'a str>,
    pub pod_read_access: Option<bool>,
    pub plan_point_limit: Option<i64>,
}

pub(super) async fn update<DB: Backend>(
    store: &SqlStore<DB>,
    team_id: &str,
    update: TeamUpdate<'_>,
    by: &Actor,
) -> Result<TeamRecord, StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let team: Option<TeamRecord> = DB::sql(format!(
        "UPDATE teams SET name = COALESCE($2, name),
             pod_read_access = COALESCE($3, pod_read_access),
             plan_point_limit = COALESCE($4, plan_point_limit)
         WHERE team_id = $1 RETURNING {TEAM_COLUMNS}"
    ))
    .bind(team_id)
    .bind(update.name)
    .bind(update.pod_read_access)
    .bind(update.plan_point_limit)
    .fetch_optional(&mut *tx)
    .await?;
    let team = team.ok_or_else(|| StoreError::NotFound {
        what: format!("team {team_id}"),
    })?;
    let entry = NewAudit::new("update_team").details(serde_json::json!({
        "team_id": team_id, "name": update.name, "pod_read_access": update.pod_read_access,
        "plan_point_limit": update.plan_point_limit,
    }));
    tx.commit(&[entry], team).await
}
