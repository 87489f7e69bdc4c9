//! The pure merge step the store runs inside its write transaction: size and id checks, the
//! model's merge and validation, then who may write it: every new change must be written by
//! the pushing device's registered actor, the record must be in the person's write scope and
//! stay about the same child, and every new change must keep the model's write rules
//! (`fieldnotes_model::rules`: fields fixed at creation, a new record's author, who completes,
//! signs off and deletes, locks).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};

use fieldnotes_model::{IntakeError, MergeError, Merged, hash_hex, merge_incoming};
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
    /// Operations this request may still merge, across all its documents. Each document's
    /// declared ops (read without decoding) are taken from it before the merge; a document
    /// that does not fit is deferred to the device's next round, so a request packed with
    /// documents just under the per-document caps cannot hold the push transaction for long.
    pub ops_left: &'a AtomicU64,
    /// The budget `ops_left` started from: the request's first document always fits.
    pub ops_per_request: u64,
}

/// Operations one sync request may merge across its documents. Above the per-document cap
/// ([`fieldnotes_model::intake::MAX_OPS_PER_PUSH`]), so every document fits a round of its own.
pub const MAX_OPS_PER_REQUEST: u64 = 1_000_000;

/// The pushing device and what its person may write.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub user_id: &'a str,
    pub role: Role,
    pub device_id: &'a str,
    /// The device's registered automerge actor id, hex.
    pub actor: &'a str,
    pub scope: &'a Scope,
    /// When the server received the push (ms since the epoch): "now" for the rules that
    /// need a clock (a visit dated more than a day ahead).
    pub received_at_ms: i64,
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

/// Why a pushed document is refused: its code and a reason for the person. The store keeps
/// the refused input in quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: RejectCode,
    pub reason: String,
}

impl Refusal {
    pub(crate) fn new(code: RejectCode, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            reason: reason.into(),
        }
    }
}

/// Why a pushed document is not applied now: refused, or deferred to a later round.
#[derive(Debug)]
enum Stop {
    Refused(Refusal),
    Deferred {
        reason: String,
        missing: Vec<String>,
    },
}

impl From<Refusal> for Stop {
    fn from(refusal: Refusal) -> Self {
        Stop::Refused(refusal)
    }
}

impl From<Stop> for MergeOutcome {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Refused(Refusal { code, reason }) => MergeOutcome::Rejected { code, reason },
            Stop::Deferred { reason, missing } => MergeOutcome::Deferred { reason, missing },
        }
    }
}

/// Refused for scope, saying nothing about the stored record.
fn out_of_scope(user_id: &str, doc_id: &str) -> Refusal {
    Refusal::new(
        RejectCode::OutOfScope,
        format!(
            "{user_id} may not write document {doc_id}: it is outside the records allocated or \
             referred to them; the changes are kept in quarantine for review"
        ),
    )
}

impl Merger for ModelMerger<'_> {
    /// Merge one document; a panic anywhere in it (automerge included) refuses that document
    /// with `merge_failed` (the store keeps its input in quarantine) and the batch goes on.
    fn merge(
        &self,
        doc_id: &str,
        current: Option<&StoredDocument>,
        incoming: &[Vec<u8>],
    ) -> MergeOutcome {
        // Nothing outlives the closure but its outcome: the merge works on its own copies, so a
        // panic half-way leaves no shared state behind.
        match std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.try_merge(doc_id, current, incoming)
                .unwrap_or_else(MergeOutcome::from)
        })) {
            Ok(outcome) => outcome,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(doc_id, panic = %what, "merging a document panicked");
                Stop::from(Refusal::new(RejectCode::MergeFailed, merge_failed_reason())).into()
            }
        }
    }
}

/// The sentence for a merge that failed inside the server.
fn merge_failed_reason() -> String {
    "the server could not merge these changes (an internal error, now logged); nothing of the \
     record was changed and the changes are kept in quarantine; keep working on the device and \
     tell your admin, who can see the logged error"
        .to_owned()
}

/// The reject code and the sentence a person can act on for a failed model merge.
fn merge_error(doc_id: &str, e: &MergeError) -> Refusal {
    let (code, reason) = merge_error_parts(doc_id, e);
    Refusal::new(code, reason)
}

fn merge_error_parts(doc_id: &str, e: &MergeError) -> (RejectCode, String) {
    match e {
        MergeError::Malformed { .. } => (RejectCode::MalformedChange, e.to_string()),
        MergeError::WrongDocument { .. } => (RejectCode::InvalidDocumentId, e.to_string()),
        MergeError::Invalid(_) => (RejectCode::InvalidDocument, e.to_string()),
        MergeError::CorruptStored(_) => {
            // Not the device's fault; keep its input and say so.
            tracing::error!(doc_id, error = %e, "stored document could not be loaded");
            (RejectCode::InvalidDocument, e.to_string())
        }
        MergeError::Intake(intake) => intake_error_parts(doc_id, intake),
    }
}

