//! The Fieldnotes document model: the four record kinds (visit note, "about me" profile,
//! contact card, short plan) as typed Rust over automerge documents.
//!
//! * [`Document`] creates, reads and edits one record; every edit is one automerge change
//!   written with the device's actor id and stamped with the device's clock (passed in: this
//!   crate has no clock, no I/O and no randomness, and builds for `wasm32-unknown-unknown`).
//! * Long text (a note body, the child's wishes and feelings, profile answers, plan points) is
//!   automerge text, so two people editing one body offline merge character by character;
//!   short values (title, dates, enumerations) are scalars, so concurrent edits are visible as
//!   conflicts ([`Document::conflicts`]).
//! * [`Document::validate`] names the field and the rule broken; structural rules always hold,
//!   completeness rules once a record is completed.
//! * [`merge_incoming`] is the server's pure merge step for a push.
//!
//! Document layout: root `id`, `kind`, `schema`, then the record's fields by the names of the
//! typed structs in [`record`].

mod conflict;
mod document;
mod error;
mod kinds;
mod merge;
mod read;
pub mod record;
pub mod validate;
mod write;

pub use automerge::{ActorId, ChangeHash};
pub use conflict::{ConflictValue, FieldConflict};
pub use document::{Document, EncodedChange, SCHEMA_VERSION};
pub use error::ModelError;
pub use kinds::{DocKind, NotAloneReason, NoteStatus, SubjectKind, VisitKind};
pub use merge::{MergeError, Merged, merge_incoming};
pub use record::*;
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
mod tests;
