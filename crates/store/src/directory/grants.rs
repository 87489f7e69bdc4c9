//! Time-limited access to a child outside allocation.

use crate::StoreError;
use crate::backend::Backend;
use crate::directory::audit::Audited;
use crate::directory::{AccessGrant, Actor, GrantFilter, NewAudit};
use crate::sql_store::SqlStore;

/// A grant to record.
pub(super) struct NewGrant<'a> {
    pub user_id: &'a str,
    pub child_id: &'a str,
    pub reason: &'a str,
    pub expires_at_ms: i64,
}

pub(super) async fn create<DB: Backend>(
    store: &SqlStore<DB>,
    grant: NewGrant<'_>,
    by: &Actor,
) -> Result<AccessGrant, StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let insert = DB::sql(
        "INSERT INTO access_grants (user_id, child_id, reason, granted_at_ms, expires_at_ms)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING grant_id, user_id, child_id, reason, granted_at_ms AS granted_at,
                   expires_at_ms AS expires_at",
    )
    .bind(grant.user_id)
    .bind(grant.child_id)
    .bind(grant.reason)
    .bind(by.at_ms)
    .bind(grant.expires_at_ms);
    let record: AccessGrant = tx
        .insert_returning(insert, || "the access could not be recorded".to_owned())
        .await?;
    let entry = NewAudit::new("access_outside_allocation")
        .child(grant.child_id)
        .details(serde_json::json!({
            "grant_id": record.grant_id,
            "reason": grant.reason,
            "expires_at_ms": grant.expires_at_ms,
        }));
    tx.commit(&[entry], record).await
}

pub(super) async fn list<DB: Backend>(
    store: &SqlStore<DB>,
    filter: &GrantFilter,
) -> Result<Vec<AccessGrant>, StoreError> {
    Ok(DB::sql(
        "SELECT g.grant_id, g.user_id, g.child_id, g.reason, g.granted_at_ms AS granted_at,
                g.expires_at_ms AS expires_at
         FROM access_grants g JOIN children c ON c.child_id = g.child_id
         WHERE ($1 IS NULL OR g.user_id = $1) AND ($2 IS NULL OR c.team_id = $2)
           AND ($3 IS NULL OR g.expires_at_ms > $3)
         ORDER BY g.grant_id",
    )
    .bind(&filter.user_id)
    .bind(&filter.team_id)
    .bind(filter.active_at_ms)
    .fetch_all(store.reader())
    .await?)
}
