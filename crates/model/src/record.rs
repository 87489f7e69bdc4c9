//! Typed views of the four record kinds, their creation inputs and their patches.

use serde::{Deserialize, Serialize};

use crate::kinds::{DocKind, NotAloneReason, NoteStatus, SubjectKind, VisitKind};

/// A team's limit on a short plan's points when the team has not set its own: a plan is "often
/// no more than three points". The team's own limit (`plan_point_limit`, 1 to
/// [`crate::validate::MAX_PLAN_POINTS`]) is what a device keeps its edits to and what the server
/// compares a merged plan with; see [`crate::validate::check_plan_points`].
pub const PLAN_POINT_LIMIT: usize = 3;

/// How concurrent edits of a field merge. Decided per field, here, for every kind
/// ([`field_rule`]).
///
/// A child's words are never merged letter by letter: a field that holds one person's
/// statement takes one value, written whole, so two different concurrent values are a
/// conflict for review (each side's value as its device wrote it). Only long bodies merge as
/// text, and an overlapping concurrent rewrite of the same passage is reported for review too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRule {
    /// One person's statement (wishes and feelings, a title, an "about me" answer, a card
    /// line): one scalar value written whole. Concurrent different values conflict.
    Statement,
    /// A list whose entries are statements (plan points, a card's three things): each entry
    /// is one value. A concurrent change of the same entry conflicts on that entry; entries
    /// added concurrently are both kept (the plan limit check counts them).
    StatementList,
    /// Long text (a note's body): automerge text, merged where edits do not overlap (two
    /// appends); overlapping concurrent rewrites are a conflict showing each side's whole
    /// text and the merged text.
    Prose,
    /// Any other single value (dates, enumerations, yes/no, ids): concurrent different
    /// values conflict.
    Value,
    /// A list of short values (tags, people present): entries conflict one by one.
    ValueList,
}

/// The merge rule of `field` of a record of `kind`; `None` for a name that is not a field.
/// Documents written before this rule (schema 1 wrote statements as automerge text) still
/// read: a statement reads from text or a scalar, and the next edit replaces the text with a
/// scalar.
pub fn field_rule(kind: DocKind, field: &str) -> Option<FieldRule> {
    use FieldRule::*;
    let rule = match (kind, field) {
        (_, "status" | "signed_off_by" | "deleted") => Value,
        (DocKind::VisitNote, "title" | "wishes_and_feelings") => Statement,
        (DocKind::VisitNote, "body") => Prose,
        (DocKind::VisitNote, "tags" | "present") => ValueList,
        (
            DocKind::VisitNote,
            "child_id" | "author" | "visit_kind" | "occurred_at" | "child_seen" | "seen_alone"
            | "not_alone_reason",
        ) => Value,
        (DocKind::AboutMe, "fun" | "dislikes" | "important" | "how_to_help") => Statement,
        (DocKind::AboutMe, "subject_kind" | "subject_id") => Value,
        (DocKind::ContactCard, "display_name" | "how_to_reach" | "when_to_reach") => Statement,
        (DocKind::ContactCard, "three_things") => StatementList,
        (DocKind::ContactCard, "worker_id" | "picture") => Value,
        (DocKind::ShortPlan, "points") => StatementList,
        (DocKind::ShortPlan, "child_id" | "author" | "review_on" | "planned_end") => Value,
        _ => return None,
    };
    Some(rule)
}

/// The fields of `kind` that follow `rule`, for documentation and tests.
pub fn fields_with_rule(kind: DocKind, rule: FieldRule) -> Vec<&'static str> {
    const ALL: &[&str] = &[
        "title",
        "body",
        "wishes_and_feelings",
        "tags",
        "present",
        "child_id",
        "author",
        "visit_kind",
        "occurred_at",
        "child_seen",
        "seen_alone",
        "not_alone_reason",
        "status",
        "signed_off_by",
        "fun",
        "dislikes",
        "important",
        "how_to_help",
        "subject_kind",
        "subject_id",
        "display_name",
        "how_to_reach",
        "when_to_reach",
        "three_things",
        "worker_id",
        "picture",
        "points",
        "review_on",
        "planned_end",
    ];
    ALL.iter()
        .copied()
        .filter(|f| field_rule(kind, f) == Some(rule))
        .collect()
}

