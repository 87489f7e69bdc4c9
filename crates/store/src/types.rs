//! Values passed into and out of the [`Store`](crate::Store).

use fieldnotes_vocab::{DocKind, RejectCode};
use serde::{Deserialize, Serialize};

pub use crate::quarantine_code::QuarantineCode;
/// After a restore a device names the newest change it wrote to each document (a [`DocHead`]);
/// the store answers with those it does not hold, and the device's changes it does hold for
/// each ([`Lacking`]), as the sync answer carries them.
pub use fieldnotes_protocol::{DocHead, Lacking};

/// Who is pushing, and when the server received it.
#[derive(Debug, Clone)]
pub struct PushContext {
    /// The pushing device.
    pub device_id: String,
    /// The server's receive time, in milliseconds since the Unix epoch.
    pub received_at_ms: i64,
}

/// The changes pushed for one document.
#[derive(Debug, Clone)]
pub struct IncomingDoc {
    pub doc_id: String,
    /// Binary automerge changes, as sent (not yet parsed).
    pub changes: Vec<Vec<u8>>,
}

/// A document as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredDocument {
    pub doc_id: String,
    pub kind: DocKind,
    /// The child the document is about, where it is about a child.
    pub child_id: Option<String>,
    /// Who may see and write it: `child:ID` or `worker:ID` (empty for documents stored before
    /// scopes existed and not written since).
    pub scope_key: String,
    /// The merged document in automerge's compact saved form.
    pub snapshot: Vec<u8>,
    /// Server time of the last stored change, ms since the Unix epoch.
    pub updated_at_ms: i64,
}

/// What the merger decided for one document.
#[derive(Debug, Clone)]
pub enum MergeOutcome {
    /// Store these new changes and this snapshot.
    Applied {
        kind: DocKind,
        child_id: Option<String>,
        /// The document's scope key.
        scope_key: String,
        /// One line for listings.
        summary: String,
        snapshot: Vec<u8>,
        /// Changes the store does not have yet. May be empty (a pure duplicate push).
        new_changes: Vec<NewChange>,
        /// Hashes of every pushed change that is now durable (new and already known).
        accepted_hashes: Vec<String>,
        /// What needs a person's decision; raised in the same transaction.
        findings: Vec<crate::ReviewFinding>,
        /// Record-level events to audit (`complete`, `sign_off`, `delete_record`, `amend`).
        events: Vec<String>,
    },
    /// Do not apply; keep the input in quarantine with this reason.
    Rejected { code: RejectCode, reason: String },
    /// Do not apply yet: the changes depend on changes the server does not have.
    Deferred {
        reason: String,
        missing: Vec<String>,
    },
}

/// A change the merger found new, with the facts the store records about it.
#[derive(Debug, Clone)]
pub struct NewChange {
    /// Automerge change hash, hex.
    pub hash: String,
    pub bytes: Vec<u8>,
    /// Automerge actor id, hex.
    pub actor: String,
    /// The device's own clock at the time of the change (ms since the epoch); never used for
    /// ordering.
    pub device_time_ms: i64,
}

/// What became of one pushed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocResult {
    /// Committed. `hashes` lists every pushed change now durable.
    Accepted {
        hashes: Vec<String>,
        /// The child the document is about (for the access audit).
        child_id: Option<String>,
        /// How many of the pushed changes were new to the server.
        new_changes: u64,
        /// Record-level events the push made (see [`MergeOutcome::Applied`]).
        events: Vec<String>,
    },
    /// Kept in quarantine (committed) under `quarantine_id`.
    Rejected {
        code: RejectCode,
        reason: String,
        quarantine_id: i64,
    },
    /// Refused, and not kept: the pushing device's quarantine is full (see [`QuarantineCap`]).
    /// `code` is [`RejectCode::QuarantineFull`]; `reason` says why it was refused (with the
    /// merger's code) and what to do.
    NotKept { code: RejectCode, reason: String },
    /// Nothing stored; the device should push again once it has the missing changes.
    Deferred {
        reason: String,
        missing: Vec<String>,
    },
}

/// A position in the change feed: every change at or before it has been handed out.
///
/// Feed positions are assigned in commit order on both backends (see the store docs), so a
/// change that commits late can never land behind a position already handed out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct FeedPosition {
    pub seq: i64,
}

