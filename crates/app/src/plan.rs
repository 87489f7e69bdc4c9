//! A short plan as its form holds it: the points one a line, a review date and a planned
//! ending; the team's point limit as the person types; and the plan or the changes the SDK
//! records from it. Pure, so the form's rules are tested on the host.

use fieldnotes_model::{NewShortPlan, NoteStatus, ShortPlanPatch};

/// What the person has written on the short plan form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanDraft {
    /// The points, one a line, as typed.
    pub points: String,
    /// `YYYY-MM-DD`, as a date field gives it, or empty.
    pub review_on: String,
    /// `YYYY-MM-DD`, or empty.
    pub planned_end: String,
}

/// What the form still needs before the plan can be saved, in the words shown beside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("Write at least one point, one a line.")]
    NoPoints,
    #[error(
        "Your team's short plans have at most {limit} points, and this one has {points}. Take \
         one out to save; the rest can wait for the review."
    )]
    OverLimit { points: usize, limit: usize },
    #[error("The planned ending is before the review date: change one of them.")]
    EndBeforeReview,
    #[error("A completed plan needs a planned ending: choose the date it is planned to end.")]
    NoEnding,
}

/// The count under the points as the person types: "2 of 3 points", or why it cannot be
/// saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub words: String,
    /// More points than the team's limit: the plan is refused until one is taken out.
    pub over: bool,
}

impl PlanDraft {
    /// The form filled with a plan's points and dates, to edit it.
    pub fn from_plan(plan: &NewShortPlan) -> Self {
        Self {
            points: plan.points.join("\n"),
            review_on: plan.review_on.clone().unwrap_or_default(),
            planned_end: plan.planned_end.clone().unwrap_or_default(),
        }
    }

