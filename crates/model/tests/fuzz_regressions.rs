//! Inputs that once broke a fuzz target (`fuzz/`), replayed as ordinary tests. Each file in
//! `fuzz/regressions/<target>/` is the input exactly as libFuzzer saved it; these tests run it
//! the way the target does and require the same: no panic, and a merge that is accepted saves
//! and reloads to the same heads.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use fieldnotes_model::intake::split_changes;
use fieldnotes_model::{Document, merge_incoming};

const DOC_ID: &str = "fuzz-note";

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every input kept for `target`, with its file name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("regressions").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn merge_incoming_regressions_are_refused_or_reload() {
    // The stored note the target merges into (`fuzz/src/lib.rs`, written by its seeds example).
    let stored = std::fs::read(fuzz_dir().join("seeds/document_load/saved")).unwrap();
    let kept = inputs("merge_incoming");
    assert!(!kept.is_empty(), "the regression inputs are missing");
    for (name, data) in kept {
        let Some((&choice, rest)) = data.split_first() else {
            continue;
        };
        let current = (choice & 1 == 1).then_some(stored.as_slice());
        match merge_incoming(DOC_ID, current, &split_changes(rest)) {
            Ok(mut merged) if merged.missing_deps.is_empty() => {
                let bytes = merged.document.save();
                let mut want = merged.document.heads();
                let mut got = Document::load(DOC_ID, &bytes)
                    .unwrap_or_else(|e| panic!("{name}: the merge does not reload: {e}"))
                    .heads();
                want.sort();
                got.sort();
                assert_eq!(got, want, "{name}: the merge reloads to other heads");
            }
            Ok(_) | Err(_) => {}
        }
    }
}

#[test]
fn document_load_regressions_do_not_panic() {
    for (_, data) in inputs("document_load") {
        if let Ok(mut doc) = Document::load(DOC_ID, &data) {
            let _ = doc.read();
            let _ = doc.validate();
            let _ = doc.conflicts();
            let _ = doc.heads();
        }
    }
}
