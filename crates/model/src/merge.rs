//! The server's merge step: pushed change bytes into the stored state. Pure.

use std::collections::HashSet;

use automerge::{AutoCommit, Change, ChangeHash};
use serde::Serialize;

use crate::conflict::FieldConflict;
use crate::document::{Document, EncodedChange, root_str};
use crate::error::ModelError;
use crate::intake::{self, IntakeError, IntakeLimits};
use crate::kinds::NoteStatus;
use crate::lock::{DepGraph, LockClassifier, LockRelation, amendment_reason, lock_change_of};
use crate::read::read_deletion;
use crate::record::Deletion;
use crate::validate::ValidationErrors;

/// A change a push brought, classified against the record's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewChangeInfo {
    pub hash: ChangeHash,
    /// How it stands to [`Merged::lock`]: a change `Concurrent` with the lock was made without
    /// seeing the completion or sign-off (a pending amendment); one `After` it without an
    /// amendment reason edited a locked record directly.
    pub relation: LockRelation,
    /// The amendment reason, if the change is an amendment.
    pub amendment: Option<String>,
}

/// The result of merging a push.
#[derive(Debug)]
pub struct Merged {
    /// The merged document. Validated when `missing_deps` is empty: valid, or invalid only
    /// through merging (see `invalid_after_merge`).
    pub document: Document,
    /// Changes applied now that the stored state did not have.
    pub new_changes: Vec<EncodedChange>,
    /// Every pushed change now in the document (new and already known).
    pub accepted: Vec<ChangeHash>,
    /// Dependencies the push needs that neither it nor the stored state has. When non-empty,
    /// the caller stores nothing and asks the device to send again.
    pub missing_deps: Vec<ChangeHash>,
    /// Set when the merged document breaks rules although the pushing device's own version
    /// (the document at the heads of the pushed changes) keeps them: it became invalid only
    /// through merging. Stored all the same, and a review item.
    pub invalid_after_merge: Option<ValidationErrors>,
    /// The stored document already broke rules before this push.
    pub was_invalid: bool,
    /// The merged document's lock change ([`Document::lock_change`]).
    pub lock: Option<ChangeHash>,
    /// Each new change, in `new_changes` order, against the lock.
    pub classified: Vec<NewChangeInfo>,
    /// Conflicting fields of the merged document that a new change is part of (created or
    /// changed by this push).
    pub new_conflicts: Vec<FieldConflict>,
    /// The status before (`None` for a new document, or a contact card) and after the merge:
    /// the server checks that completion is by the author and sign-off by a manager.
    pub status_before: Option<NoteStatus>,
    pub status_after: Option<NoteStatus>,
    /// The deletion marker before and after: deleting is a manager's decision.
    pub deleted_before: Option<Deletion>,
    pub deleted_after: Option<Deletion>,
    /// The stored document's heads before this push (empty for a new document).
    pub heads_before: Vec<ChangeHash>,
    /// The stored document's lock change before this push.
    pub lock_before: Option<ChangeHash>,
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
    #[error(transparent)]
    Intake(IntakeError),
}