/// The reject code for a change refused at intake, and the sentence: what was wrong, that
/// nothing changed, and what to do about it.
fn intake_error_parts(doc_id: &str, intake: &IntakeError) -> (RejectCode, String) {
    const UNCHANGED: &str = "nothing of the record was changed and the changes are kept in \
                             quarantine";
    const UPDATE_THE_APP: &str =
        "update the app on this device, and tell your admin if it is up to date";
    let (code, what_to_do) = match intake {
        IntakeError::Malformed { .. } => return (RejectCode::MalformedChange, intake.to_string()),
        IntakeError::UnknownColumns { .. } => (RejectCode::UnknownColumns, UPDATE_THE_APP),
        IntakeError::NonCanonical { .. } => (RejectCode::NonCanonicalChange, UPDATE_THE_APP),
        IntakeError::DanglingReference { .. } => (
            RejectCode::DanglingReference,
            "the device's copy of the record does not match the server's: tell your admin, who \
             can compare them",
        ),
        IntakeError::TooManyOps { .. } => (
            RejectCode::TooManyOps,
            "split the work into smaller edits, and tell your admin if this was one ordinary edit",
        ),
        IntakeError::TooLarge { .. } => (RejectCode::TooLarge, "split the work into smaller edits"),
        IntakeError::Inconsistent(_) => {
            tracing::error!(doc_id, error = %intake, "a merged document failed its reload check");
            (
                RejectCode::InconsistentDocument,
                "keep working on the device and tell your admin",
            )
        }
    };
    (code, format!("{intake}; {UNCHANGED}; {what_to_do}"))
}