    /// The points: one a line, trimmed, blank lines left out.
    pub fn points(&self) -> Vec<String> {
        self.points
            .lines()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// How many points there are against the team's `limit`, as the person types.
    pub fn tally(&self, limit: usize) -> Tally {
        let n = self.points().len();
        let words = match n {
            0 => format!("No points yet. Your team's plans have at most {limit}."),
            n if n > limit => PlanError::OverLimit { points: n, limit }.to_string(),
            n => format!("{n} of {limit} points"),
        };
        Tally {
            words,
            over: n > limit,
        }
    }

    fn date(text: &str) -> Option<String> {
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// A new plan for `child_id` by `author`, within the team's `limit`, or what is missing.
    pub fn to_new(
        &self,
        child_id: &str,
        author: &str,
        limit: usize,
    ) -> Result<NewShortPlan, PlanError> {
        let points = self.points();
        if points.is_empty() {
            return Err(PlanError::NoPoints);
        }
        if points.len() > limit {
            return Err(PlanError::OverLimit {
                points: points.len(),
                limit,
            });
        }
        let (review_on, planned_end) = (Self::date(&self.review_on), Self::date(&self.planned_end));
        // `YYYY-MM-DD` sorts as the dates do.
        if let (Some(review), Some(end)) = (&review_on, &planned_end)
            && end < review
        {
            return Err(PlanError::EndBeforeReview);
        }
        Ok(NewShortPlan {
            child_id: child_id.to_owned(),
            author: author.to_owned(),
            points,
            review_on,
            planned_end,
        })
    }

    /// Whether the plan can be marked complete: a completed plan needs a planned ending.
    pub fn completable(&self) -> Result<(), PlanError> {
        match Self::date(&self.planned_end) {
            Some(_) => Ok(()),
            None => Err(PlanError::NoEnding),
        }
    }

    /// The changes to the plan `was`: only what the person changed, and the status `complete`
    /// asks for (`None` if nothing).
    pub fn to_patch(
        &self,
        was: &NewShortPlan,
        limit: usize,
        complete: bool,
    ) -> Result<Option<ShortPlanPatch>, PlanError> {
        let now = self.to_new(&was.child_id, &was.author, limit)?;
        if complete {
            self.completable()?;
        }
        let patch = ShortPlanPatch {
            points: (now.points != was.points).then_some(now.points),
            review_on: (now.review_on != was.review_on).then_some(now.review_on),
            planned_end: (now.planned_end != was.planned_end).then_some(now.planned_end),
            status: complete.then_some(NoteStatus::Completed),
        };
        Ok((patch != ShortPlanPatch::default()).then_some(patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(points: &str) -> PlanDraft {
        PlanDraft {
            points: points.to_owned(),
            ..PlanDraft::default()
        }
    }

    #[test]
    fn the_tally_refuses_the_point_past_the_limit_as_it_is_typed() {
        assert_eq!(
            draft("").tally(3).words,
            "No points yet. Your team's plans have at most 3."
        );
        let two = draft("Come to the Tuesday group\n\n  Talk to Jo about college  \n");
        assert_eq!(
            two.tally(3),
            Tally {
                words: "2 of 3 points".into(),
                over: false
            }
        );
        assert!(!draft("a\nb\nc").tally(3).over);
        let four = draft("a\nb\nc\nd");
        let tally = four.tally(3);
        assert!(tally.over);
        assert!(
            tally.words.contains("at most 3 points, and this one has 4"),
            "{}",
            tally.words
        );
        assert_eq!(
            four.to_new("yp", "yw", 3),
            Err(PlanError::OverLimit {
                points: 4,
                limit: 3
            })
        );
        // A team with a smaller limit refuses sooner.
        assert!(draft("a\nb").tally(1).over);
    }

    #[test]
    fn a_new_plan_keeps_its_points_trimmed_and_its_dates() {
        let plan = PlanDraft {
            points: " Come to the Tuesday group \nTalk to Jo about college".into(),
            review_on: "2027-01-10".into(),
            planned_end: "2027-03-01".into(),
        }
        .to_new("yp-1", "yw", 3)
        .unwrap();
        assert_eq!(
            plan.points,
            ["Come to the Tuesday group", "Talk to Jo about college"]
        );
        assert_eq!(plan.review_on.as_deref(), Some("2027-01-10"));
        assert_eq!(plan.planned_end.as_deref(), Some("2027-03-01"));
        assert_eq!(plan.child_id, "yp-1");
        assert_eq!(plan.author, "yw");
        assert_eq!(
            draft("\n \n").to_new("yp", "yw", 3),
            Err(PlanError::NoPoints)
        );
        let backwards = PlanDraft {
            points: "a".into(),
            review_on: "2027-03-01".into(),
            planned_end: "2027-01-10".into(),
        };
        assert_eq!(
            backwards.to_new("yp", "yw", 3),
            Err(PlanError::EndBeforeReview)
        );
    }

    #[test]
    fn an_edit_sends_only_what_changed() {
        let was = NewShortPlan {
            child_id: "yp".into(),
            author: "yw".into(),
            points: vec!["a".into(), "b".into()],
            review_on: Some("2027-01-10".into()),
            planned_end: None,
        };
        let opened = PlanDraft::from_plan(&was);
        assert_eq!(opened.points, "a\nb");
        assert_eq!(opened.to_patch(&was, 3, false), Ok(None));
        let mut added = opened.clone();
        added.points.push_str("\nc ");
        let patch = added.to_patch(&was, 3, false).unwrap().unwrap();
        assert_eq!(patch.points, Some(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!((patch.review_on, patch.planned_end), (None, None));
        let mut cleared = opened;
        cleared.review_on.clear();
        let patch = cleared.to_patch(&was, 3, false).unwrap().unwrap();
        assert_eq!(patch.review_on, Some(None));
        assert_eq!(patch.points, None);
        assert_eq!(patch.status, None, "saved, not completed");
    }

    #[test]
    fn completing_a_plan_sends_its_status_even_with_nothing_else_changed() {
        let was = NewShortPlan {
            child_id: "yp".into(),
            author: "yw".into(),
            points: vec!["a".into()],
            review_on: None,
            planned_end: None,
        };
        let opened = PlanDraft::from_plan(&was);
        // A completed plan needs a planned ending, asked for before anything is written.
        assert_eq!(opened.completable(), Err(PlanError::NoEnding));
        assert_eq!(opened.to_patch(&was, 3, true), Err(PlanError::NoEnding));
        let opened = PlanDraft {
            planned_end: "2027-03-31".into(),
            ..opened
        };
        assert_eq!(opened.completable(), Ok(()));
        let patch = opened.to_patch(&was, 3, true).unwrap().unwrap();
        assert_eq!(patch.status, Some(NoteStatus::Completed));
        assert_eq!(patch.planned_end, Some(Some("2027-03-31".into())));
        assert_eq!(patch.points, None);
        // Over the limit, it is not completed either.
        let over = PlanDraft {
            points: "a\nb\nc\nd".into(),
            ..opened
        };
        assert!(matches!(
            over.to_patch(&was, 3, true),
            Err(PlanError::OverLimit { .. })
        ));
    }

    #[test]
    fn a_plan_merged_past_the_limit_saves_once_a_point_is_taken_out() {
        let merged = NewShortPlan {
            child_id: "yp".into(),
            author: "yw".into(),
            points: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            review_on: None,
            planned_end: None,
        };
        let mut draft = PlanDraft::from_plan(&merged);
        assert!(draft.tally(3).over);
        assert!(matches!(
            draft.to_patch(&merged, 3, false),
            Err(PlanError::OverLimit { .. })
        ));
        draft.points = "a\nb\nd".into();
        let patch = draft.to_patch(&merged, 3, false).unwrap().unwrap();
        assert_eq!(patch.points, Some(vec!["a".into(), "b".into(), "d".into()]));
    }
}
