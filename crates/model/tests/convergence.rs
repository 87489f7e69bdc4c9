//! Convergence of concurrent edits.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use fieldnotes_model::*;
use proptest::prelude::*;

const T0: i64 = 1_763_900_000_000;

#[derive(Debug, Clone)]
enum Edit {
    /// Insert `text` at a position (as a fraction of the body length).
    InsertBody {
        at: f64,
        text: String,
    },
    /// Delete up to `len` characters from a position.
    DeleteBody {
        at: f64,
        len: usize,
    },
    Title(String),
    AddTag(String),
    Wishes(String),
    ChildSeen(bool),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..=1.0f64, "[a-z ]{1,12}").prop_map(|(at, text)| Edit::InsertBody { at, text }),
        (0.0..=1.0f64, 1usize..8).prop_map(|(at, len)| Edit::DeleteBody { at, len }),
        "[A-Za-z][A-Za-z ]{0,29}".prop_map(Edit::Title),
        "[a-z]{1,10}".prop_map(Edit::AddTag),
        "[a-z ]{0,20}".prop_map(Edit::Wishes),
        any::<bool>().prop_map(Edit::ChildSeen),
    ]
}

fn apply(doc: &mut Document, edit: &Edit, time: i64) {
    let Record::VisitNote(note) = doc.read().unwrap() else {
        unreachable!()
    };
    let body: Vec<char> = note.content.body.chars().collect();
    let pos = |at: f64| ((body.len() as f64) * at).floor() as usize;
    let mut p = VisitNotePatch::default();
    match edit {
        Edit::InsertBody { at, text } => {
            let i = pos(*at).min(body.len());
            let new: String = body[..i]
                .iter()
                .chain(text.chars().collect::<Vec<_>>().iter())
                .chain(body[i..].iter())
                .collect();
            p.body = Some(new);
        }
        Edit::DeleteBody { at, len } => {
            let i = pos(*at).min(body.len());
            let j = (i + len).min(body.len());
            let new: String = body[..i].iter().chain(body[j..].iter()).collect();
            if new.trim().is_empty() {
                return; // A note's body is never blank: the model refuses it.
            }
            p.body = Some(new);
        }
        Edit::Title(t) => p.title = Some(t.clone()),
        Edit::AddTag(t) => {
            let mut tags = note.content.tags.clone();
            if tags.len() < 20 {
                tags.push(t.clone());
            }
            p.tags = Some(tags);
        }
        Edit::Wishes(w) => p.wishes_and_feelings = Some(w.clone()),
        Edit::ChildSeen(b) => p.child_seen = Some(Some(*b)),
    }
    doc.edit(Patch::VisitNote(p), time).unwrap();
}

fn base() -> Document {
    let record = NewRecord::VisitNote(NewVisitNote::new(
        "child-1",
        "sw-1",
        VisitKind::HomeVisit,
        "2026-11-20T14:30:00Z",
        "Visit",
        "The quick brown fox",
    ));
    Document::create("doc-1", ActorId::from([0u8; 16]), record, T0).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Property: 2 or 3 replicas forked from one note, each making its own random edits
    /// concurrently (body splices, title changes, tags, wishes, whether the child was seen),
    /// end with identical heads, identical records and structurally valid documents, whatever
    /// the order in which the replicas' changes are exchanged — including sending each replica
    /// its peers' changes shuffled and duplicated.
    #[test]
    fn concurrent_edits_converge_in_any_merge_order(
        edits in prop::collection::vec(prop::collection::vec(edit_strategy(), 0..8), 2..=3),
        order_seed in any::<u64>(),
    ) {
        let mut origin = base();
        let mut replicas: Vec<Document> = (0..edits.len())
            .map(|i| origin.fork(ActorId::from([i as u8 + 1; 16])))
            .collect();
        for (replica, list) in replicas.iter_mut().zip(&edits) {
            for (n, edit) in list.iter().enumerate() {
                apply(replica, edit, T0 + n as i64);
            }
        }
        // Every replica receives every other replica's changes in a seed-dependent order,
        // with duplicates.
        let all: Vec<Vec<Vec<u8>>> = replicas
            .iter_mut()
            .map(|r| r.all_changes().into_iter().map(|c| c.bytes).collect())
            .collect();
        let n = replicas.len();
        for (i, replica) in replicas.iter_mut().enumerate() {
            let mut incoming: Vec<Vec<u8>> = Vec::new();
            for k in 0..n {
                let j = (i + k + order_seed as usize) % n;
                if j != i {
                    incoming.extend(all[j].iter().cloned());
                }
            }
            let rot = (order_seed as usize) % incoming.len().max(1);
            incoming.rotate_left(rot);
            if order_seed % 2 == 0 {
                incoming.reverse();
            }
            let dup: Vec<Vec<u8>> = incoming.iter().step_by(2).cloned().collect();
            incoming.extend(dup);
            replica.apply_changes(&incoming).unwrap();
        }
        let heads0 = { let mut h = replicas[0].heads(); h.sort(); h };
        let record0 = replicas[0].read().unwrap();
        for replica in replicas.iter_mut() {
            let mut h = replica.heads();
            h.sort();
            prop_assert_eq!(&h, &heads0);
            prop_assert_eq!(&replica.read().unwrap(), &record0);
            prop_assert!(replica.validate().is_ok(), "{:?}", replica.validate());
            // Saved and loaded again, it is the same document.
            let mut reloaded = Document::load("doc-1", &replica.save()).unwrap();
            let mut h = reloaded.heads();
            h.sort();
            prop_assert_eq!(&h, &heads0);
            prop_assert_eq!(&reloaded.read().unwrap(), &record0);
        }

        // The server's path: each replica's changes pushed one replica at a time, in a
        // seed-dependent order, into the stored state, end in the same document.
        let mut stored: Option<Vec<u8>> = None;
        for k in 0..n {
            let j = (k + order_seed as usize / 7) % n;
            let merged = merge_incoming("doc-1", stored.as_deref(), &all[j]).unwrap();
            prop_assert!(merged.missing_deps.is_empty());
            let mut document = merged.document;
            stored = Some(document.save());
        }
        let mut server = Document::load("doc-1", &stored.unwrap()).unwrap();
        let mut h = server.heads();
        h.sort();
        prop_assert_eq!(&h, &heads0);
        prop_assert_eq!(&server.read().unwrap(), &record0);
    }
}
