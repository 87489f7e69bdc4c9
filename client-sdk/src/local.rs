//! The device's local store: SQLite through sqlx, in one file in the data folder.
//!
//! Durability: WAL journal with `synchronous = FULL`; a call that records work returns only
//! after its transaction is committed, so a note is on disk before the app says it is saved.
//! `secure_delete = ON`: pages freed by a delete are overwritten with zeros, so removed
//! documents and superseded values do not linger in the file.
//!
//! Content is sealed with the store's [`Keys`] (see [`crate::crypto`]) on the way in and opened
//! on the way out; rows with `enc = 0` are plaintext rows from the first version of the store,
//! read as they are until [`seal_plaintext_rows`] seals them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use fieldnotes_protocol::{RejectCode, ScopeKey};
use fieldnotes_sync_core::{Batch, ChangeRef, Effect, OutboxChange, Refused, SyncState, Waiting};

use crate::crypto::{CryptoError, Keys, aad, purpose};
use crate::effects::{Applied, Applier};
use crate::error::DOCTOR_ADVICE;
use crate::{
    ClientError, META_ANCHOR, META_CURSOR, META_HEAL_AFTER, META_REMOVING_SCOPES, META_SCOPES,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The file name of the store inside the data folder.
pub(crate) const STORE_FILE: &str = "fieldnotes.db";
/// Outbox rows read per query when gathering a batch to send.
const OUTBOX_PAGE_ROWS: u16 = 500;

/// A document's listing facts (opened).
#[derive(Debug, Clone)]
pub(crate) struct DocRow {
    pub doc_id: String,
    pub kind: String,
    pub child_id: Option<String>,
    pub summary: String,
    pub updated_at_ms: i64,
}

/// What `documents.listing` seals.
#[derive(Debug, Serialize, Deserialize)]
struct Listing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    child_id: Option<String>,
    summary: String,
}

/// A failure below the client: the database, or a sealed value that did not open.
#[derive(Debug)]
enum LocalError {
    Sql(sqlx::Error),
    Sealed { what: String, source: CryptoError },
}

impl From<sqlx::Error> for LocalError {
    fn from(e: sqlx::Error) -> Self {
        LocalError::Sql(e)
    }
}

fn sealed_err(what: impl Into<String>) -> impl FnOnce(CryptoError) -> LocalError {
    let what = what.into();
    move |source| LocalError::Sealed { what, source }
}

/// A sealed value that is not in the shape this version writes.
fn format_err(what: String, detail: impl std::fmt::Display) -> LocalError {
    LocalError::Sealed {
        what,
        source: CryptoError::Format(detail.to_string()),
    }
}

/// An outbox change sealed, bound to its document and hash.
fn seal_change(keys: &Keys, doc_id: &str, hash: &str, bytes: &[u8]) -> Result<Vec<u8>, LocalError> {
    keys.seal(&aad(purpose::OUTBOX_BYTES, &[doc_id, hash]), bytes)
        .map_err(sealed_err(format!("change {hash} of document {doc_id}")))
}

/// A held change's reason sealed, bound to its document and hash.
fn seal_note(keys: &Keys, doc_id: &str, hash: &str, reason: &str) -> Result<Vec<u8>, LocalError> {
    keys.seal(&aad(purpose::HELD_NOTE, &[doc_id, hash]), reason.as_bytes())
        .map_err(sealed_err(format!("held reason of document {doc_id}")))
}

/// The value in `column` of a row: as stored in a plaintext row (`enc = 0`), else opened
/// with `aad`.
fn open_column(
    keys: &Keys,
    r: &SqliteRow,
    column: &str,
    aad: &[u8],
    what: impl FnOnce() -> String,
) -> Result<Vec<u8>, LocalError> {
    let stored: Vec<u8> = r.try_get(column)?;
    if r.try_get::<i64, _>("enc")? == 0 {
        return Ok(stored);
    }
    keys.open(aad, &stored).map_err(sealed_err(what()))
}

#[derive(Debug, Clone)]
pub(crate) struct LocalStore {
    pool: SqlitePool,
    path: PathBuf,
}

/// What a failed SQLite call means for the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlFailure {
    /// SQLITE_CORRUPT or SQLITE_NOTADB: the file is damaged.
    Damaged,
    /// SQLITE_FULL: no space left (or the file reached its size limit).
    Full,
    /// SQLITE_IOERR: the operating system failed a read or write.
    Io,
    Other,
}

/// Classify a sqlx error by SQLite's (extended) result code.
pub(crate) fn classify(e: &sqlx::Error) -> SqlFailure {
    let code = match e {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i64>().ok()),
        _ => None,
    };
    match code.map(|c| c & 0xff) {
        // SQLITE_CORRUPT, SQLITE_NOTADB
        Some(11 | 26) => SqlFailure::Damaged,
        // SQLITE_FULL
        Some(13) => SqlFailure::Full,
        // SQLITE_IOERR (and its extended codes)
        Some(10) => SqlFailure::Io,
        _ => SqlFailure::Other,
    }
}

