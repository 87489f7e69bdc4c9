//! PostgreSQL, for authorities running more than one server or more data than one file should
//! hold.
//!
//! Each push is one transaction. Before merging a document the transaction takes a
//! transaction-scoped advisory lock on its id (documents in sorted order, so two pushes never
//! deadlock), which serialises merges of one document across every server sharing the
//! database — including the first push of a new document, which has no row to lock yet.
//!
//! Feed order is commit order. A sequence value is taken when a row is inserted, not when its
//! transaction commits, so with free-running writers a reader could see seq 11 committed while
//! seq 10 is still in flight, hand out cursor 11, and skip 10 for ever. So a push merges and
//! stores its documents first, then takes the row lock on `feed_clock` and only then inserts
//! its change rows: the lock is held until commit, so sequence values are taken by one
//! transaction at a time, in commit order. Only that last step is serialised; merging, the
//! expensive part, runs concurrently. (An earlier design paged on transaction ids below
//! `pg_snapshot_xmin`; that horizon is cluster-wide, so any long transaction in any database
//! stalled every device's feed.)

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use crate::common::{
    FeedRow, FeedSource, QUARANTINE_USAGE, build_page, check_quarantine_room, group_lacking,
    lock_order, new_stamp, not_kept, quarantine_payload, to_i64,
};
use crate::directory::impl_directory;
use crate::review::impl_review;
use crate::sqlite::{change_from_row, quarantine_from_row};
use crate::{
    ALL_KEYS, DocResult, FeedAnchor, IncomingDoc, Lacking, MergeOutcome, Merger, NewChange,
    NewQuarantine, OwnHead, PullPage, PullRequest, PushContext, QuarantineRecord, ScopeFilter,
    Store, StoreError, StoreOptions, StoredChange, StoredDocument,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Server storage in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    options: StoreOptions,
}

impl PgStore {
    /// Connect to the database named by a `postgres://` URL and bring its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// [`open`](Self::open) with settings.
    pub async fn open_with(url: &str, store_options: StoreOptions) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(|e| {
            StoreError::Config(format!(
                "cannot read PostgreSQL URL `{}`: {e}",
                crate::redact_url(url)
            ))
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            options: store_options,
        })
    }

    /// The connection pool, for tests that need to hold a transaction open.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn document_from_row(row: &sqlx::postgres::PgRow) -> Result<StoredDocument, sqlx::Error> {
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
impl Store for PgStore {
    async fn push(
        &self,
        ctx: &PushContext,
        docs: Vec<IncomingDoc>,
        merger: &dyn Merger,
    ) -> Result<Vec<DocResult>, StoreError> {
        let mut results: Vec<Option<DocResult>> = vec![None; docs.len()];
        let mut tx = self.pool.begin().await?;
        // New change rows, inserted after every merge, under the feed clock lock.
        let mut pending: Vec<(String, NewChange)> = Vec::new();
        for i in lock_order(&docs) {
            let doc = &docs[i];
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(&doc.doc_id)
                .execute(&mut *tx)
                .await?;
            let current = sqlx::query(
                "SELECT doc_id, kind, child_id, scope_key, snapshot, updated_at_ms FROM documents WHERE doc_id = $1",
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
                             VALUES ($1, $2, $3, $7, $4, $5, $6, $6)
                             ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind,
                                 child_id = excluded.child_id, scope_key = excluded.scope_key,
                                 summary = excluded.summary, snapshot = excluded.snapshot,
                                 updated_at_ms = excluded.updated_at_ms",
                        )
                        .bind(&doc.doc_id)
                        .bind(&kind)
                        .bind(&child_id)
                        .bind(&summary)
                        .bind(&snapshot)
                        .bind(ctx.received_at_ms)
                        .bind(&scope_key)
                        .execute(&mut *tx)
                        .await?;
                        pending.extend(new_changes.into_iter().map(|c| (doc.doc_id.clone(), c)));
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
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
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
        if !pending.is_empty() {
            // From here to commit, this transaction alone takes feed positions.
            sqlx::query("UPDATE feed_clock SET pushes = pushes + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            let mut doc_ids = Vec::with_capacity(pending.len());
            let mut hashes = Vec::with_capacity(pending.len());
            let mut bytes = Vec::with_capacity(pending.len());
            let mut actors = Vec::with_capacity(pending.len());
            let mut times = Vec::with_capacity(pending.len());
            for (doc_id, change) in pending {
                doc_ids.push(doc_id);
                hashes.push(change.hash);
                bytes.push(change.bytes);
                actors.push(change.actor);
                times.push(change.device_time_ms);
            }
            sqlx::query(
                "INSERT INTO changes (doc_id, hash, bytes, actor, device_id, received_at_ms, device_time_ms, stamp)
                 SELECT d, h, b, a, $6, $7, t, $8
                 FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[], $5::bigint[])
                      WITH ORDINALITY AS u(d, h, b, a, t, n)
                 ORDER BY n
                 ON CONFLICT (doc_id, hash) DO NOTHING",
            )
            .bind(&doc_ids)
            .bind(&hashes)
            .bind(&bytes)
            .bind(&actors)
            .bind(&times)
            .bind(&ctx.device_id)
            .bind(ctx.received_at_ms)
            .bind(new_stamp())
            .execute(&mut *tx)
            .await?;
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
        if let Some(device_id) = &item.device_id {
            let usage: (i64, i64) = sqlx::query_as(QUARANTINE_USAGE)
                .bind(device_id)
                .fetch_one(&self.pool)
                .await?;
            check_quarantine_room(self.options.quarantine_cap, usage, item.payload.len())?;
        }
        let id = sqlx::query_scalar(
            "INSERT INTO quarantine (device_id, doc_id, code, reason, payload, size, received_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&item.device_id)
        .bind(&item.doc_id)
        .bind(&item.code)
        .bind(&item.reason)
        .bind(&item.payload)
        .bind(to_i64(item.payload.len() as u64))
        .bind(item.received_at_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn list_quarantine(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<QuarantineRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, device_id, doc_id, code, reason, size, received_at_ms FROM quarantine
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(quarantine_from_row)
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }

    async fn quarantine_payload(&self, id: i64) -> Result<Vec<u8>, StoreError> {
        sqlx::query_scalar("SELECT payload FROM quarantine WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("quarantine entry {id}"),
            })
    }

    async fn get_document(&self, doc_id: &str) -> Result<Option<StoredDocument>, StoreError> {
        let row = sqlx::query(
            "SELECT doc_id, kind, child_id, scope_key, snapshot, updated_at_ms FROM documents WHERE doc_id = $1",
        )
        .bind(doc_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| document_from_row(&r)).transpose()?)
    }

    async fn document_changes(&self, doc_id: &str) -> Result<Vec<StoredChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT doc_id, hash, bytes, actor, device_id, received_at_ms, device_time_ms
             FROM changes WHERE doc_id = $1 ORDER BY seq",
        )
        .bind(doc_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(change_from_row)
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn feed_anchor(&self) -> Result<FeedAnchor, StoreError> {
        // Every row below the newest visible one is committed (positions follow commit order).
        let (feed_id, seq, stamp): (String, i64, i64) = sqlx::query_as(
            "SELECT f.feed_id, COALESCE(c.seq, 0), COALESCE(c.stamp, 0) FROM feed_identity f
             LEFT JOIN (SELECT seq, stamp FROM changes ORDER BY seq DESC LIMIT 1) c ON TRUE",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(FeedAnchor {
            feed_id,
            seq,
            stamp,
        })
    }

    async fn anchor_holds(&self, anchor: &FeedAnchor) -> Result<bool, StoreError> {
        let (feed_id, stamp): (String, Option<i64>) = sqlx::query_as(
            "SELECT feed_id, (SELECT stamp FROM changes WHERE seq = $1) FROM feed_identity",
        )
        .bind(anchor.seq)
        .fetch_one(&self.pool)
        .await?;
        Ok(feed_id == anchor.feed_id && (anchor.seq == 0 || stamp == Some(anchor.stamp)))
    }

    async fn lacking(&self, actor: &str, heads: &[OwnHead]) -> Result<Vec<Lacking>, StoreError> {
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        let docs: Vec<&str> = heads.iter().map(|h| h.doc_id.as_str()).collect();
        let hashes: Vec<&str> = heads.iter().map(|h| h.hash.as_str()).collect();
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT d FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS u(d, h, n)
             WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.doc_id = u.d AND c.hash = u.h)
             ORDER BY n",
        )
        .bind(&docs)
        .bind(&hashes)
        .fetch_all(&self.pool)
        .await?;
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let have: Vec<(String, String)> = sqlx::query_as(
            "SELECT doc_id, hash FROM changes WHERE actor = $1 AND doc_id = ANY($2) ORDER BY seq",
        )
        .bind(actor)
        .bind(&missing)
        .fetch_all(&self.pool)
        .await?;
        Ok(group_lacking(missing, have))
    }

