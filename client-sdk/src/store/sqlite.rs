//! The native store backend: SQLite through sqlx, in one file in the data folder. It moves
//! sealed bytes, scope tags and plain facts in and out of tables; what is sealed under which
//! binding is decided in [`super::sealed`], never here.
//!
//! Durability: WAL journal with `synchronous = FULL`; a call that records work returns only
//! after its transaction is committed, so a note is on disk before the app says it is saved.
//! `secure_delete = ON`: pages freed by a delete are overwritten with zeros, so removed
//! documents and superseded values do not linger in the file.
//!
//! Rows with `enc = 0` are plaintext rows from the first version of the store: they are handed
//! over as [`Stored::Plain`] until `seal_plaintext` (in the keyring) seals them. Their plain
//! columns (`documents.child_id`, `summary`, `outbox.held_reason`) are emptied when a row is
//! sealed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite as Db, SqlitePool, Transaction};

use super::sealed::{ListingFacts, SealedDoc, Stored, StoredDoc, StoredNote};
use super::{
    Backend, BackendTx, DocRow, Failure, HoldEntry, LocalStore, OutboxEntry, PlainChange, PlainDoc,
    ScopeSel, StoredChange, StoredHold,
};
use crate::ClientError;
use crate::error::DOCTOR_ADVICE;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The file name of the store inside the data folder.
pub(crate) const STORE_FILE: &str = "fieldnotes.db";

/// Classify a sqlx error by SQLite's (extended) result code.
pub(crate) fn classify(e: &sqlx::Error) -> Failure {
    match result_code(e).map(|c| c & 0xff) {
        // SQLITE_CORRUPT, SQLITE_NOTADB
        Some(11 | 26) => Failure::Damaged,
        // SQLITE_FULL
        Some(13) => Failure::Full,
        // SQLITE_IOERR (and its extended codes)
        Some(10) => Failure::Io,
        _ => Failure::Other,
    }
}

fn result_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i64>().ok()),
        _ => None,
    }
}

