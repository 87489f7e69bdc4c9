//! The pure merge step the store runs inside its write transaction: size and id checks, then
//! the model's merge and validation.

use fieldnotes_model::{MergeError, hash_hex, merge_incoming};
use fieldnotes_protocol::RejectCode;
use fieldnotes_store::{MergeOutcome, Merger, NewChange, StoredDocument};

/// Merges pushed automerge changes with [`fieldnotes_model`].
#[derive(Debug, Clone, Copy)]
pub struct ModelMerger {
    /// Largest total of change bytes accepted for one document in one push.
    pub max_doc_push_bytes: usize,
}

/// A document id the server accepts: 1 to 100 characters of letters, digits, `-` and `_`
/// (clients use UUIDs).
pub fn valid_doc_id(doc_id: &str) -> bool {
    !doc_id.is_empty()
        && doc_id.len() <= 100
        && doc_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn reject(code: RejectCode, reason: String) -> MergeOutcome {
    MergeOutcome::Rejected {
        code: code.as_str().to_owned(),
        reason,
    }
}

impl Merger for ModelMerger {
    fn merge(
        &self,
        doc_id: &str,
        current: Option<&StoredDocument>,
        incoming: &[Vec<u8>],
    ) -> MergeOutcome {
        if !valid_doc_id(doc_id) {
            return reject(
                RejectCode::InvalidDocumentId,
                format!(
                    "document id {doc_id:?} is not valid: use 1 to 100 letters, digits, '-' or \
                     '_' (a UUID)"
                ),
            );
        }
        let size: usize = incoming.iter().map(Vec::len).sum();
        if size > self.max_doc_push_bytes {
            return reject(
                RejectCode::TooLarge,
                format!(
                    "the changes for this document total {size} bytes, more than the {} bytes \
                     the server accepts for one document in one push",
                    self.max_doc_push_bytes
                ),
            );
        }
        let merged = match merge_incoming(doc_id, current.map(|d| d.snapshot.as_slice()), incoming)
        {
            Ok(merged) => merged,
            Err(e) => {
                let code = match &e {
                    MergeError::Malformed { .. } => RejectCode::MalformedChange,
                    MergeError::WrongDocument { .. } => RejectCode::InvalidDocumentId,
                    MergeError::Invalid(_) => RejectCode::InvalidDocument,
                    MergeError::CorruptStored(_) => {
                        // Not the device's fault; keep its input and say so.
                        tracing::error!(doc_id, error = %e, "stored document could not be loaded");
                        RejectCode::InvalidDocument
                    }
                };
                return reject(code, e.to_string());
            }
        };
        if !merged.missing_deps.is_empty() {
            let n = merged.missing_deps.len();
            return MergeOutcome::Deferred {
                reason: format!(
                    "these changes build on {n} earlier change(s) the server does not have yet; \
                     they are kept on the device and will be sent again"
                ),
                missing: merged.missing_deps.iter().map(hash_hex).collect(),
            };
        }
        let mut document = merged.document;
        let (kind, child_id, summary) = match document.read() {
            Ok(record) => (
                record.kind().as_str().to_owned(),
                record.child_id().map(str::to_owned),
                record.summary(),
            ),
            Err(e) => {
                return reject(
                    RejectCode::InvalidDocument,
                    format!("the merged document cannot be read: {e}"),
                );
            }
        };
        MergeOutcome::Applied {
            kind,
            child_id,
            summary,
            snapshot: document.save(),
            new_changes: merged
                .new_changes
                .into_iter()
                .map(|c| NewChange {
                    hash: hash_hex(&c.hash),
                    bytes: c.bytes,
                    actor: c.actor.to_hex_string(),
                    device_time_ms: c.device_time_ms,
                })
                .collect(),
            accepted_hashes: merged.accepted.iter().map(hash_hex).collect(),
        }
    }
}
