//! The audit log: who did what, when. Entries are written in the transaction of the action
//! they record.

use crate::StoreError;
use crate::backend::Backend;
use crate::directory::{Actor, AuditFilter, AuditRecord, NewAudit};
use crate::sql_store::SqlStore;

/// Append an entry inside an open transaction; its id.
pub(crate) async fn audit_in<DB: Backend>(
    conn: &mut DB::Connection,
    entry: &NewAudit,
    by: &Actor,
) -> Result<i64, sqlx::Error> {
    DB::sql(
        "INSERT INTO audit_log (at_ms, user_id, device_id, action, child_id, doc_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(by.at_ms)
    .bind(&by.user_id)
    .bind(&by.device_id)
    .bind(&entry.action)
    .bind(&entry.child_id)
    .bind(&entry.doc_id)
    .bind(entry.details.to_string())
    .fetch_scalar(conn)
    .await
}

pub(super) async fn append<DB: Backend>(
    store: &SqlStore<DB>,
    entry: &NewAudit,
    by: &Actor,
) -> Result<i64, StoreError> {
    let mut tx = store.writer().begin().await?;
    let id = audit_in::<DB>(&mut tx, entry, by).await?;
    tx.commit().await?;
    Ok(id)
}

pub(super) async fn list<DB: Backend>(
    store: &SqlStore<DB>,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, StoreError> {
    Ok(DB::sql(
        "SELECT id, at_ms, user_id, device_id, action, child_id, doc_id, details
         FROM audit_log
         WHERE ($1 IS NULL OR child_id = $1) AND ($2 IS NULL OR user_id = $2) AND id > $3
         ORDER BY id LIMIT $4",
    )
    .bind(&filter.child_id)
    .bind(&filter.user_id)
    .bind(filter.after.unwrap_or(0))
    .bind(i64::from(filter.limit))
    .fetch_all(store.reader())
    .await?)
}
