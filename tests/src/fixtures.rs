//! Realistic documents from a seeded generator, shared by tests and benchmarks.

use fieldnotes_model::{NewRecord, NewVisitNote, VisitKind};
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
    NewRecord::VisitNote(NewVisitNote {
        child_id: child.to_owned(),
        author: author.to_owned(),
        visit_kind: VisitKind::HomeVisit,
        occurred_at: "2026-11-20T14:30:00Z".to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        wishes_and_feelings: String::new(),
        tags: Vec::new(),
        present: Vec::new(),
        child_seen: None,
        seen_alone: None,
        not_alone_reason: None,
    })
}

/// A fresh automerge actor id.
pub fn actor() -> automerge::ActorId {
    automerge::ActorId::from(uuid::Uuid::new_v4().as_bytes().as_slice())
}

/// A fresh document id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
