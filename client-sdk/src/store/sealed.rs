//! What every store backend keeps, and under which binding: each value the store holds is
//! sealed here, with the store's [`Keys`] and an AAD naming its place ([`aad`], [`purpose`]),
//! and opened here on the way out. A backend moves only the sealed bytes, the keyed scope
//! tags and the plain facts (ids, kinds, times, sequence numbers) in and out of its tables.
//!
//! Rows from the first version of the native store were plaintext (`enc = 0`): a backend
//! hands them over as [`Stored::Plain`] and they are read as they are until they are sealed
//! (`seal_plaintext` in the keyring). A backend with no such rows only ever returns
//! [`Stored::Sealed`].

use serde::{Deserialize, Serialize};

use crate::ClientError;
use crate::crypto::{CryptoError, Keys, aad, purpose};

use super::DocRow;

/// A value as a backend read it: sealed, or a plaintext value of the first version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored<T> {
    Sealed(T),
    // Only the native store has plaintext rows (of its first version).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    Plain(T),
}

/// A sealed value that did not open, or is not in the shape this version writes: the store
/// holds data this version cannot read ([`ClientError::Corrupt`]), whatever the backend.
#[derive(Debug)]
pub(crate) struct SealError {
    what: String,
    source: CryptoError,
}

impl From<SealError> for ClientError {
    fn from(e: SealError) -> Self {
        ClientError::Corrupt(format!("{}: {}", e.what, e.source))
    }
}

fn sealed_err(what: impl Into<String>) -> impl FnOnce(CryptoError) -> SealError {
    let what = what.into();
    move |source| SealError { what, source }
}

/// A sealed value that is not in the shape this version writes.
fn format_err(what: String, detail: impl std::fmt::Display) -> SealError {
    SealError {
        what,
        source: CryptoError::Format(detail.to_string()),
    }
}

/// What a document's sealed listing holds: the facts that name a child or say what a record
/// is about.
#[derive(Debug, Serialize, Deserialize)]
struct Listing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    child_id: Option<String>,
    summary: String,
}

/// A document as a backend stores it. Only `doc_id`, `kind` and `updated_at_ms` are plain;
/// the child, the summary and the content are sealed, and the scope is a keyed tag.
#[derive(Debug, Clone)]
pub(crate) struct SealedDoc {
    pub doc_id: String,
    pub kind: String,
    pub updated_at_ms: i64,
    /// The document's saved state, sealed to `(documents.snapshot, doc_id)`.
    pub snapshot: Vec<u8>,
    /// Its [`Listing`], sealed to `(documents.listing, doc_id)`.
    pub listing: Vec<u8>,
    /// The keyed tag of its scope key (`None`: the scope is unknown; such a document is
    /// removed only with every document).
    pub scope_tag: Option<Vec<u8>>,
}

/// Seal a document's state and listing; `scope_key` is its scope (`child:ID`, `worker:ID`),
/// stored as its keyed tag.
pub(crate) fn seal_document(
    keys: &Keys,
    row: &DocRow,
    scope_key: Option<&str>,
    snapshot: &[u8],
) -> Result<SealedDoc, SealError> {
    let what = || format!("document {}", row.doc_id);
    let listing = serde_json::to_vec(&Listing {
        child_id: row.child_id.clone(),
        summary: row.summary.clone(),
    })
    .map_err(|e| format_err(what(), e))?;
    let listing = keys
        .seal(&aad(purpose::LISTING, &[&row.doc_id]), &listing)
        .map_err(sealed_err(what()))?;
    let snapshot = keys
        .seal(&aad(purpose::SNAPSHOT, &[&row.doc_id]), snapshot)
        .map_err(sealed_err(what()))?;
    Ok(SealedDoc {
        doc_id: row.doc_id.clone(),
        kind: row.kind.clone(),
        updated_at_ms: row.updated_at_ms,
        snapshot,
        listing,
        scope_tag: scope_key.map(|key| keys.scope_tag(key)),
    })
}

/// A value as stored, opened: a plaintext value as it is, a sealed one with `aad` (`what`
/// names it when it does not open).
fn open_stored(
    keys: &Keys,
    aad: &[u8],
    stored: Stored<Vec<u8>>,
    what: String,
) -> Result<Vec<u8>, SealError> {
    match stored {
        Stored::Plain(bytes) => Ok(bytes),
        Stored::Sealed(sealed) => keys.open(aad, &sealed).map_err(sealed_err(what)),
    }
}

/// A document's saved state (if it has one), opened.
pub(crate) fn open_snapshot(
    keys: &Keys,
    doc_id: &str,
    stored: Option<Stored<Vec<u8>>>,
) -> Result<Option<Vec<u8>>, SealError> {
    let aad = aad(purpose::SNAPSHOT, &[doc_id]);
    let open = |stored| open_stored(keys, &aad, stored, format!("document {doc_id}"));
    stored.map(open).transpose()
}

