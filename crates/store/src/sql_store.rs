//! The one store implementation, over either database.

use async_trait::async_trait;
use sqlx::Pool;

use crate::backend::Backend;
use crate::common::{
    FEED_COLUMNS, FeedRow, QUARANTINE_USAGE, build_page, check_quarantine_room, group_lacking,
    to_i64,
};
use crate::error::found;
use crate::{
    ALL_KEYS, DocHead, DocResult, FeedAnchor, IncomingDoc, Lacking, Merger, NewQuarantine,
    PullPage, PullRequest, PushContext, QuarantineRecord, ScopeFilter, Store, StoreError,
    StoreOptions, StoredChange, StoredDocument,
};

/// Server storage in a SQL database: [`SqliteStore`](crate::sqlite::SqliteStore) or
/// [`PgStore`](crate::postgres::PgStore). Every statement is shared; what differs is behind
/// [`Backend`].
pub struct SqlStore<DB: Backend> {
    writer: Pool<DB>,
    reader: Pool<DB>,
    pub(crate) options: StoreOptions,
}

impl<DB: Backend> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        SqlStore {
            writer: self.writer.clone(),
            reader: self.reader.clone(),
            options: self.options,
        }
    }
}

impl<DB: Backend> std::fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &DB::NAME)
            .field("writer", &self.writer)
            .field("reader", &self.reader)
            .field("options", &self.options)
            .finish()
    }
}

impl<DB: Backend> SqlStore<DB> {
    /// Open the database named by `url` (creating a SQLite file and its folder if needed) and
    /// bring its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// [`open`](Self::open) with settings.
    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let (writer, reader) = DB::connect(url).await?;
        Ok(SqlStore {
            writer,
            reader,
            options,
        })
    }

    /// The pool for writes (and reads that must see them).
    pub(crate) fn writer(&self) -> &Pool<DB> {
        &self.writer
    }

    /// The pool for reads.
    pub(crate) fn reader(&self) -> &Pool<DB> {
        &self.reader
    }
}

/// The columns of [`QuarantineRecord`].
const QUARANTINE_COLUMNS: &str = "id, device_id, doc_id, code, reason, size, received_at_ms";

