//! A visit note as the form holds it, and the note the SDK records from it. Pure, so the rules
//! of the form (what a statutory visit must answer, how the time is written) are tested on the
//! host.

use fieldnotes_model::{
    DocKind, NewVisitNote, NotAloneReason, NoteStatus, VisitKind, VisitNotePatch,
};

/// What the person has filled in on the visit note form (kept as a draft, in JSON, as they
/// type).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

impl VisitDraft {
    /// The form filled with a note, to edit it: its time as written (`2026-12-03T10:30` and
    /// the offset it was written at).
    pub fn from_note(note: &NewVisitNote) -> Self {
        let (occurred_local, offset_minutes) = split_rfc3339(&note.occurred_at);
        Self {
            child_id: note.child_id.clone(),
            visit_kind: Some(note.visit_kind),
            occurred_local,
            offset_minutes,
            title: note.title.clone(),
            body: note.body.clone(),
            wishes_and_feelings: note.wishes_and_feelings.clone(),
            child_seen: note.child_seen,
            seen_alone: note.seen_alone,
            not_alone_reason: note.not_alone_reason,
        }
    }

    /// The changes from the note `was`: only the fields that differ (so an edit of the body on
    /// one device and of the wishes on another both stand), and the status `complete` asks
    /// for. `None` when nothing changes.
    pub fn to_patch(
        &self,
        was: &NewVisitNote,
        complete: bool,
    ) -> Result<Option<VisitNotePatch>, DraftError> {
        let now = self.to_note(&was.author)?;
        // The form shows a time to the minute and trims text: a note written elsewhere (with
        // seconds, `Z`, or spaces at the ends) is changed only where the person changed it.
        let time_as_opened = split_rfc3339(&was.occurred_at);
        let time_changed = (self.occurred_local.trim(), self.offset_minutes)
            != (time_as_opened.0.as_str(), time_as_opened.1);
        let text = |now: String, was: &str| (now != was.trim()).then_some(now);
        let patch = VisitNotePatch {
            visit_kind: (now.visit_kind != was.visit_kind).then_some(now.visit_kind),
            occurred_at: time_changed.then_some(now.occurred_at),
            title: text(now.title, &was.title),
            body: text(now.body, &was.body),
            wishes_and_feelings: text(now.wishes_and_feelings, &was.wishes_and_feelings),
            tags: None,
            present: None,
            child_seen: (now.child_seen != was.child_seen).then_some(now.child_seen),
            seen_alone: (now.seen_alone != was.seen_alone).then_some(now.seen_alone),
            not_alone_reason: (now.not_alone_reason != was.not_alone_reason)
                .then_some(now.not_alone_reason),
            status: complete.then_some(NoteStatus::Completed),
        };
        Ok((patch != VisitNotePatch::default()).then_some(patch))
    }
}

/// An RFC 3339 time as a `datetime-local` field and its offset east of UTC in minutes:
/// `2026-12-03T10:30:00+01:00` is (`2026-12-03T10:30`, 60). A time that is not one is given
/// back as it is, at UTC (the form then asks for a time).
fn split_rfc3339(time: &str) -> (String, i32) {
    let local: String = time.chars().take(16).collect();
    let offset = if time.ends_with('Z') {
        Some(0)
    } else {
        time.len()
            .checked_sub(6)
            .and_then(|at| time.get(at..))
            .and_then(|tail| {
                let sign = match tail.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let hours: i32 = tail.get(1..3)?.parse().ok()?;
                let minutes: i32 = tail.get(4..6)?.parse().ok()?;
                Some(sign * (hours * 60 + minutes))
            })
    };
    (local, offset.unwrap_or(0))
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
    fn a_note_opened_to_edit_gives_back_only_what_changed_and_its_completion() {
        let was = statutory().to_note("sw-a").unwrap();
        let mut draft = VisitDraft::from_note(&was);
        assert_eq!(draft.occurred_local, "2026-12-03T10:30");
        assert_eq!(draft.offset_minutes, 60);
        assert_eq!(draft.to_patch(&was, false), Ok(None));
        draft.body = "Met at home; the bedroom is repainted.".into();
        let patch = draft.to_patch(&was, true).unwrap().unwrap();
        assert_eq!(
            patch.body.as_deref(),
            Some("Met at home; the bedroom is repainted.")
        );
        assert_eq!(patch.status, Some(NoteStatus::Completed));
        assert_eq!(
            (patch.title, patch.occurred_at, patch.wishes_and_feelings),
            (None, None, None)
        );
        draft.seen_alone = None;
        assert_eq!(
            draft.to_patch(&was, false),
            Err(DraftError::AloneUnanswered)
        );
    }

    #[test]
    fn a_note_written_elsewhere_is_changed_only_where_the_person_changed_it() {
        let mut was = statutory().to_note("sw-a").unwrap();
        was.occurred_at = "2026-12-03T10:30:45.250Z".into();
        was.title = "Home visit before the review\n".into();
        was.body = "  Met at home.".into();
        let mut draft = VisitDraft::from_note(&was);
        assert_eq!(draft.to_patch(&was, false), Ok(None), "nothing was changed");
        draft.wishes_and_feelings = "I want to stay at my school, with my friends.".into();
        let patch = draft.to_patch(&was, false).unwrap().unwrap();
        assert_eq!(
            (patch.occurred_at, patch.title, patch.body),
            (None, None, None),
            "only the wishes were changed"
        );
        draft.occurred_local = "2026-12-03T11:00".into();
        let patch = draft.to_patch(&was, false).unwrap().unwrap();
        assert_eq!(
            patch.occurred_at.as_deref(),
            Some("2026-12-03T11:00:00+00:00")
        );
    }

    #[test]
    fn times_are_split_back_into_the_field_and_the_offset() {
        assert_eq!(
            split_rfc3339("2026-07-01T08:05:00-04:30"),
            ("2026-07-01T08:05".to_owned(), -270)
        );
        assert_eq!(
            split_rfc3339("2026-07-01T08:05:00Z"),
            ("2026-07-01T08:05".to_owned(), 0)
        );
        assert_eq!(split_rfc3339("soon"), ("soon".to_owned(), 0));
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