/// A note of one contact with a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitNote {
    pub id: String,
    /// What the note says (in JSON its fields stand beside `id`, not in an object of their
    /// own).
    #[serde(flatten)]
    pub content: NewVisitNote,
    pub status: NoteStatus,
    /// The manager who signed the note off: set exactly when `status` is `signed_off`.
    #[serde(default)]
    pub signed_off_by: Option<String>,
}

/// An "about me" profile, filled in by a child (or a worker) with a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AboutMe {
    pub id: String,
    /// What the profile says (in JSON its fields stand beside `id`).
    #[serde(flatten)]
    pub content: NewAboutMe,
    pub status: NoteStatus,
}

/// A photo or drawing on a contact card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// A worker's introduction card for the children they work with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactCard {
    pub id: String,
    /// What the card says (in JSON its fields stand beside `id`).
    #[serde(flatten)]
    pub content: NewContactCard,
}

/// A short plan agreed with a young person, with a review and a planned ending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShortPlan {
    pub id: String,
    /// What the plan says (in JSON its fields stand beside `id`).
    #[serde(flatten)]
    pub content: NewShortPlan,
    pub status: NoteStatus,
    /// The manager who signed the plan off: set exactly when `status` is `signed_off`.
    #[serde(default)]
    pub signed_off_by: Option<String>,
}

/// A soft delete: the record stays, with its whole history, marked as deleted by a manager
/// (for instance a note filed on the wrong child). Read it with [`crate::Document::deletion`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// The user id of the manager who deleted the record.
    pub by: String,
    /// Why it was deleted.
    pub reason: String,
}

/// A record of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    VisitNote(VisitNote),
    AboutMe(AboutMe),
    ContactCard(ContactCard),
    ShortPlan(ShortPlan),
}

impl Record {
    pub fn kind(&self) -> DocKind {
        match self {
            Record::VisitNote(_) => DocKind::VisitNote,
            Record::AboutMe(_) => DocKind::AboutMe,
            Record::ContactCard(_) => DocKind::ContactCard,
            Record::ShortPlan(_) => DocKind::ShortPlan,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Record::VisitNote(r) => &r.id,
            Record::AboutMe(r) => &r.id,
            Record::ContactCard(r) => &r.id,
            Record::ShortPlan(r) => &r.id,
        }
    }

    /// The child the record is about, where it is about a child.
    pub fn child_id(&self) -> Option<&str> {
        match self {
            Record::VisitNote(r) => Some(&r.content.child_id),
            Record::ShortPlan(r) => Some(&r.content.child_id),
            Record::AboutMe(r) if r.content.subject_kind == SubjectKind::Child => {
                Some(&r.content.subject_id)
            }
            Record::AboutMe(_) | Record::ContactCard(_) => None,
        }
    }

    /// The key that decides who may see and write the record: `child:ID` for records about a
    /// child, `worker:ID` for a worker's own contact card and "about me" profile.
    pub fn scope_key(&self) -> String {
        match self {
            Record::VisitNote(r) => scope::child(&r.content.child_id),
            Record::ShortPlan(r) => scope::child(&r.content.child_id),
            Record::AboutMe(r) => match r.content.subject_kind {
                SubjectKind::Child => scope::child(&r.content.subject_id),
                SubjectKind::Worker => scope::worker(&r.content.subject_id),
            },
            Record::ContactCard(r) => scope::worker(&r.content.worker_id),
        }
    }

    /// Who the record says wrote it, for the kinds that have an author.
    pub fn author(&self) -> Option<&str> {
        match self {
            Record::VisitNote(r) => Some(&r.content.author),
            Record::ShortPlan(r) => Some(&r.content.author),
            Record::AboutMe(_) | Record::ContactCard(_) => None,
        }
    }

    /// The record's status; contact cards have none.
    pub fn status(&self) -> Option<NoteStatus> {
        match self {
            Record::VisitNote(r) => Some(r.status),
            Record::AboutMe(r) => Some(r.status),
            Record::ShortPlan(r) => Some(r.status),
            Record::ContactCard(_) => None,
        }
    }

