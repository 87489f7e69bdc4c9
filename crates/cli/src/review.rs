//! `fieldnotes review ...`: the queue of what a merge could not decide on its own, for
//! managers (their team's items) and admins. The server decides who may review; a refusal is
//! shown with its reason (exit code 1).

use std::process::ExitCode;

use fieldnotes_client::{Client, Resolution, ReviewQuery};
use fieldnotes_protocol::ReviewStatus;
use fieldnotes_protocol::review::{ItemKind, ReviewItem, Side};

use crate::Usage;
use crate::args::limit_or_default;
use crate::review_args::{ReviewCmd, ReviewDismiss, ReviewResolve};
use crate::ui::{
    Explain, age, check_reason, json_lines, json_one, more_may_follow, one_line, or_dash, short,
    short_time, table,
};

/// `fieldnotes review ...`
pub async fn review(client: &Client, command: ReviewCmd, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        ReviewCmd::List(a) => list(client, a, json).await?,
        ReviewCmd::Show(a) => {
            let item = client.review_item(a.id).await.explain()?;
            if json {
                json_one(&item)?;
            } else {
                show(&item);
            }
        }
        ReviewCmd::Resolve(a) => resolve(client, a, json).await?,
        ReviewCmd::Dismiss(a) => dismiss(client, a, json).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The field an item is about, in words. An amendment's item is keyed by its change (or its
/// device), not a field: its fields are those its last side says it changed.
fn field_name(item: &ReviewItem) -> String {
    match item.item_kind {
        ItemKind::Amendment | ItemKind::PendingAmendment => item
            .sides
            .last()
            .and_then(|s| s.value.strip_prefix("changed: "))
            .map_or_else(|| "(record)".to_owned(), str::to_owned),
        _ if item.field.is_empty() => "(record)".to_owned(),
        _ => item.field.clone(),
    }
}

/// How to settle an item of this kind.
fn how_to_settle(item: &ReviewItem) -> String {
    let id = item.item_id;
    let decide = match item.item_kind {
        ItemKind::Conflict | ItemKind::InvalidMerge => {
            format!(
                "`fieldnotes review resolve {id} --choose N --reason \"...\"` (or --value TEXT)"
            )
        }
        ItemKind::Amendment | ItemKind::PendingAmendment => format!(
            "`fieldnotes review resolve {id} --accept --reason \"...\"` (or --restore to undo it)"
        ),
        ItemKind::PlanLimit => format!(
            "`fieldnotes review resolve {id} --value \"POINT\nPOINT\" --reason \"...\"` (the \
             points to keep, one per line)"
        ),
    };
    format!("settle it with {decide}, or `fieldnotes review dismiss {id} --reason \"...\"`")
}

async fn list(client: &Client, query: ReviewQuery, json: bool) -> anyhow::Result<()> {
    let open = ReviewStatus::Open.as_str();
    let status = query.status.as_deref().unwrap_or(open);
    let with_status = status != open;
    let items = client.review_items(&query).await.explain()?;
    if json {
        return json_lines(&items);
    }
    if items.is_empty() {
        eprintln!("nothing to review ({status} items)");
        return Ok(());
    }
    let rows: Vec<_> = items
        .iter()
        .map(|i| {
            let mut row = vec![
                i.item_id.to_string(),
                age(&i.created_at.to_string()),
                i.item_kind.as_str().to_owned(),
                or_dash(i.child_id.as_deref()),
                field_name(i),
            ];
            if with_status {
                row.push(i.status.to_string());
            }
            row.push(one_line(&i.summary));
            row
        })
        .collect();
    let mut headers = vec!["ID", "AGE", "KIND", "CHILD", "FIELD"];
    if with_status {
        headers.push("STATUS");
    }
    headers.push("SUMMARY");
    table(&headers, &rows);
    more_may_follow(
        items.len(),
        limit_or_default(query.limit),
        items.last().map(|i| i.item_id),
    );
    eprintln!("see one with `fieldnotes review show ID`");
    Ok(())
}

/// A value on its own line, or indented under its label when it has several lines.
fn labelled(label: &str, value: &str) {
    if value.contains('\n') {
        println!("    {label}:");
        for line in value.lines() {
            println!("      {line}");
        }
    } else {
        println!("    {label:<12} {value}");
    }
}

fn side_lines(n: usize, side: &Side) {
    println!(
        "  side {n}{}:",
        if side.shown { " (shown now)" } else { "" }
    );
    labelled(
        "value:",
        if side.value.is_empty() {
            "(empty)"
        } else {
            &side.value
        },
    );
    let who = match &side.user_id {
        Some(user) => user.clone(),
        None => format!("unknown (actor {})", short(&side.actor, 8)),
    };
    labelled("by:", &who);
    labelled("device:", &or_dash(side.device_id.as_deref()));
    labelled("device time:", &short_time(&side.device_time));
    labelled(
        "received:",
        &side
            .received_at
            .as_deref()
            .map_or_else(|| "-".to_owned(), short_time),
    );
    if let Some(reason) = &side.reason {
        labelled("reason:", reason);
    }
    labelled("change:", &short(&side.change, 12));
}

fn show(item: &ReviewItem) {
    println!(
        "item {}: {} ({}) of {} {}",
        item.item_id,
        item.item_kind.as_str(),
        field_name(item),
        item.doc_kind,
        item.doc_id
    );
    println!(
        "child: {}   team: {}",
        or_dash(item.child_id.as_deref()),
        or_dash(item.team_id.as_deref())
    );
    println!(
        "status: {}   raised: {} ({} ago)   updated: {}",
        item.status,
        short_time(&item.created_at.to_string()),
        age(&item.created_at.to_string()),
        short_time(&item.updated_at.to_string())
    );
    println!("summary: {}", item.summary);
    println!("sides:");
    for (i, side) in item.sides.iter().enumerate() {
        side_lines(i + 1, side);
    }
    if let Some(d) = &item.decision {
        println!(
            "decision: {} by {} at {}{}{}",
            d.action,
            or_dash(item.decided_by.as_deref()),
            item.decided_at
                .map_or_else(|| "-".to_owned(), |t| short_time(&t.to_string())),
            d.value
                .as_deref()
                .map(|v| format!("; value: {}", one_line(v)))
                .unwrap_or_default(),
            d.reason
                .as_deref()
                .map(|r| format!("; reason: {r}"))
                .unwrap_or_default(),
        );
    }
    if item.status == ReviewStatus::Open {
        eprintln!("{}", how_to_settle(item));
    }
}

/// What became of an item, in one line.
fn decided(item: &ReviewItem) {
    let mut line = format!("item {} {}", item.item_id, item.status);
    if let Some(d) = &item.decision {
        if let Some(v) = &d.value {
            line.push_str(&format!(": {} is now {:?}", field_name(item), one_line(v)));
        }
        if let Some(r) = &d.reason {
            line.push_str(&format!(" ({r})"));
        }
    }
    println!("{line}");
}

async fn resolve(client: &Client, a: ReviewResolve, json: bool) -> anyhow::Result<()> {
    check_reason(&a.reason)?;
    let id = a.item.id;
    let resolution = if let Some(n) = a.choose {
        let item = client.review_item(id).await.explain()?;
        let side = n.checked_sub(1).and_then(|i| item.sides.get(i));
        match side {
            Some(side) => Resolution::Value(side.value.clone()),
            None => {
                return Err(Usage(format!(
                    "item {} has {} side(s): --choose a number from 1 to {} (see `fieldnotes \
                     review show {}`)",
                    id,
                    item.sides.len(),
                    item.sides.len(),
                    id
                ))
                .into());
            }
        }
    } else if let Some(value) = a.value {
        Resolution::Value(value)
    } else if a.accept {
        Resolution::Accept
    } else {
        Resolution::Restore
    };
    let item = client
        .resolve_review(id, resolution, &a.reason)
        .await
        .explain()?;
    if json {
        return json_one(&item);
    }
    decided(&item);
    eprintln!("the decision is on the server; other devices get it on their next sync");
    Ok(())
}

async fn dismiss(client: &Client, a: ReviewDismiss, json: bool) -> anyhow::Result<()> {
    check_reason(&a.reason)?;
    let item = client
        .dismiss_review(a.item.id, &a.reason)
        .await
        .explain()?;
    if json {
        return json_one(&item);
    }
    decided(&item);
    Ok(())
}
