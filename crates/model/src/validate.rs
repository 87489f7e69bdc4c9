//! Validation rules. Structural rules always hold; completeness rules hold once a record is
//! completed. Every error names the field and the rule.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::kinds::{NoteStatus, VisitKind};
use crate::record::{AboutMe, ContactCard, Deletion, Record, ShortPlan, VisitNote};

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest note body, in characters.
pub const MAX_BODY_CHARS: usize = 100_000;
/// Longest wishes-and-feelings or other profile text, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Most tags (or people present) on a note.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 50;
/// Structural cap on plan points: a merge may go past [`crate::PLAN_POINT_LIMIT`] (that is for
/// review to settle), but never past this.
pub const MAX_PLAN_POINTS: usize = 20;
/// Largest contact-card picture.
pub const MAX_PICTURE_BYTES: usize = 512 * 1024;
/// Longest id (of a child, worker, author or document).
pub const MAX_ID_CHARS: usize = 100;
/// Shortest amendment or deletion reason, in characters (after trimming).
pub const MIN_REASON_CHARS: usize = 3;
/// Longest amendment or deletion reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Picture media types accepted.
pub const PICTURE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp"];

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("field `{field}`: {message}")]
pub struct ValidationError {
    /// The field, as a path (`title`, `points/3`).
    pub field: String,
    /// The rule: `required`, `max_length`, `format`, `enum`, `type`, `max_items`, ...
    pub rule: &'static str,
    pub message: String,
}

impl ValidationError {
    pub(crate) fn new(field: &str, rule: &'static str, message: String) -> Self {
        ValidationError {
            field: field.to_owned(),
            rule,
            message,
        }
    }
}

/// Every rule a document breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    /// The broken rules for one field.
    pub fn for_field<'a>(
        &'a self,
        field: &'a str,
    ) -> impl Iterator<Item = &'a ValidationError> + 'a {
        self.0.iter().filter(move |e| e.field == field)
    }
}

struct Rules {
    errors: Vec<ValidationError>,
}

impl Rules {
    fn fail(&mut self, field: &str, rule: &'static str, message: String) {
        self.errors.push(ValidationError::new(field, rule, message));
    }

    fn max_chars(&mut self, field: &str, value: &str, max: usize) {
        let n = value.chars().count();
        if n > max {
            self.fail(
                field,
                "max_length",
                format!("must be at most {max} characters, got {n}"),
            );
        }
    }

    fn id(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.fail(field, "required", "is required".into());
        } else {
            self.max_chars(field, value, MAX_ID_CHARS);
        }
    }

    fn required_text(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.fail(
                field,
                "required",
                "must not be empty once the record is completed".into(),
            );
        }
    }

    fn date_time(&mut self, field: &str, value: &str) {
        if OffsetDateTime::parse(value, &Rfc3339).is_err() {
            self.fail(
                field,
                "format",
                format!(
                    "must be an RFC 3339 date and time such as 2026-11-20T14:30:00Z, got {value:?}"
                ),
            );
        }
    }

    fn date(&mut self, field: &str, value: Option<&str>) {
        let Some(value) = value else { return };
        let format = time::macros::format_description!("[year]-[month]-[day]");
        if time::Date::parse(value, &format).is_err() {
            self.fail(
                field,
                "format",
                format!("must be a date such as 2026-12-01, got {value:?}"),
            );
        }
    }

    /// A manager's sign-off: `signed_off_by` is set exactly when the status is `signed_off`.
    fn sign_off(&mut self, status: NoteStatus, signed_off_by: Option<&str>) {
        match (status, signed_off_by) {
            (NoteStatus::SignedOff, Some(by)) => self.id("signed_off_by", by),
            (NoteStatus::SignedOff, None) => self.fail(
                "signed_off_by",
                "required",
                "a signed-off record must name the manager who signed it off".into(),
            ),
            (_, Some(_)) => self.fail(
                "signed_off_by",
                "consistent",
                format!("only a signed-off record names who signed it off; the status is {status}"),
            ),
            (_, None) => {}
        }
    }

    fn list(&mut self, field: &str, items: &[String], max_items: usize, max_chars: usize) {
        if items.len() > max_items {
            self.fail(
                field,
                "max_items",
                format!("must have at most {max_items} entries, got {}", items.len()),
            );
        }
        for (i, item) in items.iter().enumerate() {
            if item.trim().is_empty() {
                self.fail(
                    &format!("{field}/{i}"),
                    "required",
                    "must not be empty".into(),
                );
            }
            self.max_chars(&format!("{field}/{i}"), item, max_chars);
        }
    }
}

fn visit_note(rules: &mut Rules, note: &VisitNote) {
    rules.id("child_id", &note.child_id);
    rules.id("author", &note.author);
    rules.date_time("occurred_at", &note.occurred_at);
    rules.max_chars("title", &note.title, MAX_TITLE_CHARS);
    rules.max_chars("body", &note.body, MAX_BODY_CHARS);
    rules.max_chars(
        "wishes_and_feelings",
        &note.wishes_and_feelings,
        MAX_TEXT_CHARS,
    );
    rules.list("tags", &note.tags, MAX_TAGS, MAX_TAG_CHARS);
    rules.list("present", &note.present, MAX_TAGS, MAX_ID_CHARS);
    rules.sign_off(note.status, note.signed_off_by.as_deref());
    if note.status.is_locked() {
        rules.required_text("title", &note.title);
        rules.required_text("body", &note.body);
        if note.visit_kind == VisitKind::StatutoryVisit {
            match (note.child_seen, note.seen_alone, note.not_alone_reason) {
                (None, _, _) => rules.fail(
                    "child_seen",
                    "required",
                    "a statutory visit must record whether the child was seen".into(),
                ),
                (Some(true), None, _) => rules.fail(
                    "seen_alone",
                    "required",
                    "a statutory visit must record whether the child was seen alone".into(),
                ),
                (Some(true), Some(false), None) => rules.fail(
                    "not_alone_reason",
                    "required",
                    "when the child was not seen alone, record the reason: child_refused, \
                     inappropriate_for_age_and_understanding or worker_unable"
                        .into(),
                ),
                (Some(false), Some(_), _) => rules.fail(
                    "seen_alone",
                    "consistent",
                    "the child was not seen, so \"seen alone\" does not apply: clear it".into(),
                ),
                (Some(true), Some(true), Some(_)) => rules.fail(
                    "not_alone_reason",
                    "consistent",
                    "the child was seen alone, so a reason for not seeing them alone does not \
                     apply: clear it"
                        .into(),
                ),
                _ => {}
            }
        }
    }
}

