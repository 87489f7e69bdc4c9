//! What the SDK's store writes, with the sizes it writes it at, for the browser benchmark's
//! engines (`fieldnotes-bench-idb`, `fieldnotes-bench-sqlite`).
//!
//! Every value is what the SDK would hand the engine: sealed bytes (random here, since
//! XChaCha20-Poly1305 output is indistinguishable from random and does not compress). The
//! engine never sees plaintext, so the choice of engine changes nothing in how sealing at rest
//! works.

use wasm_bindgen::JsValue;

/// Bytes XChaCha20-Poly1305 adds to each sealed value: a 24-byte nonce and a 16-byte tag.
pub const SEAL_OVERHEAD: usize = 24 + 16;
/// A note's saved automerge document, about 2 KB, sealed.
pub const SNAPSHOT_BYTES: usize = 2048 + SEAL_OVERHEAD;
/// The sealed listing (child id and summary) kept beside each document for lists.
pub const LISTING_BYTES: usize = 120 + SEAL_OVERHEAD;
/// A keyed hash of the document's scope.
pub const SCOPE_TAG_BYTES: usize = 32;
/// One automerge change of a typed edit, sealed, as the outbox keeps it.
pub const CHANGE_BYTES: usize = 300 + SEAL_OVERHEAD;

/// A small deterministic generator (xorshift64*), so every run writes the same bytes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `len` bytes standing for sealed output.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// A 64-character hex change hash.
    pub fn hash(&mut self) -> String {
        (0..4)
            .map(|_| format!("{:016x}", self.next_u64()))
            .collect()
    }
}

/// One document as the store keeps it: sealed snapshot and listing, plus the plain columns the
/// native store has (kind, update time).
#[derive(Debug, Clone)]
pub struct Doc {
    pub doc_id: String,
    pub kind: &'static str,
    pub snapshot: Vec<u8>,
    pub listing: Vec<u8>,
    pub scope_tag: Vec<u8>,
    pub updated_at_ms: i64,
}

impl Doc {
    /// Document number `i` of a first sync's page.
    pub fn numbered(i: usize, rng: &mut Rng) -> Doc {
        Doc {
            doc_id: format!("note-{i:06}"),
            kind: "visit_note",
            snapshot: rng.bytes(SNAPSHOT_BYTES),
            listing: rng.bytes(LISTING_BYTES),
            scope_tag: rng.bytes(SCOPE_TAG_BYTES),
            updated_at_ms: 1_780_000_000_000 + i64::try_from(i).unwrap_or(0),
        }
    }
}

/// One typed edit: the document's new state and the change the outbox keeps for the server.
#[derive(Debug, Clone)]
pub struct Edit {
    pub doc: Doc,
    pub change_hash: String,
    pub change: Vec<u8>,
}

impl Edit {
    /// Edit number `n` of document `doc_number`.
    pub fn of(doc_number: usize, n: usize, rng: &mut Rng) -> Edit {
        let mut doc = Doc::numbered(doc_number, rng);
        doc.updated_at_ms += i64::try_from(n).unwrap_or(0) + 1;
        Edit {
            doc,
            change_hash: rng.hash(),
            change: rng.bytes(CHANGE_BYTES),
        }
    }
}

/// The document and the edit each size probe (`weight/*`) works on, seeded from the name the
/// page passes so nothing folds into a constant: the same data in every probe, so their sizes
/// differ only by the engine.
pub fn probe_data(name: &str) -> (Doc, Edit) {
    let mut rng = Rng::new(u64::try_from(name.len()).unwrap_or(1));
    let doc = Doc::numbered(1, &mut rng);
    let edit = Edit::of(1, 1, &mut rng);
    (doc, edit)
}

/// What a listing read returns, so the read cannot be optimised away: rows and bytes copied
/// into wasm memory (where the SDK would unseal them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listed {
    pub rows: usize,
    pub bytes: usize,
}

/// `performance.now()`, in the window or in a worker, in milliseconds.
pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast as _;
    let global = js_sys::global();
    if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        return window.performance().map_or(0.0, |p| p.now());
    }
    global
        .dyn_ref::<web_sys::WorkerGlobalScope>()
        .and_then(web_sys::WorkerGlobalScope::performance)
        .map_or(0.0, |p| p.now())
}

/// A plain JS object with these fields; `Err` (JS's error) if one cannot be set.
pub fn js_object(fields: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let object = js_sys::Object::new();
    for (name, value) in fields {
        js_sys::Reflect::set(&object, &JsValue::from(*name), value)?;
    }
    Ok(object.into())
}
