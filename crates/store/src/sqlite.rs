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

use sqlx::error::BoxDynError;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Pool, Sqlite, SqliteConnection};

use crate::backend::{Backend, Bind, Exec, Record, Sql, execute_on, fetch_all_on};
use crate::{DocHead, NewChange, PushContext, StorageFailure, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Server storage in one SQLite file.
pub type SqliteStore = crate::SqlStore<Sqlite>;

/// The options of the database named by a `sqlite:` URL.
fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("cannot read SQLite URL `{url}`: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10)))
}

/// Create the folder a database file lives in. `false` for an in-memory database.
fn create_folder(options: &SqliteConnectOptions) -> Result<bool, StoreError> {
    let filename = options.get_filename();
    if filename.as_os_str().is_empty() || filename == Path::new(":memory:") {
        return Ok(false);
    }
    if let Some(dir) = filename.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create the data folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(true)
}

/// A list as one JSON array parameter (SQLite reads it with `json_each`).
fn json<T: serde::Serialize + ?Sized>(list: &T) -> Result<String, sqlx::Error> {
    serde_json::to_string(list).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// One change row, as the push inserts it.
const INSERT_CHANGE: &str = "INSERT INTO changes
         (doc_id, hash, bytes, actor, device_id, received_at_ms, device_time_ms, stamp)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (doc_id, hash) DO NOTHING";

impl Backend for Sqlite {
    async fn connect(url: &str) -> Result<(Pool<Self>, Pool<Self>), StoreError> {
        let options = connect_options(url)?;
        let on_disk = create_folder(&options)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await?;
        let reader = if on_disk {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await?
        } else {
            // An in-memory database exists only on its one connection.
            writer.clone()
        };
        Ok((writer, reader))
    }

    fn add<'q, T: Bind<'q>>(args: &mut SqliteArguments<'q>, value: T) -> Result<(), BoxDynError> {
        sqlx::Arguments::add(args, value)
    }

    fn fetch_all<'e, 'q: 'e, O: Record>(
        ex: Exec<'e, Self>,
        sql: &'e str,
        args: Result<SqliteArguments<'q>, BoxDynError>,
    ) -> impl Future<Output = Result<Vec<O>, sqlx::Error>> + Send + 'e {
        fetch_all_on(ex, sql, args)
    }

    fn execute<'e, 'q: 'e>(
        ex: Exec<'e, Self>,
        sql: &'e str,
        args: Result<SqliteArguments<'q>, BoxDynError>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'e {
        execute_on(ex, sql, args)
    }

    async fn lock_document(_: &mut SqliteConnection, _: &str) -> Result<(), sqlx::Error> {
        // The one write connection: every write transaction holds the database.
        Ok(())
    }

    async fn insert_changes(
        conn: &mut SqliteConnection,
        ctx: &PushContext,
        stamp: i64,
        changes: Vec<(String, NewChange)>,
    ) -> Result<(), sqlx::Error> {
        // One writer: positions are taken in commit order already.
        for (doc_id, change) in changes {
            sqlx::query(INSERT_CHANGE)
                .bind(doc_id)
                .bind(change.hash)
                .bind(change.bytes)
                .bind(change.actor)
                .bind(&ctx.device_id)
                .bind(ctx.received_at_ms)
                .bind(change.device_time_ms)
                .bind(stamp)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn check_writable(_: &Pool<Self>) -> Result<(), StoreError> {
        // A read-only file or a full disk fails the write itself.
        Ok(())
    }

    /// The list travels as one JSON array.
    fn in_list(expr: &str, param: &str) -> String {
        format!("({param} IS NULL OR {expr} IN (SELECT value FROM json_each({param})))")
    }

    fn bind_list<'q>(sql: Sql<'q, Self>, list: Option<&'q [String]>) -> Sql<'q, Self> {
        sql.bind_with(|args| {
            let list = list.map(serde_json::to_string).transpose()?;
            sqlx::Arguments::add(args, list)
        })
    }

    async fn missing_heads(
        pool: &Pool<Self>,
        heads: &[DocHead],
    ) -> Result<Vec<String>, StoreError> {
        // The heads travel as one JSON array of [doc, hash] pairs.
        let pairs: Vec<[&str; 2]> = heads
            .iter()
            .map(|h| [h.doc_id.as_str(), h.hash.as_str()])
            .collect();
        Ok(sqlx::query_scalar(
            "SELECT json_extract(j.value, '$[0]') FROM json_each($1) j
             WHERE NOT EXISTS (SELECT 1 FROM changes c
                 WHERE c.doc_id = json_extract(j.value, '$[0]')
                   AND c.hash = json_extract(j.value, '$[1]'))
             ORDER BY j.key",
        )
        .bind(json(&pairs)?)
        .fetch_all(pool)
        .await?)
    }

    /// SQLite's (extended) result codes are numbers below 10000; the primary code is the low
    /// byte of the extended one.
    fn storage_failure(code: &str) -> Option<StorageFailure> {
        if code.len() == 5 {
            // A PostgreSQL SQLSTATE.
            return None;
        }
        let n: i64 = code.parse().ok()?;
        Some(match n & 0xff {
            13 => StorageFailure::Full,
            8 => StorageFailure::ReadOnly,
            10 => StorageFailure::Io,
            11 | 26 => StorageFailure::Corrupt,
            _ => StorageFailure::Unavailable,
        })
    }
}