/// The client error for a failed SQLite call on the store at `path`: damage and a full disk
/// are named as such, once, with what to do.
pub(crate) fn sql_error(path: &Path, source: sqlx::Error) -> ClientError {
    match classify(&source) {
        SqlFailure::Damaged => ClientError::StoreDamaged {
            path: path.to_path_buf(),
            what: damage_words(&source),
            advice: DOCTOR_ADVICE.to_owned(),
        },
        SqlFailure::Full => ClientError::StorageFull {
            path: path.to_path_buf(),
        },
        SqlFailure::Io if crate::check::storage_is_full(path) => ClientError::StorageFull {
            path: path.to_path_buf(),
        },
        _ => ClientError::Store {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// SQLite's words for a damaged file, in plain ones.
fn damage_words(e: &sqlx::Error) -> String {
    let code = match e {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i64>().ok()),
        _ => None,
    };
    if code.map(|c| c & 0xff) == Some(26) {
        "the file is not a database (its first bytes were overwritten or it was replaced)".into()
    } else {
        "parts of the file are corrupt (SQLite: \"database disk image is malformed\")".into()
    }
}

/// A migration failure on the store at `path`, with damage and a full disk named.
fn migrate_error(path: &Path, source: sqlx::migrate::MigrateError) -> ClientError {
    match source {
        sqlx::migrate::MigrateError::Execute(e) if classify(&e) != SqlFailure::Other => {
            sql_error(path, e)
        }
        source => ClientError::Migration {
            path: path.to_path_buf(),
            source,
        },
    }
}

impl LocalStore {
    pub(crate) async fn open(dir: &Path) -> Result<Self, ClientError> {
        let path = dir.join(STORE_FILE);
        // A store file that exists but cannot be a store is never opened, and never replaced
        // by a new one: its unsynced work may still be saved from it.
        if let Some(what) = crate::check::quick_damage(&path) {
            return Err(ClientError::StoreDamaged {
                path,
                what,
                advice: DOCTOR_ADVICE.to_owned(),
            });
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(10));
        // One connection: one process writes as this device, and its writes are serialised.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| sql_error(&path, source))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| migrate_error(&path, source))?;
        Ok(Self { pool, path })
    }

    /// Close the connection (before the files are deleted). The write-ahead log is folded
    /// into the file first: the pool may finish closing its connection in the background, and
    /// that last close then has nothing left to write.
    pub(crate) async fn close(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::debug!(error = %e, "no checkpoint before closing the store");
        }
        self.pool.close().await;
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl Into<LocalError>) -> ClientError {
        local_error(&self.path, e)
    }

    /// Open a transaction: what is written through it is kept only when it is committed with
    /// [`LocalStore::commit`].
    pub(crate) async fn begin(&self) -> Result<StoreTx, ClientError> {
        let tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        Ok(StoreTx {
            tx,
            path: self.path.clone(),
        })
    }

    pub(crate) async fn commit(&self, tx: StoreTx) -> Result<(), ClientError> {
        tx.commit().await
    }

    pub(crate) async fn meta(&self, key: &str) -> Result<Option<String>, ClientError> {
        meta_value(&self.pool, key).await.map_err(|e| self.err(e))
    }

    pub(crate) async fn set_meta(&self, key: &str, value: &str) -> Result<(), ClientError> {
        let mut tx = self.begin().await?;
        tx.set_meta(key, value).await?;
        self.commit(tx).await
    }

    /// A meta value sealed with [`set_sealed_meta`].
    pub(crate) async fn sealed_meta(
        &self,
        keys: &Keys,
        key: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        sealed_meta_at(&self.pool, keys, key)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn snapshot(
        &self,
        keys: &Keys,
        doc_id: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        snapshot(&self.pool, keys, doc_id)
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn list(
        &self,
        keys: &Keys,
        kind: Option<&str>,
    ) -> Result<Vec<DocRow>, ClientError> {
        let rows = sqlx::query(
            "SELECT doc_id, kind, child_id, summary, listing, enc, updated_at_ms FROM documents
             WHERE ?1 IS NULL OR kind = ?1 ORDER BY updated_at_ms DESC, doc_id",
        )
        .bind(kind)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| listed_row(keys, r))
            .collect::<Result<_, LocalError>>()
            .map_err(|e| self.err(e))
    }

    /// Offer `batch` the outbox rows not held after its start, in outbox order, until one does
    /// not fit.
    pub(crate) async fn fill_batch(
        &self,
        keys: &Keys,
        batch: &mut Batch,
    ) -> Result<(), ClientError> {
        let mut cursor = batch.after_seq();
        loop {
            let rows = sqlx::query(
                "SELECT seq, doc_id, hash, bytes, enc FROM outbox
                 WHERE held_code IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            )
            .bind(cursor)
            .bind(i64::from(OUTBOX_PAGE_ROWS))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
            let fetched = rows.len();
            for r in rows {
                let change = outbox_row(keys, &r).map_err(|e| self.err(e))?;
                cursor = change.seq;
                if !batch.offer(change) {
                    return Ok(());
                }
            }
            if fetched < usize::from(OUTBOX_PAGE_ROWS) {
                return Ok(());
            }
        }
    }

    /// What the sync core reads at the start of a round: cursor, anchor, held scope keys, keys
    /// being removed and healing progress.
    pub(crate) async fn sync_state(&self, keys: &Keys) -> Result<SyncState, ClientError> {
        let scopes = self.held_scopes(keys).await?;
        let removing = scope_list(self.sealed_meta(keys, META_REMOVING_SCOPES).await?)?;
        Ok(SyncState {
            cursor: self
                .meta(META_CURSOR)
                .await?
                .map(fieldnotes_protocol::Cursor),
            anchor: self
                .meta(META_ANCHOR)
                .await?
                .map(fieldnotes_protocol::FeedAnchor),
            scopes,
            removing,
            healing: self.meta(META_HEAL_AFTER).await?,
        })
    }

    /// The scope keys this device holds in full.
    pub(crate) async fn held_scopes(&self, keys: &Keys) -> Result<Vec<String>, ClientError> {
        scope_list(self.sealed_meta(keys, META_SCOPES).await?)
    }

    /// For each scope key, the hashes of the outbox changes of its documents waiting to be
    /// sent (not held).
    pub(crate) async fn waiting(
        &self,
        keys: &Keys,
        scope_keys: &[String],
    ) -> Result<Waiting, ClientError> {
        let mut waiting = Waiting::default();
        for key in scope_keys {
            let hashes = unsent_in_scope(&self.pool, &ScopeSel::of(keys, key))
                .await
                .map_err(|e| self.err(e))?;
            waiting.insert(key.clone(), hashes);
        }
        Ok(waiting)
    }

    /// Apply the sync core's effects, in order, in one transaction: all of them or none.
    pub(crate) async fn apply_effects(
        &self,
        by: Applier<'_>,
        effects: &[Effect],
    ) -> Result<Applied, ClientError> {
        let mut applied = Applied::default();
        let mut tx = self.begin().await?;
        for effect in effects {
            self.apply_effect(&mut tx, by, effect, &mut applied).await?;
        }
        self.commit(tx).await?;
        Ok(applied)
    }

    /// Whether any outbox row after `after_seq` is waiting to be sent (not held).
    pub(crate) async fn has_unsent_after(&self, after_seq: i64) -> Result<bool, ClientError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE held_code IS NULL AND seq > ?)",
        )
        .bind(after_seq)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    pub(crate) async fn pending_changes(&self) -> Result<u64, ClientError> {
        self.count("SELECT COUNT(*) FROM outbox").await
    }

    pub(crate) async fn document_count(&self) -> Result<u64, ClientError> {
        self.count("SELECT COUNT(*) FROM documents").await
    }

    pub(crate) async fn held_count(&self) -> Result<u64, ClientError> {
        self.count("SELECT COUNT(DISTINCT doc_id) FROM outbox WHERE held_code IS NOT NULL")
            .await
    }

    /// Whether any row is sealed (so a data key must exist for this store).
    pub(crate) async fn has_sealed_rows(&self) -> Result<bool, ClientError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE enc = 1)
                 OR EXISTS (SELECT 1 FROM outbox WHERE enc = 1)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn count(&self, sql: &'static str) -> Result<u64, ClientError> {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Held (refused) documents with their reason, oldest first.
    pub(crate) async fn held(&self, keys: &Keys) -> Result<Vec<Refused>, ClientError> {
        let rows = sqlx::query(
            "SELECT doc_id, hash, held_code, held_reason, held_note, enc FROM outbox
             WHERE held_code IS NOT NULL ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut out: Vec<Refused> = Vec::new();
        for r in rows {
            let doc_id: String = r.try_get("doc_id").map_err(|e| self.err(e))?;
            if let Some(held) = out.iter_mut().find(|h| h.doc_id == doc_id) {
                held.changes += 1;
                continue;
            }
            let reason = held_reason(keys, &r, &doc_id).map_err(|e| self.err(e))?;
            let code: String = r.try_get("held_code").map_err(|e| self.err(e))?;
            let Some(code) = RejectCode::parse(&code) else {
                return Err(ClientError::Corrupt(format!(
                    "a held change of document {doc_id} has an unknown code {code:?}"
                )));
            };
            out.push(Refused {
                code,
                doc_id,
                reason,
                changes: 1,
            });
        }
        Ok(out)
    }

    /// Rewrite the file without free pages, and empty the WAL: after plaintext rows are sealed,
    /// no copy of them is left in either file.
    pub(crate) async fn compact(&self) -> Result<(), ClientError> {
        sqlx::query("VACUUM")
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// The client error for a failure below the client on the store at `path`.
fn local_error(path: &Path, e: impl Into<LocalError>) -> ClientError {
    match e.into() {
        LocalError::Sql(source) => sql_error(path, source),
        LocalError::Sealed { what, source } => ClientError::Corrupt(format!("{what}: {source}")),
    }
}

/// An open transaction on the store, made by [`LocalStore::begin`]: every write of the
/// client's shared logic goes through one, and is kept only when it is committed. Reads
/// made while a transaction is open go through it too (the pool has one connection).
/// Its methods return client errors, already mapped.
#[derive(Debug)]
pub(crate) struct StoreTx {
    tx: Transaction<'static, Sqlite>,
    path: PathBuf,
}

impl StoreTx {
    fn err(&self, e: impl Into<LocalError>) -> ClientError {
        local_error(&self.path, e)
    }

    /// Keep what was written in this transaction.
    pub(crate) async fn commit(self) -> Result<(), ClientError> {
        let path = self.path;
        self.tx.commit().await.map_err(|e| local_error(&path, e))
    }

    pub(crate) async fn set_meta(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        let done = set_meta(&mut self.tx, key, value).await;
        done.map_err(|e| self.err(e))
    }

    pub(crate) async fn delete_meta(&mut self, key: &str) -> Result<(), ClientError> {
        let done = delete_meta(&mut self.tx, key).await;
        done.map_err(|e| self.err(e))
    }

    /// Store `value` sealed under `key` (bound to the key's name).
    pub(crate) async fn set_sealed_meta(
        &mut self,
        keys: &Keys,
        key: &str,
        value: &[u8],
    ) -> Result<(), ClientError> {
        let done = set_sealed_meta(&mut self.tx, keys, key, value).await;
        done.map_err(|e| self.err(e))
    }

    /// A meta value sealed with [`StoreTx::set_sealed_meta`], read in this transaction.
    pub(crate) async fn sealed_meta(
        &mut self,
        keys: &Keys,
        key: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let value = sealed_meta_at(&mut *self.tx, keys, key).await;
        value.map_err(|e| self.err(e))
    }

    /// A document's saved state, read in this transaction.
    pub(crate) async fn snapshot(
        &mut self,
        keys: &Keys,
        doc_id: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let value = snapshot(&mut *self.tx, keys, doc_id).await;
        value.map_err(|e| self.err(e))
    }

    /// Insert or replace a document's stored state, sealed (see [`put_document`]).
    pub(crate) async fn put_document(
        &mut self,
        keys: &Keys,
        row: &DocRow,
        scope_key: &str,
        snapshot: &[u8],
    ) -> Result<(), ClientError> {
        let done = put_document(&mut self.tx, keys, row, scope_key, snapshot).await;
        done.map_err(|e| self.err(e))
    }

    /// Add a change of this device's to the outbox (see [`enqueue`]).
    pub(crate) async fn enqueue(
        &mut self,
        keys: &Keys,
        doc_id: &str,
        hash: &str,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<(), ClientError> {
        let done = enqueue(&mut self.tx, keys, doc_id, hash, bytes, now_ms).await;
        done.map_err(|e| self.err(e))
    }

    /// Put a change back in the outbox (see [`requeue`]). Returns the rows added.
    pub(crate) async fn requeue(
        &mut self,
        keys: &Keys,
        doc_id: &str,
        hash: &str,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<u64, ClientError> {
        let done = requeue(&mut self.tx, keys, doc_id, hash, bytes, now_ms).await;
        done.map_err(|e| self.err(e))
    }

    /// Drop an acknowledged change from the outbox. Returns the rows removed.
    pub(crate) async fn acknowledge(
        &mut self,
        doc_id: &str,
        hash: &str,
    ) -> Result<u64, ClientError> {
        let done = acknowledge(&mut self.tx, doc_id, hash).await;
        done.map_err(|e| self.err(e))
    }

    /// Hold an outbox row the server refused, with the reason (sealed).
    pub(crate) async fn hold(
        &mut self,
        keys: &Keys,
        doc_id: &str,
        change: &ChangeRef,
        code: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<u64, ClientError> {
        let done = hold(&mut self.tx, keys, doc_id, change, code, reason, now_ms).await;
        done.map_err(|e| self.err(e))
    }

    /// Record `hash` as the newest change this device wrote to `doc_id`.
    pub(crate) async fn set_own_head(
        &mut self,
        doc_id: &str,
        hash: &str,
    ) -> Result<(), ClientError> {
        let done = set_own_head(&mut self.tx, doc_id, hash).await;
        done.map_err(|e| self.err(e))
    }

    /// Forget the newest own change of `doc_id`.
    pub(crate) async fn clear_own_head(&mut self, doc_id: &str) -> Result<(), ClientError> {
        let done = clear_own_head(&mut self.tx, doc_id).await;
        done.map_err(|e| self.err(e))
    }

    /// Remove a document (and any outbox row left for it) from the device.
    pub(crate) async fn remove_document(&mut self, doc_id: &str) -> Result<(), ClientError> {
        let done = remove_document(&mut self.tx, doc_id).await;
        done.map_err(|e| self.err(e))
    }

    /// Remove withdrawn outbox rows and release the document's other held rows.
    pub(crate) async fn withdraw_rows(
        &mut self,
        doc_id: &str,
        seqs: &[i64],
    ) -> Result<(), ClientError> {
        let done = withdraw_rows(&mut self.tx, doc_id, seqs).await;
        done.map_err(|e| self.err(e))
    }

    /// Remove a scope's documents and their outbox rows; returns the documents removed.
    pub(crate) async fn remove_scope(
        &mut self,
        sel: &ScopeSel,
    ) -> Result<Vec<String>, ClientError> {
        let done = remove_scope(&mut self.tx, sel).await;
        done.map_err(|e| self.err(e))
    }

    /// Record that the server was found restored.
    pub(crate) async fn record_restore(
        &mut self,
        at_ms: i64,
        feed_id: &str,
        message: &str,
    ) -> Result<(), ClientError> {
        let done = record_restore(&mut self.tx, at_ms, feed_id, message).await;
        done.map_err(|e| self.err(e))
    }

    /// Count a verify round against the newest restore.
    pub(crate) async fn count_restore_work(
        &mut self,
        checked: u64,
        resent: u64,
    ) -> Result<(), ClientError> {
        let done = count_restore_work(&mut self.tx, checked, resent).await;
        done.map_err(|e| self.err(e))
    }

    /// Plaintext document rows (`enc = 0`).
    pub(crate) async fn plaintext_docs(&mut self) -> Result<Vec<PlainDoc>, ClientError> {
        let docs = plaintext_docs(&mut self.tx).await;
        docs.map_err(|e| self.err(e))
    }

    /// Seal a plaintext document row in place (see [`seal_plain_doc`]).
    pub(crate) async fn seal_plain_doc(
        &mut self,
        keys: &Keys,
        doc: &PlainDoc,
        scope_key: Option<&str>,
    ) -> Result<(), ClientError> {
        let done = seal_plain_doc(&mut self.tx, keys, doc, scope_key).await;
        done.map_err(|e| self.err(e))
    }

    /// Seal the plaintext outbox rows in place; returns how many.
    pub(crate) async fn seal_plain_outbox(&mut self, keys: &Keys) -> Result<u64, ClientError> {
        let n = seal_plain_outbox(&mut self.tx, keys).await;
        n.map_err(|e| self.err(e))
    }
}

impl LocalStore {
    /// Every outbox row of `doc_id`, oldest first, with its hold.
    pub(crate) async fn doc_outbox(
        &self,
        keys: &Keys,
        doc_id: &str,
    ) -> Result<Vec<DocOutboxRow>, ClientError> {
        doc_outbox(&self.pool, keys, doc_id)
            .await
            .map_err(|e| self.err(e))
    }

    /// The documents with held rows, oldest hold first.
    pub(crate) async fn held_doc_ids(&self) -> Result<Vec<String>, ClientError> {
        held_doc_ids(&self.pool).await.map_err(|e| self.err(e))
    }
}

/// A document row's listing facts: as stored in a plaintext row, else from its sealed listing.
fn listed_row(keys: &Keys, r: &SqliteRow) -> Result<DocRow, LocalError> {
    let mut row = plain_doc_row(r)?;
    if r.try_get::<i64, _>("enc")? == 0 {
        return Ok(row);
    }
    let what = || format!("listing of document {}", row.doc_id);
    let sealed: Vec<u8> = r
        .try_get::<Option<Vec<u8>>, _>("listing")?
        .ok_or_else(|| format_err(what(), "the sealed listing is missing"))?;
    let plain = keys
        .open(&aad(purpose::LISTING, &[&row.doc_id]), &sealed)
        .map_err(sealed_err(what()))?;
    let listing: Listing = serde_json::from_slice(&plain).map_err(|e| format_err(what(), e))?;
    row.child_id = listing.child_id;
    row.summary = listing.summary;
    Ok(row)
}

/// A document row's listing columns as they are (plaintext, or empty in a sealed row).
fn plain_doc_row(r: &SqliteRow) -> Result<DocRow, sqlx::Error> {
    Ok(DocRow {
        doc_id: r.try_get("doc_id")?,
        kind: r.try_get("kind")?,
        child_id: r.try_get("child_id")?,
        summary: r.try_get("summary")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
    })
}

fn outbox_row(keys: &Keys, r: &SqliteRow) -> Result<OutboxChange, LocalError> {
    let doc_id: String = r.try_get("doc_id")?;
    let hash: String = r.try_get("hash")?;
    let aad = aad(purpose::OUTBOX_BYTES, &[&doc_id, &hash]);
    let bytes = open_column(keys, r, "bytes", &aad, || {
        format!("change {hash} of document {doc_id}")
    })?;
    Ok(OutboxChange {
        seq: r.try_get("seq")?,
        doc_id,
        hash,
        bytes,
    })
}

fn held_reason(keys: &Keys, r: &SqliteRow, doc_id: &str) -> Result<String, LocalError> {
    let enc: i64 = r.try_get("enc")?;
    if enc == 0 {
        return Ok(r
            .try_get::<Option<String>, _>("held_reason")?
            .unwrap_or_default());
    }
    let hash: String = r.try_get("hash")?;
    let Some(note) = r.try_get::<Option<Vec<u8>>, _>("held_note")? else {
        return Ok(String::new());
    };
    let plain = keys
        .open(&aad(purpose::HELD_NOTE, &[doc_id, &hash]), &note)
        .map_err(sealed_err(format!("held reason of document {doc_id}")))?;
    Ok(String::from_utf8_lossy(&plain).into_owned())
}

async fn set_meta(
    tx: &mut Transaction<'static, Sqlite>,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    execute(
        tx,
        "INSERT INTO meta (key, value) VALUES (?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[key, value],
    )
    .await
    .map(drop)
}

async fn delete_meta(tx: &mut Transaction<'static, Sqlite>, key: &str) -> Result<(), sqlx::Error> {
    execute(tx, "DELETE FROM meta WHERE key = ?", &[key])
        .await
        .map(drop)
}

/// Store `value` sealed under `key` (bound to the key's name).
async fn set_sealed_meta(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &Keys,
    key: &str,
    value: &[u8],
) -> Result<(), LocalError> {
    let sealed = keys
        .seal_text(&aad(purpose::META, &[key]), value)
        .map_err(sealed_err(format!("stored {key}")))?;
    set_meta(tx, key, &sealed).await?;
    Ok(())
}

/// A meta value, read through `executor` (the pool, or an open transaction).
async fn meta_value<'e, E>(executor: E, key: &str) -> Result<Option<String>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
        .bind(key)
        .fetch_optional(executor)
        .await
}

/// A meta value sealed with [`set_sealed_meta`], read through `executor`.
async fn sealed_meta_at<'e, E>(
    executor: E,
    keys: &Keys,
    key: &str,
) -> Result<Option<Vec<u8>>, LocalError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let Some(value) = meta_value(executor, key).await? else {
        return Ok(None);
    };
    keys.open_text(&aad(purpose::META, &[key]), &value)
        .map(Some)
        .map_err(sealed_err(format!("stored {key}")))
}

/// Insert or replace a document's stored state, sealed; `scope_key` is the document's scope
/// (`child:ID`, `worker:ID`), stored as its keyed tag.
async fn put_document(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &Keys,
    row: &DocRow,
    scope_key: &str,
    snapshot: &[u8],
) -> Result<(), LocalError> {
    let what = || format!("document {}", row.doc_id);
    let listing = serde_json::to_vec(&Listing {
        child_id: row.child_id.clone(),
        summary: row.summary.clone(),
    })
    .map_err(|e| format_err(what(), e))?;
    let listing = keys
        .seal(&aad(purpose::LISTING, &[&row.doc_id]), &listing)
        .map_err(sealed_err(what()))?;
    let snapshot = keys
        .seal(&aad(purpose::SNAPSHOT, &[&row.doc_id]), snapshot)
        .map_err(sealed_err(what()))?;
    sqlx::query(
        "INSERT INTO documents
             (doc_id, kind, child_id, summary, snapshot, updated_at_ms, enc, listing, scope_tag)
         VALUES (?, ?, NULL, '', ?, ?, 1, ?, ?)
         ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind, child_id = NULL, summary = '',
             snapshot = excluded.snapshot, updated_at_ms = excluded.updated_at_ms, enc = 1,
             listing = excluded.listing, scope_tag = excluded.scope_tag",
    )
    .bind(&row.doc_id)
    .bind(&row.kind)
    .bind(&snapshot)
    .bind(row.updated_at_ms)
    .bind(&listing)
    .bind(keys.scope_tag(scope_key))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Add a change of this device's to the outbox. A held document is released: it has been
/// edited, so all its changes go to the server again.
async fn enqueue(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &Keys,
    doc_id: &str,
    hash: &str,
    bytes: &[u8],
    now_ms: i64,
) -> Result<(), LocalError> {
    release_held(tx, doc_id).await?;
    requeue(tx, keys, doc_id, hash, bytes, now_ms).await?;
    set_own_head(tx, doc_id, hash).await?;
    Ok(())
}

/// Drop a change the server acknowledged from the outbox. Returns the rows removed.
async fn acknowledge(
    tx: &mut Transaction<'static, Sqlite>,
    doc_id: &str,
    hash: &str,
) -> Result<u64, sqlx::Error> {
    execute(
        tx,
        "DELETE FROM outbox WHERE doc_id = ? AND hash = ?",
        &[doc_id, hash],
    )
    .await
}

/// Hold an outbox row the server refused, with the reason (sealed).
async fn hold(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &Keys,
    doc_id: &str,
    change: &ChangeRef,
    code: &str,
    reason: &str,
    now_ms: i64,
) -> Result<u64, LocalError> {
    let note = seal_note(keys, doc_id, &change.hash, reason)?;
    let done = sqlx::query(
        "UPDATE outbox SET held_code = ?, held_reason = NULL, held_note = ?, held_at_ms = ?
         WHERE seq = ?",
    )
    .bind(code)
    .bind(&note)
    .bind(now_ms)
    .bind(change.seq)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// A document's saved state, read through `executor` (the pool, or an open transaction: the
/// pool has one connection, so code holding a transaction must read through it).
async fn snapshot<'e, E>(
    executor: E,
    keys: &Keys,
    doc_id: &str,
) -> Result<Option<Vec<u8>>, LocalError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let row = sqlx::query("SELECT snapshot, enc FROM documents WHERE doc_id = ?")
        .bind(doc_id)
        .fetch_optional(executor)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let aad = aad(purpose::SNAPSHOT, &[doc_id]);
    open_column(keys, &row, "snapshot", &aad, || {
        format!("document {doc_id}")
    })
    .map(Some)
}

/// The scope tags of the documents to remove for a scope key: `None` means every document.
pub(crate) enum ScopeSel {
    All,
    Tag(Vec<u8>),
}

/// A stored (opened) list of scope keys; none stored is an empty list.
pub(crate) fn scope_list(json: Option<Vec<u8>>) -> Result<Vec<String>, ClientError> {
    match json {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_slice(&json)
            .map_err(|e| ClientError::Corrupt(format!("stored scope list: {e}"))),
    }
}

impl ScopeSel {
    /// The documents of scope key `key`.
    pub(crate) fn of(keys: &Keys, key: &str) -> ScopeSel {
        if ScopeKey::is_all_text(key) {
            ScopeSel::All
        } else {
            ScopeSel::Tag(keys.scope_tag(key))
        }
    }
}

/// The hashes of changes not yet acknowledged, and not held, for documents of a scope.
async fn unsent_in_scope(pool: &SqlitePool, sel: &ScopeSel) -> Result<Vec<String>, sqlx::Error> {
    match sel {
        ScopeSel::All => {
            sqlx::query_scalar("SELECT hash FROM outbox WHERE held_code IS NULL")
                .fetch_all(pool)
                .await
        }
        ScopeSel::Tag(tag) => {
            sqlx::query_scalar(
                "SELECT o.hash FROM outbox o JOIN documents d ON d.doc_id = o.doc_id
                 WHERE d.scope_tag = ? AND o.held_code IS NULL",
            )
            .bind(tag)
            .fetch_all(pool)
            .await
        }
    }
}

/// Remove a scope's documents and their (held) outbox rows; returns the documents removed.
async fn remove_scope(
    tx: &mut Transaction<'static, Sqlite>,
    sel: &ScopeSel,
) -> Result<Vec<String>, sqlx::Error> {
    let ids: Vec<String> = match sel {
        ScopeSel::All => {
            sqlx::query_scalar("SELECT doc_id FROM documents")
                .fetch_all(&mut **tx)
                .await?
        }
        ScopeSel::Tag(tag) => {
            sqlx::query_scalar("SELECT doc_id FROM documents WHERE scope_tag = ?")
                .bind(tag)
                .fetch_all(&mut **tx)
                .await?
        }
    };
    for id in &ids {
        delete_document_rows(tx, id).await?;
    }
    Ok(ids)
}

/// A plaintext document row from the first version of the store.
#[derive(Debug)]
pub(crate) struct PlainDoc {
    pub row: DocRow,
    pub snapshot: Vec<u8>,
}

/// Plaintext document rows (`enc = 0`).
async fn plaintext_docs(
    tx: &mut Transaction<'static, Sqlite>,
) -> Result<Vec<PlainDoc>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT doc_id, kind, child_id, summary, snapshot, updated_at_ms FROM documents
         WHERE enc = 0",
    )
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PlainDoc {
                row: plain_doc_row(r)?,
                snapshot: r.try_get("snapshot")?,
            })
        })
        .collect()
}

