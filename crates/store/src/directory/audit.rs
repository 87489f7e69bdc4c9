//! The audit log: who did what, when. Entries are written in the transaction of the action
//! they record.

use std::ops::{Deref, DerefMut};

use crate::StoreError;
use crate::backend::{Backend, Record, Sql};
use crate::directory::{Actor, AuditEntry, AuditFilter, NewAudit, conflict_on_unique};
use crate::sql_store::SqlStore;

/// A change to the directory that records itself: a transaction on the writer, which commits
/// only together with the audit entries of what it did. Statements run on it as on the
/// transaction's connection (`&mut *tx`).
pub(crate) struct Audited<'a, DB: Backend> {
    tx: sqlx::Transaction<'static, DB>,
    by: &'a Actor,
}

impl<'a, DB: Backend> Audited<'a, DB> {
    /// Begin a change made by `by`.
    pub(crate) async fn begin(store: &SqlStore<DB>, by: &'a Actor) -> Result<Self, StoreError> {
        let tx = store.writer().begin().await?;
        Ok(Audited { tx, by })
    }

    /// Run a statement that adds a row; a row that collides with one already there is a
    /// [`StoreError::Conflict`] with `conflict` (see [`conflict_on_unique`]).
    pub(crate) async fn insert(
        &mut self,
        statement: Sql<'_, DB>,
        conflict: impl FnOnce() -> String + Send,
    ) -> Result<(), StoreError> {
        statement
            .execute(&mut *self.tx)
            .await
            .map_err(|e| conflict_on_unique(e, conflict))?;
        Ok(())
    }

    /// [`insert`](Self::insert) for a statement that returns the row it added.
    pub(crate) async fn insert_returning<T: Record>(
        &mut self,
        statement: Sql<'_, DB>,
        conflict: impl FnOnce() -> String + Send,
    ) -> Result<T, StoreError> {
        statement
            .fetch_one(&mut *self.tx)
            .await
            .map_err(|e| conflict_on_unique(e, conflict))
    }

    /// Write the audit `entries` of the change and commit it; `value` is the change's answer.
    pub(crate) async fn commit<T: Send>(
        mut self,
        entries: &[NewAudit],
        value: T,
    ) -> Result<T, StoreError> {
        for entry in entries {
            audit_in::<DB>(&mut self.tx, entry, self.by).await?;
        }
        self.tx.commit().await?;
        Ok(value)
    }
}

impl<DB: Backend> Deref for Audited<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Backend> DerefMut for Audited<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

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
) -> Result<Vec<AuditEntry>, StoreError> {
    Ok(DB::sql(
        "SELECT id, at_ms AS at, user_id, device_id, action, child_id, doc_id, details
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
