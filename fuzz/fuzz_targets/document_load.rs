//! Bytes loaded as a stored document (a saved document or concatenated changes), then read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // `Document::load` catches automerge's panics on damaged input; only a panic that
        // escapes it is a crash (libFuzzer's harness aborts on those).
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
    if let Ok(mut doc) = fieldnotes_model::Document::load(fieldnotes_fuzz::DOC_ID, data) {
        let _ = doc.read();
        let _ = doc.validate();
        let _ = doc.conflicts();
        let _ = doc.heads();
    }
    }
);
