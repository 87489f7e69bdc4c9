//! The seam between the one store implementation ([`SqlStore`](crate::SqlStore)) and its two
//! databases.
//!
//! sqlx cannot run a query for a database that is only a type parameter without a long list of
//! where-clauses (`for<'c> &'c mut DB::Connection: Executor<'c>`, `i64: Encode<DB>`, …), and
//! Rust only implies supertrait bounds, not where-clauses, so such a list would be repeated on
//! every generic function. Here the bounds are written once instead:
//!
//! - a value the store binds is a [`Bind`] and a row it reads a [`Record`]: traits whose
//!   supertraits say "encodes (decodes) on SQLite and on PostgreSQL", implied wherever they
//!   are named, and true of concrete types at every call site;
//! - a [`Backend`] runs a statement ([`Backend::fetch_all`], [`Backend::execute`]) for its
//!   own, concrete database, and does the few steps that differ: lock a document, insert a
//!   push's changes in feed order, check the database takes writes, pass a list of strings as
//!   one parameter ([`Backend::in_list`], [`Backend::bind_list`]).
//!
//! Generic code builds statements with [`Backend::sql`] and runs them on an [`Exec`]: a pool,
//! or a connection inside a transaction.

use std::borrow::Cow;
use std::future::Future;

use sqlx::error::BoxDynError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Postgres, Sqlite, Type};

use crate::{NewChange, PushContext, StorageFailure, StoreError};

/// A value both databases can bind.
pub trait Bind<'q>:
    'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

impl<'q, T> Bind<'q> for T where
    T: 'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

/// A row both databases can read into `Self` (a record, or a tuple of columns).
pub trait Record:
    'static + Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>
{
}

impl<T> Record for T where
    T: 'static + Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>
{
}

/// Where a statement runs: on a pool, or on the connection of an open transaction.
pub enum Exec<'e, DB: Database> {
    Pool(&'e Pool<DB>),
    Conn(&'e mut DB::Connection),
}

impl<DB: Database> std::fmt::Debug for Exec<'_, DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Exec::Pool(_) => "Exec::Pool",
            Exec::Conn(_) => "Exec::Conn",
        })
    }
}

impl<'e, DB: Database> From<&'e Pool<DB>> for Exec<'e, DB> {
    fn from(pool: &'e Pool<DB>) -> Self {
        Exec::Pool(pool)
    }
}

impl<'e, DB: Database> From<&'e mut DB::Connection> for Exec<'e, DB> {
    fn from(conn: &'e mut DB::Connection) -> Self {
        Exec::Conn(conn)
    }
}

/// What a backend does for its own database. Implemented for [`Sqlite`] and [`Postgres`].
pub trait Backend: Database {
    /// A statement for this database (`$1`-style placeholders, which both databases read).
    fn sql<'q>(text: impl Into<Cow<'q, str>>) -> Sql<'q, Self> {
        Sql {
            text: text.into(),
            args: Ok(Default::default()),
        }
    }

    /// Connect to the database named by `url`, bring its schema up to date, and return the
    /// pool for writes and the pool for reads (they may be one pool).
    fn connect(
        url: &str,
    ) -> impl Future<Output = Result<(Pool<Self>, Pool<Self>), StoreError>> + Send;

    /// A condition on `expr`: true when the list parameter `param` (bound with
    /// [`Backend::bind_list`]) is NULL or holds `expr`.
    fn in_list(expr: &str, param: &str) -> String;

    /// Bind a list of strings as the next parameter (`None`: NULL).
    fn bind_list<'q>(sql: Sql<'q, Self>, list: Option<&'q [String]>) -> Sql<'q, Self>;

    /// Add `value` to a statement's arguments.
    fn add<'q, T: Bind<'q>>(args: &mut Self::Arguments<'q>, value: T) -> Result<(), BoxDynError>;

    /// Run a statement and read every row it returns.
    fn fetch_all<'e, 'q: 'e, O: Record>(
        ex: Exec<'e, Self>,
        sql: &'e str,
        args: Result<Self::Arguments<'q>, BoxDynError>,
    ) -> impl Future<Output = Result<Vec<O>, sqlx::Error>> + Send + 'e;

    /// Run a statement; the number of rows it changed.
    fn execute<'e, 'q: 'e>(
        ex: Exec<'e, Self>,
        sql: &'e str,
        args: Result<Self::Arguments<'q>, BoxDynError>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'e;

    /// Make the rest of the transaction the only writer of `doc_id` until it ends (PostgreSQL:
    /// an advisory lock; SQLite has one writer already).
    fn lock_document<'e>(
        conn: &'e mut Self::Connection,
        doc_id: &'e str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'e;

    /// Insert a push's new changes, in order, as the last step of its transaction, so that
    /// feed positions are taken in commit order.
    fn insert_changes<'e>(
        conn: &'e mut Self::Connection,
        ctx: &'e PushContext,
        stamp: i64,
        changes: Vec<(String, NewChange)>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'e;

    /// Refuse with [`StoreError::NotWritable`] a database that answers but cannot take writes
    /// for a reason a write would not report (a PostgreSQL replica in recovery).
    fn check_writable<'e>(
        pool: &'e Pool<Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'e;

    /// Of `heads` (document, hash), the documents whose hash the database does not hold, in
    /// the order given.
    fn missing_heads<'e>(
        pool: &'e Pool<Self>,
        heads: &'e [crate::DocHead],
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send + 'e;

    /// The storage failure a database error code names, when it is one of this backend's.
    fn storage_failure(code: &str) -> Option<StorageFailure>;
}

