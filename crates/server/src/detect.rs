//! What a merge leaves for people: the record's life rules (who completes, signs off, deletes;
//! a locked record changes only by amendment) and the review findings (conflicts, amendments,
//! pending amendments, plans over their limit, documents made invalid by merging).
//!
//! Pure functions over what `fieldnotes_model::merge_incoming` reports; the merge step calls
//! them inside the store's push transaction, so an item exists exactly when its change does.

use std::cell::OnceCell;

use fieldnotes_model::{
    ChangeHash, Document, FieldConflict, LockRelation, Merged, NoteStatus, Record, RuleCode,
    hash_hex,
};
use fieldnotes_protocol::RejectCode;
use fieldnotes_protocol::review::{ItemKind, Side};
use fieldnotes_store::ReviewFinding;

use crate::merge::{Refusal, Writer};

/// The model's write rules ([`fieldnotes_model::rules`]) for the pushing person, over the
/// changes this push brought: fields fixed at creation, who completes, signs off and deletes,
/// locks. The device runs the same rules before it writes. Returns the events to audit.
pub(crate) fn lifecycle(writer: &Writer<'_>, merged: &Merged) -> Result<Vec<String>, Refusal> {
    let rules_writer = fieldnotes_model::Writer {
        user_id: writer.user_id,
        role: writer.role,
    };
    merged
        .document
        .check_write_rules(&rules_writer, &merged.heads_before, &merged.new_changes)
        .map(|events| events.iter().map(|e| e.as_str().to_owned()).collect())
        .map_err(refusal)
}

/// A write-rule refusal as the push's reject code and reason.
pub(crate) fn refusal(r: fieldnotes_model::Refusal) -> Refusal {
    let code = match r.code {
        RuleCode::ImmutableField => RejectCode::ImmutableField,
        RuleCode::NotPermitted => RejectCode::NotPermitted,
        RuleCode::Locked => RejectCode::Locked,
        RuleCode::WrongAuthor => RejectCode::WrongAuthor,
        RuleCode::OutOfScope => RejectCode::OutOfScope,
    };
    Refusal::new(code, r.message)
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
        user_name: None,
        device_name: None,
        device_time: crate::clock::rfc3339(device_time_ms),
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

/// Review findings as they are collected, each with the heads its sides were seen at.
struct Findings<'a> {
    heads: &'a [String],
    out: Vec<ReviewFinding>,
}

impl Findings<'_> {
    fn push(&mut self, kind: ItemKind, field: String, summary: String, sides: Vec<Side>) {
        self.out.push(ReviewFinding {
            item_kind: kind,
            field,
            summary,
            sides: serde_json::to_value(sides).unwrap_or_default(),
            seen_heads: self.heads.to_vec(),
        });
    }
}

/// What this push leaves for a person to decide: conflicts it created or changed; amendments
/// to a locked record and edits made without seeing its lock (pushed now, or already stored
/// when the lock arrives); a plan whose points this push took over the team's limit; a
/// document made invalid only by merging. An unreasoned edit made after seeing the lock is
/// refused.
pub(crate) fn findings(
    writer: &Writer<'_>,
    heads: &[String],
    record: &Record,
    merged: &mut Merged,
) -> Result<Vec<ReviewFinding>, Refusal> {
    written_rules(writer, record, merged)?;
    let mut out = Findings {
        heads,
        out: Vec::new(),
    };
    for conflict in &merged.new_conflicts {
        conflict_finding(conflict, &mut out);
    }
    if let Some(lock) = merged.lock {
        lock_findings(writer, record, merged, lock, &mut out)?;
    }
    plan_limit_finding(writer, record, merged, &mut out);
    invalid_merge_finding(merged, &mut out);
    Ok(out.out)
}

