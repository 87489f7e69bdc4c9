//! Pushed change bytes through the server's merge step, into a stored note or a new document.
//! The first byte chooses: odd merges into the stored note, even into nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let incoming = fieldnotes_fuzz::split_changes(rest);
    let (saved, _) = fieldnotes_fuzz::stored_note();
    let current = (choice & 1 == 1).then_some(saved.as_slice());
    if let Ok(mut merged) =
        fieldnotes_model::merge_incoming(fieldnotes_fuzz::DOC_ID, current, &incoming)
    {
        if merged.missing_deps.is_empty() {
            // Whatever was accepted must save and load again.
            let bytes = merged.document.save();
            let heads = merged.document.heads();
            let mut loaded = fieldnotes_model::Document::load(fieldnotes_fuzz::DOC_ID, &bytes)
                .unwrap_or_else(|e| panic!("an accepted merge does not reload: {e}"));
            let mut again = loaded.heads();
            let mut want = heads;
            again.sort();
            want.sort();
            assert_eq!(again, want, "an accepted merge reloads to other heads");
        }
    }
});
