//! Realistic documents from a seeded generator, shared by tests and benchmarks.

use fieldnotes_model::{
    AboutMePatch, NewAboutMe, NewRecord, NewShortPlan, NewVisitNote, NoteStatus, Patch, Record,
    ShortPlanPatch, SubjectKind, VisitKind, VisitNote, VisitNotePatch,
};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};

const WORDS: &[&str] = &[
    "visit", "school", "home", "mum", "dad", "carer", "sister", "brother", "football", "drawing",
    "worried", "happy", "bedroom", "dinner", "teacher", "friends", "park", "bus", "phone", "plan",
    "meeting", "safe", "talked", "about", "wanted", "said", "asked", "played", "quiet", "busy",
    "garden", "kitchen", "homework", "music", "games", "dog", "cat", "grandma", "weekend",
    "holiday", "birthday", "nurse", "doctor", "review", "agreed", "next", "week", "time", "the",
    "and", "with", "was", "we", "he", "she", "they", "for", "to", "at", "in", "on",
];

/// About `len` characters of words, deterministic for a given `rng` state.
pub fn words(rng: &mut StdRng, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    out
}

/// A seeded generator.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A visit note as the benchmark workloads define it: a title of about 40 characters, a body
/// of about 1,500, two or three tags, for one of 25 children.
pub fn visit_note(rng: &mut StdRng, index: usize, author: &str) -> NewRecord {
    let tags = (0..rng.random_range(2..=3))
        .map(|_| words(rng, 5))
        .collect();
    NewRecord::VisitNote(NewVisitNote {
        child_id: format!("child-{:02}", index % 25),
        author: author.to_owned(),
        visit_kind: VisitKind::HomeVisit,
        occurred_at: "2026-11-20T14:30:00Z".to_owned(),
        title: words(rng, 40).chars().take(40).collect(),
        body: words(rng, 1500),
        wishes_and_feelings: String::new(),
        tags,
        present: Vec::new(),
        child_seen: None,
        seen_alone: None,
        not_alone_reason: None,
    })
}

/// A short visit note about `child` by `author`.
pub fn note(child: &str, author: &str, title: &str, body: &str) -> NewRecord {
    NewRecord::VisitNote(NewVisitNote::new(
        child,
        author,
        VisitKind::HomeVisit,
        "2026-11-20T14:30:00Z",
        title,
        body,
    ))
}

/// A fresh automerge actor id.
pub fn actor() -> automerge::ActorId {
    automerge::ActorId::from(uuid::Uuid::new_v4().as_bytes().as_slice())
}

/// A fresh document id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A two-point-or-so short plan about `child` by `author`, with no review or end date.
pub fn plan(child: &str, author: &str, points: &[&str]) -> NewRecord {
    NewRecord::ShortPlan(NewShortPlan {
        child_id: child.to_owned(),
        author: author.to_owned(),
        points: points.iter().map(|p| (*p).to_owned()).collect(),
        review_on: None,
        planned_end: None,
    })
}

/// A child's "about me" profile whose only answer is what they find `fun`.
pub fn about_me(child: &str, fun: &str) -> NewRecord {
    NewRecord::AboutMe(NewAboutMe {
        subject_kind: SubjectKind::Child,
        subject_id: child.to_owned(),
        fun: fun.to_owned(),
        dislikes: String::new(),
        important: String::new(),
        how_to_help: String::new(),
    })
}

/// A patch to a visit note: `edit` applied to an empty one.
pub fn visit_patch(edit: impl FnOnce(&mut VisitNotePatch)) -> Patch {
    let mut patch = VisitNotePatch::default();
    edit(&mut patch);
    Patch::VisitNote(patch)
}

/// A patch setting a visit note's title.
pub fn title(text: &str) -> Patch {
    visit_patch(|p| p.title = Some(text.to_owned()))
}

/// A patch setting a visit note's body.
pub fn body(text: &str) -> Patch {
    visit_patch(|p| p.body = Some(text.to_owned()))
}

/// A patch setting a visit note's wishes and feelings.
pub fn wishes(text: &str) -> Patch {
    visit_patch(|p| p.wishes_and_feelings = Some(text.to_owned()))
}

/// A patch moving a visit note to `status`.
pub fn note_status(status: NoteStatus) -> Patch {
    visit_patch(|p| p.status = Some(status))
}

/// A patch setting a short plan's points.
pub fn plan_points(points: Vec<String>) -> Patch {
    Patch::ShortPlan(ShortPlanPatch {
        points: Some(points),
        ..ShortPlanPatch::default()
    })
}

/// A patch to an "about me" profile: `edit` applied to an empty one.
pub fn about_me_patch(edit: impl FnOnce(&mut AboutMePatch)) -> Patch {
    let mut patch = AboutMePatch::default();
    edit(&mut patch);
    Patch::AboutMe(patch)
}

/// The visit note a device or server read, or a failure naming what it was instead.
#[track_caller]
pub fn visit_note_in(record: Option<Record>) -> VisitNote {
    match record {
        Some(Record::VisitNote(note)) => note,
        other => panic!("expected a visit note, got {other:?}"),
    }
}