/// Values written at the same time; for prose rewritten in the same place, each side's whole
/// text, then what the merge shows (the last side, written by no one device).
fn conflict_finding(conflict: &FieldConflict, out: &mut Findings<'_>) {
    let mut sides = conflict
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
    let summary = match &conflict.merged {
        Some(merged_text) => {
            let n = sides.len();
            sides.push(Side {
                value: merged_text.clone(),
                change: String::new(),
                actor: String::new(),
                user_id: None,
                device_id: None,
                user_name: None,
                device_name: None,
                device_time: String::new(),
                received_at: None,
                shown: true,
                reason: Some("the merged text, as the record shows it now".to_owned()),
            });
            format!(
                "{}: rewritten in the same place on {n} devices at the same time; sides 1 to {n} \
                 are each version, side {} the merged text",
                conflict.field,
                n + 1
            )
        }
        None => format!(
            "{}: {} values written at the same time",
            conflict.field,
            sides.len()
        ),
    };
    out.push(ItemKind::Conflict, conflict.field.clone(), summary, sides);
}

/// A plan whose points this push took over the team's limit, each point credited to the
/// change (and so the person and device) that wrote it.
fn plan_limit_finding(
    writer: &Writer<'_>,
    record: &Record,
    merged: &Merged,
    out: &mut Findings<'_>,
) {
    let limit = writer.scope.plan_point_limit;
    let Some(points) = record.plan_points().filter(|n| *n > limit) else {
        return;
    };
    if !points_changed(record, merged) {
        return;
    }
    let sides = merged
        .document
        .list_entries("points")
        .into_iter()
        .map(|p| side(p.value, &p.change, &p.actor, p.device_time_ms, true, None))
        .collect();
    out.push(
        ItemKind::PlanLimit,
        "points".to_owned(),
        format!("the plan has {points} points after merging; the team's limit is {limit}"),
        sides,
    );
}

/// A document that breaks a rule only through merging edits made apart.
fn invalid_merge_finding(merged: &Merged, out: &mut Findings<'_>) {
    let Some(errors) = merged
        .invalid_after_merge
        .as_ref()
        .filter(|_| !merged.was_invalid)
    else {
        return;
    };
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
    out.push(
        ItemKind::InvalidMerge,
        field,
        format!("edits made apart break a rule together: {errors}"),
        sides,
    );
}

/// The rules for values as written ([`fieldnotes_model::validate::check_written`]), on what
/// this push changed against the stored version, with the server's receive time as "now": a
/// blank title or body, a visit dated more than a day ahead, a plan ending before its review.
fn written_rules(writer: &Writer<'_>, record: &Record, merged: &Merged) -> Result<(), Refusal> {
    if merged.new_changes.is_empty() {
        return Ok(());
    }
    let before = if merged.heads_before.is_empty() {
        None
    } else {
        merged.document.read_at(&merged.heads_before).ok()
    };
    fieldnotes_model::validate::check_written(record, before.as_ref(), Some(writer.received_at_ms))
        .map_err(|errors| {
            Refusal::new(
                RejectCode::InvalidDocument,
                format!(
                    "the record breaks a rule: {errors}; correct it on the device and sync again"
                ),
            )
        })
}

/// The plan's points differ from the stored version's (a push that did not touch them does
/// not raise the limit again).
fn points_changed(record: &Record, merged: &Merged) -> bool {
    if merged.new_changes.is_empty() {
        return false;
    }
    if merged.heads_before.is_empty() {
        return true;
    }
    match (merged.document.read_at(&merged.heads_before), record) {
        (Ok(Record::ShortPlan(before)), Record::ShortPlan(now)) => {
            before.content.points != now.content.points
        }
        _ => true,
    }
}

/// A record's lock, as the amendment findings describe it.
struct LockView<'a> {
    hash: ChangeHash,
    /// "signed off" or "completed".
    what: &'static str,
    document: &'a Document,
    record: &'a Record,
    /// The fields changed since the lock: worked out once, and only when an edit needs
    /// describing.
    changed: OnceCell<String>,
}

impl LockView<'_> {
    fn changed(&self) -> &str {
        self.changed.get_or_init(|| {
            self.document
                .read_at(&[self.hash])
                .map(|locked| changed_fields(&locked, self.record))
                .unwrap_or_default()
                .join(", ")
        })
    }

    /// A side for an edit against the lock.
    fn edit_side(
        &self,
        hash: &str,
        actor: &str,
        device_time_ms: i64,
        reason: Option<String>,
    ) -> Side {
        let value = format!("changed: {}", self.changed());
        side(value, hash, actor, device_time_ms, true, reason)
    }
}

/// A stored change and who wrote it when (actor, device time), if the document knows.
type StoredHead = (ChangeHash, Option<(String, i64)>);

