//! A record's life after it is written: sign-off, amendment and deletion (changes made on this
//! device and sent by `fieldnotes sync`, like any edit), and its history and diffs (asked of
//! the server, which knows who made each change and when it arrived).

use std::process::ExitCode;

use anyhow::bail;
use fieldnotes_client::{Client, ClientError, StatusCode};
use fieldnotes_model::{DocKind, Patch};
use fieldnotes_protocol::review::{DiffSpanView, VersionView};
use serde_json::json;

use crate::Usage;
use crate::args::DocArg;
use crate::review_args::DiffArgs;
use crate::ui::{Explain, check_reason, json_one, or_dash, short, short_time, table};

/// The command that handles a kind: `note`, `about-me`, `contact-card`, `plan`.
pub fn command_of(kind: DocKind) -> &'static str {
    match kind {
        DocKind::VisitNote => "note",
        DocKind::AboutMe => "about-me",
        DocKind::ContactCard => "contact-card",
        DocKind::ShortPlan => "plan",
    }
}

/// Report a change saved on this device.
fn saved(id: &str, change: &str, what: &str, json: bool) -> anyhow::Result<ExitCode> {
    said(
        id,
        Some(change),
        &format!("{what} on this device; run `fieldnotes sync` to send it"),
        json,
    )
}

/// Report what a command did to a record: its change (if it made one) as JSON, and `message`
/// for the person.
fn said(id: &str, change: Option<&str>, message: &str, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        json_one(&json!({ "id": id, "change": change }))?;
    }
    eprintln!("{message}");
    Ok(ExitCode::SUCCESS)
}

/// `fieldnotes note|plan sign-off ID`.
pub async fn sign_off(
    client: &Client,
    id: &str,
    kind: DocKind,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let record = client
        .get(id)
        .await?
        .ok_or_else(|| ClientError::NotFound { id: id.to_owned() })?;
    if record.kind() != kind {
        bail!(
            "{id} is a {}, not a {kind}: use `fieldnotes {} sign-off {id}`",
            record.kind(),
            command_of(record.kind())
        );
    }
    let change = client.sign_off(id).await?;
    saved(id, &change, &format!("signed off {kind} {id}"), json)
}

/// `fieldnotes note|plan|about-me amend ID --reason ...`.
pub async fn amend(
    client: &Client,
    id: &str,
    patch: Patch,
    reason: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    check_reason(reason)?;
    match client.amend(id, patch, reason).await? {
        Some(change) => saved(
            id,
            &change,
            "amended (the reason is kept in the history and the manager reviews it)",
            json,
        ),
        None => said(
            id,
            None,
            "nothing to amend: the record already says that",
            json,
        ),
    }
}

/// `fieldnotes delete ID --reason ...`.
pub async fn delete(
    client: &Client,
    id: &str,
    reason: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    check_reason(reason)?;
    let change = client.delete_record(id, reason).await?;
    saved(
        id,
        &change,
        "marked deleted (the record and its history are kept)",
        json,
    )
}

/// A document's history from the server; "not found" says to sync a record that is only here.
async fn versions(client: &Client, id: &str) -> anyhow::Result<Vec<VersionView>> {
    match client.history(id).await {
        Ok(v) if v.is_empty() => bail!("the server holds no versions of {id}"),
        Ok(v) => Ok(v),
        Err(ClientError::Server {
            status: StatusCode::NOT_FOUND,
            ..
        }) if matches!(client.get(id).await, Ok(Some(_))) => {
            bail!("the server does not have {id} yet: run `fieldnotes sync` first")
        }
        Err(e) => Err(e).explain(),
    }
}

fn who(v: &VersionView) -> String {
    match &v.user_id {
        Some(user) => user.clone(),
        None => format!("actor {}", short(&v.actor, 8)),
    }
}

/// The server's receive time, else the device's own clock (marked).
fn when(v: &VersionView) -> String {
    match &v.received_at {
        Some(at) => short_time(at),
        None => format!("{} (device clock)", short_time(&v.device_time)),
    }
}

