//! The device's local store: SQLite through sqlx, in one file in the data folder.
//!
//! Durability: WAL journal with `synchronous = FULL`; a call that records work returns only
//! after its transaction is committed, so a note is on disk before the app says it is saved.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::ClientError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The file name of the store inside the data folder.
pub(crate) const STORE_FILE: &str = "fieldnotes.db";

/// A change waiting in the outbox.
#[derive(Debug, Clone)]
pub(crate) struct OutboxRow {
    pub seq: i64,
    pub doc_id: String,
    pub bytes: Vec<u8>,
}

/// A stored document row.
#[derive(Debug, Clone)]
pub(crate) struct DocRow {
    pub doc_id: String,
    pub kind: String,
    pub child_id: Option<String>,
    pub summary: String,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct LocalStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl LocalStore {
    pub(crate) async fn open(dir: &Path) -> Result<Self, ClientError> {
        let path = dir.join(STORE_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // One connection: one process writes as this device, and its writes are serialised.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| ClientError::Store {
                path: path.clone(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| ClientError::Migration {
                path: path.clone(),
                source,
            })?;
        Ok(Self { pool, path })
    }

    pub(crate) fn err(&self, source: sqlx::Error) -> ClientError {
        ClientError::Store {
            path: self.path.clone(),
            source,
        }
    }

    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Sqlite>, ClientError> {
        self.pool.begin().await.map_err(|e| self.err(e))
    }

    pub(crate) async fn commit(&self, tx: Transaction<'static, Sqlite>) -> Result<(), ClientError> {
        tx.commit().await.map_err(|e| self.err(e))
    }

    pub(crate) async fn meta(&self, key: &str) -> Result<Option<String>, ClientError> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn set_meta(&self, key: &str, value: &str) -> Result<(), ClientError> {
        let mut tx = self.begin().await?;
        set_meta(&mut tx, key, value)
            .await
            .map_err(|e| self.err(e))?;
        self.commit(tx).await
    }

    pub(crate) async fn snapshot(&self, doc_id: &str) -> Result<Option<Vec<u8>>, ClientError> {
        snapshot(&self.pool, doc_id).await.map_err(|e| self.err(e))
    }

    pub(crate) async fn list(&self, kind: Option<&str>) -> Result<Vec<DocRow>, ClientError> {
        let rows = sqlx::query(
            "SELECT doc_id, kind, child_id, summary, updated_at_ms FROM documents
             WHERE ?1 IS NULL OR kind = ?1 ORDER BY updated_at_ms DESC, doc_id",
        )
        .bind(kind)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(DocRow {
                    doc_id: r.try_get("doc_id")?,
                    kind: r.try_get("kind")?,
                    child_id: r.try_get("child_id")?,
                    summary: r.try_get("summary")?,
                    updated_at_ms: r.try_get("updated_at_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// Outbox rows not held, after `after_seq`, up to about `max_bytes` (at least one row).
    pub(crate) async fn outbox_batch(
        &self,
        after_seq: i64,
        max_bytes: u64,
    ) -> Result<Vec<OutboxRow>, ClientError> {
        let mut out = Vec::new();
        let mut used = 0u64;
        let mut cursor = after_seq;
        loop {
            let rows = sqlx::query(
                "SELECT seq, doc_id, bytes FROM outbox
                 WHERE held_code IS NULL AND seq > ? ORDER BY seq LIMIT 500",
            )
            .bind(cursor)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
            let fetched = rows.len();
            for r in rows {
                let row = OutboxRow {
                    seq: r.try_get("seq").map_err(|e| self.err(e))?,
                    doc_id: r.try_get("doc_id").map_err(|e| self.err(e))?,
                    bytes: r.try_get("bytes").map_err(|e| self.err(e))?,
                };
                let len = row.bytes.len() as u64;
                if !out.is_empty() && used + len > max_bytes {
                    return Ok(out);
                }
                used += len;
                cursor = row.seq;
                out.push(row);
            }
            if fetched < 500 {
                return Ok(out);
            }
        }
    }

    pub(crate) async fn pending_changes(&self) -> Result<u64, ClientError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Held (refused) documents: doc id, code, reason, number of changes.
    pub(crate) async fn held(&self) -> Result<Vec<(String, String, String, i64)>, ClientError> {
        let rows = sqlx::query(
            "SELECT doc_id, MIN(held_code) AS code, MIN(held_reason) AS reason, COUNT(*) AS n
             FROM outbox WHERE held_code IS NOT NULL GROUP BY doc_id ORDER BY MIN(seq)",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("doc_id")?,
                    r.try_get("code")?,
                    r.try_get("reason")?,
                    r.try_get("n")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }
}

pub(crate) async fn set_meta(
    tx: &mut Transaction<'static, Sqlite>,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Insert or replace a document's stored state.
pub(crate) async fn put_document(
    tx: &mut Transaction<'static, Sqlite>,
    row: &DocRow,
    snapshot: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO documents (doc_id, kind, child_id, summary, snapshot, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind, child_id = excluded.child_id,
             summary = excluded.summary, snapshot = excluded.snapshot,
             updated_at_ms = excluded.updated_at_ms",
    )
    .bind(&row.doc_id)
    .bind(&row.kind)
    .bind(&row.child_id)
    .bind(&row.summary)
    .bind(snapshot)
    .bind(row.updated_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Add a change of this device's to the outbox. A held document is released: it has been
/// edited, so all its changes go to the server again.
pub(crate) async fn enqueue(
    tx: &mut Transaction<'static, Sqlite>,
    doc_id: &str,
    hash: &str,
    bytes: &[u8],
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET held_code = NULL, held_reason = NULL, held_at_ms = NULL
         WHERE doc_id = ? AND held_code IS NOT NULL",
    )
    .bind(doc_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO outbox (doc_id, hash, bytes, created_at_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(doc_id)
    .bind(hash)
    .bind(bytes)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A document's saved state, read through `executor` (the pool, or an open transaction: the
/// pool has one connection, so code holding a transaction must read through it).
pub(crate) async fn snapshot<'e, E>(
    executor: E,
    doc_id: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    sqlx::query_scalar("SELECT snapshot FROM documents WHERE doc_id = ?")
        .bind(doc_id)
        .fetch_optional(executor)
        .await
}
