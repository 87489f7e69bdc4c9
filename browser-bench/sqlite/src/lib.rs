//! The client SDK's store on SQLite in OPFS: `sqlite-wasm-rs` (SQLite compiled for wasm32 with clang) and
//! its `opfs-sahpool` VFS (`sqlite-wasm-vfs`), which keeps the database in a pool of OPFS
//! files held open through synchronous access handles. Those handles exist only in a dedicated
//! worker, so this store runs in one (`static/worker.js`), and the page talks to it by
//! messages.
//!
//! The schema is the native store's (client-sdk/migrations), with its indexes; the journal is
//! a rollback journal (the pool has no shared memory for WAL) with `synchronous=FULL`, so a
//! commit returns once the pool's files are flushed.
//!
//! The few raw SQLite calls needed are wrapped here; each `unsafe` block states why it holds.

use std::ffi::{CStr, CString, c_int};
use std::ptr;

use sqlite_wasm_rs as ffi;
use sqlite_wasm_vfs::sahpool::{OpfsSAHPoolCfgBuilder, OpfsSAHPoolUtil, install};

use fieldnotes_bench_workload::{Doc, Edit, Listed};

/// What went wrong in SQLite or its OPFS VFS.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("SQLite ({code}): {message}")]
    Sqlite { code: i32, message: String },
    #[error("the OPFS VFS: {0}")]
    Opfs(String),
    #[error("SQLite returned an unexpected value: {0}")]
    Unexpected(&'static str),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, snapshot BLOB NOT NULL,
    updated_at_ms INTEGER NOT NULL, listing BLOB, scope_tag BLOB) STRICT;
CREATE INDEX IF NOT EXISTS documents_kind ON documents (kind, updated_at_ms);
CREATE INDEX IF NOT EXISTS documents_scope ON documents (scope_tag);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL REFERENCES documents (doc_id),
    hash TEXT NOT NULL UNIQUE, bytes BLOB NOT NULL, created_at_ms INTEGER NOT NULL) STRICT;
CREATE INDEX IF NOT EXISTS outbox_by_doc ON outbox (doc_id);
CREATE TABLE IF NOT EXISTS own_heads (doc_id TEXT PRIMARY KEY NOT NULL, hash TEXT NOT NULL) STRICT;
";

const UPSERT_DOC: &str = "INSERT INTO documents (doc_id, kind, snapshot, updated_at_ms, listing, scope_tag)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (doc_id) DO UPDATE SET snapshot = ?3, updated_at_ms = ?4, listing = ?5, scope_tag = ?6";
const ADD_CHANGE: &str =
    "INSERT INTO outbox (doc_id, hash, bytes, created_at_ms) VALUES (?1, ?2, ?3, ?4)";
const SET_HEAD: &str = "INSERT INTO own_heads (doc_id, hash) VALUES (?1, ?2)
    ON CONFLICT (doc_id) DO UPDATE SET hash = ?2";
const SET_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2)
    ON CONFLICT (key) DO UPDATE SET value = ?2";
const LIST: &str =
    "SELECT doc_id, kind, listing, updated_at_ms FROM documents ORDER BY kind, updated_at_ms";

thread_local! {
    /// The installed pool, kept to release its files' handles before the worker ends.
    static POOL: std::cell::RefCell<Option<OpfsSAHPoolUtil>> = const { std::cell::RefCell::new(None) };
}

/// Install the OPFS pool VFS as SQLite's default. Only in a dedicated worker.
pub async fn install_opfs() -> Result<(), SqliteError> {
    let config = OpfsSAHPoolCfgBuilder::new()
        .directory("fieldnotes-bench")
        .build();
    let pool = install::<ffi::WasmOsCallback>(&config, true)
        .await
        .map_err(|e| SqliteError::Opfs(e.to_string()))?;
    POOL.with(|slot| *slot.borrow_mut() = Some(pool));
    Ok(())
}

/// Let go of the pool's OPFS access handles (every database closed first), so that another
/// worker, or the next page, can open them at once.
pub fn release_opfs() -> Result<(), SqliteError> {
    POOL.with(|slot| match slot.borrow_mut().take() {
        Some(pool) => pool.pause().map_err(|e| SqliteError::Opfs(e.to_string())),
        None => Ok(()),
    })
}

/// An open SQLite connection.
#[derive(Debug)]
pub struct SqliteStore {
    db: *mut ffi::sqlite3,
}