fn about_me(rules: &mut Rules, profile: &AboutMe) {
    rules.id("subject_id", &profile.subject_id);
    for (field, value) in [
        ("fun", &profile.fun),
        ("dislikes", &profile.dislikes),
        ("important", &profile.important),
        ("how_to_help", &profile.how_to_help),
    ] {
        rules.max_chars(field, value, MAX_TEXT_CHARS);
    }
    if profile.status == NoteStatus::SignedOff {
        rules.fail(
            "status",
            "enum",
            "an \"about me\" profile is draft or completed; it is not signed off".into(),
        );
    }
    if profile.status.is_locked()
        && [
            &profile.fun,
            &profile.dislikes,
            &profile.important,
            &profile.how_to_help,
        ]
        .iter()
        .all(|v| v.trim().is_empty())
    {
        rules.fail(
            "fun",
            "required",
            "a completed profile must say something".into(),
        );
    }
}

fn contact_card(rules: &mut Rules, card: &ContactCard) {
    rules.id("worker_id", &card.worker_id);
    if card.display_name.trim().is_empty() {
        rules.fail("display_name", "required", "is required".into());
    }
    rules.max_chars("display_name", &card.display_name, MAX_TITLE_CHARS);
    rules.list("three_things", &card.three_things, 3, MAX_TITLE_CHARS);
    rules.max_chars("how_to_reach", &card.how_to_reach, MAX_TEXT_CHARS);
    rules.max_chars("when_to_reach", &card.when_to_reach, MAX_TEXT_CHARS);
    if let Some(picture) = &card.picture {
        if !PICTURE_TYPES.contains(&picture.media_type.as_str()) {
            rules.fail(
                "picture",
                "enum",
                format!(
                    "media type {:?} is not one of: {}",
                    picture.media_type,
                    PICTURE_TYPES.join(", ")
                ),
            );
        }
        if picture.bytes.len() > MAX_PICTURE_BYTES {
            rules.fail(
                "picture",
                "max_size",
                format!(
                    "must be at most {MAX_PICTURE_BYTES} bytes, got {}",
                    picture.bytes.len()
                ),
            );
        }
    }
}

fn short_plan(rules: &mut Rules, plan: &ShortPlan) {
    rules.id("child_id", &plan.child_id);
    rules.id("author", &plan.author);
    rules.list("points", &plan.points, MAX_PLAN_POINTS, MAX_TEXT_CHARS);
    rules.date("review_on", plan.review_on.as_deref());
    rules.date("planned_end", plan.planned_end.as_deref());
    rules.sign_off(plan.status, plan.signed_off_by.as_deref());
    if plan.status.is_locked() {
        if plan.points.is_empty() {
            rules.fail(
                "points",
                "required",
                "a completed plan needs at least one point".into(),
            );
        }
        if plan.planned_end.is_none() {
            rules.fail(
                "planned_end",
                "required",
                "a completed plan needs a planned ending".into(),
            );
        }
    }
}

fn deletion(rules: &mut Rules, deletion: &Deletion) {
    rules.id("deleted/by", &deletion.by);
    if let Some(e) = reason_error("deleted/reason", &deletion.reason) {
        rules.errors.push(e);
    }
}

/// The rule for an amendment, deletion or review reason: `MIN_REASON_CHARS..=MAX_REASON_CHARS`
/// characters once trimmed. Apps check a reason with this before writing anything.
pub fn check_reason(reason: &str) -> Result<(), ValidationError> {
    reason_error("reason", reason).map_or(Ok(()), Err)
}

/// [`check_reason`] naming `field`.
pub(crate) fn reason_error(field: &str, reason: &str) -> Option<ValidationError> {
    let n = reason.trim().chars().count();
    if n < MIN_REASON_CHARS {
        Some(ValidationError::new(
            field,
            "required",
            format!("give a reason of at least {MIN_REASON_CHARS} characters"),
        ))
    } else if n > MAX_REASON_CHARS {
        Some(ValidationError::new(
            field,
            "max_length",
            format!("must be at most {MAX_REASON_CHARS} characters, got {n}"),
        ))
    } else {
        None
    }
}

/// Check `record` and its deletion marker against every rule; `read_errors` are problems found
/// reading them.
pub(crate) fn check(
    record: &Record,
    deleted: Option<&Deletion>,
    read_errors: Vec<ValidationError>,
) -> Result<(), ValidationErrors> {
    let mut rules = Rules {
        errors: read_errors,
    };
    if let Some(d) = deleted {
        deletion(&mut rules, d);
    }
    match record {
        Record::VisitNote(r) => visit_note(&mut rules, r),
        Record::AboutMe(r) => about_me(&mut rules, r),
        Record::ContactCard(r) => contact_card(&mut rules, r),
        Record::ShortPlan(r) => short_plan(&mut rules, r),
    }
    if rules.errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(rules.errors))
    }
}
