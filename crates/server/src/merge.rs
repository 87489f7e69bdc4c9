//! The pure merge step the store runs inside its write transaction: size and id checks, the
//! model's merge and validation, then who may write it: every new change must be written by
//! the pushing device's registered actor, the record must be in the person's write scope and
//! stay about the same child, and every new change must keep the model's write rules
//! (`fieldnotes_model::rules`: fields fixed at creation, a new record's author, who completes,
//! signs off and deletes, locks).

use fieldnotes_model::{MergeError, hash_hex, merge_incoming};
use fieldnotes_protocol::RejectCode;
use fieldnotes_protocol::auth::Role;
use fieldnotes_store::{MergeOutcome, Merger, NewChange, StoredDocument};

use crate::detect;
use crate::scope::Scope;

/// Merges pushed automerge changes with [`fieldnotes_model`].
#[derive(Debug, Clone)]
pub struct ModelMerger<'a> {
    /// Largest total of change bytes accepted for one document in one push.
    pub max_doc_push_bytes: usize,
    /// Who is writing.
    pub writer: Writer<'a>,
}

/// The pushing device and what its person may write.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub user_id: &'a str,
    pub role: Role,
    pub device_id: &'a str,
    /// The device's registered automerge actor id, hex.
    pub actor: &'a str,
    pub scope: &'a Scope,
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

/// Refused for scope, saying nothing about the stored record.
fn out_of_scope(user_id: &str, doc_id: &str) -> MergeOutcome {
    reject(
        RejectCode::OutOfScope,
        format!(
            "{user_id} may not write document {doc_id}: it is outside the records allocated or \
             referred to them; the changes are kept in quarantine for review"
        ),
    )
}

pub(crate) fn reject(code: RejectCode, reason: String) -> MergeOutcome {
    MergeOutcome::Rejected {
        code: code.as_str().to_owned(),
        reason,
    }
}

impl Merger for ModelMerger<'_> {
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
        // Who may write comes first: someone outside the record's scope learns nothing about
        // it (not its child, not its content through a validation message).
        if let Some(current) = current {
            let allowed = if current.scope_key.is_empty() {
                // Stored before scopes existed and not yet given a key: admins only.
                self.writer.scope.all
            } else {
                self.writer.scope.can_write(&current.scope_key)
            };
            if !allowed {
                return out_of_scope(self.writer.user_id, doc_id);
            }
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
                // A rewritten `kind` or `id` leaves a document that no longer reads: name the
                // rewrite, not its consequence.
                if let Err(r) = fieldnotes_model::rules::check_fixed_fields(
                    doc_id,
                    current.map(|d| d.snapshot.as_slice()),
                    incoming,
                ) {
                    let (code, reason) = detect::refusal(r);
                    return reject(code, reason);
                }
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
        let writer = &self.writer;
        if let Some(foreign) = merged
            .new_changes
            .iter()
            .find(|c| c.actor.to_hex_string() != writer.actor)
        {
            return reject(
                RejectCode::ForeignActor,
                format!(
                    "change {} was written by actor {}, which is not registered to device {} \
                     (it writes as {}); a device may only send its own changes",
                    hash_hex(&foreign.hash),
                    foreign.actor.to_hex_string(),
                    writer.device_id,
                    writer.actor
                ),
            );
        }
        // The write rules read every new change: a rewritten child, author or kind is named as
        // such before the scope checks below see only the end state.
        let events = match detect::lifecycle(writer, &merged) {
            Ok(events) => events,
            Err((code, reason)) => return reject(code, reason),
        };
        let mut merged = merged;
        let record = match merged.document.read() {
            Ok(record) => record,
            Err(e) => {
                return reject(
                    RejectCode::InvalidDocument,
                    format!("the merged document cannot be read: {e}"),
                );
            }
        };
        let scope_key = record.scope_key();
        if let Some(current) =
            current.filter(|c| !c.scope_key.is_empty() && c.scope_key != scope_key)
        {
            return reject(
                RejectCode::InvalidDocument,
                format!(
                    "a record cannot move from {} to {scope_key}; ask a manager to delete the \
                     misfiled record and record it again",
                    current.scope_key
                ),
            );
        }
        if !writer.scope.can_write(&scope_key) {
            let (code, reason) = detect::refusal(fieldnotes_model::rules::out_of_scope(
                writer.user_id,
                &scope_key,
            ));
            return reject(
                code,
                format!("{reason}; the changes are kept in quarantine for review"),
            );
        }
        let heads: Vec<String> = merged.document.heads().iter().map(hash_hex).collect();
        let findings = match detect::findings(writer, &heads, &record, &mut merged) {
            Ok(findings) => findings,
            Err((code, reason)) => return reject(code, reason),
        };
        let (kind, child_id, summary) = (
            record.kind().as_str().to_owned(),
            record.child_id().map(str::to_owned),
            record.summary(),
        );
        MergeOutcome::Applied {
            kind,
            child_id,
            scope_key,
            summary,
            snapshot: merged.document.save(),
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
            findings,
            events,
        }
    }
}
