//! Printing documents and status for people (and, with `--json`, for scripts).

use fieldnotes_client::{DocSummary, HeldChange, Status};
use fieldnotes_model::{Deletion, FieldConflict, NoteStatus, Record};
use serde_json::json;

pub fn list(docs: &[DocSummary], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        for d in docs {
            println!(
                "{}",
                json!({ "id": d.id, "kind": d.kind.as_str(), "child_id": d.child_id, "summary": d.summary })
            );
        }
        return Ok(());
    }
    if docs.is_empty() {
        eprintln!(
            "no documents on this device yet; record one with `fieldnotes note new`, or run `fieldnotes sync`"
        );
        return Ok(());
    }
    for d in docs {
        println!(
            "{}  {:<12}  {:<12}  {}",
            d.id,
            d.kind.as_str(),
            d.child_id.as_deref().unwrap_or("-"),
            d.summary
        );
    }
    Ok(())
}

/// A record in full: a deletion first, then every field (the status in words: draft,
/// completed, or signed off by whom), then the conflicts.
pub fn show(
    record: &Record,
    conflicts: &[FieldConflict],
    deletion: Option<&Deletion>,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        let mut value = serde_json::to_value(record)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("conflicts".into(), serde_json::to_value(conflicts)?);
            map.insert("deleted".into(), serde_json::to_value(deletion)?);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if let Some(d) = deletion {
        println!("deleted by {}: {}", d.by, d.reason);
    }
    let value = serde_json::to_value(record)?;
    if let Some(map) = value.as_object() {
        for (key, v) in map {
            if key == "signed_off_by" {
                continue; // Part of the status line.
            }
            if key == "status" {
                println!("status: {}", status_words(record));
                continue;
            }
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            if text.contains('\n') {
                println!("{key}:\n{}", indent(&text));
            } else {
                println!("{key}: {text}");
            }
        }
    }
    for c in conflicts {
        if c.merged.is_some() {
            println!(
                "conflict in {}: rewritten in the same place on {} devices at the same time:",
                c.field,
                c.values.len()
            );
        } else {
            println!(
                "conflict in {}: {} values were written at the same time:",
                c.field,
                c.values.len()
            );
        }
        for v in &c.values {
            println!(
                "  {} {} (by actor {})",
                if v.winner { "*" } else { " " },
                v.value,
                v.actor
            );
        }
        if let Some(merged) = &c.merged {
            println!("  * {merged} (the merged text, shown now)");
        }
    }
    Ok(())
}

/// "draft", "completed", "signed off by mgr".
fn status_words(record: &Record) -> String {
    match record.status() {
        Some(NoteStatus::SignedOff) => {
            format!(
                "signed off by {}",
                record.signed_off_by().unwrap_or("(unknown)")
            )
        }
        Some(status) => status.as_str().to_owned(),
        None => "-".to_owned(),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn status(status: &Status, held: Option<&[HeldChange]>, as_json: bool) -> anyhow::Result<()> {
    let last_sync = status.sync.last_sync_ms.map(last_sync_text);
    if as_json {
        let value = status_json(status, held, last_sync.as_deref());
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    print_device(status, last_sync.as_deref());
    match held {
        Some(hs) => print_held(hs),
        None if status.sync.held_documents > 0 => println!(
            "refused:         {} document(s) have changes held here (see why and the way out: \
             `fieldnotes status --refused`)",
            status.sync.held_documents
        ),
        None => {}
    }
    Ok(())
}

/// The last sync's device time as RFC 3339; the milliseconds as they are if they are not a
/// time.
fn last_sync_text(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// `fieldnotes status --json`: the counts, and the held changes when they were read.
fn status_json(
    status: &Status,
    held: Option<&[HeldChange]>,
    last_sync: Option<&str>,
) -> serde_json::Value {
    let refused: Option<Vec<_>> = held.map(|hs| {
        hs.iter()
            .map(|h| {
                json!({
                    "doc_id": h.doc_id,
                    "change": h.hash,
                    "code": h.code,
                    "reason": h.reason,
                    "withdrawn_by_withdraw": h.withdrawn_by_withdraw,
                    "way_out": h.way_out,
                })
            })
            .collect()
    });
    json!({
        "device_id": status.device_id,
        "data_dir": status.data_dir,
        "server": status.server_url,
        "owner": status.owner,
        "signed_in": status.signed_in,
        "documents": status.documents,
        "pending_changes": status.sync.pending_changes,
        "held_documents": status.sync.held_documents,
        "last_sync": last_sync,
        "refused": refused,
    })
}

/// The device, its owner, sign-in, server and counts, one per line.
fn print_device(status: &Status, last_sync: Option<&str>) {
    println!("device:          {}", status.device_id);
    println!("data folder:     {}", status.data_dir.display());
    println!(
        "server:          {}",
        status
            .server_url
            .as_deref()
            .unwrap_or("(none set; use --server URL)")
    );
    match &status.owner {
        Some(o) => println!(
            "belongs to:      {} ({}, {})",
            o.username, o.display_name, o.role
        ),
        None => println!("belongs to:      nobody yet (the first `fieldnotes login` claims it)"),
    }
    println!(
        "signed in:       {}",
        if status.signed_in {
            "yes"
        } else {
            "no (run `fieldnotes login`; records stay here, encrypted)"
        }
    );
    println!("documents:       {}", status.documents);
    println!("waiting to send: {} change(s)", status.sync.pending_changes);
    println!("last sync:       {}", last_sync.unwrap_or("never"));
}

/// Each change the server refused, with the way out.
fn print_held(held: &[HeldChange]) {
    for h in held {
        println!(
            "refused by the server: change {} to document {} ({}): {}",
            crate::ui::short(&h.hash, 12),
            h.doc_id,
            h.code,
            h.reason
        );
        println!("  way out: {}", h.way_out);
    }
}