/// Merge `incoming` change bytes into `current` (the stored document's saved bytes, `None` for
/// a document the server has never stored) and validate the result.
///
/// The steps: intake (sizes and columns before any op is decoded, then canonical encoding,
/// [`crate::intake`]); load the stored document and check the fresh changes' references;
/// apply them; a push with missing dependencies stops there; otherwise the reload check, the
/// merged document's validity, and the new changes against the lock.
pub fn merge_incoming(
    doc_id: &str,
    current: Option<&[u8]>,
    incoming: &[Vec<u8>],
) -> Result<Merged, MergeError> {
    let parsed = intake::parse(intake::scan(incoming, &IntakeLimits::DEFAULT)?)?;
    let changes: Vec<Change> = parsed.iter().map(|p| p.change.clone()).collect();
    let mut doc = load_stored(current)?;
    // Some changes waiting for changes the server lacks must not hold back the others: those
    // go in, and the waiting ones (left out of `accepted`) stay on the device and come again.
    // Deferring the whole push let two devices whose changes build on each other's wait for
    // each other for ever (found by the simulation, seed 252).
    let ready = ready_changes(&mut doc, &parsed);
    if !ready.is_empty() && ready.len() < parsed.len() {
        let subset: Vec<Vec<u8>> = ready
            .iter()
            .filter_map(|&i| incoming.get(i))
            .cloned()
            .collect();
        return merge_incoming(doc_id, current, &subset);
    }
    intake::check_fresh(&mut doc, &parsed)?;
    let before = Before::of(&mut doc);
    let pushed_heads = heads_of(&changes);
    let applied = apply_fresh(&mut doc, changes)?;
    let missing_deps = doc.get_missing_deps(&[]);
    if !missing_deps.is_empty() {
        return Ok(deferred(doc_id, doc, before, applied, missing_deps));
    }
    let new_hashes: Vec<ChangeHash> = applied.new_changes.iter().map(|c| c.hash).collect();
    intake::check_reload(&mut doc, &before.heads, &new_hashes)?;
    let mut document = open_merged(doc_id, doc)?;
    let (invalid_after_merge, was_invalid) = judge_validity(&document, &pushed_heads, &before)?;
    let lock = document.lock_change();
    let classified = classify(&mut document, lock, &applied.new_changes);
    let new_conflicts = document
        .conflicts()
        .into_iter()
        .filter(|c| c.involves(&new_hashes))
        .collect();
    Ok(Merged {
        lock,
        classified,
        new_conflicts,
        status_before: before.status,
        status_after: document.status(),
        deleted_before: before.deleted,
        deleted_after: document.deletion(),
        invalid_after_merge,
        was_invalid,
        heads_before: before.heads,
        lock_before: before.lock,
        document,
        new_changes: applied.new_changes,
        accepted: applied.accepted,
        missing_deps,
    })
}

/// The stored document, or a new one for a document never stored.
fn load_stored(current: Option<&[u8]>) -> Result<AutoCommit, MergeError> {
    match current {
        Some(bytes) => {
            AutoCommit::load(bytes).map_err(|e| MergeError::CorruptStored(e.to_string()))
        }
        None => Ok(AutoCommit::new()),
    }
}

/// The stored state before the push, as [`Merged`] reports it.
struct Before {
    heads: Vec<ChangeHash>,
    status: Option<NoteStatus>,
    deleted: Option<Deletion>,
    lock: Option<ChangeHash>,
}

impl Before {
    fn of(doc: &mut AutoCommit) -> Before {
        Before {
            heads: doc.get_heads(),
            status: root_str(doc, "status")
                .ok()
                .flatten()
                .and_then(|s| s.parse().ok()),
            deleted: read_deletion(doc, None).0,
            lock: lock_change_of(doc),
        }
    }
}

/// What applying the push did: the pushed changes now in the document, and those of them that
/// are new to it.
struct Applied {
    accepted: Vec<ChangeHash>,
    new_changes: Vec<EncodedChange>,
}