/// A document's listing as a backend read it.
#[derive(Debug, Clone)]
pub(crate) struct StoredDoc {
    pub doc_id: String,
    pub kind: String,
    pub updated_at_ms: i64,
    pub listing: ListingFacts,
}

/// A listing's facts as read: the sealed listing (`None` if it is missing), or a plaintext
/// row's child and summary.
#[derive(Debug, Clone)]
pub(crate) enum ListingFacts {
    Sealed(Option<Vec<u8>>),
    // Only the native store has plaintext rows (of its first version).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    Plain {
        child_id: Option<String>,
        summary: String,
    },
}

/// A document's listing facts, opened.
pub(crate) fn open_listing(keys: &Keys, doc: StoredDoc) -> Result<DocRow, SealError> {
    let what = || format!("listing of document {}", doc.doc_id);
    let (child_id, summary) = match doc.listing {
        ListingFacts::Plain { child_id, summary } => (child_id, summary),
        ListingFacts::Sealed(sealed) => {
            let sealed =
                sealed.ok_or_else(|| format_err(what(), "the sealed listing is missing"))?;
            let plain = keys
                .open(&aad(purpose::LISTING, &[&doc.doc_id]), &sealed)
                .map_err(sealed_err(what()))?;
            let listing: Listing =
                serde_json::from_slice(&plain).map_err(|e| format_err(what(), e))?;
            (listing.child_id, listing.summary)
        }
    };
    Ok(DocRow {
        doc_id: doc.doc_id,
        kind: doc.kind,
        child_id,
        summary,
        updated_at_ms: doc.updated_at_ms,
    })
}

/// The AAD an outbox change is sealed under: bound to its document and hash (also in an
/// export, which carries the sealed bytes as they are).
pub(crate) fn change_aad(doc_id: &str, hash: &str) -> Vec<u8> {
    aad(purpose::OUTBOX_BYTES, &[doc_id, hash])
}

/// An outbox change sealed, bound to its document and hash.
pub(crate) fn seal_change(
    keys: &Keys,
    doc_id: &str,
    hash: &str,
    bytes: &[u8],
) -> Result<Vec<u8>, SealError> {
    keys.seal(&change_aad(doc_id, hash), bytes)
        .map_err(sealed_err(format!("change {hash} of document {doc_id}")))
}

/// An outbox change's bytes, opened.
pub(crate) fn open_change(
    keys: &Keys,
    doc_id: &str,
    hash: &str,
    stored: Stored<Vec<u8>>,
) -> Result<Vec<u8>, SealError> {
    let what = format!("change {hash} of document {doc_id}");
    open_stored(keys, &change_aad(doc_id, hash), stored, what)
}

/// A held change's reason sealed, bound to its document and hash.
pub(crate) fn seal_note(
    keys: &Keys,
    doc_id: &str,
    hash: &str,
    reason: &str,
) -> Result<Vec<u8>, SealError> {
    keys.seal(&aad(purpose::HELD_NOTE, &[doc_id, hash]), reason.as_bytes())
        .map_err(sealed_err(format!("held reason of document {doc_id}")))
}

/// A held change's reason as read: the sealed note, or a plaintext row's reason (either may
/// be missing: the reason is then empty).
pub(crate) type StoredNote = Stored<Option<Vec<u8>>>;

/// A held change's reason, opened.
pub(crate) fn open_note(
    keys: &Keys,
    doc_id: &str,
    hash: &str,
    note: StoredNote,
) -> Result<String, SealError> {
    let plain = match note {
        Stored::Plain(None) | Stored::Sealed(None) => return Ok(String::new()),
        Stored::Plain(Some(reason)) => reason,
        Stored::Sealed(Some(sealed)) => keys
            .open(&aad(purpose::HELD_NOTE, &[doc_id, hash]), &sealed)
            .map_err(sealed_err(format!("held reason of document {doc_id}")))?,
    };
    Ok(String::from_utf8_lossy(&plain).into_owned())
}

/// A meta value sealed (as text), bound to the key's name.
pub(crate) fn seal_meta(keys: &Keys, key: &str, value: &[u8]) -> Result<String, SealError> {
    keys.seal_text(&aad(purpose::META, &[key]), value)
        .map_err(sealed_err(format!("stored {key}")))
}

/// A meta value sealed with [`seal_meta`] (if there is one), opened.
pub(crate) fn open_meta(
    keys: &Keys,
    key: &str,
    sealed: Option<String>,
) -> Result<Option<Vec<u8>>, SealError> {
    let open = |sealed: String| {
        keys.open_text(&aad(purpose::META, &[key]), &sealed)
            .map_err(sealed_err(format!("stored {key}")))
    };
    sealed.map(open).transpose()
}
