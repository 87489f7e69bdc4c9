//! The pure merge step the store runs inside its write transaction: size and id checks, the
//! model's merge and validation, then who may write it: every new change must be written by
//! the pushing device's registered actor, the record must be in the person's write scope and
//! stay about the same child, and a new record must name the person as its author.

use fieldnotes_model::{
    ChangeHash, LockRelation, MergeError, Merged, NoteStatus, Record, hash_hex, merge_incoming,
};
use fieldnotes_protocol::RejectCode;
use fieldnotes_protocol::auth::Role;
use fieldnotes_protocol::review::{ItemKind, Side};
use fieldnotes_store::{MergeOutcome, Merger, NewChange, ReviewFinding, StoredDocument};

use crate::scope::Scope;

/// Merges pushed automerge changes with [`fieldnotes_model`].
#[derive(Debug, Clone)]
pub struct ModelMerger<'a> {
    /// Largest total of change bytes accepted for one document in one push.
    pub max_doc_push_bytes: usize,
    /// Who is writing.
    pub writer: &'a Writer,
}

/// The pushing device and what its person may write.
#[derive(Debug, Clone)]
pub struct Writer {
    pub user_id: String,
    pub role: Role,
    pub device_id: String,
    /// The device's registered automerge actor id, hex.
    pub actor: String,
    pub scope: Scope,
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

fn reject(code: RejectCode, reason: String) -> MergeOutcome {
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
                return out_of_scope(&self.writer.user_id, doc_id);
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
        let writer = self.writer;
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
            return reject(
                RejectCode::OutOfScope,
                format!(
                    "{} may not write records for {scope_key}: it is not allocated or referred to \
                     them, and they hold no access to it; the changes are kept in quarantine for \
                     review",
                    writer.user_id
                ),
            );
        }
        if let Some(author) = record
            .author()
            .filter(|a| current.is_none() && *a != writer.user_id)
        {
            return reject(
                RejectCode::WrongAuthor,
                format!(
                    "a new record must name its writer as author: it names {author:?}, but it \
                     was sent by {}",
                    writer.user_id
                ),
            );
        }
        let events = match lifecycle(writer, &record, &merged) {
            Ok(events) => events,
            Err((code, reason)) => return reject(code, reason),
        };
        let heads: Vec<String> = merged.document.heads().iter().map(hash_hex).collect();
        let findings = match findings(writer, &heads, &record, &merged) {
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

/// Why a push is refused: its code and a reason for the person.
type Refusal = (RejectCode, String);

fn is_manager(writer: &Writer) -> bool {
    matches!(writer.role, Role::Manager | Role::Admin)
}

/// Who may move a record through its life: the author completes it, a manager signs it off
/// or deletes it. Returns the events to audit, or the refusal.
fn lifecycle(writer: &Writer, record: &Record, merged: &Merged) -> Result<Vec<String>, Refusal> {
    let mut events = Vec::new();
    let (before, after) = (merged.status_before, merged.status_after);
    if after == Some(NoteStatus::Completed)
        && before != Some(NoteStatus::Completed)
        && before != Some(NoteStatus::SignedOff)
    {
        let author_ok = record.author().is_none_or(|a| a == writer.user_id);
        if !author_ok && !is_manager(writer) {
            return Err((
                RejectCode::WrongAuthor,
                format!(
                    "only the author ({}) completes this record; {} may add to it but not \
                     complete it",
                    record.author().unwrap_or("?"),
                    writer.user_id
                ),
            ));
        }
        events.push("complete".to_owned());
    }
    if after == Some(NoteStatus::SignedOff) && before != Some(NoteStatus::SignedOff) {
        if !is_manager(writer) {
            return Err((
                RejectCode::OutOfScope,
                format!(
                    "signing a record off is a manager's decision; {} is a {}",
                    writer.user_id, writer.role
                ),
            ));
        }
        events.push("sign_off".to_owned());
    }
    if merged.deleted_after.is_some() && merged.deleted_before.is_none() {
        if !is_manager(writer) {
            return Err((
                RejectCode::OutOfScope,
                format!(
                    "deleting a record is a manager's decision; {} cannot delete it (ask the \
                     team manager)",
                    writer.user_id
                ),
            ));
        }
        events.push("delete_record".to_owned());
    }
    if merged.classified.iter().any(|c| c.amendment.is_some()) {
        events.push("amend".to_owned());
    }
    Ok(events)
}

fn side(
    value: String,
    change: &str,
    actor: &str,
    device_time_ms: i64,
    shown: bool,
    reason: Option<String>,
) -> Side {
    Side {
        value,
        change: change.to_owned(),
        actor: actor.to_owned(),
        user_id: None,
        device_id: None,
        device_time: crate::routes::rfc3339(device_time_ms),
        received_at: None,
        shown,
        reason,
    }
}

/// The fields whose value differs between two versions of a record.
fn changed_fields(old: &Record, new: &Record) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    b.iter()
        .filter(|(k, v)| a.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// What this push leaves for a person to decide: conflicts it created or changed, amendments
/// and pending amendments to a locked record, a plan over the team's limit, a document made
/// invalid only by merging. An unreasoned edit made after seeing the lock is refused.
fn findings(
    writer: &Writer,
    heads: &[String],
    record: &Record,
    merged: &Merged,
) -> Result<Vec<ReviewFinding>, Refusal> {
    let document = &merged.document;
    let finding =
        |kind: ItemKind, field: String, summary: String, sides: Vec<Side>| ReviewFinding {
            item_kind: kind.as_str().to_owned(),
            field,
            summary,
            sides: serde_json::to_value(sides).unwrap_or_default(),
            seen_heads: heads.to_vec(),
        };
    let mut out = Vec::new();
    for conflict in &merged.new_conflicts {
        let sides = conflict
            .values
            .iter()
            .map(|v| {
                side(
                    v.value.clone(),
                    &v.change,
                    &v.actor,
                    v.device_time_ms,
                    v.winner,
                    None,
                )
            })
            .collect::<Vec<_>>();
        out.push(finding(
            ItemKind::Conflict,
            conflict.field.clone(),
            format!(
                "{}: {} values written at the same time",
                conflict.field,
                sides.len()
            ),
            sides,
        ));
    }
    let by_hash = |hash: &ChangeHash| merged.new_changes.iter().find(|c| c.hash == *hash);
    if let Some(lock) = merged.lock {
        let locked = document.read_at(&[lock]).ok();
        let changed = locked
            .as_ref()
            .map(|l| changed_fields(l, record))
            .unwrap_or_default();
        let what = match record.status() {
            Some(NoteStatus::SignedOff) => "signed off",
            _ => "completed",
        };
        for info in &merged.classified {
            let Some(change) = by_hash(&info.hash) else {
                continue;
            };
            let hash = hash_hex(&info.hash);
            let actor = change.actor.to_hex_string();
            match (info.relation, &info.amendment) {
                (LockRelation::Concurrent, _) => {
                    out.push(finding(
                        ItemKind::PendingAmendment,
                        format!("device:{}", writer.device_id),
                        format!(
                            "edited on a device that had not seen the record {what}: {}",
                            changed.join(", ")
                        ),
                        vec![
                            side(
                                format!("the {what} version"),
                                &hash_hex(&lock),
                                "",
                                0,
                                false,
                                None,
                            ),
                            side(
                                format!("changed: {}", changed.join(", ")),
                                &hash,
                                &actor,
                                change.device_time_ms,
                                true,
                                None,
                            ),
                        ],
                    ));
                }
                (LockRelation::After, Some(reason)) => {
                    let decided =
                        is_manager(writer) && reason.starts_with(fieldnotes_model::REVIEW_PREFIX);
                    if !decided {
                        out.push(finding(
                            ItemKind::Amendment,
                            hash.clone(),
                            format!("amendment to a {what} record: {reason}"),
                            vec![side(
                                format!("changed: {}", changed.join(", ")),
                                &hash,
                                &actor,
                                change.device_time_ms,
                                true,
                                Some(reason.clone()),
                            )],
                        ));
                    }
                }
                (LockRelation::After, None) => {
                    return Err((
                        RejectCode::InvalidDocument,
                        format!(
                            "the record is {what}: change {hash} edits it without an amendment \
                             reason; amend it with a reason instead"
                        ),
                    ));
                }
                (LockRelation::NoLock | LockRelation::IsLock | LockRelation::Before, _) => {}
            }
        }
    }
    if let Some(points) = record
        .plan_points()
        .filter(|n| *n > writer.scope.plan_point_limit)
    {
        let values = match record {
            Record::ShortPlan(plan) => plan.points.clone(),
            _ => Vec::new(),
        };
        out.push(finding(
            ItemKind::PlanLimit,
            "points".to_owned(),
            format!(
                "the plan has {points} points after merging; the team's limit is {}",
                writer.scope.plan_point_limit
            ),
            values
                .into_iter()
                .map(|v| side(v, "", "", 0, true, None))
                .collect(),
        ));
    }
    if let Some(errors) = merged
        .invalid_after_merge
        .as_ref()
        .filter(|_| !merged.was_invalid)
    {
        let field = errors
            .0
            .first()
            .map(|e| e.field.clone())
            .unwrap_or_default();
        let sides = merged
            .new_changes
            .iter()
            .map(|c| {
                side(
                    errors.to_string(),
                    &hash_hex(&c.hash),
                    &c.actor.to_hex_string(),
                    c.device_time_ms,
                    true,
                    None,
                )
            })
            .collect();
        out.push(finding(
            ItemKind::InvalidMerge,
            field,
            format!("edits made apart break a rule together: {errors}"),
            sides,
        ));
    }
    Ok(out)
}