/// Apply the pushed changes the document does not hold yet (each once). Changes already held
/// are accepted as they are; a fresh change is accepted once automerge has applied it (one
/// whose dependencies are missing is held back).
fn apply_fresh(doc: &mut AutoCommit, changes: Vec<Change>) -> Result<Applied, MergeError> {
    let mut accepted = Vec::with_capacity(changes.len());
    let mut fresh = Vec::new();
    for change in changes {
        let hash = change.hash();
        if doc.get_change_meta_by_hash(&hash).is_some() {
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
    let mut new_changes = Vec::with_capacity(fresh.len());
    for change in causal_order(fresh) {
        if doc.get_change_meta_by_hash(&change.hash()).is_some() {
            accepted.push(change.hash());
            new_changes.push(EncodedChange::from_change(change));
        }
    }
    Ok(Applied {
        accepted,
        new_changes,
    })
}

/// The pushed changes (their indices in the push) whose dependencies the stored document
/// holds or other such changes bring.
fn ready_changes(doc: &mut AutoCommit, parsed: &[intake::Parsed]) -> Vec<usize> {
    let changes: Vec<&Change> = parsed.iter().map(|p| &p.change).collect();
    let mut brought: HashSet<ChangeHash> = HashSet::new();
    let mut ready = Vec::with_capacity(parsed.len());
    for i in causal_indices(&changes) {
        let change = changes[i];
        let deps_held = change
            .deps()
            .iter()
            .all(|d| brought.contains(d) || doc.get_change_meta_by_hash(d).is_some());
        if deps_held {
            brought.insert(change.hash());
            ready.push(parsed[i].index);
        }
    }
    ready
}

/// `changes` with each after those among them it depends on. A device may send its changes
/// in any order, but the feed hands new changes out in this order, and a device that has never
/// held the document loads it from them: its history must come first.
fn causal_order(changes: Vec<Change>) -> Vec<Change> {
    let order = causal_indices(&changes.iter().collect::<Vec<_>>());
    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The positions of `changes`, each after those of the changes among them it depends on.
fn causal_indices(changes: &[&Change]) -> Vec<usize> {
    let mut pending: Vec<usize> = (0..changes.len()).collect();
    let mut ordered = Vec::with_capacity(changes.len());
    while !pending.is_empty() {
        let waiting: HashSet<ChangeHash> = pending.iter().map(|&i| changes[i].hash()).collect();
        let (ready, rest): (Vec<usize>, Vec<usize>) = pending
            .into_iter()
            .partition(|&i| changes[i].deps().iter().all(|d| !waiting.contains(d)));
        if ready.is_empty() {
            // Hashes cannot form a cycle; keep the rest as they came rather than loop.
            ordered.extend(rest);
            break;
        }
        ordered.extend(ready);
        pending = rest;
    }
    ordered
}

/// The result for a push whose dependencies are missing: nothing will be stored, and the
/// document may not even have its root fields yet.
fn deferred(
    doc_id: &str,
    doc: AutoCommit,
    before: Before,
    applied: Applied,
    missing_deps: Vec<ChangeHash>,
) -> Merged {
    let document =
        Document::from_automerge(doc_id, doc).unwrap_or_else(|_| Document::placeholder(doc_id));
    Merged {
        document,
        new_changes: applied.new_changes,
        accepted: applied.accepted,
        missing_deps,
        invalid_after_merge: None,
        was_invalid: false,
        lock: None,
        classified: Vec::new(),
        new_conflicts: Vec::new(),
        status_before: before.status,
        status_after: None,
        deleted_before: before.deleted,
        deleted_after: None,
        heads_before: before.heads,
        lock_before: before.lock,
    }
}

/// The merged document as a record of `doc_id`.
fn open_merged(doc_id: &str, doc: AutoCommit) -> Result<Document, MergeError> {
    Document::from_automerge(doc_id, doc).map_err(|e| MergeError::WrongDocument {
        doc_id: doc_id.to_owned(),
        reason: match e {
            ModelError::MissingField { field } => {
                format!("the document has no `{field}`: its creating change was never sent")
            }
            other => other.to_string(),
        },
    })
}

/// Whose fault an invalid merged document is. The device's own version is the document at the
/// heads of what it pushed; if that breaks rules the push is refused, naming them. Otherwise
/// the document became invalid through merging: its errors, and whether the stored document
/// already broke rules.
fn judge_validity(
    document: &Document,
    pushed_heads: &[ChangeHash],
    before: &Before,
) -> Result<(Option<ValidationErrors>, bool), MergeError> {
    let Err(merged_errors) = document.validate() else {
        return Ok((None, false));
    };
    if !pushed_heads.is_empty() {
        match document.version_at(pushed_heads) {
            Ok(pushed) => pushed.validate().map_err(MergeError::Invalid)?,
            Err(_) => return Err(MergeError::Invalid(merged_errors)),
        }
    }
    let was_invalid = !before.heads.is_empty()
        && document
            .version_at(&before.heads)
            .is_ok_and(|d| d.validate().is_err());
    Ok((Some(merged_errors), was_invalid))
}

/// Each new change against the lock. The change graph is walked only for a locked record: most
/// pushes skip it.
fn classify(
    document: &mut Document,
    lock: Option<ChangeHash>,
    new_changes: &[EncodedChange],
) -> Vec<NewChangeInfo> {
    let graph = lock.map(|_| DepGraph::of(&mut document.doc));
    let classifier = graph.as_ref().map(|g| LockClassifier::new(g, document));
    new_changes
        .iter()
        .map(|c| NewChangeInfo {
            hash: c.hash,
            relation: classifier
                .as_ref()
                .map_or(LockRelation::NoLock, |k| k.relation(&c.hash)),
            amendment: amendment_reason(c.message.as_deref()).map(str::to_owned),
        })
        .collect()
}

/// The pushed changes that no other pushed change depends on: the heads of the device's
/// version.
fn heads_of(changes: &[Change]) -> Vec<ChangeHash> {
    let deps: HashSet<ChangeHash> = changes
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .collect();
    let mut heads: Vec<ChangeHash> = changes
        .iter()
        .map(Change::hash)
        .filter(|h| !deps.contains(h))
        .collect();
    heads.sort();
    heads.dedup();
    heads
}