/// Keep one entry in quarantine; its id.
pub(crate) async fn insert_quarantine<DB: Backend>(
    conn: &mut DB::Connection,
    item: &NewQuarantine,
) -> Result<i64, sqlx::Error> {
    DB::sql(
        "INSERT INTO quarantine
             (device_id, doc_id, code, reason, payload, size, received_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&item.device_id)
    .bind(&item.doc_id)
    .bind(item.code)
    .bind(&item.reason)
    .bind(&item.payload)
    .bind(to_i64(item.payload.len() as u64))
    .bind(item.received_at_ms)
    .fetch_scalar(conn)
    .await
}

/// Refuse with [`StoreError::QuarantineFull`] when `device_id` has no room for `size` bytes.
pub(crate) async fn check_room<DB: Backend>(
    conn: &mut DB::Connection,
    cap: crate::QuarantineCap,
    device_id: &str,
    size: usize,
) -> Result<(), StoreError> {
    let usage: (i64, i64) = DB::sql(QUARANTINE_USAGE)
        .bind(device_id)
        .fetch_one(conn)
        .await?;
    check_quarantine_room(cap, usage, size)
}

#[async_trait]
impl<DB: Backend> Store for SqlStore<DB> {
    async fn push(
        &self,
        ctx: &PushContext,
        docs: Vec<IncomingDoc>,
        merger: &dyn Merger,
    ) -> Result<Vec<DocResult>, StoreError> {
        crate::push::push(self, ctx, docs, merger).await
    }

    async fn pull(&self, req: &PullRequest) -> Result<PullPage, StoreError> {
        build_page(self, req).await
    }

    async fn quarantine(&self, item: NewQuarantine) -> Result<i64, StoreError> {
        let mut tx = self.writer.begin().await?;
        if let Some(device_id) = &item.device_id {
            let cap = self.options.quarantine_cap;
            check_room::<DB>(&mut tx, cap, device_id, item.payload.len()).await?;
        }
        let id = insert_quarantine::<DB>(&mut tx, &item).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn list_quarantine(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<QuarantineRecord>, StoreError> {
        Ok(DB::sql(format!(
            "SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?)
    }

    async fn quarantine_payload(&self, id: i64) -> Result<Vec<u8>, StoreError> {
        let payload = DB::sql("SELECT payload FROM quarantine WHERE id = $1")
            .bind(id)
            .fetch_optional_scalar(&self.reader)
            .await?;
        found(payload, || format!("quarantine entry {id}"))
    }

    async fn get_document(&self, doc_id: &str) -> Result<Option<StoredDocument>, StoreError> {
        Ok(load_document(&self.reader, doc_id).await?)
    }

    async fn document_changes(&self, doc_id: &str) -> Result<Vec<StoredChange>, StoreError> {
        Ok(DB::sql(
            "SELECT doc_id, hash, bytes, actor, device_id, received_at_ms, device_time_ms
             FROM changes WHERE doc_id = $1 ORDER BY seq",
        )
        .bind(doc_id)
        .fetch_all(&self.reader)
        .await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        DB::sql("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn feed_anchor(&self) -> Result<FeedAnchor, StoreError> {
        // Every row below the newest visible one is committed (positions follow commit order).
        let (feed_id, seq, stamp) = DB::sql(
            "SELECT f.feed_id, COALESCE(c.seq, 0), COALESCE(c.stamp, 0) FROM feed_identity f
             LEFT JOIN (SELECT seq, stamp FROM changes ORDER BY seq DESC LIMIT 1) c ON TRUE",
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
        let (feed_id, stamp): (String, Option<i64>) = DB::sql(
            "SELECT feed_id, (SELECT stamp FROM changes WHERE seq = $1) FROM feed_identity",
        )
        .bind(anchor.seq)
        .fetch_one(&self.reader)
        .await?;
        Ok(feed_id == anchor.feed_id && (anchor.seq == 0 || stamp == Some(anchor.stamp)))
    }

    async fn lacking(&self, actor: &str, heads: &[DocHead]) -> Result<Vec<Lacking>, StoreError> {
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        let missing = DB::missing_heads(&self.reader, heads).await?;
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let by_actor = DB::sql(format!(
            "SELECT doc_id, hash FROM changes WHERE actor = $1 AND {} ORDER BY seq",
            DB::in_list("doc_id", "$2")
        ))
        .bind(actor);
        let have: Vec<(String, String)> = DB::bind_list(by_actor, Some(&missing))
            .fetch_all(&self.reader)
            .await?;
        Ok(group_lacking(missing, have))
    }

    async fn probe_write(&self, now_ms: i64) -> Result<(), StoreError> {
        DB::check_writable(&self.writer).await?;
        DB::sql(
            "INSERT INTO server_heartbeat (id, at_ms) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
        )
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

/// The stored state of a document, if any.
pub(crate) async fn load_document<'e, DB: Backend>(
    ex: impl Into<crate::backend::Exec<'e, DB>>,
    doc_id: &str,
) -> Result<Option<StoredDocument>, sqlx::Error> {
    DB::sql(
        "SELECT doc_id, kind, child_id, scope_key, snapshot, updated_at_ms
         FROM documents WHERE doc_id = $1",
    )
    .bind(doc_id)
    .fetch_optional(ex)
    .await
}

/// The reads a pull page is built from ([`build_page`]).
impl<DB: Backend> SqlStore<DB> {
    /// Feed rows after `after_seq` in seq order, at most `limit`: rows in `scope`, and the
    /// device's own rows (marked `own`, without bytes) so the cursor can move past them.
    pub(crate) async fn feed_rows(
        &self,
        device_id: &str,
        after_seq: i64,
        scope: &ScopeFilter,
        limit: i64,
    ) -> Result<Vec<FeedRow>, StoreError> {
        // NULL means every document.
        let keys = match scope {
            ScopeFilter::All => None,
            ScopeFilter::Keys(keys) => Some(keys.as_slice()),
        };
        let feed = DB::sql(format!(
            "SELECT {FEED_COLUMNS}, c.device_id = $1 AS own,
                    CASE WHEN c.device_id = $1 THEN NULL ELSE c.bytes END AS bytes
             FROM changes c JOIN documents d ON d.doc_id = c.doc_id
             WHERE c.seq > $2 AND (c.device_id = $1 OR {})
             ORDER BY c.seq LIMIT $3",
            DB::in_list("d.scope_key", "$4")
        ))
        .bind(device_id)
        .bind(after_seq)
        .bind(limit);
        Ok(DB::bind_list(feed, keys).fetch_all(&self.reader).await?)
    }

    /// The highest feed position committed now. Every position at or below it is committed
    /// (positions are taken in commit order), so a page that reads to the end of the feed can
    /// move the cursor here, past changes outside the device's scope, without skipping any.
    pub(crate) async fn feed_head(&self) -> Result<i64, StoreError> {
        Ok(DB::sql("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_scalar(&self.reader)
            .await?)
    }

    /// Changes of documents with scope key `key` (every document for [`crate::ALL_KEYS`]) with
    /// `from_seq < seq <= upto_seq`, and the changes of `device_id`'s own after `upto_seq`, in
    /// seq order, at most `limit`, all with their bytes. The feed after the cursor skips a
    /// device's own changes, so a device fetching a key again (it removed the key's documents
    /// when the key left its scope) gets them here or never.
    pub(crate) async fn backfill_rows(
        &self,
        key: &str,
        device_id: &str,
        from_seq: i64,
        upto_seq: i64,
        limit: i64,
    ) -> Result<Vec<FeedRow>, StoreError> {
        Ok(DB::sql(format!(
            "SELECT {}, FALSE AS own, c.bytes
             FROM changes c JOIN documents d ON d.doc_id = c.doc_id
             WHERE ($1 = $5 OR d.scope_key = $1) AND c.seq > $2
               AND (c.seq <= $3 OR c.device_id = $6)
             ORDER BY c.seq LIMIT $4",
            crate::common::FEED_COLUMNS
        ))
        .bind(key)
        .bind(from_seq)
        .bind(upto_seq)
        .bind(limit)
        .bind(ALL_KEYS)
        .bind(device_id)
        .fetch_all(&self.reader)
        .await?)
    }
}
