//! What the intake checks cost, step by step, against the whole merge. Run by hand:
//!
//! ```sh
//! cargo run --release -p fieldnotes-model --example intake_cost
//! ```
//!
//! Prints the median of many runs for each step, in microseconds, for three pushes: a new note
//! (one change with a 1,500-character body), one edit to a stored note with 50 edits, and 20
//! edits to that note in one push. The figures are recorded in docs/PERFORMANCE.md.

use std::time::Instant;

use automerge::AutoCommit;
use fieldnotes_model::intake::{self, IntakeLimits};
use fieldnotes_model::{
    ActorId, Document, NewRecord, NewVisitNote, Patch, Record, VisitKind, VisitNotePatch,
    merge_incoming,
};

const RUNS: usize = 200;

fn median_us(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

fn words(n: usize, salt: usize) -> String {
    let pool = [
        "school", "home", "football", "nan", "drawing", "dog", "bus", "tea", "park",
    ];
    let mut s = String::new();
    let mut i = salt;
    while s.len() < n {
        s.push_str(pool[i % pool.len()]);
        s.push(' ');
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    s.truncate(n);
    s
}

fn note() -> NewRecord {
    let body = words(1500, 1);
    let mut note = NewVisitNote::new(
        "child-01",
        "sw-a",
        VisitKind::HomeVisit,
        "2026-11-20T14:30:00Z",
        "Home visit after school",
        &body,
    );
    note.tags = vec!["school".into(), "home".into()];
    (note.child_seen, note.seen_alone) = (Some(true), Some(true));
    NewRecord::VisitNote(note)
}

fn edit(doc: &mut Document, n: usize) -> Vec<u8> {
    // An ordinary edit: a sentence appended to the body, and a new title.
    let mut body = match doc.read().expect("reads") {
        Record::VisitNote(n) => n.content.body,
        _ => String::new(),
    };
    body.push(' ');
    body.push_str(&words(60, n));
    let patch = VisitNotePatch {
        title: Some(format!("Home visit {n}")),
        body: Some(body),
        ..Default::default()
    };
    doc.edit(
        Patch::VisitNote(patch),
        1_763_900_000_000 + i64::try_from(n).unwrap_or(0),
    )
    .expect("a valid edit")
    .expect("a change")
    .bytes
}

fn report(name: &str, current: Option<&[u8]>, incoming: &[Vec<u8>]) {
    let limits = IntakeLimits::DEFAULT;
    let whole = median_us(|| {
        merge_incoming("n1", current, incoming).expect("the push merges");
    });
    let load = median_us(|| {
        if let Some(bytes) = current {
            AutoCommit::load(bytes).expect("loads");
        }
    });
    let scan = median_us(|| {
        intake::scan(incoming, &limits).expect("scans");
    });
    let parse = median_us(|| {
        intake::parse(intake::scan(incoming, &limits).expect("scans")).expect("parses");
    });
    let decode_only = median_us(|| {
        for c in intake::scan(incoming, &limits).expect("scans") {
            automerge::Change::try_from(c.chunk.as_ref()).expect("decodes");
        }
    });
    let parsed = intake::parse(intake::scan(incoming, &limits).expect("scans")).expect("parses");
    let mut doc = current.map_or_else(AutoCommit::new, |b| AutoCommit::load(b).expect("loads"));
    let references = median_us(|| {
        let mut d = doc.clone();
        intake::check_fresh(&mut d, &parsed).expect("references hold");
    });
    let clone = median_us(|| {
        let _ = doc.clone();
    });
    let before = doc.get_heads();
    doc.apply_changes(parsed.iter().map(|p| p.change.clone()))
        .expect("applies");
    let applied: Vec<_> = parsed.iter().map(|p| p.change.hash()).collect();
    let reload = median_us(|| {
        intake::check_reload(&mut doc, &before, &applied).expect("reloads");
    });
    let round_trip = median_us(|| {
        intake::check_round_trip(&mut doc).expect("round trip");
    });
    println!(
        "{name}: merge_incoming {whole:.0} µs (of which loading the stored document {load:.0}); \
         scan {scan:.0}; decode {decode_only:.0}; scan+decode+re-encode {parse:.0} (re-encode \
         {:.0}); references {:.0}; reload check (new changes rebuilt) {reload:.0}; full \
         save+load round trip {round_trip:.0}",
        parse - decode_only,
        (references - clone).max(0.0),
    );
}

fn main() {
    let actor = ActorId::from([7_u8; 16].as_slice());
    let mut doc = Document::create("n1", actor, note(), 1_763_900_000_000).expect("a valid note");
    let created: Vec<Vec<u8>> = doc.all_changes().into_iter().map(|c| c.bytes).collect();
    report("new note (1 change)", None, &created);

    for n in 0..50 {
        edit(&mut doc, n);
    }
    let stored = doc.save();
    let one = vec![edit(&mut doc, 100)];
    report("1 edit to a note with 50 edits", Some(&stored), &one);

    let mut doc = Document::load("n1", &stored).expect("loads");
    let twenty: Vec<Vec<u8>> = (0..20).map(|n| edit(&mut doc, 200 + n)).collect();
    report("20 edits to that note", Some(&stored), &twenty);
}
