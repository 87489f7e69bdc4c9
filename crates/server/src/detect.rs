//! What a merge leaves for people: the record's life rules (who completes, signs off, deletes;
//! a locked record changes only by amendment) and the review findings (conflicts, amendments,
//! pending amendments, plans over their limit, documents made invalid by merging).
//!
//! Pure functions over what `fieldnotes_model::merge_incoming` reports; the merge step calls
//! them inside the store's push transaction, so an item exists exactly when its change does.

use fieldnotes_model::{
    ChangeHash, LockRelation, Merged, NoteStatus, Record, RuleCode, WriterRole, hash_hex,
};
use fieldnotes_protocol::RejectCode;
use fieldnotes_protocol::auth::Role;
use fieldnotes_protocol::review::{ItemKind, Side};
use fieldnotes_store::ReviewFinding;

use crate::merge::Writer;

/// Why a push is refused: its code and a reason for the person.
pub(crate) type Refusal = (RejectCode, String);

fn is_manager(writer: &Writer<'_>) -> bool {
    matches!(writer.role, Role::Manager | Role::Admin)
}

/// The model's write rules ([`fieldnotes_model::rules`]) for the pushing person, over the
/// changes this push brought: fields fixed at creation, who completes, signs off and deletes,
/// locks. The device runs the same rules before it writes. Returns the events to audit.
pub(crate) fn lifecycle(writer: &Writer<'_>, merged: &Merged) -> Result<Vec<String>, Refusal> {
    let rules_writer = fieldnotes_model::Writer {
        user_id: writer.user_id,
        role: writer_role(writer.role),
    };
    merged
        .document
        .check_write_rules(&rules_writer, &merged.heads_before, &merged.new_changes)
        .map(|events| events.iter().map(|e| e.as_str().to_owned()).collect())
        .map_err(refusal)
}

