//! Completion, sign-off, amendments and soft deletion: how a record becomes read-only and how
//! it changes after that, plus the change-graph questions the server asks about a lock.
//!
//! A record whose status is `completed` or `signed_off` is locked. [`Document::edit`] refuses
//! to change it; [`Document::amend`] changes it as one change whose automerge message is
//! `amend: <reason>`. The *lock change* is the change that wrote the current (winning) `status`
//! value; every other change is before it (an ancestor), after it (a descendant: it saw the
//! lock) or concurrent with it (made without seeing the lock: a pending amendment).

use std::collections::{HashMap, HashSet};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ChangeHash, ROOT, ReadDoc};
use serde::Serialize;

use crate::document::{Document, EncodedChange};
use crate::error::ModelError;
use crate::kinds::{DocKind, NoteStatus};
use crate::record::Patch;
use crate::validate::{ValidationError, ValidationErrors, reason_error};
use crate::write::put_str;

/// The prefix of an amendment's change message; the reason follows.
pub const AMEND_PREFIX: &str = "amend: ";
/// The prefix of a deletion's change message; the reason follows.
pub const DELETE_PREFIX: &str = "delete: ";
/// The change message of a sign-off.
pub const SIGN_OFF_MESSAGE: &str = "sign-off";

/// The reason of an amendment, from a change's message (`amend: <reason>`); `None` for any
/// other change.
pub fn amendment_reason(message: Option<&str>) -> Option<&str> {
    message?.strip_prefix(AMEND_PREFIX)
}

/// How a change stands to the lock change (the completion or sign-off in force).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockRelation {
    /// The record is not locked.
    NoLock,
    /// The change wrote the status value that locks the record (a completion or sign-off).
    IsLock,
    /// The change is an ancestor of the lock: it was made before it, and seen by it.
    Before,
    /// The change descends from the lock: its author saw the record locked (an amendment, if
    /// it carries a reason).
    After,
    /// Neither: made without seeing the lock (offline). A pending amendment for review.
    Concurrent,
}

/// The dependency graph of a document's changes.
#[derive(Debug, Default)]
pub(crate) struct DepGraph {
    deps: HashMap<ChangeHash, Vec<ChangeHash>>,
}

impl DepGraph {
    pub(crate) fn of(doc: &mut automerge::AutoCommit) -> DepGraph {
        DepGraph {
            deps: doc
                .get_changes_meta(&[])
                .into_iter()
                .map(|m| (m.hash, m.deps))
                .collect(),
        }
    }

    /// Every strict ancestor of `of`.
    pub(crate) fn ancestors(&self, of: &ChangeHash) -> HashSet<ChangeHash> {
        let mut seen = HashSet::new();
        let mut stack: Vec<ChangeHash> = self.deps.get(of).cloned().unwrap_or_default();
        while let Some(h) = stack.pop() {
            if seen.insert(h)
                && let Some(deps) = self.deps.get(&h)
            {
                stack.extend(deps.iter().copied());
            }
        }
        seen
    }

    pub(crate) fn is_ancestor(&self, ancestor: &ChangeHash, of: &ChangeHash) -> bool {
        self.ancestors(of).contains(ancestor)
    }
}

/// Classifies changes against one lock change, computing the lock's ancestors once.
#[derive(Debug)]
pub(crate) struct LockClassifier<'g> {
    graph: &'g DepGraph,
    lock: Option<(ChangeHash, HashSet<ChangeHash>)>,
    /// Changes that wrote a current `status` value equal to the locking one (concurrent
    /// identical completions are all "the lock").
    lock_writers: HashSet<ChangeHash>,
}

impl<'g> LockClassifier<'g> {
    pub(crate) fn new(graph: &'g DepGraph, doc: &Document) -> Self {
        let lock = doc.lock_change().map(|l| (l, graph.ancestors(&l)));
        LockClassifier {
            graph,
            lock_writers: if lock.is_some() {
                doc.locking_status_writers()
            } else {
                HashSet::new()
            },
            lock,
        }
    }

