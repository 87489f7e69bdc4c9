//! A visit note as the form holds it, and the note the SDK records from it. Pure, so the rules
//! of the form (what a statutory visit must answer, how the time is written) are tested on the
//! host.

use fieldnotes_model::{DocKind, NewVisitNote, NotAloneReason, VisitKind};

/// What the person has filled in on the visit note form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitDraft {
    pub child_id: String,
    pub visit_kind: Option<VisitKind>,
    /// When it happened, as a `datetime-local` field gives it: `2026-12-03T10:30`, local time.
    pub occurred_local: String,
    /// The device's offset from UTC at that time, in minutes east (UTC+1 is 60).
    pub offset_minutes: i32,
    pub title: String,
    pub body: String,
    pub wishes_and_feelings: String,
    pub child_seen: Option<bool>,
    pub seen_alone: Option<bool>,
    pub not_alone_reason: Option<NotAloneReason>,
}

/// What the form still needs before the note can be saved, in the words shown beside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("Choose the child this note is about.")]
    NoChild,
    #[error("Choose what kind of contact this was.")]
    NoKind,
    #[error("Give the date and time of the visit.")]
    NoTime,
    #[error("Give the note a title.")]
    NoTitle,
    #[error("A statutory visit must say whether the child was seen.")]
    SeenUnanswered,
    #[error("Say whether the child was seen alone.")]
    AloneUnanswered,
    #[error("Give the lawful reason the child was not seen alone.")]
    NoReason,
}

impl VisitDraft {
    /// The note to record, by `author` (their user id), or what is still missing. Text is
    /// kept as typed (trimmed at the ends); answers that do not apply are dropped (a child
    /// not seen has no "seen alone").
    pub fn to_note(&self, author: &str) -> Result<NewVisitNote, DraftError> {
        let child_id = self.child_id.trim();
        if child_id.is_empty() {
            return Err(DraftError::NoChild);
        }
        let visit_kind = self.visit_kind.ok_or(DraftError::NoKind)?;
        let occurred_at = rfc3339(&self.occurred_local, self.offset_minutes)?;
        let title = self.title.trim();
        if title.is_empty() {
            return Err(DraftError::NoTitle);
        }
        let mut note = NewVisitNote::new(
            child_id,
            author,
            visit_kind,
            &occurred_at,
            title,
            self.body.trim(),
        );
        note.wishes_and_feelings = self.wishes_and_feelings.trim().to_owned();
        if visit_kind == VisitKind::StatutoryVisit {
            let seen = self.child_seen.ok_or(DraftError::SeenUnanswered)?;
            note.child_seen = Some(seen);
            if seen {
                let alone = self.seen_alone.ok_or(DraftError::AloneUnanswered)?;
                note.seen_alone = Some(alone);
                if !alone {
                    note.not_alone_reason =
                        Some(self.not_alone_reason.ok_or(DraftError::NoReason)?);
                }
            }
        }
        Ok(note)
    }
}

/// `2026-12-03T10:30` at `offset_minutes` east of UTC, as RFC 3339: `2026-12-03T10:30:00+01:00`.
fn rfc3339(local: &str, offset_minutes: i32) -> Result<String, DraftError> {
    let local = local.trim();
    let well_formed = local.len() >= 16
        && local.is_char_boundary(16)
        && local.as_bytes().get(10) == Some(&b'T')
        && local[..16]
            .bytes()
            .enumerate()
            .all(|(i, b)| matches!(i, 4 | 7 | 10 | 13) || b.is_ascii_digit());
    if !well_formed {
        return Err(DraftError::NoTime);
    }
    let seconds = if local.len() == 16 { ":00" } else { "" };
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let offset = offset_minutes.unsigned_abs();
    Ok(format!(
        "{local}{seconds}{sign}{:02}:{:02}",
        offset / 60,
        offset % 60
    ))
}

/// A record's line in a list: for a visit note its title (the model's summary of a note is
/// `title (kind, time)`, and the list shows the kind and time in the person's own words
/// beside it); other kinds' summaries as they are.
pub fn headline(kind: DocKind, summary: &str) -> &str {
    match (kind, summary.strip_suffix(')')) {
        (DocKind::VisitNote, Some(rest)) => {
            rest.rsplit_once(" (").map_or(summary, |(title, _)| title)
        }
        _ => summary,
    }
}

/// How a kind of contact is named on screen.
pub fn visit_kind_label(kind: VisitKind) -> &'static str {
    match kind {
        VisitKind::StatutoryVisit => "Statutory visit",
        VisitKind::HomeVisit => "Home visit",
        VisitKind::SchoolVisit => "School visit",
        VisitKind::Contact => "Contact",
        VisitKind::PhoneCall => "Phone call",
        VisitKind::Meeting => "Meeting",
        VisitKind::DirectWork => "Direct work",
    }
}