/// The model's view of a role.
pub(crate) fn writer_role(role: Role) -> WriterRole {
    match role {
        Role::SocialWorker => WriterRole::SocialWorker,
        Role::YouthWorker => WriterRole::YouthWorker,
        Role::Manager => WriterRole::Manager,
        Role::Admin => WriterRole::Admin,
    }
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
    (code, r.message)
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
    let finding =
        |kind: ItemKind, field: String, summary: String, sides: Vec<Side>| ReviewFinding {
            item_kind: kind.as_str().to_owned(),
            field,
            summary,
            sides: serde_json::to_value(sides).unwrap_or_default(),
            seen_heads: heads.to_vec(),
        };
    written_rules(writer, record, merged)?;
    let mut out = Vec::new();
    for conflict in &merged.new_conflicts {
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
            // Prose rewritten in the same place: each side's whole text, then what the merge
            // shows (the last side, written by no one device).
            Some(merged_text) => {
                let n = sides.len();
                sides.push(Side {
                    value: merged_text.clone(),
                    change: String::new(),
                    actor: String::new(),
                    user_id: None,
                    device_id: None,
                    device_time: String::new(),
                    received_at: None,
                    shown: true,
                    reason: Some("the merged text, as the record shows it now".to_owned()),
                });
                format!(
                    "{}: rewritten in the same place on {n} devices at the same time; sides 1 \
                     to {n} are each version, side {} the merged text",
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
        out.push(finding(
            ItemKind::Conflict,
            conflict.field.clone(),
            summary,
            sides,
        ));
    }
    if let Some(lock) = merged.lock {
        lock_findings(writer, record, merged, lock, &finding, &mut out)?;
    }
    if let Some(points) = record
        .plan_points()
        .filter(|n| *n > writer.scope.plan_point_limit)
        && points_changed(record, merged)
    {
        // Each point credited to the change (and so the person and device) that wrote it.
        let sides = merged
            .document
            .list_entries("points")
            .into_iter()
            .map(|p| side(p.value, &p.change, &p.actor, p.device_time_ms, true, None))
            .collect();
        out.push(finding(
            ItemKind::PlanLimit,
            "points".to_owned(),
            format!(
                "the plan has {points} points after merging; the team's limit is {}",
                writer.scope.plan_point_limit
            ),
            sides,
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
            (
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
        (Ok(Record::ShortPlan(before)), Record::ShortPlan(now)) => before.points != now.points,
        _ => true,
    }
}

type Finder<'a> = dyn Fn(ItemKind, String, String, Vec<Side>) -> ReviewFinding + 'a;

/// Amendments, pending amendments and refused edits against the record's lock.
fn lock_findings(
    writer: &Writer<'_>,
    record: &Record,
    merged: &mut Merged,
    lock: ChangeHash,
    finding: &Finder<'_>,
    out: &mut Vec<ReviewFinding>,
) -> Result<(), Refusal> {
    // What needs the document mutably (change metadata, heads), read first.
    let lock_meta = merged.document.change_info(&lock);
    let lock_arrived = merged.lock_before != Some(lock);
    let mut stored_heads: Vec<(ChangeHash, Option<(String, i64)>)> = Vec::new();
    if lock_arrived {
        for head in merged.document.heads() {
            if !merged.new_changes.iter().any(|c| c.hash == head) {
                let meta = merged.document.change_info(&head);
                stored_heads.push((head, meta));
            }
        }
    }
    let merged = &*merged;
    let document = &merged.document;
    let what = match record.status() {
        Some(NoteStatus::SignedOff) => "signed off",
        _ => "completed",
    };
    let lock_hex = hash_hex(&lock);
    let lock_side = || {
        side(
            format!("the {what} version"),
            &lock_hex,
            &lock_meta.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
            lock_meta.as_ref().map(|c| c.1).unwrap_or_default(),
            false,
            None,
        )
    };
    // Computed once, and only when an edit needs describing.
    let mut changed: Option<Vec<String>> = None;
    let mut changed_since_lock = || -> Vec<String> {
        changed
            .get_or_insert_with(|| {
                document
                    .read_at(&[lock])
                    .map(|locked| changed_fields(&locked, record))
                    .unwrap_or_default()
            })
            .clone()
    };
    let mut pending: Vec<Side> = Vec::new();
    for info in &merged.classified {
        let Some(change) = merged.new_changes.iter().find(|c| c.hash == info.hash) else {
            continue;
        };
        let hash = hash_hex(&info.hash);
        let actor = change.actor.to_hex_string();
        match (info.relation, &info.amendment) {
            (LockRelation::Concurrent, amendment) => {
                pending.push(side(
                    format!("changed: {}", changed_since_lock().join(", ")),
                    &hash,
                    &actor,
                    change.device_time_ms,
                    true,
                    amendment.clone(),
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
                            format!("changed: {}", changed_since_lock().join(", ")),
                            &hash,
                            &actor,
                            change.device_time_ms,
                            true,
                            Some(reason.clone()),
                        )],
                    ));
                }
            }
            // A manager's deletion of a locked record is no edit (the write rules check who).
            (LockRelation::After, None)
                if change
                    .message
                    .as_deref()
                    .is_some_and(|m| m.starts_with(fieldnotes_model::DELETE_PREFIX)) => {}
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
    // The lock arrived in this push: edits already stored that were made without seeing it
    // are pending amendments too.
    for (head, meta) in stored_heads {
        if document.lock_relation(&head) == LockRelation::Concurrent {
            pending.push(side(
                format!("changed: {}", changed_since_lock().join(", ")),
                &hash_hex(&head),
                &meta.as_ref().map(|e| e.0.clone()).unwrap_or_default(),
                meta.map(|e| e.1).unwrap_or_default(),
                true,
                None,
            ));
        }
    }
    if !pending.is_empty() {
        let mut sides = vec![lock_side()];
        sides.extend(pending);
        out.push(finding(
            ItemKind::PendingAmendment,
            String::new(),
            format!(
                "edited without seeing the record {what}: {}",
                changed_since_lock().join(", ")
            ),
            sides,
        ));
    }
    Ok(())
}