impl SqliteStore {
    /// Open (creating) `file` in the default VFS with this rollback-journal mode (`DELETE`,
    /// `TRUNCATE` or `PERSIST`), and create the schema.
    pub fn open(file: &str, journal_mode: &str) -> Result<SqliteStore, SqliteError> {
        let name = c_string(file)?;
        let mut db = ptr::null_mut();
        // SAFETY: `name` is a NUL-terminated string that outlives the call; `db` is written by
        // SQLite and, even on failure, must be closed, which `SqliteStore`'s drop does.
        let code = unsafe {
            ffi::sqlite3_open_v2(
                name.as_ptr(),
                &raw mut db,
                ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE,
                ptr::null(),
            )
        };
        let store = SqliteStore { db };
        store.check(code)?;
        store.exec(&format!(
            "PRAGMA journal_mode = {journal_mode}; PRAGMA synchronous = FULL;"
        ))?;
        store.exec(SCHEMA)?;
        Ok(store)
    }

    /// One typed edit, committed: the document's new snapshot and listing, its change in the
    /// outbox, the device's newest change to it, and a meta entry.
    pub fn write_edit(&self, edit: &Edit) -> Result<(), SqliteError> {
        self.exec("BEGIN IMMEDIATE")?;
        let written = self.upsert_doc(&edit.doc).and_then(|()| {
            let at = edit.doc.updated_at_ms;
            self.statement(ADD_CHANGE)?
                .text(1, &edit.doc.doc_id)?
                .text(2, &edit.change_hash)?
                .blob(3, &edit.change)?
                .int(4, at)?
                .run()?;
            self.statement(SET_HEAD)?
                .text(1, &edit.doc.doc_id)?
                .text(2, &edit.change_hash)?
                .run()?;
            self.statement(SET_META)?
                .text(1, "last_edit_ms")?
                .text(2, &at.to_string())?
                .run()
        });
        self.finish(written)
    }

    /// A first sync's page: every document of it and the new cursor, in one transaction.
    pub fn apply_page(&self, docs: &[Doc], cursor: &str) -> Result<(), SqliteError> {
        self.exec("BEGIN IMMEDIATE")?;
        // One prepared statement for the whole page, as a statement cache would give.
        let written = self
            .statement(UPSERT_DOC)
            .and_then(|upsert| {
                docs.iter()
                    .try_fold(upsert, |upsert, doc| bind_doc(upsert, doc)?.run_again())
            })
            .and_then(|_| {
                self.statement(SET_META)?
                    .text(1, "cursor")?
                    .text(2, cursor)?
                    .run()
            });
        self.finish(written)
    }

    /// Every document's listing, copied into wasm memory.
    pub fn list(&self) -> Result<Listed, SqliteError> {
        let mut statement = self.statement(LIST)?;
        let mut listed = Listed::default();
        while statement.next_row()? {
            listed.bytes += statement.column_blob(2).len() + statement.column_blob(0).len();
            listed.rows += 1;
        }
        Ok(listed)
    }

    fn upsert_doc(&self, doc: &Doc) -> Result<(), SqliteError> {
        bind_doc(self.statement(UPSERT_DOC)?, doc)?.run()
    }

    /// Commit if `written` is fine, else roll back and give its error.
    fn finish(&self, written: Result<(), SqliteError>) -> Result<(), SqliteError> {
        match written {
            Ok(()) => self.exec("COMMIT"),
            Err(e) => {
                let _ = self.exec("ROLLBACK");
                Err(e)
            }
        }
    }

    fn exec(&self, sql: &str) -> Result<(), SqliteError> {
        let sql = c_string(sql)?;
        // SAFETY: `self.db` is an open connection and `sql` a NUL-terminated string; no
        // callback, so the other pointers are null.
        let code = unsafe {
            ffi::sqlite3_exec(
                self.db,
                sql.as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        self.check(code)
    }

    fn statement(&self, sql: &str) -> Result<Statement<'_>, SqliteError> {
        let text = c_string(sql)?;
        let mut raw = ptr::null_mut();
        // SAFETY: `self.db` is open, `text` is NUL-terminated (-1: read to the NUL) and lives
        // through the call; the statement is finalized by `Statement`'s drop.
        let code = unsafe {
            ffi::sqlite3_prepare_v2(self.db, text.as_ptr(), -1, &raw mut raw, ptr::null_mut())
        };
        let statement = Statement { store: self, raw };
        self.check(code)?;
        Ok(statement)
    }

    fn check(&self, code: c_int) -> Result<(), SqliteError> {
        if code == ffi::SQLITE_OK || code == ffi::SQLITE_DONE || code == ffi::SQLITE_ROW {
            return Ok(());
        }
        let message = if self.db.is_null() {
            String::from("out of memory")
        } else {
            // SAFETY: SQLite gives a NUL-terminated message owned by the connection, valid
            // until the next call on it; it is copied at once.
            unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db)) }
                .to_string_lossy()
                .into_owned()
        };
        Err(SqliteError::Sqlite { code, message })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // SAFETY: every statement borrows the store, so none is left; closing a null
        // connection is a no-op.
        unsafe {
            ffi::sqlite3_close(self.db);
        }
    }
}

