//! What a merge leaves for people: the record's life rules (who completes, signs off, deletes;
//! a locked record changes only by amendment) and the review findings (conflicts, amendments,
//! pending amendments, plans over their limit, documents made invalid by merging).
//!
//! Pure functions over what `fieldnotes_model::merge_incoming` reports; the merge step calls
//! them inside the store's push transaction, so an item exists exactly when its change does.

use fieldnotes_model::{ChangeHash, LockRelation, Merged, NoteStatus, Record, hash_hex};
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

fn refuse(code: RejectCode, reason: String) -> Result<Vec<String>, Refusal> {
    Err((code, reason))
}

/// Who may move a record through its life. The author completes it; a manager signs it off
/// (only once completed) and deletes it, in their own name; after that its status does not
/// move, and a deleted record does not change at all. Returns the events to audit.
pub(crate) fn lifecycle(
    writer: &Writer<'_>,
    record: &Record,
    merged: &Merged,
) -> Result<Vec<String>, Refusal> {
    let mut events = Vec::new();
    if let Some(deleted) = &merged.deleted_before {
        if !merged.new_changes.is_empty() {
            return refuse(
                RejectCode::InvalidDocument,
                format!(
                    "this record was deleted by {} ({}); it cannot be changed",
                    deleted.by, deleted.reason
                ),
            );
        }
        return Ok(events);
    }
    let (before, after) = (merged.status_before, merged.status_after);
    let was_locked = before.is_some_and(NoteStatus::is_locked);
    let signing_off = before == Some(NoteStatus::Completed) && after == Some(NoteStatus::SignedOff);
    if was_locked && before != after && !signing_off {
        return refuse(
            RejectCode::InvalidDocument,
            format!(
                "this record is {}; its status cannot go back to {}: change it by amendment \
                 with a reason",
                status_name(before),
                status_name(after)
            ),
        );
    }
    // A change that rewrites the status of an already locked record (rather than a second
    // device's concurrent completion) would become the lock and escape review.
    if was_locked && let Some(stored) = merged.lock_before {
        for info in &merged.classified {
            if info.relation == LockRelation::IsLock
                && !signing_off
                && merged.document.is_ancestor(&stored, &info.hash)
            {
                return refuse(
                    RejectCode::InvalidDocument,
                    format!(
                        "change {} writes the status of a record that is already {}; change it \
                         by amendment with a reason",
                        hash_hex(&info.hash),
                        status_name(before)
                    ),
                );
            }
        }
    }
    if after == Some(NoteStatus::Completed) && !was_locked {
        if let Some(author) = record.author().filter(|a| *a != writer.user_id) {
            return refuse(
                RejectCode::WrongAuthor,
                format!(
                    "only the author ({author}) completes this record; {} may add to it but \
                     not complete it",
                    writer.user_id
                ),
            );
        }
        events.push("complete".to_owned());
    }
    if after == Some(NoteStatus::SignedOff) && before != Some(NoteStatus::SignedOff) {
        if !is_manager(writer) {
            return refuse(
                RejectCode::OutOfScope,
                format!(
                    "signing a record off is a manager's decision; {} is a {}",
                    writer.user_id, writer.role
                ),
            );
        }
        if !signing_off {
            return refuse(
                RejectCode::InvalidDocument,
                "only a completed record can be signed off: the author completes it first"
                    .to_owned(),
            );
        }
        if record.signed_off_by() != Some(writer.user_id) {
            return refuse(
                RejectCode::InvalidDocument,
                format!(
                    "a sign-off is in the manager's own name: it names {:?}, sent by {}",
                    record.signed_off_by(),
                    writer.user_id
                ),
            );
        }
        events.push("sign_off".to_owned());
    }
    if let Some(deleted) = &merged.deleted_after {
        if !is_manager(writer) {
            return refuse(
                RejectCode::OutOfScope,
                format!(
                    "deleting a record is a manager's decision; {} cannot delete it (ask the \
                     team manager)",
                    writer.user_id
                ),
            );
        }
        if deleted.by != writer.user_id {
            return refuse(
                RejectCode::InvalidDocument,
                format!(
                    "a deletion is in the manager's own name: it names {}, sent by {}",
                    deleted.by, writer.user_id
                ),
            );
        }
        events.push("delete_record".to_owned());
    }
    if merged.classified.iter().any(|c| c.amendment.is_some()) {
        events.push("amend".to_owned());
    }
    Ok(events)
}

fn status_name(status: Option<NoteStatus>) -> &'static str {
    match status {
        Some(NoteStatus::Draft) | None => "draft",
        Some(NoteStatus::Completed) => "completed",
        Some(NoteStatus::SignedOff) => "signed off",
    }
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
