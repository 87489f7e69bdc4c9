//! Errors of the model crate. Each names the value or field at fault.

use thiserror::Error;

use crate::validate::ValidationErrors;

/// Why a model operation failed.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("{value:?} is not a {what}; use one of: {valid}")]
    UnknownValue {
        what: &'static str,
        value: String,
        valid: String,
    },
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("the bytes are not an automerge document or change: {0}")]
    Load(String),
    #[error("this is a {found} document; a {expected} patch does not apply to it")]
    WrongKind {
        expected: crate::DocKind,
        found: crate::DocKind,
    },
    #[error("the document's id is {found:?}, expected {expected:?}")]
    WrongId { expected: String, found: String },
    #[error("the document has no {field} field: it was not created by Fieldnotes")]
    MissingField { field: &'static str },
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error("{0:?} is not a change hash (64 hex characters)")]
    BadHash(String),
    #[error(
        "record {doc_id} is {status} and locked: it can no longer be edited; change it with an \
         amendment that gives a reason"
    )]
    Locked {
        doc_id: String,
        status: crate::NoteStatus,
    },
    #[error(
        "record {doc_id} is a {status}: edit it directly; amendments (with a reason) are for \
         completed or signed-off records"
    )]
    NotLocked {
        doc_id: String,
        status: crate::NoteStatus,
    },
    #[error("record {doc_id} was deleted by {by} ({reason:?}): it can no longer be changed")]
    Deleted {
        doc_id: String,
        by: String,
        reason: String,
    },
    #[error("record {doc_id} cannot be signed off: {reason}")]
    CannotSignOff { doc_id: String, reason: String },
    #[error("change {0} is not in this document")]
    UnknownVersion(String),
    #[error("{field:?} is not a field of a {kind}; use one of: {valid}")]
    UnknownField {
        kind: crate::DocKind,
        field: String,
        valid: String,
    },
}

impl From<fieldnotes_vocab::UnknownValue> for ModelError {
    fn from(e: fieldnotes_vocab::UnknownValue) -> Self {
        ModelError::UnknownValue {
            what: e.what,
            value: e.value,
            valid: e.valid,
        }
    }
}