    pub(crate) fn relation(&self, change: &ChangeHash) -> LockRelation {
        let Some((lock, lock_ancestors)) = &self.lock else {
            return LockRelation::NoLock;
        };
        if change == lock || self.lock_writers.contains(change) {
            LockRelation::IsLock
        } else if lock_ancestors.contains(change) {
            LockRelation::Before
        } else if self.graph.is_ancestor(lock, change) {
            LockRelation::After
        } else {
            LockRelation::Concurrent
        }
    }
}

pub(crate) fn reason_invalid(field: &str, reason: &str) -> Result<(), ModelError> {
    match reason_error(field, reason) {
        Some(e) => Err(ValidationErrors(vec![e]).into()),
        None => Ok(()),
    }
}

impl Document {
    /// A manager signs a completed visit note or short plan off: `status` becomes
    /// `signed_off` and `signed_off_by` the manager's user id, in one change stamped
    /// `device_time_ms` with the message [`SIGN_OFF_MESSAGE`]. Who may sign off is the
    /// server's check.
    pub fn sign_off(
        &mut self,
        manager_id: &str,
        device_time_ms: i64,
    ) -> Result<EncodedChange, ModelError> {
        let doc_id = self.id.clone();
        let refuse = |reason: String| ModelError::CannotSignOff {
            doc_id: doc_id.clone(),
            reason,
        };
        if !matches!(self.kind, DocKind::VisitNote | DocKind::ShortPlan) {
            return Err(refuse(format!(
                "only visit notes and short plans are signed off, and this is a {}",
                self.kind
            )));
        }
        self.refuse_if_deleted()?;
        match self.status() {
            Some(NoteStatus::Completed) => {}
            Some(NoteStatus::Draft) | None => {
                return Err(refuse(
                    "it is a draft: its author must complete it first".into(),
                ));
            }
            Some(NoteStatus::SignedOff) => {
                let by = self
                    .read()
                    .ok()
                    .and_then(|r| r.signed_off_by().map(str::to_owned));
                return Err(refuse(format!(
                    "it is already signed off by {}",
                    by.as_deref().unwrap_or("a manager")
                )));
            }
        }
        let outcome = put_str(&mut self.doc, "status", NoteStatus::SignedOff.as_str())
            .and_then(|()| put_str(&mut self.doc, "signed_off_by", manager_id));
        let options = CommitOptions::default()
            .with_time(device_time_ms)
            .with_message(SIGN_OFF_MESSAGE.to_owned());
        self.commit_valid(outcome, options)?
            .ok_or_else(|| refuse("nothing changed".into()))
    }

    /// Change a locked (completed or signed-off) record: `patch` applied as one change whose
    /// message is `amend: <reason>`. The reason is required (3 to 500 characters, trimmed). An
    /// amendment cannot change the status. Returns `None` if the patch changes nothing.
    pub fn amend(
        &mut self,
        patch: Patch,
        reason: &str,
        device_time_ms: i64,
    ) -> Result<Option<EncodedChange>, ModelError> {
        self.check_patch_kind(&patch)?;
        self.refuse_if_deleted()?;
        let status = self.status().unwrap_or(NoteStatus::Draft);
        if !status.is_locked() {
            return Err(ModelError::NotLocked {
                doc_id: self.id.clone(),
                status,
            });
        }
        reason_invalid("reason", reason)?;
        let asked = match &patch {
            Patch::VisitNote(p) => p.status,
            Patch::AboutMe(p) => p.status,
            Patch::ShortPlan(p) => p.status,
            Patch::ContactCard(_) => None,
        };
        if asked.is_some_and(|s| s != status) {
            return Err(ValidationErrors(vec![ValidationError::new(
                "status",
                "amend",
                format!("an amendment cannot change the status; the record stays {status}"),
            )])
            .into());
        }
        let message = format!("{AMEND_PREFIX}{}", reason.trim());
        self.apply_and_commit(
            &patch,
            CommitOptions::default()
                .with_time(device_time_ms)
                .with_message(message),
            |_| Ok(()),
        )
    }

