//! Words the server and the model write for any client (field names, machine times, the
//! wording of review items), said as the app's people say them. Pure, so host-tested.

use fieldnotes_vocab::ItemKind;

use crate::status::sentence;

/// A field as people name it.
pub fn field_words(field: &str) -> String {
    match field {
        "body" => "what happened".to_owned(),
        "wishes_and_feelings" => "wishes and feelings".to_owned(),
        "occurred_at" => "when it happened".to_owned(),
        "review_on" => "review date".to_owned(),
        "planned_end" => "planned ending".to_owned(),
        other => other.replace('_', " "),
    }
}

/// A side's value in a person's words. For an amendment the server names the locked
/// version's side "the signed off version" and an edit's side by the fields it changed
/// ("changed: body, title"); any other side is what a person wrote, shown as it is.
pub fn side_words(kind: ItemKind, value: &str) -> String {
    if !matches!(kind, ItemKind::Amendment | ItemKind::PendingAmendment) {
        return value.to_owned();
    }
    if let Some(fields) = value.strip_prefix("changed: ") {
        let fields: Vec<String> = fields
            .split(", ")
            .filter(|f| !f.is_empty())
            .map(field_words)
            .collect();
        return match fields.as_slice() {
            [] => "Changed nothing that shows".to_owned(),
            [one] => format!("Changed {one}"),
            [rest @ .., last] => format!("Changed {} and {last}", rest.join(", ")),
        };
    }
    match value
        .strip_prefix("the ")
        .and_then(|v| v.strip_suffix(" version"))
    {
        Some(what) => format!("The {} version", what.replace(' ', "-")),
        None => value.to_owned(),
    }
}

/// An item's summary in a person's words. The server writes an amendment's as "amendment to a
/// signed off record: REASON" and a late edit's as "edited without seeing the record signed
/// off: body"; other summaries are its sentences as they are.
pub fn summary_words(kind: ItemKind, summary: &str) -> String {
    match kind {
        ItemKind::Amendment => summary
            .strip_prefix("amendment to a ")
            .and_then(|rest| rest.split_once(" record: "))
            .map_or_else(
                || sentence(summary),
                |(what, reason)| {
                    format!(
                        "Amended after it was {what}. The reason given: {}",
                        sentence(reason)
                    )
                },
            ),
        ItemKind::PendingAmendment => summary
            .strip_prefix("edited without seeing the record ")
            .and_then(|rest| rest.split_once(": "))
            .map_or_else(
                || sentence(summary),
                |(what, fields)| {
                    let changed = side_words(kind, &format!("changed: {fields}"));
                    format!("Edited on a device that had not yet seen it {what}. {changed}.")
                },
            ),
        _ => sentence(summary),
    }
}

/// A reason the server or the model gave, in a person's words: each "field `name`" named by
/// `field` (as the forms name it), and each RFC 3339 time written by `time` (in the device's
/// local format; a time it cannot read is left as it is).
pub fn plain_reason(
    reason: &str,
    field: impl Fn(&str) -> String,
    time: impl Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("field `")
            && let Some((name, tail)) = after.split_once('`')
        {
            out.push_str(&field(name));
            rest = tail;
            continue;
        }
        if let Some(len) = rfc3339_len(rest) {
            let stamp = &rest[..len];
            match time(stamp) {
                Some(local) => out.push_str(&local),
                None => out.push_str(stamp),
            }
            rest = &rest[len..];
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// The length of the RFC 3339 time `text` starts with (`2026-12-07T22:47:00+00:00`,
/// `2026-12-04T22:47:45.705Z`), if it starts with one.
fn rfc3339_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd";
    if bytes.len() < shape.len()
        || !shape.iter().zip(bytes).all(|(want, got)| match want {
            b'd' => got.is_ascii_digit(),
            other => other == got,
        })
    {
        return None;
    }
    let len = bytes
        .iter()
        .position(|b| !(b.is_ascii_digit() || b"-T:.+Z".contains(b)))
        .unwrap_or(bytes.len());
    // A colon or full stop that ends a sentence is not part of the time.
    Some(text[..len].trim_end_matches([':', '.']).len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_names_fields_and_times_as_people_do() {
        let reason = "the record breaks a rule: field `occurred_at`: 2026-12-07T22:47:00+00:00 \
                      is more than a day ahead of now (2026-12-04T22:47:45.705Z): check the \
                      clock; field `title`: a title is needed";
        let field = |name: &str| match name {
            "occurred_at" => "When it happened".to_owned(),
            other => format!("The {other}"),
        };
        let time = |stamp: &str| Some(format!("<{}>", &stamp[..10]));
        assert_eq!(
            plain_reason(reason, field, time),
            "the record breaks a rule: When it happened: <2026-12-07> is more than a day ahead \
             of now (<2026-12-04>): check the clock; The title: a title is needed"
        );
        // What is not a field or a time is left as it is, and so is a time that cannot be read.
        let odd = "field `x: 2026-12-07T22 and 2026-12-07T22:47: done";
        assert_eq!(
            plain_reason(odd, |_| "?".to_owned(), |_| None),
            "field `x: 2026-12-07T22 and 2026-12-07T22:47: done"
        );
        assert_eq!(
            plain_reason(
                "at 2026-12-07T22:47:00Z.",
                |_| String::new(),
                |_| Some("then".into())
            ),
            "at then."
        );
    }

    #[test]
    fn an_amendments_sides_and_summary_are_said_as_people_say_them() {
        let pending = ItemKind::PendingAmendment;
        assert_eq!(
            side_words(pending, "the signed off version"),
            "The signed-off version"
        );
        assert_eq!(
            side_words(ItemKind::Amendment, "the completed version"),
            "The completed version"
        );
        assert_eq!(
            side_words(pending, "changed: body"),
            "Changed what happened"
        );
        assert_eq!(
            side_words(pending, "changed: title, body, review_on"),
            "Changed title, what happened and review date"
        );
        assert_eq!(
            side_words(pending, "changed: "),
            "Changed nothing that shows"
        );
        // A conflict's sides are what people wrote: never reworded.
        assert_eq!(
            side_words(ItemKind::Conflict, "changed: body"),
            "changed: body"
        );
        assert_eq!(
            summary_words(
                pending,
                "edited without seeing the record signed off: body, wishes_and_feelings"
            ),
            "Edited on a device that had not yet seen it signed off. Changed what happened and \
             wishes and feelings."
        );
        assert_eq!(
            summary_words(
                ItemKind::Amendment,
                "amendment to a completed record: Mum said: call on Fridays"
            ),
            "Amended after it was completed. The reason given: Mum said: call on Fridays."
        );
        // A summary worded some other way is shown as a sentence, not lost.
        assert_eq!(
            summary_words(ItemKind::Amendment, "amended by a new server"),
            "Amended by a new server."
        );
        assert_eq!(
            summary_words(ItemKind::Conflict, "title: written on 2 devices"),
            "Title: written on 2 devices."
        );
    }
}
