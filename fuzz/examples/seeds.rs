//! Write the seed corpus: `cargo run --example seeds -- <corpus dir>` makes
//! `<dir>/merge_incoming`, `<dir>/document_load` and `<dir>/sync_request` from real documents.

use std::path::PathBuf;

use fieldnotes_protocol::{ChangeBytes, PROTOCOL_VERSION, PushDoc, SyncRequest};

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let (saved, changes) = fieldnotes_fuzz::stored_note();
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };
    // Into nothing: the whole history; into the stored note: each change alone.
    let mut all = vec![0_u8];
    for c in changes {
        all.extend_from_slice(c);
    }
    write("merge_incoming", "whole-history", &all)?;
    for (n, c) in changes.iter().enumerate() {
        let mut one = vec![1_u8];
        one.extend_from_slice(c);
        write("merge_incoming", &format!("change-{n}"), &one)?;
    }
    write("document_load", "saved", saved)?;
    write("document_load", "changes", &all[1..])?;
    let request = SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor: None,
        push: vec![PushDoc {
            doc_id: fieldnotes_fuzz::DOC_ID.into(),
            changes: changes.iter().cloned().map(ChangeBytes).collect(),
        }],
        max_page_bytes: Some(1_000_000),
        scopes: vec!["child:child-01".into()],
    };
    let json = serde_json::to_vec(&request).unwrap_or_default();
    write("sync_request", "push", &json)?;
    Ok(())
}