/// `fieldnotes history ID`.
pub async fn history(client: &Client, a: DocArg, json: bool) -> anyhow::Result<ExitCode> {
    let versions = versions(client, &a.id).await?;
    if json {
        for (i, v) in versions.iter().enumerate() {
            let mut value = serde_json::to_value(v)?;
            if let Some(map) = value.as_object_mut() {
                map.insert("version".into(), json!(i + 1));
            }
            println!("{value}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<_> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let changed = if i == 0 {
                "(created)".to_owned()
            } else if v.changed.is_empty() {
                "-".to_owned()
            } else {
                v.changed.join(", ")
            };
            vec![
                (i + 1).to_string(),
                when(v),
                who(v),
                v.device_id
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |d| short(d, 8)),
                changed,
                or_dash(v.amendment.as_deref()),
                short(&v.change, 12),
            ]
        })
        .collect();
    table(
        &[
            "#",
            "WHEN",
            "WHO",
            "DEVICE",
            "CHANGED",
            "AMENDMENT REASON",
            "CHANGE",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

/// A version given as its number (1 = the first) or its change hash (or a unique start of it,
/// at least 4 characters); the index in `versions`.
fn version_index(versions: &[VersionView], given: &str) -> anyhow::Result<usize> {
    let n = versions.len();
    let given = given.trim();
    if let Ok(number) = given.parse::<usize>()
        && (1..=n).contains(&number)
    {
        return Ok(number - 1);
    }
    let lower = given.to_ascii_lowercase();
    if lower.len() >= 4 && lower.chars().all(|c| c.is_ascii_hexdigit()) {
        let found: Vec<usize> = (0..n)
            .filter(|&i| versions[i].change.starts_with(&lower))
            .collect();
        match found.as_slice() {
            [one] => return Ok(*one),
            [] => {}
            _ => {
                return Err(Usage(format!(
                    "{given:?} is the start of {} versions' hashes: give more of it",
                    found.len()
                ))
                .into());
            }
        }
    }
    Err(Usage(format!(
        "no version {given:?}: give a number from 1 to {n} or a change hash from `fieldnotes \
         history`"
    ))
    .into())
}

/// Spans as `git diff --word-diff` shows them: removed text as `[-text-]`, added as `{+text+}`,
/// with the whitespace around a change left outside its marks.
pub fn word_diff(spans: &[DiffSpanView]) -> String {
    let mut out = String::new();
    for span in spans {
        let (text, open, close) = match span {
            DiffSpanView::Same(t) => {
                out.push_str(t);
                continue;
            }
            DiffSpanView::Added(t) => (t, "{+", "+}"),
            DiffSpanView::Removed(t) => (t, "[-", "-]"),
        };
        let core = text.trim();
        if core.is_empty() {
            // Whitespace alone: added shows as it is, removed is left out.
            if matches!(span, DiffSpanView::Added(_)) {
                out.push_str(text);
            }
            continue;
        }
        let lead = &text[..text.len() - text.trim_start().len()];
        let trail = &text[text.trim_end().len()..];
        out.push_str(lead);
        out.push_str(open);
        out.push_str(core);
        out.push_str(close);
        out.push_str(trail);
    }
    out
}

/// `fieldnotes diff ID [--from V] [--to V] [--field F]`.
pub async fn diff(client: &Client, a: DiffArgs, json: bool) -> anyhow::Result<ExitCode> {
    let id = &a.doc.id;
    let versions = versions(client, id).await?;
    let to = match &a.to {
        Some(v) => version_index(&versions, v)?,
        None => versions.len() - 1,
    };
    let from = match &a.from {
        Some(v) => version_index(&versions, v)?,
        None => to.saturating_sub(1),
    };
    let field = match a.field {
        Some(f) => f,
        None => match client.get(id).await {
            Ok(Some(r)) if r.kind() == DocKind::ShortPlan => "points".to_owned(),
            _ => "body".to_owned(),
        },
    };
    let (old, new) = (&versions[from], &versions[to]);
    let spans = client
        .diff(id, &old.change, &new.change, Some(&field))
        .await
        .explain()?;
    if json {
        json_one(&json!({
            "field": field,
            "from": { "version": from + 1, "change": old.change },
            "to": { "version": to + 1, "change": new.change },
            "spans": spans,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{field}: version {} ({}, {}) -> version {} ({}, {})",
        from + 1,
        who(old),
        when(old),
        to + 1,
        who(new),
        when(new)
    );
    let text = word_diff(&spans);
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
    if from == to {
        eprintln!("(version {} compared with itself: give --from N)", to + 1);
    } else if spans.iter().all(|s| matches!(s, DiffSpanView::Same(_))) {
        eprintln!(
            "({field} is the same in both versions; see `fieldnotes history {}` for what \
             changed)",
            id
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(change: &str) -> VersionView {
        VersionView {
            change: change.to_owned(),
            actor: "ab".into(),
            user_id: None,
            device_id: None,
            user_name: None,
            device_name: None,
            received_at: None,
            device_time: "2026-11-24T10:30:00Z".into(),
            changed: Vec::new(),
            amendment: None,
        }
    }

    #[test]
    fn word_diff_marks_words_like_git() {
        let spans = vec![
            DiffSpanView::Same("Sam was ".into()),
            DiffSpanView::Removed("happy".into()),
            DiffSpanView::Added("sad ".into()),
            DiffSpanView::Same("today.".into()),
            DiffSpanView::Removed(" ".into()),
            DiffSpanView::Added("\n".into()),
        ];
        assert_eq!(word_diff(&spans), "Sam was [-happy-]{+sad+} today.\n");
    }

    #[test]
    fn versions_by_number_or_hash() {
        let vs = vec![
            version("abcd1111"),
            version("abce2222"),
            version("1234ffff"),
        ];
        assert_eq!(version_index(&vs, "1").ok(), Some(0));
        assert_eq!(version_index(&vs, "3").ok(), Some(2));
        assert_eq!(version_index(&vs, "ABCE").ok(), Some(1));
        assert_eq!(version_index(&vs, "1234").ok(), Some(2), "not version 1234");
        let err = version_index(&vs, "abc").map_err(|e| e.to_string());
        assert!(err.is_err_and(|e| e.contains("1 to 3")));
        assert_eq!(version_index(&vs, "abcd1").ok(), Some(0));
        let err = version_index(&vs, "0").map_err(|e| e.to_string());
        assert!(err.is_err_and(|e| e.contains("no version")));
        // Two hashes start with "ffff".
        let vs = vec![version("ffff0001"), version("ffff0002")];
        let err = version_index(&vs, "ffff").map_err(|e| e.to_string());
        assert!(err.is_err_and(|e| e.contains("give more of it")));
    }
}
