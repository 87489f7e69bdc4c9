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
}
