//! The embedded default: SQLite through sqlx.
//!
//! Durability: WAL journal with `synchronous = FULL`, so a committed push survives power loss,
//! not only a process crash. Writes go through a pool of exactly one connection: SQLite has a
//! single writer anyway, and with one connection commits happen in `seq` order, which is what
//! lets the change feed page on `seq` alone. Reads use a separate pool and never wait for a
//! writer (WAL readers see the last committed state).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::common::{
    FeedRow, FeedSource, QUARANTINE_USAGE, build_page, check_quarantine_room, group_lacking,
    lock_order, new_stamp, not_kept, quarantine_payload, to_i64,
};
use crate::directory::impl_directory;
use crate::review::impl_review;
use crate::{
    ALL_KEYS, DocResult, FeedAnchor, IncomingDoc, Lacking, MergeOutcome, Merger, NewQuarantine,
    OwnHead, PullPage, PullRequest, PushContext, QuarantineRecord, ScopeFilter, Store, StoreError,
    StoreOptions, StoredChange, StoredDocument,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Server storage in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    options: StoreOptions,
}

impl SqliteStore {
    /// Open (creating if needed, with its folder) the database named by a `sqlite:` URL and
    /// bring its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// [`open`](Self::open) with settings.
    pub async fn open_with(url: &str, store_options: StoreOptions) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("cannot read SQLite URL `{url}`: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let filename = options.get_filename().to_path_buf();
        let in_memory = filename.as_os_str().is_empty() || filename == Path::new(":memory:");
        if let Some(dir) = filename
            .parent()
            .filter(|d| !in_memory && !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create the data folder {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await?;
        let reader = if in_memory {
            // An in-memory database exists only on its one connection.
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await?
        };
        Ok(Self {
            writer,
            reader,
            options: store_options,
        })
    }
}

fn document_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredDocument, sqlx::Error> {
    Ok(StoredDocument {
        doc_id: row.try_get("doc_id")?,
        kind: row.try_get("kind")?,
        child_id: row.try_get("child_id")?,
        scope_key: row.try_get("scope_key")?,
        snapshot: row.try_get("snapshot")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn push(
        &self,
        ctx: &PushContext,
        docs: Vec<IncomingDoc>,
        merger: &dyn Merger,
    ) -> Result<Vec<DocResult>, StoreError> {
        let mut results: Vec<Option<DocResult>> = vec![None; docs.len()];
        let stamp = new_stamp();
        let mut tx = self.writer.begin().await?;
        for i in lock_order(&docs) {
            let doc = &docs[i];
            let current = sqlx::query(
                "SELECT doc_id, kind, child_id, scope_key, snapshot, updated_at_ms FROM documents WHERE doc_id = ?",
            )
            .bind(&doc.doc_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| document_from_row(&row))
            .transpose()?;
            let result = match merger.merge(&doc.doc_id, current.as_ref(), &doc.changes) {
                MergeOutcome::Applied {
                    kind,
                    child_id,
                    scope_key,
                    summary,
                    snapshot,
                    new_changes,
                    accepted_hashes,
                    findings,
                    events,
                } => {
                    let new_count = new_changes.len() as u64;
                    if !new_changes.is_empty() {
                        sqlx::query(
                            "INSERT INTO documents (doc_id, kind, child_id, scope_key, summary, snapshot, created_at_ms, updated_at_ms)
                             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                             ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind,
                                 child_id = excluded.child_id, scope_key = excluded.scope_key,
                                 summary = excluded.summary, snapshot = excluded.snapshot,
                                 updated_at_ms = excluded.updated_at_ms",
                        )
                        .bind(&doc.doc_id)
                        .bind(&kind)
                        .bind(&child_id)
                        .bind(&scope_key)
                        .bind(&summary)
                        .bind(&snapshot)
                        .bind(ctx.received_at_ms)
                        .bind(ctx.received_at_ms)
                        .execute(&mut *tx)
                        .await?;
                        for change in &new_changes {
                            sqlx::query(
                                "INSERT INTO changes (doc_id, hash, bytes, actor, device_id, received_at_ms, device_time_ms, stamp)
                                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (doc_id, hash) DO NOTHING",
                            )
                            .bind(&doc.doc_id)
                            .bind(&change.hash)
                            .bind(&change.bytes)
                            .bind(&change.actor)
                            .bind(&ctx.device_id)
                            .bind(ctx.received_at_ms)
                            .bind(change.device_time_ms)
                            .bind(stamp)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    Self::raise_findings_in(
                        &mut tx,
                        crate::review::ReviewTarget::new(
                            &doc.doc_id,
                            &kind,
                            child_id.as_deref(),
                            &scope_key,
                        ),
                        &findings,
                        ctx,
                    )
                    .await?;
                    DocResult::Accepted {
                        hashes: accepted_hashes,
                        child_id,
                        new_changes: new_count,
                        events,
                    }
                }
                MergeOutcome::Rejected { code, reason } => 'rejected: {
                    let payload = quarantine_payload(doc);
                    let usage: (i64, i64) = sqlx::query_as(QUARANTINE_USAGE)
                        .bind(&ctx.device_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    if let Err(full) =
                        check_quarantine_room(self.options.quarantine_cap, usage, payload.len())
                    {
                        break 'rejected not_kept(&code, &reason, &full);
                    }
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO quarantine (device_id, doc_id, code, reason, payload, size, received_at_ms)
                         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    )
                    .bind(&ctx.device_id)
                    .bind(&doc.doc_id)
                    .bind(&code)
                    .bind(&reason)
                    .bind(&payload)
                    .bind(to_i64(payload.len() as u64))
                    .bind(ctx.received_at_ms)
                    .fetch_one(&mut *tx)
                    .await?;
                    DocResult::Rejected {
                        code,
                        reason,
                        quarantine_id: id,
                    }
                }
                MergeOutcome::Deferred { reason, missing } => {
                    DocResult::Deferred { reason, missing }
                }
            };
            results[i] = Some(result);
        }
        tx.commit().await?;
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| StoreError::Corrupt("a pushed document got no result".into())))
            .collect()
    }

    async fn pull(&self, req: &PullRequest) -> Result<PullPage, StoreError> {
        build_page(self, req).await
    }

    async fn quarantine(&self, item: NewQuarantine) -> Result<i64, StoreError> {
        let mut tx = self.writer.begin().await?;
        if let Some(device_id) = &item.device_id {
            let usage: (i64, i64) = sqlx::query_as(QUARANTINE_USAGE)
                .bind(device_id)
                .fetch_one(&mut *tx)
                .await?;
            check_quarantine_room(self.options.quarantine_cap, usage, item.payload.len())?;
        }
        let id = sqlx::query_scalar(
            "INSERT INTO quarantine (device_id, doc_id, code, reason, payload, size, received_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&item.device_id)
        .bind(&item.doc_id)
        .bind(&item.code)
        .bind(&item.reason)
        .bind(&item.payload)
        .bind(to_i64(item.payload.len() as u64))
        .bind(item.received_at_ms)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn list_quarantine(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<QuarantineRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, device_id, doc_id, code, reason, size, received_at_ms FROM quarantine
             WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(quarantine_from_row)
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }

    async fn quarantine_payload(&self, id: i64) -> Result<Vec<u8>, StoreError> {
        sqlx::query_scalar("SELECT payload FROM quarantine WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("quarantine entry {id}"),
            })
    }

    async fn get_document(&self, doc_id: &str) -> Result<Option<StoredDocument>, StoreError> {
        let row = sqlx::query(
            "SELECT doc_id, kind, child_id, scope_key, snapshot, updated_at_ms FROM documents WHERE doc_id = ?",
        )
        .bind(doc_id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|r| document_from_row(&r)).transpose()?)
    }

    async fn document_changes(&self, doc_id: &str) -> Result<Vec<StoredChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT doc_id, hash, bytes, actor, device_id, received_at_ms, device_time_ms
             FROM changes WHERE doc_id = ? ORDER BY seq",
        )
        .bind(doc_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(change_from_row)
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn feed_anchor(&self) -> Result<FeedAnchor, StoreError> {
        let (feed_id, seq, stamp): (String, i64, i64) = sqlx::query_as(
            "SELECT f.feed_id, COALESCE(c.seq, 0), COALESCE(c.stamp, 0) FROM feed_identity f
             LEFT JOIN (SELECT seq, stamp FROM changes ORDER BY seq DESC LIMIT 1) c ON 1",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(FeedAnchor {
            feed_id,
            seq,
            stamp,
        })
    }

    async fn anchor_holds(&self, anchor: &FeedAnchor) -> Result<bool, StoreError> {
        let (feed_id, stamp): (String, Option<i64>) = sqlx::query_as(
            "SELECT feed_id, (SELECT stamp FROM changes WHERE seq = ?) FROM feed_identity",
        )
        .bind(anchor.seq)
        .fetch_one(&self.reader)
        .await?;
        Ok(feed_id == anchor.feed_id && (anchor.seq == 0 || stamp == Some(anchor.stamp)))
    }

    async fn lacking(&self, actor: &str, heads: &[OwnHead]) -> Result<Vec<Lacking>, StoreError> {
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        // The heads travel as one JSON array of [doc, hash] pairs.
        let pairs: Vec<[&str; 2]> = heads
            .iter()
            .map(|h| [h.doc_id.as_str(), h.hash.as_str()])
            .collect();
        let pairs = serde_json::to_string(&pairs).unwrap_or_default();
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT json_extract(j.value, '$[0]') FROM json_each(?) j
             WHERE NOT EXISTS (SELECT 1 FROM changes c
                 WHERE c.doc_id = json_extract(j.value, '$[0]')
                   AND c.hash = json_extract(j.value, '$[1]'))
             ORDER BY j.key",
        )
        .bind(&pairs)
        .fetch_all(&self.reader)
        .await?;
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let docs = serde_json::to_string(&missing).unwrap_or_default();
        let have: Vec<(String, String)> = sqlx::query_as(
            "SELECT doc_id, hash FROM changes
             WHERE actor = ? AND doc_id IN (SELECT value FROM json_each(?)) ORDER BY seq",
        )
        .bind(actor)
        .bind(&docs)
        .fetch_all(&self.reader)
        .await?;
        Ok(group_lacking(missing, have))
    }

    async fn probe_write(&self, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO server_heartbeat (id, at_ms) VALUES (1, ?)
             ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
        )
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

const FEED_COLUMNS: &str = "c.seq, c.doc_id, c.hash, d.kind, d.child_id, d.scope_key, d.summary";

#[async_trait]
impl FeedSource for SqliteStore {
    async fn feed_rows(
        &self,
        device_id: &str,
        after_seq: i64,
        scope: &ScopeFilter,
        limit: i64,
    ) -> Result<Vec<FeedRow>, StoreError> {
        // The scope's keys travel as one JSON array parameter; NULL means every document.
        let keys = match scope {
            ScopeFilter::All => None,
            ScopeFilter::Keys(keys) => Some(serde_json::to_string(keys).unwrap_or_default()),
        };
        Ok(sqlx::query_as(&format!(
            "SELECT {FEED_COLUMNS}, c.device_id = ?1 AS own,
                    CASE WHEN c.device_id = ?1 THEN NULL ELSE c.bytes END AS bytes
             FROM changes c JOIN documents d ON d.doc_id = c.doc_id
             WHERE c.seq > ?2
               AND (?4 IS NULL OR c.device_id = ?1
                    OR d.scope_key IN (SELECT value FROM json_each(?4)))
             ORDER BY c.seq LIMIT ?3"
        ))
        .bind(device_id)
        .bind(after_seq)
        .bind(limit)
        .bind(keys)
        .fetch_all(&self.reader)
        .await?)
    }

    async fn feed_head(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    async fn backfill_rows(
        &self,
        key: &str,
        from_seq: i64,
        upto_seq: i64,
        limit: i64,
    ) -> Result<Vec<FeedRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {FEED_COLUMNS}, 0 AS own, c.bytes
             FROM changes c JOIN documents d ON d.doc_id = c.doc_id
             WHERE (?1 = ?5 OR d.scope_key = ?1) AND c.seq > ?2 AND c.seq <= ?3
             ORDER BY c.seq LIMIT ?4"
        ))
        .bind(key)
        .bind(from_seq)
        .bind(upto_seq)
        .bind(limit)
        .bind(ALL_KEYS)
        .fetch_all(&self.reader)
        .await?)
    }
}

impl_review!(SqliteStore, sqlx::Sqlite, writer, reader);
impl_directory!(SqliteStore, sqlx::Sqlite, writer, reader);

pub(crate) fn quarantine_from_row<R: Row>(row: &R) -> Result<QuarantineRecord, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
{
    let size: i64 = row.try_get("size")?;
    Ok(QuarantineRecord {
        id: row.try_get("id")?,
        device_id: row.try_get("device_id")?,
        doc_id: row.try_get("doc_id")?,
        code: row.try_get("code")?,
        reason: row.try_get("reason")?,
        size: u64::try_from(size).unwrap_or(0),
        received_at_ms: row.try_get("received_at_ms")?,
    })
}

pub(crate) fn change_from_row<R: Row>(row: &R) -> Result<StoredChange, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(StoredChange {
        doc_id: row.try_get("doc_id")?,
        hash: row.try_get("hash")?,
        bytes: row.try_get("bytes")?,
        actor: row.try_get("actor")?,
        device_id: row.try_get("device_id")?,
        received_at_ms: row.try_get("received_at_ms")?,
        device_time_ms: row.try_get("device_time_ms")?,
    })
}
