//! The closed vocabulary of Fieldnotes.
//!
//! Every value that names a role, a kind, a status or a code is defined here once, as a Rust
//! enum. Text appears only where a value crosses the wire (serde, snake_case) or is stored in a
//! database column (`sqlx::Type` as TEXT, behind the `sqlx` feature); everywhere else code
//! matches on the enum. Reading a value that is not in the vocabulary is an error that names
//! the value and lists the valid ones ([`UnknownValue`]): nothing falls back silently.

// The `vocabulary!` macro names this crate by path, also when it expands here.
extern crate self as fieldnotes_vocab;

mod scope;
#[cfg(feature = "sqlx")]
mod sql;
mod timestamp;

pub use scope::{ScopeKey, ScopeKeyError};
pub use timestamp::{Timestamp, TimestampError};

/// A value that is not in one of the vocabularies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what}; use one of: {valid}")]
pub struct UnknownValue {
    /// What the value was meant to be ("role", "document kind"...).
    pub what: &'static str,
    /// The value as given.
    pub value: String,
    /// The valid values, comma-separated.
    pub valid: String,
}

/// Declares a closed vocabulary: a `Copy` enum whose every value has one text form (used by
/// serde, `Display` and `FromStr`), with `ALL` and `as_str`. Unknown text is an
/// [`UnknownValue`] error.
#[macro_export]
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, $crate::__serde::Serialize, $crate::__serde::Deserialize)]
        #[serde(crate = "::fieldnotes_vocab::__serde", into = "&'static str", try_from = "String")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The value as sent and stored.
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            /// The value for its text, if it is one (`FromStr` says why not).
            pub fn parse(s: &str) -> Option<$name> { s.parse().ok() }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownValue;
            fn from_str(s: &str) -> Result<Self, $crate::UnknownValue> {
                $crate::find(s, $what, $name::ALL, |v| v.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::UnknownValue;
            fn try_from(s: String) -> Result<Self, $crate::UnknownValue> { s.parse() }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str { v.as_str() }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

#[doc(hidden)]
pub use serde as __serde;
#[doc(hidden)]
#[cfg(feature = "sqlx")]
pub use sqlx as __sqlx;

/// The value of `all` whose text is `s`, or an [`UnknownValue`] listing them.
#[doc(hidden)]
pub fn find<T: Copy>(
    s: &str,
    what: &'static str,
    all: &[T],
    text: impl Fn(T) -> &'static str,
) -> Result<T, UnknownValue> {
    all.iter()
        .copied()
        .find(|v| text(*v) == s)
        .ok_or_else(|| UnknownValue {
            what,
            value: s.to_owned(),
            valid: all.iter().map(|v| text(*v)).collect::<Vec<_>>().join(", "),
        })
}

vocabulary!(
    /// A person's role: what they may see and do.
    Role, "role" {
        SocialWorker => "social_worker",
        YouthWorker => "youth_worker",
        Manager => "manager",
        Admin => "admin",
    }
);

impl Role {
    /// Managers and admins: they review, sign off and see their teams' records.
    pub fn manages(self) -> bool {
        matches!(self, Role::Manager | Role::Admin)
    }
}

vocabulary!(
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

vocabulary!(
    /// A record is a draft until its author completes it; a manager then signs visit notes and
    /// short plans off. A completed or signed-off record is locked: it changes only by an
    /// amendment with a reason.
    RecordStatus, "status" {
        Draft => "draft",
        Completed => "completed",
        /// Approved by a manager (visit notes and short plans only).
        SignedOff => "signed_off",
    }
);

impl RecordStatus {
    /// Completed and signed-off records are locked: only amendments change them.
    pub fn is_locked(self) -> bool {
        matches!(self, RecordStatus::Completed | RecordStatus::SignedOff)
    }
}

vocabulary!(
    /// What kind of question a review item asks.
    ItemKind, "review item kind" {
        /// Concurrent edits left competing values in one field; the merge shows one of them.
        Conflict => "conflict",
        /// A change to a completed or signed-off record, made with a reason.
        Amendment => "amendment",
        /// A change made without seeing the record's completion or sign-off.
        PendingAmendment => "pending_amendment",
        /// A short plan whose merged points exceed the team's limit.
        PlanLimit => "plan_limit",
        /// Edits each valid on their own that together break a rule.
        InvalidMerge => "invalid_merge",
    }
);

vocabulary!(
    /// Where a review item stands.
    ReviewStatus, "review status" {
        /// Waiting for a manager or admin.
        Open => "open",
        /// Decided: a value was chosen, written, accepted or restored.
        Resolved => "resolved",
        /// Closed without changing the record, with a reason.
        Dismissed => "dismissed",
    }
);

vocabulary!(
    /// Why the server refused a document's changes.
    RejectCode, "reject code" {
        /// The bytes are not an automerge change.
        MalformedChange => "malformed_change",
        /// The changes apply, but the resulting document breaks a validation rule.
        InvalidDocument => "invalid_document",
        /// The document id is not a valid id, or the changes belong to another document.
        InvalidDocumentId => "invalid_document_id",
        /// The document's changes are larger than the server accepts in one push.
        TooLarge => "too_large",
        /// The document is about a child (or worker) outside what this person may write.
        OutOfScope => "out_of_scope",
        /// A change was written by an actor id that is not registered to the pushing device.
        ForeignActor => "foreign_actor",
        /// A new record names someone else as its author.
        WrongAuthor => "wrong_author",
        /// A change is not in automerge's canonical encoding (it would not re-encode to the same
        /// bytes and hash), so storing it could leave a record that no longer loads.
        NonCanonicalChange => "non_canonical_change",
        /// A change carries op columns this server does not know.
        UnknownColumns => "unknown_columns",
        /// A change refers to an object or element that no change of the document created.
        DanglingReference => "dangling_reference",
        /// A change, or a push, declares more operations than the server accepts.
        TooManyOps => "too_many_ops",
        /// The merged document did not reload to the same state; nothing was stored.
        InconsistentDocument => "inconsistent_document",
        /// Merging the changes failed inside the server; the record is untouched and the input
        /// kept.
        MergeFailed => "merge_failed",
        /// A change alters a field that never changes after a record is created (id, kind,
        /// child, subject, author, creation time).
        ImmutableField => "immutable_field",
        /// A life-cycle move (complete, sign off, delete, back to draft) this person may not
        /// make.
        NotPermitted => "not_permitted",
        /// A change edits a locked (completed or signed-off) record without an amendment reason.
        Locked => "locked",
        /// The device has too much input waiting in quarantine; nothing more is kept until it is
        /// reviewed.
        QuarantineFull => "quarantine_full",
    }
);

vocabulary!(
    /// The stable machine code of an error response (`ErrorBody::code`). The message beside it
    /// says what to do; clients decide on the code.
    ErrorCode, "error code" {
        // The request as sent.
        MalformedRequest => "malformed_request",
        InvalidJson => "invalid_json",
        UnreadableBody => "unreadable_body",
        PayloadTooLarge => "payload_too_large",
        UnsupportedProtocol => "unsupported_protocol",
        InvalidQuery => "invalid_query",
        InvalidCursor => "invalid_cursor",
        InvalidId => "invalid_id",
        InvalidDate => "invalid_date",
        InvalidName => "invalid_name",
        InvalidUsername => "invalid_username",
        InvalidPassword => "invalid_password",
        WeakPassword => "weak_password",
        InvalidDevice => "invalid_device",
        InvalidVersion => "invalid_version",
        InvalidMinutes => "invalid_minutes",
        InvalidPlanPointLimit => "invalid_plan_point_limit",
        ReasonRequired => "reason_required",
        ReasonTooLong => "reason_too_long",
        TooManyHeads => "too_many_heads",
        // Sign-in and tokens.
        Unauthenticated => "unauthenticated",
        InvalidCredentials => "invalid_credentials",
        InvalidToken => "invalid_token",
        TokenExpired => "token_expired",
        NoCredential => "no_credential",
        UnknownIdentity => "unknown_identity",
        AccountDisabled => "account_disabled",
        RefreshInvalid => "refresh_invalid",
        RefreshReused => "refresh_reused",
        SessionEnded => "session_ended",
        DeviceRevoked => "device_revoked",
        TooManySignInAttempts => "too_many_sign_in_attempts",
        // Access.
        Forbidden => "forbidden",
        OwnAccount => "own_account",
        OtherTeam => "other_team",
        NotACaseHolder => "not_a_case_holder",
        NotAYouthWorker => "not_a_youth_worker",
        NotYourChange => "not_your_change",
        // State.
        NotFound => "not_found",
        Conflict => "conflict",
        StaleChange => "stale_change",
        ChangeNotSynced => "change_not_synced",
        /// A plan-limit review item settled with a plan that still has more points than its
        /// team's limit.
        PlanOverLimit => "plan_over_limit",
        QuarantineFull => "quarantine_full",
        // The server.
        StorageUnavailable => "storage_unavailable",
        Internal => "internal",
        /// Made by a client, not sent by the server: the answer could not be read.
        UnreadableResponse => "unreadable_response",
    }
);

#[cfg(test)]
mod tests;
