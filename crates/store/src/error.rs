use thiserror::Error;

/// Why a store operation failed. `NotFound` and `Conflict` are answers about the data;
/// `Backend` means the database could not be reached or failed, and nothing is durable.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{what} was not found")]
    NotFound { what: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database configuration: {0}")]
    Config(String),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Backend(sqlx::Error),
    /// The device's quarantine is full: its input was refused and not kept.
    #[error(
        "this device already has {entries} entries ({bytes} bytes) waiting in the server's \
         quarantine, the most it may leave there; nothing more from it is kept until an admin \
         reviews the quarantine"
    )]
    QuarantineFull { entries: u64, bytes: u64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A stored value does not read as its type: text outside the vocabulary (a role, kind,
    /// status, code or scope key this server does not know), or a column of the wrong kind.
    /// Never replaced by a default.
    #[error("stored data is unreadable: column {column}: {reason}")]
    Unreadable { column: String, reason: String },
    /// The database answers but cannot take writes (a read-only replica, or a probe found it
    /// unwritable for a reason the backend named).
    #[error("the database cannot be written: {0}")]
    NotWritable(String),
}

/// What kind of storage failure an error is: the server names it to the person and in its
/// readiness answer, instead of a generic failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFailure {
    /// No space left (SQLite `SQLITE_FULL`, PostgreSQL `53100 disk_full`).
    Full,
    /// The database is read-only (a read-only file or mount, a replica in recovery).
    ReadOnly,
    /// The operating system failed a read or write (SQLite `SQLITE_IOERR`, PostgreSQL
    /// `58030 io_error`).
    Io,
    /// The database file is damaged (SQLite `SQLITE_CORRUPT`/`SQLITE_NOTADB`, PostgreSQL
    /// `XX001 data_corrupted`).
    Corrupt,
    /// The database could not be reached or did not answer in time.
    Unavailable,
}

impl StorageFailure {
    /// A stable word for logs and error details.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageFailure::Full => "full",
            StorageFailure::ReadOnly => "read_only",
            StorageFailure::Io => "io_error",
            StorageFailure::Corrupt => "corrupt",
            StorageFailure::Unavailable => "unavailable",
        }
    }

    /// What it means, in words for a person.
    pub fn describe(self) -> &'static str {
        match self {
            StorageFailure::Full => "the server's storage is full",
            StorageFailure::ReadOnly => "the server's database is read-only",
            StorageFailure::Io => "the server's disk failed to read or write",
            StorageFailure::Corrupt => "the server's database is damaged",
            StorageFailure::Unavailable => "the server's database is not answering",
        }
    }
}

impl StoreError {
    /// The kind of storage failure this is, or `None` for answers about the data (not found,
    /// conflict) and for configuration errors.
    pub fn storage_failure(&self) -> Option<StorageFailure> {
        match self {
            StoreError::NotFound { .. }
            | StoreError::Conflict(_)
            | StoreError::Config(_)
            | StoreError::QuarantineFull { .. } => None,
            StoreError::Corrupt(_) | StoreError::Unreadable { .. } => Some(StorageFailure::Corrupt),
            StoreError::NotWritable(_) => Some(StorageFailure::ReadOnly),
            StoreError::Migration(sqlx::migrate::MigrateError::Execute(e)) => Some(classify(e)),
            StoreError::Migration(_) => Some(StorageFailure::Unavailable),
            StoreError::Backend(e) => Some(classify(e)),
        }
    }
}

/// The row a statement found, or [`StoreError::NotFound`] naming `what` (built only then).
pub(crate) fn found<T>(row: Option<T>, what: impl FnOnce() -> String) -> Result<T, StoreError> {
    row.ok_or_else(|| StoreError::NotFound { what: what() })
}

impl From<sqlx::Error> for StoreError {
    /// A value that does not decode is [`StoreError::Unreadable`], naming the column and the
    /// value; every other database error is [`StoreError::Backend`].
    fn from(e: sqlx::Error) -> Self {
        match e {
            // sqlx names the column as `Debug` text: `"role"`.
            sqlx::Error::ColumnDecode { index, source } => StoreError::Unreadable {
                column: index.trim_matches('"').to_owned(),
                reason: source.to_string(),
            },
            other => StoreError::Backend(other),
        }
    }
}

/// Classify a database error by SQLite result code or PostgreSQL SQLSTATE.
fn classify(e: &sqlx::Error) -> StorageFailure {
    use crate::backend::Backend;
    let sqlx::Error::Database(db) = e else {
        return StorageFailure::Unavailable;
    };
    let Some(code) = db.code() else {
        return StorageFailure::Unavailable;
    };
    sqlx::Sqlite::storage_failure(&code)
        .or_else(|| sqlx::Postgres::storage_failure(&code))
        .unwrap_or(StorageFailure::Unavailable)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

    /// A database error with only a code, as either backend reports it.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "code {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl DatabaseError for Coded {
        fn message(&self) -> &str {
            "failed"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn failure(code: &'static str) -> Option<StorageFailure> {
        StoreError::Backend(sqlx::Error::Database(Box::new(Coded(code)))).storage_failure()
    }

    #[test]
    fn storage_failures_are_named_by_sqlite_code_and_sqlstate() {
        // SQLite: primary codes and extended ones (SQLITE_IOERR_WRITE = 778,
        // SQLITE_READONLY_DBMOVED = 1032, SQLITE_CORRUPT_INDEX = 779).
        assert_eq!(failure("13"), Some(StorageFailure::Full));
        assert_eq!(failure("778"), Some(StorageFailure::Io));
        assert_eq!(failure("1032"), Some(StorageFailure::ReadOnly));
        assert_eq!(failure("779"), Some(StorageFailure::Corrupt));
        assert_eq!(failure("26"), Some(StorageFailure::Corrupt));
        assert_eq!(failure("5"), Some(StorageFailure::Unavailable));
        // PostgreSQL SQLSTATEs.
        assert_eq!(failure("53100"), Some(StorageFailure::Full));
        assert_eq!(failure("25006"), Some(StorageFailure::ReadOnly));
        assert_eq!(failure("58030"), Some(StorageFailure::Io));
        assert_eq!(failure("XX001"), Some(StorageFailure::Corrupt));
        assert_eq!(failure("40001"), Some(StorageFailure::Unavailable));
        // Answers about the data are not storage failures.
        assert_eq!(StoreError::Conflict("taken".into()).storage_failure(), None);
        assert_eq!(
            StoreError::NotWritable("replica".into()).storage_failure(),
            Some(StorageFailure::ReadOnly)
        );
        assert_eq!(
            StoreError::Backend(sqlx::Error::PoolTimedOut).storage_failure(),
            Some(StorageFailure::Unavailable)
        );
    }
}