    /// Completed and signed-off records are locked: only amendments change them.
    pub fn is_locked(&self) -> bool {
        self.status().is_some_and(NoteStatus::is_locked)
    }

    /// The manager who signed the record off, for signed-off visit notes and plans.
    pub fn signed_off_by(&self) -> Option<&str> {
        match self {
            Record::VisitNote(r) => r.signed_off_by.as_deref(),
            Record::ShortPlan(r) => r.signed_off_by.as_deref(),
            Record::AboutMe(_) | Record::ContactCard(_) => None,
        }
    }

    /// How many points a short plan has (`None` for other kinds), to compare with a team's
    /// limit; a device keeps its own edits to that limit, a merge may go past it.
    pub fn plan_points(&self) -> Option<usize> {
        match self {
            Record::ShortPlan(r) => Some(r.content.points.len()),
            _ => None,
        }
    }

    /// A one-line summary for lists.
    pub fn summary(&self) -> String {
        match self {
            Record::VisitNote(r) => format!(
                "{} ({}, {})",
                r.content.title, r.content.visit_kind, r.content.occurred_at
            ),
            Record::AboutMe(r) => format!(
                "about me: {} {}",
                r.content.subject_kind, r.content.subject_id
            ),
            Record::ContactCard(r) => format!("contact card: {}", r.content.display_name),
            Record::ShortPlan(r) => format!("short plan, {} point(s)", r.content.points.len()),
        }
    }

    /// The record's content: what a new record with it would say (everything but its id,
    /// status and sign-off).
    pub(crate) fn into_content(self) -> NewRecord {
        match self {
            Record::VisitNote(n) => NewRecord::VisitNote(n.content),
            Record::AboutMe(a) => NewRecord::AboutMe(a.content),
            Record::ContactCard(c) => NewRecord::ContactCard(c.content),
            Record::ShortPlan(p) => NewRecord::ShortPlan(p.content),
        }
    }
}

/// What a visit note says: a new note's input (always a draft at creation), and the content
/// of a [`VisitNote`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVisitNote {
    pub child_id: String,
    pub author: String,
    pub visit_kind: VisitKind,
    /// When the contact happened (RFC 3339 with offset).
    pub occurred_at: String,
    pub title: String,
    pub body: String,
    /// The child's wishes and feelings, in the child's own words.
    pub wishes_and_feelings: String,
    pub tags: Vec<String>,
    /// Who was present.
    pub present: Vec<String>,
    /// Statutory visits: was the child seen?
    pub child_seen: Option<bool>,
    /// ... and seen alone?
    pub seen_alone: Option<bool>,
    /// If seen but not alone, the lawful reason.
    pub not_alone_reason: Option<NotAloneReason>,
}

impl NewVisitNote {
    /// A note with the fields every note has: no wishes and feelings, tags or people present,
    /// and the statutory-visit answers unset (set them with struct update syntax).
    pub fn new(
        child_id: &str,
        author: &str,
        visit_kind: VisitKind,
        occurred_at: &str,
        title: &str,
        body: &str,
    ) -> NewVisitNote {
        NewVisitNote {
            child_id: child_id.to_owned(),
            author: author.to_owned(),
            visit_kind,
            occurred_at: occurred_at.to_owned(),
            title: title.to_owned(),
            body: body.to_owned(),
            wishes_and_feelings: String::new(),
            tags: Vec::new(),
            present: Vec::new(),
            child_seen: None,
            seen_alone: None,
            not_alone_reason: None,
        }
    }
}

/// What an "about me" profile says: a new profile's input, and the content of an [`AboutMe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAboutMe {
    pub subject_kind: SubjectKind,
    pub subject_id: String,
    /// What I like doing for fun.
    pub fun: String,
    /// What I don't like.
    pub dislikes: String,
    /// What is important to me.
    pub important: String,
    /// How best to help me.
    pub how_to_help: String,
}

