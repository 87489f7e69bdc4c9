//! Teams (pods).

use crate::StoreError;
use crate::backend::Backend;
use crate::directory::audit::Audited;
use crate::directory::{Actor, NewAudit, Team, TeamPatch};
use crate::error::found;
use crate::sql_store::SqlStore;

pub(super) const TEAM_COLUMNS: &str = "team_id, name, pod_read_access, plan_point_limit";

/// Add a team, created at the time of `by`.
pub(super) async fn create<DB: Backend>(
    store: &SqlStore<DB>,
    team: &Team,
    by: &Actor,
) -> Result<(), StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let insert = DB::sql(format!(
        "INSERT INTO teams ({TEAM_COLUMNS}, created_at_ms) VALUES ($1, $2, $3, $4, $5)"
    ))
    .bind(&team.team_id)
    .bind(&team.name)
    .bind(team.pod_read_access)
    .bind(i64::from(team.plan_point_limit))
    .bind(by.at_ms);
    tx.insert(insert, || format!("team {:?} already exists", team.team_id))
        .await?;
    let entry = NewAudit::new("create_team").details(serde_json::json!({
        "team_id": team.team_id, "name": team.name, "pod_read_access": team.pod_read_access,
    }));
    tx.commit(&[entry], ()).await
}

/// Change a team: the fields `patch` gives.
pub(super) async fn update<DB: Backend>(
    store: &SqlStore<DB>,
    team_id: &str,
    patch: &TeamPatch,
    by: &Actor,
) -> Result<Team, StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let team: Option<Team> = DB::sql(format!(
        "UPDATE teams SET name = COALESCE($2, name),
             pod_read_access = COALESCE($3, pod_read_access),
             plan_point_limit = COALESCE($4, plan_point_limit)
         WHERE team_id = $1 RETURNING {TEAM_COLUMNS}"
    ))
    .bind(team_id)
    .bind(&patch.name)
    .bind(patch.pod_read_access)
    .bind(patch.plan_point_limit.map(i64::from))
    .fetch_optional(&mut *tx)
    .await?;
    let team = found(team, || format!("team {team_id}"))?;
    let entry = NewAudit::new("update_team").details(serde_json::json!({
        "team_id": team_id, "name": patch.name, "pod_read_access": patch.pod_read_access,
        "plan_point_limit": patch.plan_point_limit,
    }));
    tx.commit(&[entry], team).await
}