fn bind_doc<'a>(upsert: Statement<'a>, doc: &Doc) -> Result<Statement<'a>, SqliteError> {
    upsert
        .text(1, &doc.doc_id)?
        .text(2, doc.kind)?
        .blob(3, &doc.snapshot)?
        .int(4, doc.updated_at_ms)?
        .blob(5, &doc.listing)?
        .blob(6, &doc.scope_tag)
}

/// A prepared statement, finalized on drop.
struct Statement<'a> {
    store: &'a SqliteStore,
    raw: *mut ffi::sqlite3_stmt,
}

impl Statement<'_> {
    fn text(self, index: c_int, value: &str) -> Result<Self, SqliteError> {
        self.bind_bytes(
            index,
            value.as_bytes(),
            ffi::sqlite3_bind_text,
            "text too long",
        )
    }

    fn blob(self, index: c_int, value: &[u8]) -> Result<Self, SqliteError> {
        self.bind_bytes(index, value, ffi::sqlite3_bind_blob, "blob too long")
    }

    /// Bind `value` with `bind` (`sqlite3_bind_text` or `sqlite3_bind_blob`, which take the same
    /// arguments but for the pointer's type), copied by SQLite at once.
    fn bind_bytes<T>(
        self,
        index: c_int,
        value: &[u8],
        bind: unsafe extern "C" fn(
            *mut ffi::sqlite3_stmt,
            c_int,
            *const T,
            c_int,
            Option<unsafe extern "C" fn(*mut std::ffi::c_void)>,
        ) -> c_int,
        too_long: &'static str,
    ) -> Result<Self, SqliteError> {
        let len = c_int::try_from(value.len()).map_err(|_| SqliteError::Unexpected(too_long))?;
        // SAFETY: the statement is live and `value` outlives the call; SQLITE_TRANSIENT makes
        // SQLite copy the bytes before it returns.
        let code = unsafe {
            bind(
                self.raw,
                index,
                value.as_ptr().cast(),
                len,
                ffi::SQLITE_TRANSIENT(),
            )
        };
        self.store.check(code)?;
        Ok(self)
    }

    fn int(self, index: c_int, value: i64) -> Result<Self, SqliteError> {
        // SAFETY: the statement is live.
        let code = unsafe { ffi::sqlite3_bind_int64(self.raw, index, value) };
        self.store.check(code)?;
        Ok(self)
    }

    /// Run a statement that returns no rows.
    fn run(mut self) -> Result<(), SqliteError> {
        if self.next_row()? {
            return Err(SqliteError::Unexpected("a write that returned rows"));
        }
        Ok(())
    }

    /// Run a statement that returns no rows, and make it ready to be bound and run again.
    fn run_again(mut self) -> Result<Self, SqliteError> {
        if self.next_row()? {
            return Err(SqliteError::Unexpected("a write that returned rows"));
        }
        // SAFETY: the statement is live; its last step's outcome was checked above.
        let code = unsafe { ffi::sqlite3_reset(self.raw) };
        self.store.check(code)?;
        Ok(self)
    }

    /// Step once: true when a row is ready.
    fn next_row(&mut self) -> Result<bool, SqliteError> {
        // SAFETY: the statement is live and its connection open.
        let code = unsafe { ffi::sqlite3_step(self.raw) };
        self.store.check(code)?;
        Ok(code == ffi::SQLITE_ROW)
    }

    /// Column `index` of the current row, as bytes (copied).
    fn column_blob(&self, index: c_int) -> Vec<u8> {
        // SAFETY: a row is current (callers only ask after `next_row` gave true); the pointer
        // and length stay valid until the next step, and the bytes are copied before that.
        unsafe {
            let data = ffi::sqlite3_column_blob(self.raw, index);
            let len = usize::try_from(ffi::sqlite3_column_bytes(self.raw, index)).unwrap_or(0);
            if data.is_null() || len == 0 {
                return Vec::new();
            }
            std::slice::from_raw_parts(data.cast::<u8>(), len).to_vec()
        }
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        // SAFETY: finalizing a live or null statement once.
        unsafe {
            ffi::sqlite3_finalize(self.raw);
        }
    }
}

fn c_string(text: &str) -> Result<CString, SqliteError> {
    CString::new(text).map_err(|_| SqliteError::Unexpected("a string with a NUL byte"))
}
