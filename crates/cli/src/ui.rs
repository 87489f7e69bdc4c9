//! Shared by the commands that ask the server: tables, JSON lines, times, and server refusals
//! shown by their reason.

use fieldnotes_client::{ClientError, StatusCode};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A server refusal as its reason alone (the SDK's wording is for sync, where it adds that
/// recorded work is safe); other errors as they are.
pub trait Explain<T> {
    fn explain(self) -> anyhow::Result<T>;
}

impl<T> Explain<T> for Result<T, ClientError> {
    fn explain(self) -> anyhow::Result<T> {
        self.map_err(|e| match e {
            ClientError::Server {
                status, message, ..
            } if !status.is_server_error() && status != StatusCode::TOO_MANY_REQUESTS => {
                anyhow::anyhow!("refused by the server: {message}")
            }
            other => other.into(),
        })
    }
}

/// A reason for a decision or an amendment must say something: at least 3 characters (the
/// SDK's rule, checked here too so a too-short one is a usage error, exit code 2).
pub fn check_reason(reason: &str) -> anyhow::Result<()> {
    // The model's rule, checked before anything is written; a usage error (exit 2).
    fieldnotes_model::validate::check_reason(reason).map_err(|e| {
        crate::Usage(format!(
            "--reason: {}; it is kept with the record",
            e.message
        ))
        .into()
    })
}

/// One JSON object per line.
pub fn json_lines<T: Serialize>(items: &[T]) -> anyhow::Result<()> {
    for item in items {
        println!("{}", serde_json::to_string(item)?);
    }
    Ok(())
}

pub fn json_one<T: Serialize>(item: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(item)?);
    Ok(())
}

/// A list from the server: one JSON object per line, or a table with a row per item.
pub fn print_list<T: Serialize>(
    items: &[T],
    json: bool,
    headers: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        return json_lines(items);
    }
    let rows: Vec<_> = items.iter().map(row).collect();
    table(headers, &rows);
    Ok(())
}

/// One answer from the server: JSON, or what `say` prints for a person.
pub fn print_one<T: Serialize>(item: &T, json: bool, say: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        return json_one(item);
    }
    say(item);
    Ok(())
}

/// After a page of a list as long as the limit: how to ask for the next page.
pub fn more_may_follow(shown: usize, limit: u32, last_id: Option<i64>) {
    if let Some(last) = last_id
        && shown >= usize::try_from(limit).unwrap_or(usize::MAX)
    {
        eprintln!("more may follow: run again with --after {last}");
    }
}

/// A table with a header; columns padded to their widest cell, the last one not padded. An
/// empty table is "none" on standard error.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        eprintln!("none");
        return;
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let n = cells.len();
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(cell);
            if i + 1 < n {
                let pad = w.saturating_sub(cell.chars().count()) + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        println!("{}", out.trim_end());
    };
    line(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
}

/// A table cell: the value, or `-` when there is none.
pub fn or_dash(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// At most `n` characters of `s` (for long ids in tables).
pub fn short(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// One line of a possibly multi-line text, for a table cell.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An RFC 3339 time as `2026-11-24 10:30:00Z` (UTC, whole seconds); text that does not parse
/// as it is.
pub fn short_time(rfc3339: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(rfc3339, &Rfc3339) else {
        return rfc3339.to_owned();
    };
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// How long ago an RFC 3339 time was: `12m`, `5h`, `3d` (`?` if it does not parse).
pub fn age(rfc3339: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(rfc3339, &Rfc3339) else {
        return "?".to_owned();
    };
    let minutes = (OffsetDateTime::now_utc() - t).whole_minutes().max(0);
    if minutes < 60 {
        format!("{minutes}m")
    } else if minutes < 48 * 60 {
        format!("{}h", minutes / 60)
    } else {
        format!("{}d", minutes / (24 * 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shortened_and_aged() {
        assert_eq!(
            short_time("2026-11-24T10:30:00.123+01:00"),
            "2026-11-24 09:30:00Z"
        );
        assert_eq!(short_time("yesterday"), "yesterday");
        assert_eq!(age("not a time"), "?");
        let two_days = OffsetDateTime::now_utc() - time::Duration::hours(50);
        let text = two_days.format(&Rfc3339).unwrap_or_default();
        assert_eq!(age(&text), "2d");
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        assert_eq!(age(&now), "0m");
    }

    #[test]
    fn cells_are_one_line() {
        assert_eq!(one_line("a\n b  c"), "a b c");
        assert_eq!(short("abcdef", 3), "abc");
    }
}
