//! Shared by the fuzz targets: how the server reads a sync request, how fuzz input becomes a
//! push, and a stored note to merge into.

use std::io::Read;
use std::sync::OnceLock;

use fieldnotes_model::{
    ActorId, Document, NewRecord, NewVisitNote, Patch, VisitKind, VisitNotePatch,
};
use fieldnotes_protocol::{Cursor, PushDoc, SyncRequest};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The server's limit on an inflated request body.
pub const MAX_BODY: u64 = 8 * 1024 * 1024;

/// The sync request as `crates/server/src/routes/sync.rs` reads it (its `WireRequest` is
/// private): the envelope first, then each push entry on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRequest<'a> {
    pub protocol: u32,
    #[serde(default)]
    pub cursor: Option<Cursor>,
    #[serde(default, borrow)]
    pub push: Vec<&'a RawValue>,
    #[serde(default)]
    pub max_page_bytes: Option<u64>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Read a request body as the server does: gzip (bounded) when it starts like gzip, then the
/// envelope and each entry; also as the protocol crate's own `SyncRequest`.
pub fn read_sync_request(body: &[u8]) {
    let inflated;
    let body = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(body)
            .take(MAX_BODY)
            .read_to_end(&mut out)
            .is_err()
        {
            return;
        }
        inflated = out;
        &inflated[..]
    } else {
        body
    };
    let mut json = serde_json::Deserializer::from_slice(body);
    if let Ok(request) = serde_path_to_error::deserialize::<_, WireRequest<'_>>(&mut json) {
        for raw in request.push {
            let mut json = serde_json::Deserializer::from_str(raw.get());
            let _ = serde_path_to_error::deserialize::<_, PushDoc>(&mut json);
        }
    }
    if let Ok(request) = serde_json::from_slice::<SyncRequest>(body) {
        // What deserializes must serialize back and read the same.
        if let Ok(again) = serde_json::to_vec(&request) {
            let back: Result<SyncRequest, _> = serde_json::from_slice(&again);
            assert_eq!(back.ok().as_ref(), Some(&request));
        }
    }
}

/// Fuzz input as a push: change chunks split at automerge's magic bytes.
pub use fieldnotes_model::intake::split_changes;

/// The id of the stored note.
pub const DOC_ID: &str = "fuzz-note";

/// The actor that wrote the stored note.
pub fn actor() -> ActorId {
    ActorId::from([0x11_u8; 16].as_slice())
}

/// A stored note (created, then edited twice), as saved bytes, and its changes.
pub fn stored_note() -> &'static (Vec<u8>, Vec<Vec<u8>>) {
    static NOTE: OnceLock<(Vec<u8>, Vec<Vec<u8>>)> = OnceLock::new();
    NOTE.get_or_init(|| {
        let record = NewRecord::VisitNote(NewVisitNote {
            tags: vec!["school".into()],
            child_seen: Some(true),
            seen_alone: Some(true),
            ..NewVisitNote::new(
                "child-01",
                "sw-a",
                VisitKind::HomeVisit,
                "2026-11-20T14:30:00Z",
                "Home visit",
                "Met at home after school.",
            )
        });
        let mut doc = Document::create(DOC_ID, actor(), record, 1_763_900_000_000)
            .unwrap_or_else(|e| panic!("the seed note is valid: {e}"));
        for (n, body) in [
            "Met at home after school. Talked about football.",
            "Met at home.",
        ]
        .iter()
        .enumerate()
        {
            let patch = VisitNotePatch {
                body: Some((*body).into()),
                title: Some(format!("Home visit {n}")),
                ..Default::default()
            };
            doc.edit(Patch::VisitNote(patch), 1_763_900_000_100 + n as i64)
                .unwrap_or_else(|e| panic!("the seed edit is valid: {e}"));
        }
        let changes = doc.all_changes().into_iter().map(|c| c.bytes).collect();
        (doc.save(), changes)
    })
}
