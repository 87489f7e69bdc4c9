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
    Backend(#[from] sqlx::Error),
    /// The device's quarantine is full: its input was refused and not kept.
    #[error(
        "this device already has {entries} entries ({bytes} bytes) waiting in the server's \
         quarantine, the most it may leave there; nothing more from it is kept until an admin \
         reviews the quarantine"
    )]
    QuarantineFull { entries: u64, bytes: u64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
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
            StoreError::Corrupt(_) => Some(StorageFailure::Corrupt),
            StoreError::NotWritable(_) => Some(StorageFailure::ReadOnly),
            StoreError::Migration(sqlx::migrate::MigrateError::Execute(e)) => Some(classify(e)),
            StoreError::Migration(_) => Some(StorageFailure::Unavailable),
            StoreError::Backend(e) => Some(classify(e)),
        }
    }
}

/// Classify a database error by SQLite result code or PostgreSQL SQLSTATE.
fn classify(e: &sqlx::Error) -> StorageFailure {
    let sqlx::Error::Database(db) = e else {
        return StorageFailure::Unavailable;
    };
    let Some(code) = db.code() else {
        return StorageFailure::Unavailable;
    };
    if let Ok(n) = code.parse::<i64>() {
        // SQLite: the primary result code is the low byte of the extended one.
        return match n & 0xff {
            13 => StorageFailure::Full,
            8 => StorageFailure::ReadOnly,
            10 => StorageFailure::Io,
            11 | 26 => StorageFailure::Corrupt,
            _ => StorageFailure::Unavailable,
        };
    }
    match code.as_ref() {
        "53100" => StorageFailure::Full,
        "25006" => StorageFailure::ReadOnly,
        "58030" => StorageFailure::Io,
        "XX001" | "XX002" => StorageFailure::Corrupt,
        _ => StorageFailure::Unavailable,
    }
}