/// How a lawful reason for not seeing a child alone is named on screen.
pub fn not_alone_label(reason: NotAloneReason) -> &'static str {
    match reason {
        NotAloneReason::ChildRefused => "The child refused",
        NotAloneReason::InappropriateForAgeAndUnderstanding => {
            "Not appropriate for the child's age and understanding"
        }
        NotAloneReason::WorkerUnable => "I was unable to",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statutory() -> VisitDraft {
        VisitDraft {
            child_id: "child-07".into(),
            visit_kind: Some(VisitKind::StatutoryVisit),
            occurred_local: "2026-12-03T10:30".into(),
            offset_minutes: 60,
            title: " Home visit before the review ".into(),
            body: "Met at home.".into(),
            wishes_and_feelings: "I want to stay at my school.".into(),
            child_seen: Some(true),
            seen_alone: Some(true),
            not_alone_reason: None,
        }
    }

    #[test]
    fn a_statutory_visit_seen_alone_becomes_a_note_with_its_answers_and_offset() {
        let note = statutory().to_note("sw-a").unwrap();
        assert_eq!(note.child_id, "child-07");
        assert_eq!(note.author, "sw-a");
        assert_eq!(note.occurred_at, "2026-12-03T10:30:00+01:00");
        assert_eq!(note.title, "Home visit before the review");
        assert_eq!(note.wishes_and_feelings, "I want to stay at my school.");
        assert_eq!((note.child_seen, note.seen_alone), (Some(true), Some(true)));
        assert_eq!(note.not_alone_reason, None);
    }

    #[test]
    fn a_statutory_visit_must_answer_seen_alone_and_the_reason() {
        let mut draft = statutory();
        draft.child_seen = None;
        assert_eq!(draft.to_note("sw-a"), Err(DraftError::SeenUnanswered));
        draft.child_seen = Some(true);
        draft.seen_alone = None;
        assert_eq!(draft.to_note("sw-a"), Err(DraftError::AloneUnanswered));
        draft.seen_alone = Some(false);
        assert_eq!(draft.to_note("sw-a"), Err(DraftError::NoReason));
        draft.not_alone_reason = Some(NotAloneReason::ChildRefused);
        let note = draft.to_note("sw-a").unwrap();
        assert_eq!(note.not_alone_reason, Some(NotAloneReason::ChildRefused));
    }

    #[test]
    fn answers_that_do_not_apply_are_dropped() {
        let mut draft = statutory();
        draft.child_seen = Some(false);
        draft.not_alone_reason = Some(NotAloneReason::WorkerUnable);
        let note = draft.to_note("sw-a").unwrap();
        assert_eq!((note.seen_alone, note.not_alone_reason), (None, None));
        draft.visit_kind = Some(VisitKind::PhoneCall);
        let note = draft.to_note("sw-a").unwrap();
        assert_eq!((note.child_seen, note.seen_alone), (None, None));
    }

    #[test]
    fn missing_parts_are_named() {
        let draft = statutory();
        for (change, error) in [
            (
                (|d: &mut VisitDraft| d.child_id = "  ".into()) as fn(&mut VisitDraft),
                DraftError::NoChild,
            ),
            (|d| d.visit_kind = None, DraftError::NoKind),
            (
                |d| d.occurred_local = "yesterday".into(),
                DraftError::NoTime,
            ),
            (
                |d| d.occurred_local = "2026-12-03 10:30".into(),
                DraftError::NoTime,
            ),
            (|d| d.title = " ".into(), DraftError::NoTitle),
        ] {
            let mut draft = draft.clone();
            change(&mut draft);
            assert_eq!(draft.to_note("sw-a"), Err(error));
        }
    }

    #[test]
    fn a_visit_note_is_listed_by_its_title() {
        let note = statutory().to_note("sw-a").unwrap();
        let record = fieldnotes_model::Record::VisitNote(fieldnotes_model::VisitNote {
            id: "n1".into(),
            content: note,
            status: fieldnotes_model::NoteStatus::Draft,
            signed_off_by: None,
        });
        assert_eq!(
            headline(DocKind::VisitNote, &record.summary()),
            "Home visit before the review"
        );
        assert_eq!(headline(DocKind::VisitNote, "A (b) (c)"), "A (b)");
        assert_eq!(
            headline(DocKind::ShortPlan, "short plan, 2 point(s)"),
            "short plan, 2 point(s)"
        );
    }

    #[test]
    fn offsets_west_of_utc_and_seconds_are_written_as_given() {
        assert_eq!(
            rfc3339("2026-07-01T08:05:30", -270).unwrap(),
            "2026-07-01T08:05:30-04:30"
        );
        assert_eq!(
            rfc3339("2026-07-01T08:05", 0).unwrap(),
            "2026-07-01T08:05:00+00:00"
        );
    }
}