/// The client error for a failed SQLite call on the store at `path`: damage and a full disk
/// are named as such, once, with what to do.
pub(crate) fn sql_error(path: &Path, source: sqlx::Error) -> ClientError {
    match classify(&source) {
        Failure::Damaged => ClientError::StoreDamaged {
            path: path.to_path_buf(),
            what: damage_words(&source),
            advice: DOCTOR_ADVICE.to_owned(),
        },
        Failure::Full => ClientError::StorageFull {
            path: path.to_path_buf(),
        },
        Failure::Io if crate::check::storage_is_full(path) => ClientError::StorageFull {
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
    if result_code(e).map(|c| c & 0xff) == Some(26) {
        "the file is not a database (its first bytes were overwritten or it was replaced)".into()
    } else {
        "parts of the file are corrupt (SQLite: \"database disk image is malformed\")".into()
    }
}

/// A migration failure on the store at `path`, with damage and a full disk named.
fn migrate_error(path: &Path, source: sqlx::migrate::MigrateError) -> ClientError {
    match source {
        sqlx::migrate::MigrateError::Execute(e) if classify(&e) != Failure::Other => {
            sql_error(path, e)
        }
        source => ClientError::Migration {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// The SQLite store: one file, one connection.
#[derive(Debug, Clone)]
pub(crate) struct Sqlite {
    pool: SqlitePool,
    path: PathBuf,
}

impl LocalStore<Sqlite> {
    /// Open (or create) the store file in the data folder `dir`, migrated to this version.
    pub(crate) async fn open(dir: &Path) -> Result<Self, ClientError> {
        Ok(LocalStore::new(Sqlite::open(dir).await?))
    }

    /// The store file.
    pub(crate) fn path(&self) -> &Path {
        &self.backend().path
    }
}

impl Sqlite {
    async fn open(dir: &Path) -> Result<Self, ClientError> {
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

    fn err(&self, e: sqlx::Error) -> ClientError {
        sql_error(&self.path, e)
    }

    async fn count(&self, sql: &'static str) -> Result<u64, ClientError> {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

impl Backend for Sqlite {
    type Tx = SqliteTx;

    async fn begin(&self) -> Result<SqliteTx, ClientError> {
        let tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        Ok(SqliteTx {
            tx,
            path: self.path.clone(),
        })
    }

    /// Close the connection (before the files are deleted). The write-ahead log is folded
    /// into the file first: the pool may finish closing its connection in the background, and
    /// that last close then has nothing left to write.
    async fn close(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::debug!(error = %e, "no checkpoint before closing the store");
        }
        self.pool.close().await;
    }

    /// Rewrite the file without free pages, and empty the WAL: after plaintext rows are sealed,
    /// no copy of them is left in either file.
    async fn compact(&self) -> Result<(), ClientError> {
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

    async fn meta(&self, key: &str) -> Result<Option<String>, ClientError> {
        meta_value(&self.pool, key).await.map_err(|e| self.err(e))
    }

    async fn snapshot(&self, doc_id: &str) -> Result<Option<Stored<Vec<u8>>>, ClientError> {
        snapshot(&self.pool, doc_id).await.map_err(|e| self.err(e))
    }

    async fn documents(&self, kind: Option<&str>) -> Result<Vec<StoredDoc>, ClientError> {
        let query = sqlx::query(
            "SELECT doc_id, kind, child_id, summary, listing, enc, updated_at_ms FROM documents
             WHERE ?1 IS NULL OR kind = ?1 ORDER BY updated_at_ms DESC, doc_id",
        )
        .bind(kind);
        let rows = read_rows(&self.pool, query, stored_doc).await;
        rows.map_err(|e| self.err(e))
    }

    async fn unheld_after(
        &self,
        after_seq: i64,
        limit: u16,
    ) -> Result<Vec<StoredChange>, ClientError> {
        let query = sqlx::query(
            "SELECT seq, doc_id, hash, bytes, enc FROM outbox
             WHERE held_code IS NULL AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after_seq)
        .bind(i64::from(limit));
        let rows = read_rows(&self.pool, query, |r| {
            Ok(StoredChange {
                seq: r.try_get("seq")?,
                doc_id: r.try_get("doc_id")?,
                hash: r.try_get("hash")?,
                bytes: stored(r, r.try_get("bytes")?)?,
            })
        })
        .await;
        rows.map_err(|e| self.err(e))
    }

    async fn unheld_in_scope(&self, sel: &ScopeSel) -> Result<Vec<String>, ClientError> {
        let hashes = match sel {
            ScopeSel::All => {
                sqlx::query_scalar("SELECT hash FROM outbox WHERE held_code IS NULL")
                    .fetch_all(&self.pool)
                    .await
            }
            ScopeSel::Tag(tag) => {
                sqlx::query_scalar(
                    "SELECT o.hash FROM outbox o JOIN documents d ON d.doc_id = o.doc_id
                     WHERE d.scope_tag = ? AND o.held_code IS NULL",
                )
                .bind(tag)
                .fetch_all(&self.pool)
                .await
            }
        };
        hashes.map_err(|e| self.err(e))
    }

    async fn has_unheld_after(&self, after_seq: i64) -> Result<bool, ClientError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE held_code IS NULL AND seq > ?)",
        )
        .bind(after_seq)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn outbox_count(&self) -> Result<u64, ClientError> {
        self.count("SELECT COUNT(*) FROM outbox").await
    }

    async fn document_count(&self) -> Result<u64, ClientError> {
        self.count("SELECT COUNT(*) FROM documents").await
    }

    async fn outbox_count_by_doc(&self) -> Result<BTreeMap<String, u64>, ClientError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT doc_id, COUNT(*) FROM outbox GROUP BY doc_id")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|(doc, n)| (doc, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    async fn held_doc_count(&self) -> Result<u64, ClientError> {
        self.count("SELECT COUNT(DISTINCT doc_id) FROM outbox WHERE held_code IS NOT NULL")
            .await
    }

    async fn has_sealed_rows(&self) -> Result<bool, ClientError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE enc = 1)
                 OR EXISTS (SELECT 1 FROM outbox WHERE enc = 1)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn held_rows(&self) -> Result<Vec<StoredHold>, ClientError> {
        let query = sqlx::query(
            "SELECT seq, doc_id, hash, held_code, held_reason, held_note, enc FROM outbox
             WHERE held_code IS NOT NULL ORDER BY seq",
        );
        let rows = read_rows(&self.pool, query, stored_hold).await;
        rows.map_err(|e| self.err(e))
    }

    async fn doc_outbox(&self, doc_id: &str) -> Result<Vec<StoredHold>, ClientError> {
        let query = sqlx::query(
            "SELECT seq, doc_id, hash, held_code, held_reason, held_note, enc FROM outbox
             WHERE doc_id = ? ORDER BY seq",
        )
        .bind(doc_id);
        let rows = read_rows(&self.pool, query, stored_hold).await;
        rows.map_err(|e| self.err(e))
    }

    async fn held_doc_ids(&self) -> Result<Vec<String>, ClientError> {
        sqlx::query_scalar(
            "SELECT doc_id FROM outbox WHERE held_code IS NOT NULL
             GROUP BY doc_id ORDER BY MIN(seq)",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn own_heads_after(
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

    async fn docs_without_own_head(&self) -> Result<Vec<String>, ClientError> {
        sqlx::query_scalar(
            "SELECT doc_id FROM documents WHERE doc_id NOT IN (SELECT doc_id FROM own_heads)
             ORDER BY doc_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn take_restore_notice(&self) -> Result<Option<(i64, u64, u64)>, ClientError> {
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
        tx.commit().await?;
        Ok(Some((
            at,
            u64::try_from(row.1).unwrap_or(0),
            u64::try_from(row.2).unwrap_or(0),
        )))
    }
}

/// An open SQLite transaction (rolled back if dropped uncommitted).
#[derive(Debug)]
pub(crate) struct SqliteTx {
    tx: Transaction<'static, Db>,
    path: PathBuf,
}

impl SqliteTx {
    fn err(&self, e: sqlx::Error) -> ClientError {
        sql_error(&self.path, e)
    }

    /// Run one statement with `params` bound in order; returns the rows it changed.
    async fn execute(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64, ClientError> {
        let mut query = sqlx::query(sql);
        for param in params {
            query = match *param {
                Text(text) => query.bind(text),
                Int(int) => query.bind(int),
                Blob(blob) => query.bind(blob),
            };
        }
        match query.execute(&mut *self.tx).await {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Run one statement (see [`SqliteTx::execute`]) for its effect alone.
    async fn run(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<(), ClientError> {
        self.execute(sql, params).await.map(drop)
    }

    /// Set `key` to `value` in a table of one value a key.
    async fn put(&mut self, table: &KeyTable, key: &str, value: &str) -> Result<(), ClientError> {
        self.run(table.upsert, &[Text(key), Text(value)]).await
    }

    /// Remove `key` from a table of one value a key.
    async fn remove(&mut self, table: &KeyTable, key: &str) -> Result<(), ClientError> {
        self.run(table.delete, &[Text(key)]).await
    }
}

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
enum Param<'a> {
    Text(&'a str),
    Int(i64),
    /// A blob, or NULL.
    Blob(Option<&'a [u8]>),
}
use Param::{Blob, Int, Text};

/// The statements of a table that holds one text value a text key.
struct KeyTable {
    upsert: &'static str,
    delete: &'static str,
}

/// Store-wide values by name.
const META: KeyTable = KeyTable {
    upsert: "INSERT INTO meta (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    delete: "DELETE FROM meta WHERE key = ?",
};

/// The hash of the last change this device made to a document, by document.
const OWN_HEADS: KeyTable = KeyTable {
    upsert: "INSERT INTO own_heads (doc_id, hash) VALUES (?, ?)
             ON CONFLICT (doc_id) DO UPDATE SET hash = excluded.hash",
    delete: "DELETE FROM own_heads WHERE doc_id = ?",
};

impl BackendTx for SqliteTx {
    async fn commit(self) -> Result<(), ClientError> {
        let path = self.path;
        self.tx.commit().await.map_err(|e| sql_error(&path, e))
    }

    async fn meta(&mut self, key: &str) -> Result<Option<String>, ClientError> {
        let value = meta_value(&mut *self.tx, key).await;
        value.map_err(|e| self.err(e))
    }

    async fn set_meta(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        self.put(&META, key, value).await
    }

    async fn delete_meta(&mut self, key: &str) -> Result<(), ClientError> {
        self.remove(&META, key).await
    }

    async fn snapshot(&mut self, doc_id: &str) -> Result<Option<Stored<Vec<u8>>>, ClientError> {
        let value = snapshot(&mut *self.tx, doc_id).await;
        value.map_err(|e| self.err(e))
    }

    /// A sealed row keeps no plain child or summary (`child_id = NULL, summary = ''`).
    async fn put_document(&mut self, doc: &SealedDoc) -> Result<(), ClientError> {
        self.run(
            "INSERT INTO documents
                 (doc_id, kind, child_id, summary, snapshot, updated_at_ms, enc, listing,
                  scope_tag)
             VALUES (?, ?, NULL, '', ?, ?, 1, ?, ?)
             ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind, child_id = NULL,
                 summary = '', snapshot = excluded.snapshot,
                 updated_at_ms = excluded.updated_at_ms, enc = 1, listing = excluded.listing,
                 scope_tag = excluded.scope_tag",
            &[
                Text(&doc.doc_id),
                Text(&doc.kind),
                Blob(Some(&doc.snapshot)),
                Int(doc.updated_at_ms),
                Blob(Some(&doc.listing)),
                Blob(doc.scope_tag.as_deref()),
            ],
        )
        .await
    }

    async fn delete_document(&mut self, doc_id: &str) -> Result<(), ClientError> {
        self.run("DELETE FROM outbox WHERE doc_id = ?", &[Text(doc_id)])
            .await?;
        self.run("DELETE FROM documents WHERE doc_id = ?", &[Text(doc_id)])
            .await
    }

    async fn docs_in_scope(&mut self, sel: &ScopeSel) -> Result<Vec<String>, ClientError> {
        let ids = match sel {
            ScopeSel::All => {
                sqlx::query_scalar("SELECT doc_id FROM documents")
                    .fetch_all(&mut *self.tx)
                    .await
            }
            ScopeSel::Tag(tag) => {
                sqlx::query_scalar("SELECT doc_id FROM documents WHERE scope_tag = ?")
                    .bind(tag)
                    .fetch_all(&mut *self.tx)
                    .await
            }
        };
        ids.map_err(|e| self.err(e))
    }

    async fn insert_change(&mut self, change: &OutboxEntry<'_>) -> Result<u64, ClientError> {
        self.execute(
            "INSERT INTO outbox (doc_id, hash, bytes, created_at_ms, enc) VALUES (?, ?, ?, ?, 1)
             ON CONFLICT (hash) DO NOTHING",
            &[
                Text(change.doc_id),
                Text(change.hash),
                Blob(Some(change.sealed)),
                Int(change.at_ms),
            ],
        )
        .await
    }

    async fn delete_change(&mut self, doc_id: &str, hash: &str) -> Result<u64, ClientError> {
        self.execute(
            "DELETE FROM outbox WHERE doc_id = ? AND hash = ?",
            &[Text(doc_id), Text(hash)],
        )
        .await
    }

    async fn delete_change_at(&mut self, doc_id: &str, seq: i64) -> Result<(), ClientError> {
        self.run(
            "DELETE FROM outbox WHERE seq = ? AND doc_id = ?",
            &[Int(seq), Text(doc_id)],
        )
        .await
    }

    async fn hold(&mut self, hold: &HoldEntry<'_>) -> Result<u64, ClientError> {
        self.execute(
            "UPDATE outbox SET held_code = ?, held_reason = NULL, held_note = ?, held_at_ms = ?
             WHERE seq = ?",
            &[
                Text(hold.code),
                Blob(Some(hold.sealed_note)),
                Int(hold.at_ms),
                Int(hold.seq),
            ],
        )
        .await
    }

    async fn release_held(&mut self, doc_id: &str) -> Result<(), ClientError> {
        self.run(
            "UPDATE outbox SET held_code = NULL, held_reason = NULL, held_note = NULL,
                 held_at_ms = NULL
             WHERE doc_id = ? AND held_code IS NOT NULL",
            &[Text(doc_id)],
        )
        .await
    }

    async fn set_own_head(&mut self, doc_id: &str, hash: &str) -> Result<(), ClientError> {
        self.put(&OWN_HEADS, doc_id, hash).await
    }

    async fn clear_own_head(&mut self, doc_id: &str) -> Result<(), ClientError> {
        self.remove(&OWN_HEADS, doc_id).await
    }

    async fn record_restore(
        &mut self,
        at_ms: i64,
        feed_id: &str,
        message: &str,
    ) -> Result<(), ClientError> {
        self.run(
            "INSERT INTO server_restores (detected_at_ms, feed_id, message) VALUES (?, ?, ?)",
            &[Int(at_ms), Text(feed_id), Text(message)],
        )
        .await
    }

    async fn count_restore_work(&mut self, checked: u64, resent: u64) -> Result<(), ClientError> {
        self.run(
            "UPDATE server_restores SET checked_docs = checked_docs + ?,
                 resent_changes = resent_changes + ?
             WHERE id = (SELECT MAX(id) FROM server_restores)",
            &[
                Int(i64::try_from(checked).unwrap_or(i64::MAX)),
                Int(i64::try_from(resent).unwrap_or(i64::MAX)),
            ],
        )
        .await
    }

    async fn plaintext_docs(&mut self) -> Result<Vec<PlainDoc>, ClientError> {
        let query = sqlx::query(
            "SELECT doc_id, kind, child_id, summary, snapshot, updated_at_ms FROM documents
             WHERE enc = 0",
        );
        let rows = read_rows(&mut *self.tx, query, |r| {
            Ok(PlainDoc {
                row: DocRow {
                    doc_id: r.try_get("doc_id")?,
                    kind: r.try_get("kind")?,
                    child_id: r.try_get("child_id")?,
                    summary: r.try_get("summary")?,
                    updated_at_ms: r.try_get("updated_at_ms")?,
                },
                snapshot: r.try_get("snapshot")?,
            })
        })
        .await;
        rows.map_err(|e| self.err(e))
    }

    async fn plaintext_changes(&mut self) -> Result<Vec<PlainChange>, ClientError> {
        let query = sqlx::query(
            "SELECT seq, doc_id, hash, bytes, held_reason FROM outbox WHERE enc = 0 ORDER BY seq",
        );
        let rows = read_rows(&mut *self.tx, query, |r| {
            Ok(PlainChange {
                seq: r.try_get("seq")?,
                doc_id: r.try_get("doc_id")?,
                hash: r.try_get("hash")?,
                bytes: r.try_get("bytes")?,
                held_reason: r.try_get("held_reason")?,
            })
        })
        .await;
        rows.map_err(|e| self.err(e))
    }

    async fn reseal_change(
        &mut self,
        seq: i64,
        sealed: &[u8],
        sealed_note: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        self.run(
            "UPDATE outbox SET bytes = ?, held_note = ?, held_reason = NULL, enc = 1 WHERE seq = ?",
            &[Blob(Some(sealed)), Blob(sealed_note), Int(seq)],
        )
        .await
    }
}

/// A value of a row as stored: plaintext in a row with `enc = 0`, else sealed.
fn stored<T>(r: &SqliteRow, value: T) -> Result<Stored<T>, sqlx::Error> {
    Ok(if r.try_get::<i64, _>("enc")? == 0 {
        Stored::Plain(value)
    } else {
        Stored::Sealed(value)
    })
}

/// A document row's listing as stored: the plain columns of a plaintext row, else its sealed
/// listing.
fn stored_doc(r: &SqliteRow) -> Result<StoredDoc, sqlx::Error> {
    let listing = if r.try_get::<i64, _>("enc")? == 0 {
        ListingFacts::Plain {
            child_id: r.try_get("child_id")?,
            summary: r.try_get("summary")?,
        }
    } else {
        ListingFacts::Sealed(r.try_get("listing")?)
    };
    Ok(StoredDoc {
        doc_id: r.try_get("doc_id")?,
        kind: r.try_get("kind")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
        listing,
    })
}

/// An outbox row's place and hold: a plaintext row's reason is `held_reason`, a sealed row's
/// is `held_note`.
fn stored_hold(r: &SqliteRow) -> Result<StoredHold, sqlx::Error> {
    let note: StoredNote = if r.try_get::<i64, _>("enc")? == 0 {
        let reason: Option<String> = r.try_get("held_reason")?;
        Stored::Plain(reason.map(String::into_bytes))
    } else {
        Stored::Sealed(r.try_get("held_note")?)
    };
    Ok(StoredHold {
        seq: r.try_get("seq")?,
        doc_id: r.try_get("doc_id")?,
        hash: r.try_get("hash")?,
        held_code: r.try_get("held_code")?,
        note,
    })
}

/// The rows `query` returns through `executor` (the pool, or an open transaction), each read
/// by `read`.
async fn read_rows<'q, E, T>(
    executor: E,
    query: Query<'q, Db, SqliteArguments<'q>>,
    read: impl Fn(&SqliteRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, sqlx::Error>
where
    E: sqlx::Executor<'q, Database = Db>,
{
    query.fetch_all(executor).await?.iter().map(read).collect()
}

/// A document's saved state, read through `executor` (the pool, or an open transaction: the
/// pool has one connection, so code holding a transaction must read through it).
async fn snapshot<'e, E>(executor: E, doc_id: &str) -> Result<Option<Stored<Vec<u8>>>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let row = sqlx::query("SELECT snapshot, enc FROM documents WHERE doc_id = ?")
        .bind(doc_id)
        .fetch_optional(executor)
        .await?;
    row.map(|r| stored(&r, r.try_get("snapshot")?)).transpose()
}

/// A meta value, read through `executor` (the pool, or an open transaction).
async fn meta_value<'e, E>(executor: E, key: &str) -> Result<Option<String>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
        .bind(key)
        .fetch_optional(executor)
        .await
}
