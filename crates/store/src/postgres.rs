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

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Pool, Postgres};

use crate::backend::{Backend, Bind, Exec, Record, Sql, execute_on, fetch_all_on};
use crate::{DocHead, NewChange, PushContext, StorageFailure, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Server storage in PostgreSQL.
pub type PgStore = crate::SqlStore<Postgres>;

impl PgStore {
    /// The connection pool, for tests that need to hold a transaction open.
    pub fn pool(&self) -> &PgPool {
        self.writer()
    }
}

/// A push's change rows as columns, for one `UNNEST` insert.
#[derive(Default)]
struct ChangeColumns {
    doc_ids: Vec<String>,
    hashes: Vec<String>,
    bytes: Vec<Vec<u8>>,
    actors: Vec<String>,
    times: Vec<i64>,
}

impl FromIterator<(String, NewChange)> for ChangeColumns {
    fn from_iter<I: IntoIterator<Item = (String, NewChange)>>(rows: I) -> Self {
        let mut columns = ChangeColumns::default();
        for (doc_id, change) in rows {
            columns.doc_ids.push(doc_id);
            columns.hashes.push(change.hash);
            columns.bytes.push(change.bytes);
            columns.actors.push(change.actor);
            columns.times.push(change.device_time_ms);
        }
        columns
    }
}

impl Backend for Postgres {
    async fn connect(url: &str) -> Result<(Pool<Self>, Pool<Self>), StoreError> {
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
        Ok((pool.clone(), pool))
    }

    fn add<'q, T: Bind<'q>>(args: &mut PgArguments, value: T) -> Result<(), BoxDynError> {
        sqlx::Arguments::add(args, value)
    }

    fn fetch_all<'e, 'q: 'e, O: Record>(
        ex: Exec<'e, Self>,
        sql: &'e str,
        args: Result<PgArguments, BoxDynError>,
    ) -> impl Future<Output = Result<Vec<O>, sqlx::Error>> + Send + 'e {
        fetch_all_on(ex, sql, args)
    }

    fn execute<'e, 'q: 'e>(
        ex: Exec<'e, Self>,
        sql: &'e str,
        args: Result<PgArguments, BoxDynError>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'e {
        execute_on(ex, sql, args)
    }

    async fn lock_document(conn: &mut PgConnection, doc_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(doc_id)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn insert_changes(
        conn: &mut PgConnection,
        ctx: &PushContext,
        stamp: i64,
        changes: Vec<(String, NewChange)>,
    ) -> Result<(), sqlx::Error> {
        if changes.is_empty() {
            return Ok(());
        }
        // From here to commit, this transaction alone takes feed positions.
        sqlx::query("UPDATE feed_clock SET pushes = pushes + 1 WHERE id = 1")
            .execute(&mut *conn)
            .await?;
        let columns: ChangeColumns = changes.into_iter().collect();
        sqlx::query(
            "INSERT INTO changes (doc_id, hash, bytes, actor, device_id, received_at_ms, device_time_ms, stamp)
             SELECT d, h, b, a, $6, $7, t, $8
             FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[], $5::bigint[])
                  WITH ORDINALITY AS u(d, h, b, a, t, n)
             ORDER BY n
             ON CONFLICT (doc_id, hash) DO NOTHING",
        )
        .bind(&columns.doc_ids)
        .bind(&columns.hashes)
        .bind(&columns.bytes)
        .bind(&columns.actors)
        .bind(&columns.times)
        .bind(&ctx.device_id)
        .bind(ctx.received_at_ms)
        .bind(stamp)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn check_writable(pool: &Pool<Self>) -> Result<(), StoreError> {
        let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(pool)
            .await?;
        if in_recovery {
            return Err(StoreError::NotWritable(
                "the database is a replica in recovery (read-only)".into(),
            ));
        }
        Ok(())
    }

    fn in_list(expr: &str, param: &str) -> String {
        format!("({param}::text[] IS NULL OR {expr} = ANY({param}))")
    }

    fn bind_list<'q>(sql: Sql<'q, Self>, list: Option<&'q [String]>) -> Sql<'q, Self> {
        sql.bind_with(|args| sqlx::Arguments::add(args, list))
    }

    async fn missing_heads(
        pool: &Pool<Self>,
        heads: &[DocHead],
    ) -> Result<Vec<String>, StoreError> {
        let docs: Vec<&str> = heads.iter().map(|h| h.doc_id.as_str()).collect();
        let hashes: Vec<&str> = heads.iter().map(|h| h.hash.as_str()).collect();
        Ok(sqlx::query_scalar(
            "SELECT d FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS u(d, h, n)
             WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.doc_id = u.d AND c.hash = u.h)
             ORDER BY n",
        )
        .bind(&docs)
        .bind(&hashes)
        .fetch_all(pool)
        .await?)
    }

    /// PostgreSQL SQLSTATEs have five characters.
    fn storage_failure(code: &str) -> Option<StorageFailure> {
        Some(match code {
            "53100" => StorageFailure::Full,
            "25006" => StorageFailure::ReadOnly,
            "58030" => StorageFailure::Io,
            "XX001" | "XX002" => StorageFailure::Corrupt,
            _ if code.len() == 5 => StorageFailure::Unavailable,
            _ => return None,
        })
    }
}
