//! Validation rules. Structural rules always hold; completeness rules hold once a record is
//! completed. Every error names the field and the rule.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::kinds::{NoteStatus, VisitKind};
use crate::record::{
    AboutMe, Deletion, NewContactCard, NewVisitNote, Record, ShortPlan, VisitNote,
};

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
/// How far ahead of the writer's clock a visit may be dated (a visit late in the evening in
/// another time zone, a device clock a little fast).
pub const MAX_AHEAD_MS: i64 = 24 * 60 * 60 * 1000;
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

    /// The `required` rule, broken when `missing`.
    fn require(&mut self, missing: bool, field: &str, message: &str) {
        if missing {
            self.fail(field, "required", message.to_owned());
        }
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
        let message = "must not be empty once the record is completed";
        self.require(value.trim().is_empty(), field, message);
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

fn visit_note(rules: &mut Rules, record: &VisitNote) {
    let (note, status) = (&record.content, record.status);
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
    rules.sign_off(status, record.signed_off_by.as_deref());
    if status.is_locked() {
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

fn about_me(rules: &mut Rules, record: &AboutMe) {
    let (profile, status) = (&record.content, record.status);
    rules.id("subject_id", &profile.subject_id);
    for (field, value) in [
        ("fun", &profile.fun),
        ("dislikes", &profile.dislikes),
        ("important", &profile.important),
        ("how_to_help", &profile.how_to_help),
    ] {
        rules.max_chars(field, value, MAX_TEXT_CHARS);
    }
    if status == NoteStatus::SignedOff {
        rules.fail(
            "status",
            "enum",
            "an \"about me\" profile is draft or completed; it is not signed off".into(),
        );
    }
    let answers = [
        &profile.fun,
        &profile.dislikes,
        &profile.important,
        &profile.how_to_help,
    ];
    let silent = answers.iter().all(|v| v.trim().is_empty());
    let message = "a completed profile must say something";
    rules.require(status.is_locked() && silent, "fun", message);
}

fn contact_card(rules: &mut Rules, card: &NewContactCard) {
    rules.id("worker_id", &card.worker_id);
    rules.require(
        card.display_name.trim().is_empty(),
        "display_name",
        "is required",
    );
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

fn short_plan(rules: &mut Rules, record: &ShortPlan) {
    let (plan, status) = (&record.content, record.status);
    rules.id("child_id", &plan.child_id);
    rules.id("author", &plan.author);
    rules.list("points", &plan.points, MAX_PLAN_POINTS, MAX_TEXT_CHARS);
    rules.date("review_on", plan.review_on.as_deref());
    rules.date("planned_end", plan.planned_end.as_deref());
    rules.sign_off(status, record.signed_off_by.as_deref());
    if status.is_locked() {
        let (points, end) = (plan.points.is_empty(), plan.planned_end.is_none());
        rules.require(
            points,
            "points",
            "a completed plan needs at least one point",
        );
        rules.require(
            end,
            "planned_end",
            "a completed plan needs a planned ending",
        );
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

/// A team's rule for short plans: at most `limit` points (the team's own setting). A device
/// keeps its own edits to it, so a plan is refused as it is written; points added apart on two
/// devices may still merge past it, and that goes to review.
pub fn check_plan_points(points: usize, limit: usize) -> Result<(), ValidationError> {
    if points > limit {
        Err(ValidationError::new(
            "points",
            "max_items",
            format!(
                "your team's short plans have at most {limit} points, and this one has \
                 {points}: take one out, or agree the rest at the next review"
            ),
        ))
    } else {
        Ok(())
    }
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

/// The rules for values as they are written. They apply to the values a change sets (every
/// value of a new record), not to values a record already holds, so a record stored before a
/// rule existed stays readable and editable:
///
/// * a visit note's title is not empty or only spaces, nor is its body;
/// * a short plan's planned ending is not before its review date;
/// * with `now_ms` (the writer's clock: the device's own when it writes, the server's receive
///   time when it stores a push), a visit is not dated more than [`MAX_AHEAD_MS`] ahead.
///
/// The model has no clock: [`crate::Document::create`] and [`crate::Document::edit`] check
/// these rules without `now_ms`; a device checks the date with [`check_clock_new`] and
/// [`check_clock_patch`] before it writes, the server with this function when it stores.
pub fn check_written(
    record: &Record,
    before: Option<&Record>,
    now_ms: Option<i64>,
) -> Result<(), ValidationErrors> {
    let mut rules = Rules { errors: Vec::new() };
    match (record, before) {
        (Record::VisitNote(n), before) => {
            let n = &n.content;
            let before = match before {
                Some(Record::VisitNote(b)) => Some(&b.content),
                _ => None,
            };
            let changed = |f: fn(&NewVisitNote) -> &str| before.is_none_or(|b| f(b) != f(n));
            rules.require(
                changed(|n| &n.title) && n.title.trim().is_empty(),
                "title",
                "must not be empty or only spaces: give the note a short title, such as the kind \
                 of contact and where",
            );
            rules.require(
                changed(|n| &n.body) && n.body.trim().is_empty(),
                "body",
                "must not be empty or only spaces: write what happened during the contact",
            );
            if let Some(now) = now_ms
                && changed(|n| &n.occurred_at)
                && let Some(e) = ahead_error(&n.occurred_at, now)
            {
                rules.errors.push(e);
            }
        }
        (Record::ShortPlan(p), before) => {
            let p = &p.content;
            let unchanged = matches!(before, Some(Record::ShortPlan(b))
                if b.content.review_on == p.review_on && b.content.planned_end == p.planned_end);
            if !unchanged && let (Some(review), Some(end)) = (&p.review_on, &p.planned_end) {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                if let (Ok(r), Ok(e)) = (
                    time::Date::parse(review, &format),
                    time::Date::parse(end, &format),
                ) && e < r
                {
                    rules.fail(
                        "planned_end",
                        "order",
                        format!(
                            "{end} is before the review date {review}: set the planned ending \
                             on or after the review, or bring the review forward"
                        ),
                    );
                }
            }
        }
        (Record::AboutMe(_) | Record::ContactCard(_), _) => {}
    }
    if rules.errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(rules.errors))
    }
}

/// A visit dated more than [`MAX_AHEAD_MS`] after `now_ms`.
fn ahead_error(occurred_at: &str, now_ms: i64) -> Option<ValidationError> {
    let at = OffsetDateTime::parse(occurred_at, &Rfc3339).ok()?;
    let at_ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    if at_ms <= now_ms.saturating_add(MAX_AHEAD_MS) {
        return None;
    }
    let now = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| now_ms.to_string());
    Some(ValidationError::new(
        "occurred_at",
        "not_ahead",
        format!(
            "{occurred_at} is more than a day ahead of now ({now}): give the date and time the \
             contact happened (and check this device's clock if it is wrong)"
        ),
    ))
}

/// The clock rule for a new record, on the device before it writes: a visit is not dated more
/// than a day after `now_ms`, the device's clock.
pub fn check_clock_new(record: &crate::NewRecord, now_ms: i64) -> Result<(), ValidationErrors> {
    match record {
        crate::NewRecord::VisitNote(n) => clock_result(ahead_error(&n.occurred_at, now_ms)),
        _ => Ok(()),
    }
}

/// The clock rule for a patch, on the device before it writes.
pub fn check_clock_patch(patch: &crate::Patch, now_ms: i64) -> Result<(), ValidationErrors> {
    match patch {
        crate::Patch::VisitNote(p) => clock_result(
            p.occurred_at
                .as_deref()
                .and_then(|at| ahead_error(at, now_ms)),
        ),
        _ => Ok(()),
    }
}

fn clock_result(error: Option<ValidationError>) -> Result<(), ValidationErrors> {
    error.map_or(Ok(()), |e| Err(ValidationErrors(vec![e])))
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
        Record::ContactCard(r) => contact_card(&mut rules, &r.content),
        Record::ShortPlan(r) => short_plan(&mut rules, r),
    }
    if rules.errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(rules.errors))
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::title;
    use crate::*;

    const NOW: i64 = 1_795_600_000_000; // 2026-11-25T...

    fn note(title: &str, body: &str, occurred_at: &str) -> NewRecord {
        NewRecord::VisitNote(NewVisitNote::new(
            "child-1",
            "sw-1",
            VisitKind::HomeVisit,
            occurred_at,
            title,
            body,
        ))
    }

    fn refused(result: Result<Document, ModelError>, field: &str, words: &str) {
        let err = result.unwrap_err();
        let ModelError::Invalid(errors) = &err else {
            panic!("{err}")
        };
        assert!(errors.for_field(field).next().is_some(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("`{field}`")) && text.contains(words),
            "{text}"
        );
    }

    const AT: &str = "2026-11-20T14:30:00Z";

    #[test]
    fn a_blank_title_or_body_is_refused_when_written() {
        let make =
            |t: &str, b: &str| Document::create("n", ActorId::from([1u8; 16]), note(t, b, AT), NOW);
        refused(make("", "Body"), "title", "give the note a short title");
        refused(
            make("   \t", "Body"),
            "title",
            "give the note a short title",
        );
        refused(make("Visit", ""), "body", "write what happened");
        refused(make("Visit", " \n "), "body", "write what happened");
        let mut doc = make("Visit", "Body").unwrap();
        let blank = title("  ");
        let err = doc.edit(blank, NOW).unwrap_err().to_string();
        assert!(err.contains("`title`"), "{err}");
        let blank = Patch::VisitNote(VisitNotePatch {
            body: Some(String::new()),
            ..Default::default()
        });
        let err = doc.edit(blank, NOW).unwrap_err().to_string();
        assert!(err.contains("`body`"), "{err}");
    }

    #[test]
    fn a_record_that_already_holds_a_blank_title_stays_editable() {
        // Written before the rule: a change to another field is not refused for it.
        let before = Record::VisitNote(VisitNote {
            id: "n".into(),
            content: NewVisitNote::new("child-1", "sw-1", VisitKind::HomeVisit, AT, "", "Body"),
            status: NoteStatus::Draft,
            signed_off_by: None,
        });
        let mut after = before.clone();
        if let Record::VisitNote(n) = &mut after {
            n.content.wishes_and_feelings = "home".into();
        }
        assert!(validate::check_written(&after, Some(&before), Some(NOW)).is_ok());
        assert!(validate::check_written(&after, None, Some(NOW)).is_err());
    }

    #[test]
    fn a_visit_dated_more_than_a_day_ahead_is_refused_against_the_given_clock() {
        let ahead = "2029-01-01T10:00:00Z";
        let new = note("Visit", "Body", ahead);
        let err = validate::check_clock_new(&new, NOW).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`occurred_at`") && text.contains("more than a day ahead"),
            "{text}"
        );
        assert!(text.contains("2026-11-"), "names now: {text}");
        // Within a day is fine (another time zone, a fast clock); the past is fine.
        let soon = time_plus(NOW, 23 * 3600);
        assert!(validate::check_clock_new(&note("Visit", "Body", &soon), NOW).is_ok());
        let late = time_plus(NOW, 25 * 3600);
        assert!(validate::check_clock_new(&note("Visit", "Body", &late), NOW).is_err());
        assert!(validate::check_clock_new(&note("Visit", "Body", AT), NOW).is_ok());
        let patch = Patch::VisitNote(VisitNotePatch {
            occurred_at: Some(ahead.into()),
            ..Default::default()
        });
        assert!(validate::check_clock_patch(&patch, NOW).is_err());
        // The server's check: only when the push changes the date.
        let doc = Document::create("n", ActorId::from([1u8; 16]), new, NOW).unwrap();
        let record = doc.read().unwrap();
        assert!(validate::check_written(&record, None, Some(NOW)).is_err());
        assert!(validate::check_written(&record, Some(&record), Some(NOW)).is_ok());
        assert!(
            validate::check_written(&record, None, None).is_ok(),
            "no clock, no date rule"
        );
    }

    fn time_plus(ms: i64, secs: i64) -> String {
        use time::format_description::well_known::Rfc3339;
        time::OffsetDateTime::from_unix_timestamp(ms / 1000 + secs)
            .unwrap()
            .format(&Rfc3339)
            .unwrap()
    }

    fn plan(review: &str, end: &str) -> NewRecord {
        NewRecord::ShortPlan(NewShortPlan {
            child_id: "yp-1".into(),
            author: "yw-1".into(),
            points: vec!["meet".into()],
            review_on: Some(review.into()),
            planned_end: Some(end.into()),
        })
    }

    #[test]
    fn a_planned_ending_before_the_review_is_refused() {
        let make =
            |r: &str, e: &str| Document::create("p", ActorId::from([1u8; 16]), plan(r, e), NOW);
        refused(
            make("2026-12-15", "2026-12-01"),
            "planned_end",
            "before the review date 2026-12-15",
        );
        make("2026-12-15", "2026-12-15").expect("ending on the review day");
        let mut doc = make("2026-12-01", "2027-01-31").unwrap();
        let err = doc
            .edit(
                Patch::ShortPlan(ShortPlanPatch {
                    review_on: Some(Some("2027-02-01".into())),
                    ..Default::default()
                }),
                NOW,
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`planned_end`") && err.contains("bring the review forward"),
            "{err}"
        );
    }
}
