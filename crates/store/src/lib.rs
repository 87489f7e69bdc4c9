//! Server persistence for Fieldnotes.
//!
//! One [`Store`] trait with a SQLite implementation (the embedded default) and a PostgreSQL
//! implementation, chosen once at start-up from the database URL by [`open`]. Every method
//! returns `Result`: storage must be able to say "not durable", and the server acknowledges a
//! change only after the call that stored it has returned `Ok` (its transaction committed).
//!
//! The store knows nothing of automerge. Merging pushed changes into a document is a pure step,
//! supplied by the caller as a [`Merger`] and run by the store inside its write transaction
//! with the document locked, so that the merge, the validation and the durable write are one
//! atomic step and two servers sharing one PostgreSQL never merge the same document at once.

pub mod backend;
mod common;
pub mod directory;
mod error;
mod push;
mod quarantine_code;
mod sql_store;
mod types;

pub mod postgres;
pub mod review;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;

pub use directory::Directory;
pub use error::{StorageFailure, StoreError};
pub use review::{ReviewFinding, ReviewQueue};
pub use sql_store::SqlStore;
pub use types::*;

/// Server persistence. Implemented once, by [`SqlStore`], for SQLite ([`sqlite::SqliteStore`])
/// and PostgreSQL ([`postgres::PgStore`]); both pass the same conformance suite. People, structure and access
/// are in the [`Directory`] supertrait.
#[async_trait]
pub trait Store: Directory + ReviewQueue + Send + Sync + std::fmt::Debug {
    /// Merge and store one push from a device.
    ///
    /// Documents are processed in a stable order (sorted by id) so that concurrent pushes on
    /// PostgreSQL lock rows in the same order. For each document the store locks its row,
    /// loads the current snapshot, calls `merger.merge`, and in the same transaction either
    /// stores the new changes and snapshot, or records a quarantine entry for a rejection.
    /// Nothing is acknowledged unless this returns `Ok`, after commit.
    ///
    /// Returns one [`DocResult`] per input document, in input order.
    async fn push(
        &self,
        ctx: &PushContext,
        docs: Vec<IncomingDoc>,
        merger: &dyn Merger,
    ) -> Result<Vec<DocResult>, StoreError>;

    /// One page for a device: first the full history (up to its cursor) of scope keys new to
    /// it, then the change feed after its cursor within its scope, skipping changes written by
    /// the device itself, up to about `max_bytes` of change data (always at least one change
    /// when any is due, however large).
    ///
    /// The feed never skips a change that commits late: a change becomes visible in the feed
    /// only at a position after every position already handed out.
    async fn pull(&self, req: &PullRequest) -> Result<PullPage, StoreError>;

    /// Keep input that could not be read as a push at all (for example a body that is not
    /// JSON), so that nothing sent is silently dropped. [`StoreError::QuarantineFull`] when the
    /// sending device already has its [`QuarantineCap`] in quarantine.
    async fn quarantine(&self, item: NewQuarantine) -> Result<i64, StoreError>;

    /// Quarantined input, oldest first, with ids greater than `after`.
    async fn list_quarantine(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<QuarantineRecord>, StoreError>;

    /// The stored bytes of one quarantine entry, or `NotFound`.
    async fn quarantine_payload(&self, id: i64) -> Result<Vec<u8>, StoreError>;

    /// The current merged state of a document, or `None` if the server has never stored it.
    async fn get_document(&self, doc_id: &str) -> Result<Option<StoredDocument>, StoreError>;

    /// Every change stored for a document, in the order the server stored them.
    async fn document_changes(&self, doc_id: &str) -> Result<Vec<StoredChange>, StoreError>;

    /// Check the database answers (for the readiness probe).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The feed's identity and its newest row now, for the device to keep (see
    /// [`FeedAnchor`]). Read it after the round's push and page: it covers both.
    async fn feed_anchor(&self) -> Result<FeedAnchor, StoreError>;

    /// Whether this database still holds what `anchor` names: the same feed, and at its
    /// position the row with its stamp. `false` means the database was restored from a backup,
    /// failed over to a replica that missed transactions, or replaced: the device must re-send
    /// what the server lost and fetch its scope again from the start.
    async fn anchor_holds(&self, anchor: &FeedAnchor) -> Result<bool, StoreError>;

    /// For each of `heads` the server does not hold, the hashes of the changes by `actor` to
    /// that document it does hold (two queries, however many heads).
    async fn lacking(&self, actor: &str, heads: &[DocHead]) -> Result<Vec<Lacking>, StoreError>;

    /// Check the database takes writes (for the readiness probe): commits one small upsert of
    /// the `server_heartbeat` row, so a full disk, a read-only file or a replica in recovery
    /// fails here with the backend's error ([`StoreError::storage_failure`] names it).
    async fn probe_write(&self, now_ms: i64) -> Result<(), StoreError>;
}

/// The pure merge step the store runs inside its write transaction.
pub trait Merger: Send + Sync {
    /// Merge `incoming` change bytes into `current` (`None` for a document the server has never
    /// stored). Must not do I/O.
    fn merge(
        &self,
        doc_id: &str,
        current: Option<&StoredDocument>,
        incoming: &[Vec<u8>],
    ) -> MergeOutcome;
}

/// Open the store named by `url`: `sqlite:` (or `sqlite://`) for SQLite, `postgres://` or
/// `postgresql://` for PostgreSQL. Runs the embedded migrations before returning.
pub async fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    open_with(url, StoreOptions::default()).await
}

/// [`open`] with settings.
pub async fn open_with(url: &str, options: StoreOptions) -> Result<Box<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Box::new(
            sqlite::SqliteStore::open_with(url, options).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(postgres::PgStore::open_with(url, options).await?))
    } else {
        Err(StoreError::Config(format!(
            "database URL `{}` is not supported: use `sqlite://PATH` (the embedded default) or \
             `postgres://USER@HOST/DB`",
            redact_url(url)
        )))
    }
}

/// A database URL with any password replaced, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
