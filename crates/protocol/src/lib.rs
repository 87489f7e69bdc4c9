//! Wire messages shared by the Fieldnotes sync server and its clients.
//!
//! One sync round is one HTTP request: `POST /v1/sync` with a [`SyncRequest`] carrying every
//! change the device has not yet had acknowledged (push) and its cursor; the answer is a
//! [`SyncResponse`] with a per-document outcome for each pushed document and a page of what the
//! device is missing (pull), bounded in size, with a `more` flag. Reconciling after days offline
//! therefore costs one round trip plus one per page, however many documents changed.
//!
//! The format is JSON (readable, and a malformed body gets a readable error) with change bytes
//! in base64, and the body is gzip-compressed both ways: base64 of automerge's already compact
//! change encoding compresses back to close to its raw size.
//!
//! The protocol is versioned twice: by path (`/v1/`) and by the `protocol` field, so a server
//! can refuse a client it does not understand with a reason instead of misreading it.

pub mod admin;
pub mod auth;
mod batch;
mod bytes;
mod cursor;
#[cfg(feature = "clap")]
mod flags;
pub mod review;
#[cfg(feature = "sqlx")]
mod sql;

pub use batch::{ByteBudget, group_by_document};
pub use bytes::ChangeBytes;
pub use cursor::{AnchorParts, BackfillAt, CursorPosition, ForeignCursor};
pub use fieldnotes_vocab::{
    DocKind, ErrorCode, ItemKind, RecordStatus, RejectCode, ReviewStatus, Role, ScopeKey,
    UnknownValue,
};
use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Path of the sync endpoint.
pub const SYNC_PATH: &str = "/v1/sync";
/// Path of the quarantine listing endpoint.
pub const QUARANTINE_PATH: &str = "/v1/quarantine";
/// Liveness probe: the process is up.
pub const HEALTH_PATH: &str = "/healthz";
/// Readiness probe: the process can reach its database.
pub const READY_PATH: &str = "/readyz";

/// The scope key a device holds when its user may see every document (admins).
pub const SCOPE_ALL: &str = ScopeKey::ALL_TEXT;

/// Default upper bound on the size of one pull page, in bytes of change data.
pub const DEFAULT_PAGE_BYTES: u64 = 4 * 1024 * 1024;
/// The largest pull page a server will build, whatever the client asks for.
pub const MAX_PAGE_BYTES: u64 = 16 * 1024 * 1024;
/// The most documents one request may list in [`SyncRequest::verify`].
pub const MAX_VERIFY_DOCS: usize = 1000;

/// One sync round, sent by a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Must be [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Where the device's pull left off; `None` on a device's first sync.
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// Changes the device holds that the server has not acknowledged, grouped by document.
    #[serde(default)]
    pub push: Vec<PushDoc>,
    /// Largest pull page the device wants, in bytes of change data. The server caps it at
    /// [`MAX_PAGE_BYTES`].
    #[serde(default)]
    pub max_page_bytes: Option<u64>,
    /// The scope keys (`child:ID`, `worker:ID`, or `*`) whose documents the device holds in
    /// full, as the server confirmed in earlier answers' `scopes_complete`. The server sends
    /// every document of a key in the device's scope that is not listed here, whatever the
    /// cursor, and tells the device to remove the keys listed here that left its scope.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The anchor from the server's last answer this device stored. The server checks it still
    /// holds what it names; if not (its database was restored from a backup, or failed over to
    /// a replica that missed the last transactions) the answer carries `feed_reset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<FeedAnchor>,
    /// After a `feed_reset`: the newest change this device wrote to each of its documents (at
    /// most [`MAX_VERIFY_DOCS`] per request). The answer's `lacking` names those the server
    /// does not hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<DocHead>,
}

/// Names the newest row of the server's feed when it answered: the device sends it back with
/// its next request, so the server can tell whether it still holds everything the device was
/// acknowledged or sent. Opaque to clients, like [`Cursor`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FeedAnchor(pub String);

/// A change of the device's own to one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocHead {
    pub doc_id: String,
    /// Automerge change hash, hex.
    pub hash: String,
}

/// The server no longer holds what the device's anchor names: it was restored from a backup,
/// failed over to a replica that missed transactions, or replaced. The server ignored the
/// request's cursor and sends the device's scope from the start (the answer's `cursor` starts
/// there); the device must stop trusting its held scopes and earlier acknowledgements, and
/// check its own changes with `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedReset {
    /// The identity of the feed the server holds now.
    pub feed_id: String,
    /// What happened, for logs.
    pub message: String,
}

