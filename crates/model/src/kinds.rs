//! The closed vocabularies of the model: document kinds (from `fieldnotes-vocab`) and the
//! enumerated field values.

pub use fieldnotes_vocab::{DocKind, RecordStatus};

/// The old name of [`RecordStatus`] in this crate.
pub type NoteStatus = RecordStatus;

use fieldnotes_vocab::vocabulary;

vocabulary!(
    /// What kind of contact a visit note records. Every kind of contact is a first-class note.
    VisitKind, "visit kind" {
        StatutoryVisit => "statutory_visit",
        HomeVisit => "home_visit",
        SchoolVisit => "school_visit",
        Contact => "contact",
        PhoneCall => "phone_call",
        Meeting => "meeting",
        DirectWork => "direct_work",
    }
);

vocabulary!(
    /// The lawful reasons a child on a statutory visit was not seen alone.
    NotAloneReason, "not-alone reason" {
        /// The child refused.
        ChildRefused => "child_refused",
        /// The worker judged it inappropriate for the child's age and understanding.
        InappropriateForAgeAndUnderstanding => "inappropriate_for_age_and_understanding",
        /// The worker was unable to.
        WorkerUnable => "worker_unable",
    }
);

vocabulary!(
    /// Whose "about me" profile it is.
    SubjectKind, "subject kind" {
        Child => "child",
        Worker => "worker",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_text() {
        for kind in DocKind::ALL {
            assert_eq!(kind.as_str().parse::<DocKind>().unwrap(), *kind);
        }
        for kind in VisitKind::ALL {
            assert_eq!(kind.to_string().parse::<VisitKind>().unwrap(), *kind);
        }
    }

    #[test]
    fn an_unknown_value_lists_the_valid_ones() {
        let err = "home".parse::<VisitKind>().unwrap_err().to_string();
        assert!(
            err.contains("\"home\"") && err.contains("home_visit, school_visit"),
            "{err}"
        );
    }
}
