//! What a store does with an answer: plain data, applied in order, in one transaction.

use fieldnotes_protocol::{Cursor, DocKind, DocMeta, FeedAnchor, RejectCode};

/// One outbox change, as the store keeps it: its outbox position and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRef {
    pub seq: i64,
    pub hash: String,
}

/// The server's listing facts for a pulled document, when it sent facts a device can list from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub kind: DocKind,
    pub child_id: Option<String>,
    /// One line for lists.
    pub summary: String,
    /// The document's scope key (`child:ID`, `worker:ID`).
    pub scope: String,
}

impl Listing {
    /// The facts of `meta`, if a device can list a document from them alone (a kind it knows
    /// and a scope key).
    pub fn from_meta(meta: DocMeta) -> Option<Listing> {
        let kind = meta.kind.parse::<DocKind>().ok()?;
        if meta.scope.is_empty() {
            return None;
        }
        Some(Listing {
            kind,
            child_id: meta.child_id,
            summary: meta.summary,
            scope: meta.scope,
        })
    }
}

/// One thing a store must do. [`crate::SyncRun::respond`] returns them in the order to apply
/// them; a store applies the whole list in one transaction, or none of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The server holds these changes durably: drop them from the outbox.
    Acknowledge { doc_id: String, hashes: Vec<String> },
    /// The server refused the document: hold these outbox changes with the reason. A held
    /// change is kept and shown, and not sent again until its document is edited or the change
    /// is withdrawn.
    Hold {
        doc_id: String,
        changes: Vec<ChangeRef>,
        code: RejectCode,
        reason: String,
    },
    /// Merge these changes (automerge's binary encoding, in feed order) into the document. A
    /// document the store does not hold is the changes themselves (concatenated, a valid saved
    /// form); with `listing` the store can list it from the server's facts without loading it.
    /// A document the store holds keeps the listing read from its merged content.
    ApplyChanges {
        doc_id: String,
        changes: Vec<Vec<u8>>,
        listing: Option<Listing>,
    },
    /// Healing: put back in the outbox this device's own changes to the document, except those
    /// the server says it holds. A change already waiting, or held, stays as it is. The store
    /// counts the changes it put back against the newest restore it recorded.
    Resend {
        doc_id: String,
        server_has: Vec<String>,
    },
    /// Count documents checked by this round of healing against the newest restore recorded.
    CountChecked { documents: u64 },
    /// The server lost work this device was told of (restored from a backup, failed over, or
    /// replaced): record it, to tell the person once.
    RecordRestore { feed_id: String, message: String },
    /// Stop trusting the scope keys held: the held list is emptied (documents stay, and so do
    /// the keys being removed). The answer that says so refills it.
    ForgetScopes,
    /// Where healing stands: `Some(doc id)` checks the own heads after that document next (the
    /// empty id: from the first), `None` when the check is done.
    SetHealing(Option<String>),
    /// The keys of the person's scope the device may read but not write, as the server says
    /// them now (the whole list).
    SetReadOnlyScopes(Vec<String>),
    /// The device now holds every document of this scope key: add it to the held list.
    CompleteScope { key: String },
    /// The key left the person's scope while changes to its documents wait to be sent (or
    /// while the device checks its work after a restore): take it off the held list and add it
    /// to the keys being removed ([`crate::SyncState::removing`]). Its documents stay, and may
    /// still be edited, until a later [`Effect::RemoveScope`]. Not listing it is what lets it
    /// come back safely: the server treats a key the device does not list as new to it and
    /// sends its whole history.
    StartRemoval { key: String },
    /// A key being removed came back into the person's scope before its documents were removed
    /// (the server began sending its history, or completed it): forget the removal. The
    /// documents stay, the history merges into them, and their waiting changes are sent as any
    /// others; [`Effect::CompleteScope`] lists the key once its history is complete.
    CancelRemoval { key: String },
    /// The key left the person's scope and nothing of it waits to be sent: remove its documents
    /// (and their held changes), and the key from the held list and from the keys being
    /// removed. The all-documents key removes every document and empties both lists.
    RemoveScope { key: String },
    /// Where the next pull starts, and the anchor to send back (kept when `None`). Applied
    /// last: the cursor moves only with everything it covers.
    SetCursor {
        cursor: Cursor,
        anchor: Option<FeedAnchor>,
    },
    /// The device was revoked: delete everything it holds.
    Wipe,
}