/// A statement with its arguments, for a database chosen by where it runs.
pub struct Sql<'q, DB: Backend> {
    text: Cow<'q, str>,
    args: Result<DB::Arguments<'q>, BoxDynError>,
}

impl<DB: Backend> std::fmt::Debug for Sql<'_, DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql")
            .field("text", &self.text)
            .field("bound", &self.bound())
            .finish()
    }
}

impl<'q, DB: Backend> Sql<'q, DB> {
    /// Bind the next parameter. An encoding failure is reported when the statement runs.
    pub fn bind<T: Bind<'q>>(self, value: T) -> Self {
        self.bind_with(|args| DB::add(args, value))
    }

    /// Bind the next parameter with `add`: a backend's own binding, for a value only its
    /// database reads. A failure is reported when the statement runs.
    pub(crate) fn bind_with(
        mut self,
        add: impl FnOnce(&mut DB::Arguments<'q>) -> Result<(), BoxDynError>,
    ) -> Self {
        if let Ok(args) = &mut self.args
            && let Err(e) = add(args)
        {
            self.args = Err(e);
        }
        self
    }

    /// The number of parameters bound so far (to name the next one `$n`).
    pub fn bound(&self) -> usize {
        self.args.as_ref().map_or(0, sqlx::Arguments::len)
    }

    /// Append text to the statement.
    pub fn push(mut self, text: &str) -> Self {
        self.text.to_mut().push_str(text);
        self
    }

    /// Append a placeholder for `value` and bind it.
    pub fn push_bind<T: Bind<'q>>(self, value: T) -> Self {
        let placeholder = format!("${}", self.bound() + 1);
        self.push(&placeholder).bind(value)
    }

    pub async fn fetch_all<O: Record>(
        self,
        ex: impl Into<Exec<'_, DB>>,
    ) -> Result<Vec<O>, sqlx::Error> {
        DB::fetch_all(ex.into(), &self.text, self.args).await
    }

    pub async fn fetch_optional<O: Record>(
        self,
        ex: impl Into<Exec<'_, DB>>,
    ) -> Result<Option<O>, sqlx::Error> {
        Ok(self.fetch_all(ex).await?.into_iter().next())
    }

    pub async fn fetch_one<O: Record>(self, ex: impl Into<Exec<'_, DB>>) -> Result<O, sqlx::Error> {
        self.fetch_optional(ex)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// The first column of the first row, if any.
    pub async fn fetch_optional_scalar<O>(
        self,
        ex: impl Into<Exec<'_, DB>>,
    ) -> Result<Option<O>, sqlx::Error>
    where
        (O,): Record,
    {
        Ok(self.fetch_optional::<(O,)>(ex).await?.map(|(value,)| value))
    }

    /// The first column of the first row.
    pub async fn fetch_scalar<O>(self, ex: impl Into<Exec<'_, DB>>) -> Result<O, sqlx::Error>
    where
        (O,): Record,
    {
        self.fetch_optional_scalar(ex)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    pub async fn execute(self, ex: impl Into<Exec<'_, DB>>) -> Result<u64, sqlx::Error> {
        DB::execute(ex.into(), &self.text, self.args).await
    }
}

/// [`Backend::fetch_all`] for a concrete database: the one place the sqlx bounds are written.
pub(crate) async fn fetch_all_on<'e, DB, O>(
    ex: Exec<'e, DB>,
    sql: &'e str,
    args: Result<DB::Arguments<'e>, BoxDynError>,
) -> Result<Vec<O>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments<'e>: IntoArguments<'e, DB>,
    O: Send + Unpin + for<'r> FromRow<'r, DB::Row>,
{
    let query = sqlx::query_as_with::<DB, O, _>(sql, args.map_err(sqlx::Error::Encode)?);
    match ex {
        Exec::Pool(pool) => query.fetch_all(pool).await,
        Exec::Conn(conn) => query.fetch_all(conn).await,
    }
}

/// [`Backend::execute`] for a concrete database.
pub(crate) async fn execute_on<'e, DB>(
    ex: Exec<'e, DB>,
    sql: &'e str,
    args: Result<DB::Arguments<'e>, BoxDynError>,
) -> Result<u64, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments<'e>: IntoArguments<'e, DB>,
    DB::QueryResult: RowsAffected,
{
    let query = sqlx::query_with::<DB, _>(sql, args.map_err(sqlx::Error::Encode)?);
    let done = match ex {
        Exec::Pool(pool) => query.execute(pool).await?,
        Exec::Conn(conn) => query.execute(conn).await?,
    };
    Ok(done.rows_affected())
}

/// The rows a statement changed (each database's query result has its own method).
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}
