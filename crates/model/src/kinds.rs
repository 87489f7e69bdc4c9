//! The closed vocabularies of the model: document kinds and the enumerated field values.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Declares a string-backed enum: snake_case on the wire and in documents, `FromStr` whose
/// error lists the valid values.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored and sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = ModelError;

            fn from_str(s: &str) -> Result<Self, ModelError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(ModelError::UnknownValue {
                        what: $what,
                        value: other.to_owned(),
                        valid: vec![$($text),+].join(", "),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// The four kinds of record.
    DocKind, "document kind" {
        /// A note of any contact: statutory or home visit, school visit, call, meeting...
        VisitNote => "visit_note",
        /// A child's (or worker's) "about me" profile, in their own words.
        AboutMe => "about_me",
        /// A worker's introduction card.
        ContactCard => "contact_card",
        /// A youth worker's short plan with a young person.
        ShortPlan => "short_plan",
    }
);

string_enum!(
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

string_enum!(
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

string_enum!(
    /// A record is a draft until its author completes it; a manager then signs visit notes and
    /// short plans off. A completed or signed-off record is locked: it changes only by an
    /// amendment with a reason.
    NoteStatus, "status" {
        Draft => "draft",
        Completed => "completed",
        /// Approved by a manager (visit notes and short plans only).
        SignedOff => "signed_off",
    }
);

impl NoteStatus {
    /// Completed and signed-off records are locked: only amendments change them.
    pub fn is_locked(self) -> bool {
        matches!(self, NoteStatus::Completed | NoteStatus::SignedOff)
    }
}

string_enum!(
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