    /// Soft-delete the record: root `deleted` becomes `{by, reason}` in one change whose
    /// message is `delete: <reason>`. A manager's decision (the server checks who); works on
    /// locked records too. The record and its history stay; further edits are refused.
    pub fn delete(
        &mut self,
        by: &str,
        reason: &str,
        device_time_ms: i64,
    ) -> Result<EncodedChange, ModelError> {
        self.check_reasoned("deleted/reason", reason)?;
        let reason = reason.trim();
        let outcome = self
            .doc
            .put_object(ROOT, "deleted", automerge::ObjType::Map)
            .and_then(|map| {
                self.doc.put(&map, "by", by)?;
                self.doc.put(&map, "reason", reason)
            })
            .map_err(ModelError::from);
        let options = CommitOptions::default()
            .with_time(device_time_ms)
            .with_message(format!("{DELETE_PREFIX}{reason}"));
        self.commit_valid(outcome, options)?
            .ok_or_else(|| ModelError::Load("the deletion wrote nothing".into()))
    }

    /// The change that locked the record: the one that wrote the current (winning) `status`
    /// value, when that value is `completed` or `signed_off`. `None` while unlocked.
    pub fn lock_change(&self) -> Option<ChangeHash> {
        lock_change_of(&self.doc)
    }

    /// Every change that wrote one of the current `status` values equal to the winning,
    /// locking one.
    pub(crate) fn locking_status_writers(&self) -> HashSet<ChangeHash> {
        let Ok(Some((winner, _))) = self.doc.get(ROOT, "status") else {
            return HashSet::new();
        };
        let winner = winner.as_str().map(str::to_owned);
        self.doc
            .get_all(ROOT, "status")
            .unwrap_or_default()
            .into_iter()
            .filter(|(v, _)| v.as_str().map(str::to_owned) == winner)
            .filter_map(|(_, op)| self.doc.hash_for_opid(&op))
            .collect()
    }

    /// Whether `ancestor` is a strict ancestor of `of` (a change `of` depends on, directly or
    /// through others). False for a change and itself, and for changes not in the document.
    pub fn is_ancestor(&self, ancestor: &ChangeHash, of: &ChangeHash) -> bool {
        self.dep_graph().is_ancestor(ancestor, of)
    }

    /// How `change` stands to the lock change ([`Document::lock_change`]).
    pub fn lock_relation(&self, change: &ChangeHash) -> LockRelation {
        LockClassifier::new(&self.dep_graph(), self).relation(change)
    }

    pub(crate) fn dep_graph(&self) -> DepGraph {
        // Reading the change graph needs `&mut` on automerge's side (it closes any open
        // transaction; ours are always closed), so read it from a copy.
        DepGraph::of(&mut self.doc.clone())
    }

    /// The document as it was at `heads` (for instance the signed-off version:
    /// `version_at(&[lock_change])`). Write to it only after [`Document::set_actor`].
    pub fn version_at(&self, heads: &[ChangeHash]) -> Result<Document, ModelError> {
        let doc = self.doc.clone().fork_at(heads).map_err(|e| match e {
            automerge::AutomergeError::InvalidHash(h) => ModelError::UnknownVersion(h.to_string()),
            other => ModelError::Automerge(other),
        })?;
        Ok(Document {
            doc,
            id: self.id.clone(),
            kind: self.kind,
        })
    }
}

/// The lock change of a raw automerge document (see [`Document::lock_change`]).
pub(crate) fn lock_change_of(doc: &automerge::AutoCommit) -> Option<ChangeHash> {
    let (value, op) = doc.get(ROOT, "status").ok().flatten()?;
    let status: NoteStatus = value.as_str()?.parse().ok()?;
    if !status.is_locked() {
        return None;
    }
    doc.hash_for_opid(&op)
}
