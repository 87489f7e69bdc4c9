//! Errors of the client SDK. Each says what happened and what it means for the person's work.

use std::path::PathBuf;

use thiserror::Error;

/// Why a client operation failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server could not be reached (no signal, server down). Nothing is lost.
    #[error(
        "could not reach the server at {url} after {attempts} attempt(s): {reason}. Everything \
         recorded is safe on this device and will be sent on the next sync"
    )]
    Unreachable {
        url: String,
        attempts: u32,
        reason: String,
    },
    /// The server answered with an error.
    #[error(
        "the server refused the sync ({status}): {message}. Everything recorded is safe on this \
         device"
    )]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    /// The local store failed.
    #[error("the local store at {path} failed: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("the local store at {path} could not be updated: {source}")]
    Migration {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// Input the model refused (for example a validation rule).
    #[error(transparent)]
    Model(#[from] fieldnotes_model::ModelError),
    /// No document with this id on this device.
    #[error("no document {id} on this device (run `sync` to fetch new work)")]
    NotFound { id: String },
    /// Another process already has this device's store open for writing.
    #[error(
        "the store at {path} is in use by another Fieldnotes process on this device; close it \
         first (only one may write as this device at a time)"
    )]
    Locked { path: PathBuf },
    /// The client is not set up for this operation.
    #[error("{0}")]
    Config(String),
    /// The local store holds data this version cannot read.
    #[error("the local store holds data this version cannot read: {0}")]
    Corrupt(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    /// True when the failure is about the network or server, and the work is waiting safely
    /// in the outbox.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}