    async fn probe_write(&self, now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(&mut *tx)
            .await?;
        if in_recovery {
            return Err(StoreError::NotWritable(
                "the database is a replica in recovery (read-only)".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO server_heartbeat (id, at_ms) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
        )
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

const FEED_COLUMNS: &str = "c.seq, c.doc_id, c.hash, d.kind, d.child_id, d.scope_key, d.summary";

#[async_trait]
impl FeedSource for PgStore {
    async fn feed_rows(
        &self,
        device_id: &str,
        after_seq: i64,
        scope: &ScopeFilter,
        limit: i64,
    ) -> Result<Vec<FeedRow>, StoreError> {
        // NULL means every document.
        let keys: Option<&[String]> = match scope {
            ScopeFilter::All => None,
            ScopeFilter::Keys(keys) => Some(keys),
        };
        Ok(sqlx::query_as(&format!(
            "SELECT {FEED_COLUMNS}, c.device_id = $1 AS own,
                    CASE WHEN c.device_id = $1 THEN NULL ELSE c.bytes END AS bytes
             FROM changes c JOIN documents d ON d.doc_id = c.doc_id
             WHERE c.seq > $2
               AND ($4::text[] IS NULL OR c.device_id = $1 OR d.scope_key = ANY($4))
             ORDER BY c.seq LIMIT $3"
        ))
        .bind(device_id)
        .bind(after_seq)
        .bind(limit)
        .bind(keys)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn feed_head(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes")
                .fetch_one(&self.pool)
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
            "SELECT {FEED_COLUMNS}, FALSE AS own, c.bytes
             FROM changes c JOIN documents d ON d.doc_id = c.doc_id
             WHERE ($1 = $5 OR d.scope_key = $1) AND c.seq > $2 AND c.seq <= $3
             ORDER BY c.seq LIMIT $4"
        ))
        .bind(key)
        .bind(from_seq)
        .bind(upto_seq)
        .bind(limit)
        .bind(ALL_KEYS)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl_review!(PgStore, sqlx::Postgres, pool, pool);
impl_directory!(PgStore, sqlx::Postgres, pool, pool);