/// Which documents a device may receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeFilter {
    /// Every document (admins).
    All,
    /// Documents with one of these scope keys.
    Keys(Vec<String>),
}

/// Where a backfill page stopped: the last change sent for `key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackfillPosition {
    pub key: String,
    pub seq: i64,
}

/// The scope key that stands for every document in a backfill.
pub const ALL_KEYS: &str = fieldnotes_vocab::ScopeKey::ALL_TEXT;

/// What a device asks of the feed in one round.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The pulling device: its own changes are not sent back to it by the feed.
    pub device_id: String,
    /// Its cursor.
    pub after: Option<FeedPosition>,
    /// About how many bytes of change data to send (at least one change when any is due).
    pub max_bytes: u64,
    /// What the device may receive from the feed.
    pub scope: ScopeFilter,
    /// Scope keys in scope that the device does not hold yet, sorted: all their changes up to
    /// the cursor are sent first (later ones come with the feed), whatever the cursor. [`ALL_KEYS`]
    /// stands for every document.
    pub backfill: Vec<String>,
    /// Where the previous page of backfill stopped.
    pub backfill_from: Option<BackfillPosition>,
}

/// One page of the change feed.
#[derive(Debug, Clone)]
pub struct PullPage {
    /// Changes in feed order (backfill first).
    pub changes: Vec<FeedChange>,
    /// Where the next page starts (the input position when nothing was due).
    pub next: FeedPosition,
    /// True when more changes were due than fitted in this page.
    pub more: bool,
    /// Backfill keys this page completes.
    pub completed: Vec<String>,
    /// Where the backfill stopped, when the page filled before it finished.
    pub backfill_at: Option<BackfillPosition>,
}

/// One change in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedChange {
    pub doc_id: String,
    /// The document's kind, child and summary as the server holds it now (for the device's
    /// listing, so it need not load every document it receives).
    pub kind: DocKind,
    pub child_id: Option<String>,
    pub scope_key: String,
    pub summary: String,
    pub hash: String,
    pub bytes: Vec<u8>,
}

/// A change as stored, with its attribution (for history).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredChange {
    pub doc_id: String,
    pub hash: String,
    pub bytes: Vec<u8>,
    pub actor: String,
    pub device_id: String,
    /// Server receive time, ms since the epoch.
    pub received_at_ms: i64,
    /// The device's own clock, ms since the epoch.
    pub device_time_ms: i64,
}

/// How much refused input one device may leave in quarantine. Beyond it, more refused input
/// from that device is answered but not kept ([`DocResult::NotKept`],
/// [`StoreError::QuarantineFull`](crate::StoreError::QuarantineFull)) until an admin reviews
/// the quarantine, so one faulty or hostile device cannot fill the server's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineCap {
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Default for QuarantineCap {
    /// 1,000 entries or 64 MiB per device.
    fn default() -> Self {
        QuarantineCap {
            max_entries: 1_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Settings of an opened store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    pub quarantine_cap: QuarantineCap,
}

/// Input to keep in quarantine.
#[derive(Debug, Clone)]
pub struct NewQuarantine {
    pub device_id: Option<String>,
    pub doc_id: Option<String>,
    pub code: QuarantineCode,
    pub reason: String,
    pub payload: Vec<u8>,
    pub received_at_ms: i64,
}

/// A quarantine entry (without its payload).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QuarantineRecord {
    pub id: i64,
    pub device_id: Option<String>,
    pub doc_id: Option<String>,
    pub code: QuarantineCode,
    pub reason: String,
    #[sqlx(try_from = "i64")]
    pub size: u64,
    pub received_at_ms: i64,
}

/// What a device keeps of the feed to check, on its next sync, that the server still holds
/// everything it has heard of: the feed's identity and its newest row (position and stamp) at
/// the end of the device's last round.
///
/// Every row below a stored row committed before it (positions are taken in commit order), and
/// a backup or a replica is a consistent copy, so a database that still holds this row, with
/// this stamp, holds every change the device was acknowledged or sent. After a restore or a
/// failover that lost it, the position is missing or was taken again by another push, whose
/// random stamp differs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedAnchor {
    /// The database's random id (made by the migration; a replaced database has another).
    pub feed_id: String,
    /// A feed position (0 for an empty feed).
    pub seq: i64,
    /// The random stamp of the push that stored the row at `seq` (0 for an empty feed, and for
    /// rows stored before stamps existed).
    pub stamp: i64,
}