impl ModelMerger<'_> {
    /// The checks, in order; the first that fails decides the outcome.
    fn try_merge(
        &self,
        doc_id: &str,
        current: Option<&StoredDocument>,
        incoming: &[Vec<u8>],
    ) -> Result<MergeOutcome, Stop> {
        check_doc_id(doc_id)?;
        // Who may write comes first: someone outside the record's scope learns nothing about
        // it (not its child, not its content through a validation message).
        self.check_stored_scope(doc_id, current)?;
        let ops = self.take_ops(incoming)?;
        self.check_size(incoming)?;
        let mut merged = merge(doc_id, current, incoming)?;
        if let Err(deferred) = check_dependencies(&merged) {
            // Nothing of it merges: its operations go back to the request's budget, or a
            // document waiting for another device's changes would starve the rest of every
            // request that carries it (simulation seed 1533).
            self.ops_left.fetch_add(ops, Ordering::Relaxed);
            return Err(deferred);
        }
        self.check_actors(&merged)?;
        // The write rules read every new change: a rewritten child, author or kind is named as
        // such before the scope checks below see only the end state.
        let events = detect::lifecycle(&self.writer, &merged)?;
        let record = merged.document.read().map_err(|e| {
            Refusal::new(
                RejectCode::InvalidDocument,
                format!("the merged document cannot be read: {e}"),
            )
        })?;
        let scope_key = record.scope_key();
        check_scope_kept(current, &scope_key)?;
        self.check_write_scope(&scope_key)?;
        let heads: Vec<String> = merged.document.heads().iter().map(hash_hex).collect();
        let findings = detect::findings(&self.writer, &heads, &record, &mut merged)?;
        Ok(MergeOutcome::Applied {
            kind: record.kind(),
            child_id: record.child_id().map(str::to_owned),
            scope_key,
            summary: record.summary(),
            snapshot: merged.document.save(),
            new_changes: merged.new_changes.into_iter().map(new_change).collect(),
            accepted_hashes: merged.accepted.iter().map(hash_hex).collect(),
            findings,
            events,
        })
    }

    /// A stored record may be written only by someone with it in their write scope.
    fn check_stored_scope(
        &self,
        doc_id: &str,
        current: Option<&StoredDocument>,
    ) -> Result<(), Refusal> {
        let Some(current) = current else {
            return Ok(());
        };
        let allowed = if current.scope_key.is_empty() {
            // Stored before scopes existed and not yet given a key: admins only.
            self.writer.scope.all
        } else {
            self.writer.scope.can_write(&current.scope_key)
        };
        if allowed {
            Ok(())
        } else {
            Err(out_of_scope(self.writer.user_id, doc_id))
        }
    }

    /// Take this document's declared ops from the request's budget (returning how many were
    /// taken), or defer it. Bytes that cannot be scanned are left to the merge, which refuses
    /// them with their own reason.
    fn take_ops(&self, incoming: &[Vec<u8>]) -> Result<u64, Stop> {
        let Ok(ops) = fieldnotes_model::intake::declared_ops(
            incoming,
            &fieldnotes_model::IntakeLimits::DEFAULT,
        ) else {
            return Ok(0);
        };
        if ops > fieldnotes_model::intake::MAX_OPS_PER_PUSH {
            // Over the per-document cap: the merge refuses it as `too_many_ops`.
            return Ok(0);
        }
        let taken = self
            .ops_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                if left == self.ops_per_request {
                    Some(left.saturating_sub(ops))
                } else {
                    left.checked_sub(ops)
                }
            });
        match taken {
            // The first document may take less than it declares (all there is).
            Ok(left) => Ok(left.min(ops)),
            Err(_) => Err(Stop::Deferred {
                reason: format!(
                    "this request carried more work than the server merges in one round \
                     ({} operations); these changes ({ops} operations) are \
                     kept on the device and sent again",
                    self.ops_per_request
                ),
                missing: Vec::new(),
            }),
        }
    }

    fn check_size(&self, incoming: &[Vec<u8>]) -> Result<(), Refusal> {
        let size: usize = incoming.iter().map(Vec::len).sum();
        if size > self.max_doc_push_bytes {
            return Err(Refusal::new(
                RejectCode::TooLarge,
                format!(
                    "the changes for this document total {size} bytes, more than the {} bytes \
                     the server accepts for one document in one push",
                    self.max_doc_push_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Every new change must be written by the pushing device's registered actor.
    fn check_actors(&self, merged: &Merged) -> Result<(), Refusal> {
        let writer = &self.writer;
        let Some(foreign) = merged
            .new_changes
            .iter()
            .find(|c| c.actor.to_hex_string() != writer.actor)
        else {
            return Ok(());
        };
        Err(Refusal::new(
            RejectCode::ForeignActor,
            format!(
                "change {} was written by actor {}, which is not registered to device {} \
                 (it writes as {}); a device may only send its own changes",
                hash_hex(&foreign.hash),
                foreign.actor.to_hex_string(),
                writer.device_id,
                writer.actor
            ),
        ))
    }

    /// The merged record must be in the writer's write scope.
    fn check_write_scope(&self, scope_key: &str) -> Result<(), Refusal> {
        if self.writer.scope.can_write(scope_key) {
            return Ok(());
        }
        let refusal = detect::refusal(fieldnotes_model::rules::out_of_scope(
            self.writer.user_id,
            scope_key,
        ));
        Err(Refusal::new(
            refusal.code,
            format!(
                "{}; the changes are kept in quarantine for review",
                refusal.reason
            ),
        ))
    }
}

fn check_doc_id(doc_id: &str) -> Result<(), Refusal> {
    if valid_doc_id(doc_id) {
        return Ok(());
    }
    Err(Refusal::new(
        RejectCode::InvalidDocumentId,
        format!(
            "document id {doc_id:?} is not valid: use 1 to 100 letters, digits, '-' or '_' (a \
             UUID)"
        ),
    ))
}

/// The model's merge of the push into the stored document, or why it failed.
fn merge(
    doc_id: &str,
    current: Option<&StoredDocument>,
    incoming: &[Vec<u8>],
) -> Result<Merged, Refusal> {
    let stored = current.map(|d| d.snapshot.as_slice());
    merge_incoming(doc_id, stored, incoming).map_err(|e| {
        // A rewritten `kind` or `id` leaves a document that no longer reads: name the
        // rewrite, not its consequence. Only for changes that passed intake: hostile bytes
        // are not decoded any further.
        if !matches!(e, MergeError::Intake(_))
            && let Err(r) = fieldnotes_model::rules::check_fixed_fields(doc_id, stored, incoming)
        {
            return detect::refusal(r);
        }
        merge_error(doc_id, &e)
    })
}

/// Changes that build on changes the server does not have wait for those.
fn check_dependencies(merged: &Merged) -> Result<(), Stop> {
    if merged.missing_deps.is_empty() {
        return Ok(());
    }
    let n = merged.missing_deps.len();
    Err(Stop::Deferred {
        reason: format!(
            "these changes build on {n} earlier change(s) the server does not have yet; they \
             are kept on the device and will be sent again"
        ),
        missing: merged.missing_deps.iter().map(hash_hex).collect(),
    })
}

/// A record stays under the scope key it was stored with.
fn check_scope_kept(current: Option<&StoredDocument>, scope_key: &str) -> Result<(), Refusal> {
    match current.filter(|c| !c.scope_key.is_empty() && c.scope_key != scope_key) {
        None => Ok(()),
        Some(current) => Err(Refusal::new(
            RejectCode::InvalidDocument,
            format!(
                "a record cannot move from {} to {scope_key}; ask a manager to delete the \
                 misfiled record and record it again",
                current.scope_key
            ),
        )),
    }
}

fn new_change(c: fieldnotes_model::EncodedChange) -> NewChange {
    NewChange {
        hash: hash_hex(&c.hash),
        bytes: c.bytes,
        actor: c.actor.to_hex_string(),
        device_time_ms: c.device_time_ms,
    }
}
