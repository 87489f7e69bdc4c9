//! What stops a simulated run: a broken invariant, or something the simulation itself could not
//! do (which is also a failure: the real server and the real core must never leave it there).

/// Why a seed failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// An invariant of the design did not hold.
    #[error("invariant broken: {0}")]
    Invariant(String),
    /// The server answered in a way no correct server answers (a 5xx, a refusal of a request
    /// the device had every right to send, an unreadable body).
    #[error("unexpected answer to {what}: {status} {body}")]
    Unexpected {
        what: String,
        status: u16,
        body: String,
    },
    /// The model refused to load or merge what the server sent.
    #[error("a device could not apply document {doc_id}: {message}")]
    Apply { doc_id: String, message: String },
    /// The sync core stopped a sync with an error.
    #[error("the sync core stopped: {0}")]
    Core(#[from] fieldnotes_sync_core::SyncError),
    /// The server could not be started, or its store read.
    #[error("server: {0}")]
    Server(String),
    /// The store could not be read for a check.
    #[error("store: {0}")]
    Store(#[from] fieldnotes_store::StoreError),
    /// A temporary folder or file could not be made.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl SimError {
    pub(crate) fn invariant(message: impl Into<String>) -> Self {
        SimError::Invariant(message.into())
    }
}