/// Amendments, pending amendments and refused edits against the record's lock.
fn lock_findings(
    writer: &Writer<'_>,
    record: &Record,
    merged: &mut Merged,
    lock: ChangeHash,
    out: &mut Findings<'_>,
) -> Result<(), Refusal> {
    // What needs the document mutably (change metadata, heads), read first.
    let lock_meta = merged.document.change_info(&lock);
    let stored_heads = stored_heads_at_lock(merged, lock);
    let merged = &*merged;
    let view = LockView {
        hash: lock,
        what: match record.status() {
            Some(NoteStatus::SignedOff) => "signed off",
            _ => "completed",
        },
        document: &merged.document,
        record,
        changed: OnceCell::new(),
    };
    let mut pending = pushed_against_lock(writer, merged, &view, out)?;
    // The lock arrived in this push: edits already stored that were made without seeing it
    // are pending amendments too.
    for (head, meta) in stored_heads {
        if view.document.lock_relation(&head) == LockRelation::Concurrent {
            let (actor, device_time_ms) = meta.unwrap_or_default();
            pending.push(view.edit_side(&hash_hex(&head), &actor, device_time_ms, None));
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let (actor, device_time_ms) = lock_meta.unwrap_or_default();
    let what = view.what;
    let lock_side = side(
        format!("the {what} version"),
        &hash_hex(&lock),
        &actor,
        device_time_ms,
        false,
        None,
    );
    let summary = format!(
        "edited without seeing the record {what}: {}",
        view.changed()
    );
    let sides = std::iter::once(lock_side).chain(pending).collect();
    out.push(ItemKind::PendingAmendment, String::new(), summary, sides);
    Ok(())
}

/// When the lock arrives in this push: the stored heads (not pushed now), with their metadata.
fn stored_heads_at_lock(merged: &mut Merged, lock: ChangeHash) -> Vec<StoredHead> {
    if merged.lock_before == Some(lock) {
        return Vec::new();
    }
    let mut stored_heads = Vec::new();
    for head in merged.document.heads() {
        if !merged.new_changes.iter().any(|c| c.hash == head) {
            let meta = merged.document.change_info(&head);
            stored_heads.push((head, meta));
        }
    }
    stored_heads
}

/// This push's new changes against the lock: edits made without seeing it are pending
/// amendments (returned as sides), reasoned edits after it are amendments (found, unless a
/// manager's review decision), and an unreasoned edit after it is refused.
fn pushed_against_lock(
    writer: &Writer<'_>,
    merged: &Merged,
    view: &LockView<'_>,
    out: &mut Findings<'_>,
) -> Result<Vec<Side>, Refusal> {
    let mut pending = Vec::new();
    for info in &merged.classified {
        let Some(change) = merged.new_changes.iter().find(|c| c.hash == info.hash) else {
            continue;
        };
        let hash = hash_hex(&info.hash);
        let actor = change.actor.to_hex_string();
        let time = change.device_time_ms;
        match (info.relation, &info.amendment) {
            (LockRelation::Concurrent, amendment) => {
                pending.push(view.edit_side(&hash, &actor, time, amendment.clone()));
            }
            (LockRelation::After, Some(reason)) => {
                let decided =
                    writer.role.manages() && reason.starts_with(fieldnotes_model::REVIEW_PREFIX);
                if !decided {
                    let summary = format!("amendment to a {} record: {reason}", view.what);
                    let sides = vec![view.edit_side(&hash, &actor, time, Some(reason.clone()))];
                    out.push(ItemKind::Amendment, hash.clone(), summary, sides);
                }
            }
            // A manager's deletion of a locked record is no edit (the write rules check who).
            (LockRelation::After, None)
                if change
                    .message
                    .as_deref()
                    .is_some_and(|m| m.starts_with(fieldnotes_model::DELETE_PREFIX)) => {}
            (LockRelation::After, None) => {
                return Err(Refusal::new(
                    RejectCode::InvalidDocument,
                    format!(
                        "the record is {}: change {hash} edits it without an amendment \
                         reason; amend it with a reason instead",
                        view.what
                    ),
                ));
            }
            (LockRelation::NoLock | LockRelation::IsLock | LockRelation::Before, _) => {}
        }
    }
    Ok(pending)
}