/// A document named in `verify` whose change the server does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lacking {
    pub doc_id: String,
    /// The hashes of the device's own changes to the document the server does hold: the
    /// device re-sends its others.
    pub have: Vec<String>,
}

/// An opaque position in the server's change feed. Clients store it and send it back; only the
/// server interprets it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

/// The changes a device pushes for one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushDoc {
    /// The document's id (a UUID, as text).
    pub doc_id: String,
    /// Automerge changes, each in its binary encoding. Order does not matter.
    pub changes: Vec<ChangeBytes>,
}

/// The server's answer to one sync round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The protocol version the server answered with.
    pub protocol: u32,
    /// One entry per pushed document, in the order they were pushed.
    pub results: Vec<PushResult>,
    /// Changes the device is missing, grouped by document.
    pub pull: Vec<PulledDoc>,
    /// Where the next pull starts. Store it only after the pulled changes are stored.
    pub cursor: Cursor,
    /// True when the server has more to send: sync again straight away.
    pub more: bool,
    /// Scope keys whose documents this answer completes: once it is stored, the device holds
    /// every change of theirs up to `cursor` and lists them in `scopes` from now on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_complete: Vec<String>,
    /// Scope keys that left the device's scope (an allocation or referral ended): the device
    /// must remove their documents once its pending changes to them are sent, and stop listing
    /// them in `scopes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_scopes: Vec<String>,
    /// Keys of the device's scope it may read but not write (a colleague's child under pod-wide
    /// reading): the device refuses edits to their records before writing them. Sent every
    /// round, complete; empty for most devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_only_scopes: Vec<String>,
    /// Store with `cursor` and send back as the request's `anchor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<FeedAnchor>,
    /// Set when the request's anchor names something the server no longer holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_reset: Option<FeedReset>,
    /// The documents of the request's `verify` whose change the server does not hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lacking: Vec<Lacking>,
}

/// What became of one pushed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResult {
    pub doc_id: String,
    #[serde(flatten)]
    pub outcome: PushOutcome,
}

/// The outcome of pushing one document's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PushOutcome {
    /// The changes `hashes` names are durably stored (committed) on the server: every pushed
    /// change, including ones the server already had, except any that build on changes the
    /// server does not have yet. The device drops those named from its outbox and sends the
    /// others again later.
    Accepted { hashes: Vec<String> },
    /// The server will not apply these changes. They are kept in quarantine for review, not
    /// dropped; the device keeps them too and shows the reason.
    Rejected {
        code: RejectCode,
        reason: String,
        /// The quarantine record holding the refused input.
        quarantine_id: Option<i64>,
    },
    /// Nothing was applied yet because changes these depend on have not reached the server.
    /// Nothing is lost: the device keeps them and pushes them again.
    Deferred {
        reason: String,
        /// Hashes of the missing dependencies.
        missing: Vec<String>,
    },
}

/// Changes for one document the device is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledDoc {
    pub doc_id: String,
    /// Automerge changes in their binary encoding, in feed order.
    pub changes: Vec<ChangeBytes>,
    /// What the server holds for the document now, for the device's listing: a device that
    /// receives a document it does not have can store the changes and list the document
    /// without loading it (loading costs milliseconds per document; a cold start brings
    /// thousands). The changes remain the record; this is an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<DocMeta>,
}

/// Listing facts about a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocMeta {
    /// `visit_note`, `about_me`, `contact_card` or `short_plan`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<String>,
    /// One line for lists.
    pub summary: String,
    /// The document's scope key (`child:ID` or `worker:ID`).
    #[serde(default)]
    pub scope: String,
}

/// The body of every error response: a stable machine code, a message a person can act on,
/// and optional structured details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// An [`ErrorCode`] as text. Kept as text on the wire so that a client reads a code a newer
    /// server sends; decide on it with [`ErrorBody::error_code`].
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    /// The code, if this build knows it.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

/// One page of the quarantine listing (`GET /v1/quarantine?after=ID&limit=N`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineList {
    pub items: Vec<QuarantineItem>,
}

/// Input the server would not apply, kept for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineItem {
    pub id: i64,
    /// The device that sent it, if it named itself.
    pub device_id: Option<String>,
    /// The document it was for, if that could be read.
    pub doc_id: Option<String>,
    /// A stable machine code (see [`RejectCode`]; `malformed_request` for a body that could not
    /// be read as a sync request at all).
    pub code: String,
    /// Why it was refused, for a person.
    pub reason: String,
    /// When the server received it (RFC 3339, UTC).
    pub received_at: String,
    /// Size of the kept input, in bytes.
    pub size: u64,
}

#[cfg(test)]
mod tests;
