//! The server's merge step: pushed change bytes into the stored state. Pure.

use automerge::{AutoCommit, Change, ChangeHash};

use crate::document::{Document, EncodedChange};
use crate::error::ModelError;
use crate::validate::ValidationErrors;

/// The result of merging a push.
#[derive(Debug)]
pub struct Merged {
    /// The merged document. Validated when `missing_deps` is empty.
    pub document: Document,
    /// Changes applied now that the stored state did not have.
    pub new_changes: Vec<EncodedChange>,
    /// Every pushed change now in the document (new and already known).
    pub accepted: Vec<ChangeHash>,
    /// Dependencies the push needs that neither it nor the stored state has. When non-empty,
    /// the caller stores nothing and asks the device to send again.
    pub missing_deps: Vec<ChangeHash>,
}

/// Why a push cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("change {index} of the push is not a valid automerge change: {reason}")]
    Malformed { index: usize, reason: String },
    #[error("the changes do not belong to document {doc_id}: {reason}")]
    WrongDocument { doc_id: String, reason: String },
    #[error("the merged document breaks validation rules: {0}")]
    Invalid(ValidationErrors),
    #[error("the stored document could not be loaded: {0}")]
    CorruptStored(String),
}

/// Merge `incoming` change bytes into `current` (the stored document's saved bytes, `None` for
/// a document the server has never stored) and validate the result.
pub fn merge_incoming(
    doc_id: &str,
    current: Option<&[u8]>,
    incoming: &[Vec<u8>],
) -> Result<Merged, MergeError> {
    let changes = incoming
        .iter()
        .enumerate()
        .map(|(index, bytes)| {
            Change::try_from(bytes.as_slice()).map_err(|e| MergeError::Malformed {
                index,
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut doc = match current {
        Some(bytes) => {
            AutoCommit::load(bytes).map_err(|e| MergeError::CorruptStored(e.to_string()))?
        }
        None => AutoCommit::new(),
    };
    let mut accepted = Vec::with_capacity(changes.len());
    let mut fresh = Vec::new();
    for change in changes {
        let hash = change.hash();
        if doc.get_change_by_hash(&hash).is_some() {
            accepted.push(hash);
        } else if !fresh.iter().any(|c: &Change| c.hash() == hash) {
            fresh.push(change);
        }
    }
    doc.apply_changes(fresh.clone())
        .map_err(|e| MergeError::Malformed {
            index: 0,
            reason: format!("the changes could not be applied: {e}"),
        })?;
    let missing_deps = doc.get_missing_deps(&[]);

    let mut new_changes = Vec::with_capacity(fresh.len());
    for change in fresh {
        if doc.get_change_by_hash(&change.hash()).is_some() {
            accepted.push(change.hash());
            new_changes.push(EncodedChange::from_change(change));
        }
    }

    if !missing_deps.is_empty() {
        // Nothing will be stored; the document may not even have its root fields yet.
        let document =
            Document::from_automerge(doc_id, doc).unwrap_or_else(|_| Document::placeholder(doc_id));
        return Ok(Merged {
            document,
            new_changes,
            accepted,
            missing_deps,
        });
    }

    let document =
        Document::from_automerge(doc_id, doc).map_err(|e| MergeError::WrongDocument {
            doc_id: doc_id.to_owned(),
            reason: match e {
                ModelError::MissingField { field } => {
                    format!("the document has no `{field}`: its creating change was never sent")
                }
                other => other.to_string(),
            },
        })?;
    document.validate().map_err(MergeError::Invalid)?;
    Ok(Merged {
        document,
        new_changes,
        accepted,
        missing_deps,
    })
}