/// What a contact card says: a new card's input, and the content of a [`ContactCard`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewContactCard {
    pub worker_id: String,
    pub display_name: String,
    pub picture: Option<Picture>,
    /// Three things about the worker they are happy to share.
    pub three_things: Vec<String>,
    pub how_to_reach: String,
    pub when_to_reach: String,
}

/// What a short plan says: a new plan's input, and the content of a [`ShortPlan`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewShortPlan {
    pub child_id: String,
    pub author: String,
    pub points: Vec<String>,
    /// `YYYY-MM-DD`.
    pub review_on: Option<String>,
    /// `YYYY-MM-DD`.
    pub planned_end: Option<String>,
}

/// Input for a new record of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NewRecord {
    VisitNote(NewVisitNote),
    AboutMe(NewAboutMe),
    ContactCard(NewContactCard),
    ShortPlan(NewShortPlan),
}

impl NewRecord {
    pub fn kind(&self) -> DocKind {
        match self {
            NewRecord::VisitNote(_) => DocKind::VisitNote,
            NewRecord::AboutMe(_) => DocKind::AboutMe,
            NewRecord::ContactCard(_) => DocKind::ContactCard,
            NewRecord::ShortPlan(_) => DocKind::ShortPlan,
        }
    }
}

/// Changes to a visit note; `None` leaves a field as it is, `Some(None)` clears an optional one.
///
/// There is no way to move a note to another child: a note filed on the wrong child is deleted
/// (a manager's decision) and recorded again, so that each child's record stays whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitNotePatch {
    pub visit_kind: Option<VisitKind>,
    pub occurred_at: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub wishes_and_feelings: Option<String>,
    pub tags: Option<Vec<String>>,
    pub present: Option<Vec<String>>,
    pub child_seen: Option<Option<bool>>,
    pub seen_alone: Option<Option<bool>>,
    pub not_alone_reason: Option<Option<NotAloneReason>>,
    pub status: Option<NoteStatus>,
}

/// Changes to an "about me" profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AboutMePatch {
    pub fun: Option<String>,
    pub dislikes: Option<String>,
    pub important: Option<String>,
    pub how_to_help: Option<String>,
    pub status: Option<NoteStatus>,
}

/// Changes to a contact card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactCardPatch {
    pub display_name: Option<String>,
    pub picture: Option<Option<Picture>>,
    pub three_things: Option<Vec<String>>,
    pub how_to_reach: Option<String>,
    pub when_to_reach: Option<String>,
}

/// Changes to a short plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShortPlanPatch {
    pub points: Option<Vec<String>>,
    pub review_on: Option<Option<String>>,
    pub planned_end: Option<Option<String>>,
    pub status: Option<NoteStatus>,
}

/// Changes to a record of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Patch {
    VisitNote(VisitNotePatch),
    AboutMe(AboutMePatch),
    ContactCard(ContactCardPatch),
    ShortPlan(ShortPlanPatch),
}

impl Patch {
    pub fn kind(&self) -> DocKind {
        match self {
            Patch::VisitNote(_) => DocKind::VisitNote,
            Patch::AboutMe(_) => DocKind::AboutMe,
            Patch::ContactCard(_) => DocKind::ContactCard,
            Patch::ShortPlan(_) => DocKind::ShortPlan,
        }
    }
}

/// Scope keys: the unit of who may see and write records.
pub mod scope {
    use fieldnotes_vocab::ScopeKey;

    /// Prefix of the scope key of records about a child.
    pub const CHILD_PREFIX: &str = ScopeKey::CHILD_PREFIX;
    /// Prefix of the scope key of a worker's own records.
    pub const WORKER_PREFIX: &str = ScopeKey::WORKER_PREFIX;

    /// The scope key of records about child `id`.
    pub fn child(id: &str) -> String {
        ScopeKey::child(id).to_string()
    }

    /// The scope key of worker `id`'s own records.
    pub fn worker(id: &str) -> String {
        ScopeKey::worker(id).to_string()
    }

    /// The child a scope key is about, if it is a child's.
    pub fn child_of(key: &str) -> Option<&str> {
        key.strip_prefix(CHILD_PREFIX)
    }
}