/// Seal a plaintext document row in place (its scope tag is `None` if the scope key could not
/// be found: such a document is removed only with every document).
async fn seal_plain_doc(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &Keys,
    doc: &PlainDoc,
    scope_key: Option<&str>,
) -> Result<(), LocalError> {
    put_document(tx, keys, &doc.row, scope_key.unwrap_or(""), &doc.snapshot).await?;
    if scope_key.is_none() {
        let sql = "UPDATE documents SET scope_tag = NULL WHERE doc_id = ?";
        execute(tx, sql, &[&doc.row.doc_id]).await?;
    }
    Ok(())
}

/// Seal the plaintext outbox rows in place; returns how many.
async fn seal_plain_outbox(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &Keys,
) -> Result<u64, LocalError> {
    let rows = sqlx::query(
        "SELECT seq, doc_id, hash, bytes, held_reason FROM outbox WHERE enc = 0 ORDER BY seq",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut n = 0;
    for r in rows {
        let seq: i64 = r.try_get("seq")?;
        let doc_id: String = r.try_get("doc_id")?;
        let hash: String = r.try_get("hash")?;
        let bytes: Vec<u8> = r.try_get("bytes")?;
        let reason: Option<String> = r.try_get("held_reason")?;
        let sealed = seal_change(keys, &doc_id, &hash, &bytes)?;
        let note = reason
            .map(|reason| seal_note(keys, &doc_id, &hash, &reason))
            .transpose()?;
        sqlx::query(
            "UPDATE outbox SET bytes = ?, held_note = ?, held_reason = NULL, enc = 1 WHERE seq = ?",
        )
        .bind(&sealed)
        .bind(&note)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
        n += 1;
    }
    Ok(n)
}

/// Record `hash` as the newest change this device wrote to `doc_id` (see migration 0003).
async fn set_own_head(
    tx: &mut Transaction<'static, Sqlite>,
    doc_id: &str,
    hash: &str,
) -> Result<(), sqlx::Error> {
    execute(
        tx,
        "INSERT INTO own_heads (doc_id, hash) VALUES (?, ?)
         ON CONFLICT (doc_id) DO UPDATE SET hash = excluded.hash",
        &[doc_id, hash],
    )
    .await
    .map(drop)
}

/// Put a change in the outbox, sealed (a change the server lost goes back as it was first
/// sent). Unlike [`enqueue`] it releases nothing: a held change stays held. Returns the rows
/// added (0 when the change is already waiting).
async fn requeue(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &Keys,
    doc_id: &str,
    hash: &str,
    bytes: &[u8],
    now_ms: i64,
) -> Result<u64, LocalError> {
    let sealed = seal_change(keys, doc_id, hash, bytes)?;
    let done = sqlx::query(
        "INSERT INTO outbox (doc_id, hash, bytes, created_at_ms, enc) VALUES (?, ?, ?, ?, 1)
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(doc_id)
    .bind(hash)
    .bind(&sealed)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

impl LocalStore {
    /// Own heads after `after_doc` in doc id order, at most `limit`.
    pub(crate) async fn own_heads_after(
        &self,
        after_doc: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, ClientError> {
        sqlx::query_as(
            "SELECT doc_id, hash FROM own_heads WHERE doc_id > ? ORDER BY doc_id LIMIT ?",
        )
        .bind(after_doc)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    /// Documents with no own head recorded (stores made before migration 0003).
    pub(crate) async fn docs_without_own_head(&self) -> Result<Vec<String>, ClientError> {
        sqlx::query_scalar(
            "SELECT doc_id FROM documents WHERE doc_id NOT IN (SELECT doc_id FROM own_heads)
             ORDER BY doc_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    /// Restores found and not yet shown to the person: (when first found, documents checked,
    /// changes sent again), summed, and marked shown.
    pub(crate) async fn take_restore_notice(&self) -> Result<Option<(i64, u64, u64)>, ClientError> {
        let mut tx = self.begin().await?;
        let row: (Option<i64>, i64, i64) = sqlx::query_as(
            "SELECT MIN(detected_at_ms), COALESCE(SUM(checked_docs), 0),
                    COALESCE(SUM(resent_changes), 0)
             FROM server_restores WHERE shown = 0",
        )
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(|e| self.err(e))?;
        let Some(at) = row.0 else {
            return Ok(None);
        };
        sqlx::query("UPDATE server_restores SET shown = 1 WHERE shown = 0")
            .execute(&mut *tx.tx)
            .await
            .map_err(|e| self.err(e))?;
        self.commit(tx).await?;
        Ok(Some((
            at,
            u64::try_from(row.1).unwrap_or(0),
            u64::try_from(row.2).unwrap_or(0),
        )))
    }
}

/// Record that the server was found restored.
async fn record_restore(
    tx: &mut Transaction<'static, Sqlite>,
    at_ms: i64,
    feed_id: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO server_restores (detected_at_ms, feed_id, message) VALUES (?, ?, ?)")
        .bind(at_ms)
        .bind(feed_id)
        .bind(message)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Count a verify round against the newest restore.
async fn count_restore_work(
    tx: &mut Transaction<'static, Sqlite>,
    checked: u64,
    resent: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE server_restores SET checked_docs = checked_docs + ?,
             resent_changes = resent_changes + ?
         WHERE id = (SELECT MAX(id) FROM server_restores)",
    )
    .bind(i64::try_from(checked).unwrap_or(i64::MAX))
    .bind(i64::try_from(resent).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One outbox row of a document with its hold, if any (opened).
#[derive(Debug, Clone)]
pub(crate) struct DocOutboxRow {
    pub seq: i64,
    pub hash: String,
    /// The server's reject code, when the row is held.
    pub held_code: Option<String>,
    pub held_reason: String,
}

/// Every outbox row of `doc_id`, oldest first, with its hold.
async fn doc_outbox<'e, E>(
    executor: E,
    keys: &Keys,
    doc_id: &str,
) -> Result<Vec<DocOutboxRow>, LocalError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let rows = sqlx::query(
        "SELECT seq, doc_id, hash, held_code, held_reason, held_note, enc FROM outbox
         WHERE doc_id = ? ORDER BY seq",
    )
    .bind(doc_id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| {
            let held_code: Option<String> = r.try_get("held_code")?;
            let held_reason = if held_code.is_some() {
                held_reason(keys, r, doc_id)?
            } else {
                String::new()
            };
            Ok(DocOutboxRow {
                seq: r.try_get("seq")?,
                hash: r.try_get("hash")?,
                held_code,
                held_reason,
            })
        })
        .collect()
}

/// The documents with held rows, oldest hold first.
async fn held_doc_ids(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT doc_id FROM outbox WHERE held_code IS NOT NULL
         GROUP BY doc_id ORDER BY MIN(seq)",
    )
    .fetch_all(pool)
    .await
}

/// Remove withdrawn outbox rows, and release every other held row of the document: they were
/// held only because the server refuses a document's batch as a whole.
async fn withdraw_rows(
    tx: &mut Transaction<'static, Sqlite>,
    doc_id: &str,
    seqs: &[i64],
) -> Result<(), sqlx::Error> {
    for seq in seqs {
        sqlx::query("DELETE FROM outbox WHERE seq = ? AND doc_id = ?")
            .bind(seq)
            .bind(doc_id)
            .execute(&mut **tx)
            .await?;
    }
    release_held(tx, doc_id).await
}

/// Remove a document (and any outbox row left for it) from the device.
async fn remove_document(
    tx: &mut Transaction<'static, Sqlite>,
    doc_id: &str,
) -> Result<(), sqlx::Error> {
    delete_document_rows(tx, doc_id).await?;
    clear_own_head(tx, doc_id).await
}

/// Delete a document's row and its outbox rows.
async fn delete_document_rows(
    tx: &mut Transaction<'static, Sqlite>,
    doc_id: &str,
) -> Result<(), sqlx::Error> {
    execute(tx, "DELETE FROM outbox WHERE doc_id = ?", &[doc_id]).await?;
    execute(tx, "DELETE FROM documents WHERE doc_id = ?", &[doc_id]).await?;
    Ok(())
}

/// Release every held row of a document: the server refuses a document's batch as a whole,
/// so its other changes go again.
async fn release_held(
    tx: &mut Transaction<'static, Sqlite>,
    doc_id: &str,
) -> Result<(), sqlx::Error> {
    execute(
        tx,
        "UPDATE outbox SET held_code = NULL, held_reason = NULL, held_note = NULL,
             held_at_ms = NULL
         WHERE doc_id = ? AND held_code IS NOT NULL",
        &[doc_id],
    )
    .await
    .map(drop)
}

/// Run one statement in `tx` with text parameters, bound in order; returns the rows it
/// changed.
async fn execute(
    tx: &mut Transaction<'static, Sqlite>,
    sql: &'static str,
    params: &[&str],
) -> Result<u64, sqlx::Error> {
    let mut query = sqlx::query(sql);
    for param in params {
        query = query.bind(*param);
    }
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

/// Forget the newest own change of `doc_id` (the device holds none of its own any more).
async fn clear_own_head(
    tx: &mut Transaction<'static, Sqlite>,
    doc_id: &str,
) -> Result<(), sqlx::Error> {
    execute(tx, "DELETE FROM own_heads WHERE doc_id = ?", &[doc_id])
        .await
        .map(drop)
}
