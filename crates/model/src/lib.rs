//! The Fieldnotes document model: the four record kinds (visit note, "about me" profile,
//! contact card, short plan) as typed Rust over automerge documents.
//!
//! * [`Document`] creates, reads and edits one record; every edit is one automerge change
//!   written with the device's actor id and stamped with the device's clock (passed in: this
//!   crate has no clock, no I/O and no randomness, and builds for `wasm32-unknown-unknown`).
//! * Each field has a merge rule ([`FieldRule`], [`field_rule`]). A child's words are never
//!   merged letter by letter: statements (wishes and feelings, titles, "about me" answers,
//!   plan points, card lines) are one scalar value each, written whole, so two different
//!   concurrent values are a conflict ([`Document::conflicts`]) with each side's value as its
//!   device wrote it. Only a note's body is prose (automerge text): edits in different places
//!   merge, and overlapping concurrent rewrites are a conflict showing each side's whole text
//!   and the merged text. Documents that hold statements as text (schema 1 before this rule)
//!   still read; the next edit of such a field writes the scalar.
//! * [`Document::validate`] names the field and the rule broken; structural rules always hold,
//!   completeness rules once a record is completed.
//! * A completed or signed-off record is locked: [`Document::edit`] refuses it and
//!   [`Document::amend`] changes it with a reason (change message `amend: <reason>`). A manager
//!   signs notes and plans off ([`Document::sign_off`]) and soft-deletes records
//!   ([`Document::delete`]). [`Document::lock_change`] and [`LockRelation`] tell whether a
//!   change saw the lock, came before it or raced it.
//! * [`Document::history`] lists every version with who, when and which fields changed;
//!   [`Document::field_text_at`] and [`text_diff`] show what a version said and how it differs.
//! * [`rules`] holds the write rules (fields fixed at creation, who completes, signs off and
//!   deletes, locks), checked change by change by [`Document::check_write_rules`] on the server
//!   and on the device alike.
//! * [`merge_incoming`] is the server's pure merge step for a push: it refuses a push whose own
//!   version breaks rules, reports a document invalid only through merging, and classifies the
//!   new changes against the lock.
//!
//! Document layout: root `id`, `kind`, `schema`, then the record's fields by the names of the
//! typed structs in [`record`].

mod conflict;
mod diff;
mod document;
mod error;
mod history;
pub mod intake;
mod kinds;
mod lock;
mod merge;
mod read;
pub mod record;
pub mod rules;
mod settle;
pub mod validate;
mod write;

pub use automerge::{ActorId, ChangeHash};
pub use conflict::{ConflictValue, FieldConflict};
pub use diff::{DiffSpan, text_diff};
pub use document::{Document, EncodedChange, SCHEMA_VERSION};
pub use error::ModelError;
pub use history::Version;
pub use intake::{IntakeError, IntakeLimits};
pub use kinds::{DocKind, NotAloneReason, NoteStatus, SubjectKind, VisitKind};
pub use lock::{AMEND_PREFIX, DELETE_PREFIX, LockRelation, SIGN_OFF_MESSAGE, amendment_reason};
pub use merge::{MergeError, Merged, NewChangeInfo, merge_incoming};
pub use record::*;
pub use rules::{RecordEvent, Refusal, RuleCode, Writer, WriterRole};
pub use settle::REVIEW_PREFIX;
pub use validate::{ValidationError, ValidationErrors};

/// A change hash as 64 lowercase hex characters.
pub fn hash_hex(hash: &ChangeHash) -> String {
    hash.to_string()
}

/// Parse a change hash from its hex form.
pub fn parse_hash(s: &str) -> Result<ChangeHash, ModelError> {
    s.parse().map_err(|_| ModelError::BadHash(s.to_owned()))
}

#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod lock_tests;
#[cfg(test)]
mod tests;
