//! The device's local store, in two layers.
//!
//! - **Shared** (this module, [`sealed`], [`effects`]): [`LocalStore`] and its transaction
//!   [`StoreTx`], the only way the rest of the SDK reaches the store. They decide what each
//!   value is sealed under ([`sealed`]), open what is read back, shape listings and held
//!   reasons, and compose the store's operations (an edit releases its document's held
//!   changes, queues the change and records the own head; a removed scope takes its
//!   documents' outbox rows with it; the sync core's effects are applied in one transaction).
//! - **A backend** ([`Backend`], [`BackendTx`]): table I/O only. It moves sealed bytes,
//!   keyed scope tags and plain facts (ids, kinds, times, sequence numbers, reject codes) in
//!   and out of its tables, keeps a transaction all-or-nothing, and names its own failures
//!   as client errors ([`Failure`]). It never sees a key. The native backend is
//!   [`sqlite::Sqlite`] (one SQLite file); a browser backend provides the same two traits.
//!
//! [`conformance`] holds the store's guarantees as tests written once against this API, to
//! be run against every backend.

#[cfg(test)]
pub(crate) mod conformance;
pub(crate) mod effects;
#[cfg(target_arch = "wasm32")]
pub(crate) mod idb;
pub(crate) mod sealed;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod sqlite;

use std::collections::BTreeMap;

use fieldnotes_protocol::{RejectCode, ScopeKey};
use fieldnotes_sync_core::{Batch, ChangeRef, Effect, OutboxChange, Refused, SyncState, Waiting};

use crate::crypto::Keys;
use crate::{
    ClientError, META_ANCHOR, META_CURSOR, META_HEAL_AFTER, META_REMOVING_SCOPES, META_SCOPES,
};
use effects::{Applied, Applier};
use sealed::{SealedDoc, Stored, StoredDoc, StoredNote};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use sqlite::Sqlite;

/// The backend of the device's store in this build: SQLite natively, IndexedDB in a browser.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type DeviceBackend = Sqlite;
#[cfg(target_arch = "wasm32")]
pub(crate) type DeviceBackend = idb::Idb;

/// Outbox rows read per query when gathering a batch to send.
const OUTBOX_PAGE_ROWS: u16 = 500;

/// What a failed call of a backend means for the person, whatever the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The stored data is damaged (SQLite: SQLITE_CORRUPT or SQLITE_NOTADB).
    Damaged,
    /// No space left (SQLite: SQLITE_FULL; a browser: its quota).
    Full,
    /// The system failed a read or write (SQLite: SQLITE_IOERR).
    Io,
    Other,
}

/// A document's listing facts (opened).
#[derive(Debug, Clone)]
pub(crate) struct DocRow {
    pub doc_id: String,
    pub kind: String,
    pub child_id: Option<String>,
    pub summary: String,
    pub updated_at_ms: i64,
}

/// One outbox row of a document with its hold, if any (opened).
#[derive(Debug, Clone)]
pub(crate) struct DocOutboxRow {
    pub seq: i64,
    pub hash: String,
    /// The server's reject code, when the row is held.
    pub held_code: Option<String>,
    pub held_reason: String,
}

/// A plaintext document row from the first version of the store.
#[derive(Debug)]
pub(crate) struct PlainDoc {
    pub row: DocRow,
    pub snapshot: Vec<u8>,
}

/// A plaintext outbox row from the first version of the store.
#[derive(Debug)]
pub(crate) struct PlainChange {
    pub seq: i64,
    pub doc_id: String,
    pub hash: String,
    pub bytes: Vec<u8>,
    pub held_reason: Option<String>,
}

/// An outbox change as a backend read it.
#[derive(Debug, Clone)]
pub(crate) struct StoredChange {
    pub seq: i64,
    pub doc_id: String,
    pub hash: String,
    pub bytes: Stored<Vec<u8>>,
}

/// An outbox row's place and hold as a backend read it.
#[derive(Debug, Clone)]
pub(crate) struct StoredHold {
    pub seq: i64,
    pub doc_id: String,
    pub hash: String,
    /// The server's reject code, when the row is held.
    pub held_code: Option<String>,
    pub note: StoredNote,
}

/// The documents of a scope key: every document, or those with its keyed tag.
pub(crate) enum ScopeSel {
    All,
    Tag(Vec<u8>),
}

impl ScopeSel {
    /// The documents of scope key `key`.
    pub(crate) fn of(keys: &Keys, key: &str) -> ScopeSel {
        if ScopeKey::is_all_text(key) {
            ScopeSel::All
        } else {
            ScopeSel::Tag(keys.scope_tag(key))
        }
    }
}

/// A stored (opened) list of scope keys; none stored is an empty list.
pub(crate) fn scope_list(json: Option<Vec<u8>>) -> Result<Vec<String>, ClientError> {
    match json {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_slice(&json)
            .map_err(|e| ClientError::Corrupt(format!("stored scope list: {e}"))),
    }
}

/// A change for the end of the outbox, as a backend stores it: sealed, not held.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutboxEntry<'a> {
    pub doc_id: &'a str,
    pub hash: &'a str,
    pub sealed: &'a [u8],
    /// When it was recorded (device time, ms).
    pub at_ms: i64,
}

/// An outbox row to hold: the server's code and its reason, sealed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HoldEntry<'a> {
    pub seq: i64,
    pub code: &'a str,
    pub sealed_note: &'a [u8],
    /// When it was refused (device time, ms).
    pub at_ms: i64,
}

/// A store backend's reads outside a transaction, and how it opens one. Every method
/// returns client errors already named (damage, full storage). Outbox order is the order
/// changes were added (`seq`, increasing).
#[allow(async_fn_in_trait)]
pub(crate) trait Backend {
    type Tx: BackendTx;

    /// Open a transaction: nothing written through it is kept unless it is committed; one
    /// dropped uncommitted is rolled back.
    async fn begin(&self) -> Result<Self::Tx, ClientError>;
    /// Let go of the storage (the store is not used afterwards).
    async fn close(&self);
    /// Leave no copy of superseded or deleted values in the storage.
    async fn compact(&self) -> Result<(), ClientError>;

    async fn meta(&self, key: &str) -> Result<Option<String>, ClientError>;
    async fn snapshot(&self, doc_id: &str) -> Result<Option<Stored<Vec<u8>>>, ClientError>;
    /// The documents (of `kind`, if given), most recently updated first, then by id.
    async fn documents(&self, kind: Option<&str>) -> Result<Vec<StoredDoc>, ClientError>;
    /// At most `limit` outbox changes not held, after `after_seq`, in outbox order.
    async fn unheld_after(
        &self,
        after_seq: i64,
        limit: u16,
    ) -> Result<Vec<StoredChange>, ClientError>;
    /// The hashes of the outbox changes not held of the documents in `sel`.
    async fn unheld_in_scope(&self, sel: &ScopeSel) -> Result<Vec<String>, ClientError>;
    /// Whether an outbox change not held comes after `after_seq`.
    async fn has_unheld_after(&self, after_seq: i64) -> Result<bool, ClientError>;
    /// Outbox changes (held ones included).
    async fn outbox_count(&self) -> Result<u64, ClientError>;
    /// Outbox changes (held ones included) of each document that has any.
    async fn outbox_count_by_doc(&self) -> Result<BTreeMap<String, u64>, ClientError>;
    async fn document_count(&self) -> Result<u64, ClientError>;
    /// Documents with held changes.
    async fn held_doc_count(&self) -> Result<u64, ClientError>;
    /// Whether any document or outbox change is sealed.
    async fn has_sealed_rows(&self) -> Result<bool, ClientError>;
    /// The held outbox changes, in outbox order.
    async fn held_rows(&self) -> Result<Vec<StoredHold>, ClientError>;
    /// Every outbox row of `doc_id`, in outbox order.
    async fn doc_outbox(&self, doc_id: &str) -> Result<Vec<StoredHold>, ClientError>;
    /// The documents with held changes, oldest hold first.
    async fn held_doc_ids(&self) -> Result<Vec<String>, ClientError>;
    /// Own heads after `after_doc` in doc id order, at most `limit`.
    async fn own_heads_after(
        &self,
        after_doc: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, ClientError>;
    /// Documents with no own head recorded, in doc id order.
    async fn docs_without_own_head(&self) -> Result<Vec<String>, ClientError>;
    /// Restores found and not yet shown: (when first found, documents checked, changes sent
    /// again), summed, and marked shown.
    async fn take_restore_notice(&self) -> Result<Option<(i64, u64, u64)>, ClientError>;
}

/// A store backend's open transaction. Reads made while one is open go through it.
#[allow(async_fn_in_trait)]
pub(crate) trait BackendTx {
    /// Keep what was written.
    async fn commit(self) -> Result<(), ClientError>;

    async fn meta(&mut self, key: &str) -> Result<Option<String>, ClientError>;
    async fn set_meta(&mut self, key: &str, value: &str) -> Result<(), ClientError>;
    async fn delete_meta(&mut self, key: &str) -> Result<(), ClientError>;
    async fn snapshot(&mut self, doc_id: &str) -> Result<Option<Stored<Vec<u8>>>, ClientError>;
    /// Insert or replace a document.
    async fn put_document(&mut self, doc: &SealedDoc) -> Result<(), ClientError>;
    /// Delete a document and its outbox rows.
    async fn delete_document(&mut self, doc_id: &str) -> Result<(), ClientError>;
    /// The ids of the documents in `sel`.
    async fn docs_in_scope(&mut self, sel: &ScopeSel) -> Result<Vec<String>, ClientError>;
    /// Add a sealed change at the end of the outbox, not held; nothing if a change with this
    /// hash is already there. Returns the rows added.
    async fn insert_change(&mut self, change: &OutboxEntry<'_>) -> Result<u64, ClientError>;
    /// Delete the outbox row of `doc_id` with `hash`. Returns the rows removed.
    async fn delete_change(&mut self, doc_id: &str, hash: &str) -> Result<u64, ClientError>;
    /// Delete the outbox row `seq` if it belongs to `doc_id`.
    async fn delete_change_at(&mut self, doc_id: &str, seq: i64) -> Result<(), ClientError>;
    /// Hold an outbox row with the server's code and the sealed reason. Returns the rows
    /// changed.
    async fn hold(&mut self, hold: &HoldEntry<'_>) -> Result<u64, ClientError>;
    /// Release every held row of a document.
    async fn release_held(&mut self, doc_id: &str) -> Result<(), ClientError>;
    async fn set_own_head(&mut self, doc_id: &str, hash: &str) -> Result<(), ClientError>;
    async fn clear_own_head(&mut self, doc_id: &str) -> Result<(), ClientError>;
    async fn record_restore(
        &mut self,
        at_ms: i64,
        feed_id: &str,
        message: &str,
    ) -> Result<(), ClientError>;
    /// Count a verify round against the newest restore.
    async fn count_restore_work(&mut self, checked: u64, resent: u64) -> Result<(), ClientError>;
    /// Plaintext document rows (a backend with none returns none).
    async fn plaintext_docs(&mut self) -> Result<Vec<PlainDoc>, ClientError>;
    /// Plaintext outbox rows, in outbox order (a backend with none returns none).
    async fn plaintext_changes(&mut self) -> Result<Vec<PlainChange>, ClientError>;
    /// Replace a plaintext outbox row's bytes and reason with sealed ones.
    async fn reseal_change(
        &mut self,
        seq: i64,
        sealed: &[u8],
        sealed_note: Option<&[u8]>,
    ) -> Result<(), ClientError>;
}

/// The device's store: a backend, with every value sealed on the way in and opened on the
/// way out.
#[derive(Debug, Clone)]
pub(crate) struct LocalStore<B> {
    backend: B,
}

/// An open transaction on the store, made by [`LocalStore::begin`]: every write of the
/// client's shared logic goes through one, and is kept only when it is committed. Reads
/// made while a transaction is open go through it too.
#[derive(Debug)]
pub(crate) struct StoreTx<B: Backend> {
    tx: B::Tx,
}

impl<B: Backend> LocalStore<B> {
    pub(crate) fn new(backend: B) -> Self {
        Self { backend }
    }

    pub(crate) fn backend(&self) -> &B {
        &self.backend
    }

    /// Let go of the storage (before its files are deleted).
    pub(crate) async fn close(&self) {
        self.backend.close().await;
    }

    /// Open a transaction: what is written through it is kept only when it is committed with
    /// [`LocalStore::commit`].
    pub(crate) async fn begin(&self) -> Result<StoreTx<B>, ClientError> {
        Ok(StoreTx {
            tx: self.backend.begin().await?,
        })
    }

    pub(crate) async fn commit(&self, tx: StoreTx<B>) -> Result<(), ClientError> {
        tx.commit().await
    }

    pub(crate) async fn meta(&self, key: &str) -> Result<Option<String>, ClientError> {
        self.backend.meta(key).await
    }

    pub(crate) async fn set_meta(&self, key: &str, value: &str) -> Result<(), ClientError> {
        let mut tx = self.begin().await?;
        tx.set_meta(key, value).await?;
        self.commit(tx).await
    }

    /// A meta value sealed with [`StoreTx::set_sealed_meta`].
    pub(crate) async fn sealed_meta(
        &self,
        keys: &Keys,
        key: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let value = self.backend.meta(key).await?;
        Ok(sealed::open_meta(keys, key, value)?)
    }

    /// A document's saved state.
    pub(crate) async fn snapshot(
        &self,
        keys: &Keys,
        doc_id: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let stored = self.backend.snapshot(doc_id).await?;
        Ok(sealed::open_snapshot(keys, doc_id, stored)?)
    }

    /// The documents (of `kind`, if given), most recently updated first.
    pub(crate) async fn list(
        &self,
        keys: &Keys,
        kind: Option<&str>,
    ) -> Result<Vec<DocRow>, ClientError> {
        let docs = self.backend.documents(kind).await?;
        docs.into_iter()
            .map(|doc| Ok(sealed::open_listing(keys, doc)?))
            .collect()
    }

    /// Offer `batch` the outbox rows not held after its start, in outbox order, until one does
    /// not fit.
    pub(crate) async fn fill_batch(
        &self,
        keys: &Keys,
        batch: &mut Batch,
    ) -> Result<(), ClientError> {
        let mut cursor = batch.after_seq();
        loop {
            let rows = self.backend.unheld_after(cursor, OUTBOX_PAGE_ROWS).await?;
            let fetched = rows.len();
            for r in rows {
                let bytes = sealed::open_change(keys, &r.doc_id, &r.hash, r.bytes)?;
                cursor = r.seq;
                let change = OutboxChange {
                    seq: r.seq,
                    doc_id: r.doc_id,
                    hash: r.hash,
                    bytes,
                };
                if !batch.offer(change) {
                    return Ok(());
                }
            }
            if fetched < usize::from(OUTBOX_PAGE_ROWS) {
                return Ok(());
            }
        }
    }

    /// What the sync core reads at the start of a round: cursor, anchor, held scope keys, keys
    /// being removed and healing progress.
    pub(crate) async fn sync_state(&self, keys: &Keys) -> Result<SyncState, ClientError> {
        let scopes = self.held_scopes(keys).await?;
        let removing = scope_list(self.sealed_meta(keys, META_REMOVING_SCOPES).await?)?;
        Ok(SyncState {
            cursor: self
                .meta(META_CURSOR)
                .await?
                .map(fieldnotes_protocol::Cursor),
            anchor: self
                .meta(META_ANCHOR)
                .await?
                .map(fieldnotes_protocol::FeedAnchor),
            scopes,
            removing,
            healing: self.meta(META_HEAL_AFTER).await?,
        })
    }

    /// The scope keys this device holds in full.
    pub(crate) async fn held_scopes(&self, keys: &Keys) -> Result<Vec<String>, ClientError> {
        scope_list(self.sealed_meta(keys, META_SCOPES).await?)
    }

    /// For each scope key, the hashes of the outbox changes of its documents waiting to be
    /// sent (not held).
    pub(crate) async fn waiting(
        &self,
        keys: &Keys,
        scope_keys: &[String],
    ) -> Result<Waiting, ClientError> {
        let mut waiting = Waiting::default();
        for key in scope_keys {
            let hashes = self
                .backend
                .unheld_in_scope(&ScopeSel::of(keys, key))
                .await?;
            waiting.insert(key.clone(), hashes);
        }
        Ok(waiting)
    }

    /// Apply the sync core's effects, in order, in one transaction: all of them or none.
    pub(crate) async fn apply_effects(
        &self,
        by: Applier<'_>,
        effects: &[Effect],
    ) -> Result<Applied, ClientError> {
        let mut applied = Applied::default();
        let mut tx = self.begin().await?;
        for effect in effects {
            self.apply_effect(&mut tx, by, effect, &mut applied).await?;
        }
        self.commit(tx).await?;
        Ok(applied)
    }

    /// Whether any outbox row after `after_seq` is waiting to be sent (not held).
    pub(crate) async fn has_unsent_after(&self, after_seq: i64) -> Result<bool, ClientError> {
        self.backend.has_unheld_after(after_seq).await
    }

    pub(crate) async fn pending_changes(&self) -> Result<u64, ClientError> {
        self.backend.outbox_count().await
    }

    /// How many changes wait to be sent for each document that has any (held ones included).
    pub(crate) async fn pending_by_document(&self) -> Result<BTreeMap<String, u64>, ClientError> {
        self.backend.outbox_count_by_doc().await
    }

    pub(crate) async fn document_count(&self) -> Result<u64, ClientError> {
        self.backend.document_count().await
    }

    pub(crate) async fn held_count(&self) -> Result<u64, ClientError> {
        self.backend.held_doc_count().await
    }

    /// Whether any row is sealed (so a data key must exist for this store).
    pub(crate) async fn has_sealed_rows(&self) -> Result<bool, ClientError> {
        self.backend.has_sealed_rows().await
    }

    /// Held (refused) documents with their reason, oldest first.
    pub(crate) async fn held(&self, keys: &Keys) -> Result<Vec<Refused>, ClientError> {
        let rows = self.backend.held_rows().await?;
        let mut out: Vec<Refused> = Vec::new();
        for r in rows {
            if let Some(held) = out.iter_mut().find(|h| h.doc_id == r.doc_id) {
                held.changes += 1;
                continue;
            }
            let reason = sealed::open_note(keys, &r.doc_id, &r.hash, r.note)?;
            let code = r.held_code.unwrap_or_default();
            let Some(code) = RejectCode::parse(&code) else {
                return Err(ClientError::Corrupt(format!(
                    "a held change of document {} has an unknown code {code:?}",
                    r.doc_id
                )));
            };
            out.push(Refused {
                code,
                doc_id: r.doc_id,
                reason,
                changes: 1,
            });
        }
        Ok(out)
    }

    /// Leave no copy of superseded values in the storage: after plaintext rows are sealed, no
    /// copy of them is left.
    pub(crate) async fn compact(&self) -> Result<(), ClientError> {
        self.backend.compact().await
    }

    /// Every outbox row of `doc_id`, oldest first, with its hold.
    pub(crate) async fn doc_outbox(
        &self,
        keys: &Keys,
        doc_id: &str,
    ) -> Result<Vec<DocOutboxRow>, ClientError> {
        let rows = self.backend.doc_outbox(doc_id).await?;
        rows.into_iter()
            .map(|r| {
                let held_reason = if r.held_code.is_some() {
                    sealed::open_note(keys, doc_id, &r.hash, r.note)?
                } else {
                    String::new()
                };
                Ok(DocOutboxRow {
                    seq: r.seq,
                    hash: r.hash,
                    held_code: r.held_code,
                    held_reason,
                })
            })
            .collect()
    }

    /// The documents with held rows, oldest hold first.
    pub(crate) async fn held_doc_ids(&self) -> Result<Vec<String>, ClientError> {
        self.backend.held_doc_ids().await
    }

    /// Own heads after `after_doc` in doc id order, at most `limit`.
    pub(crate) async fn own_heads_after(
        &self,
        after_doc: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, ClientError> {
        self.backend.own_heads_after(after_doc, limit).await
    }

    /// Documents with no own head recorded (stores made before migration 0003).
    pub(crate) async fn docs_without_own_head(&self) -> Result<Vec<String>, ClientError> {
        self.backend.docs_without_own_head().await
    }

    /// Restores found and not yet shown to the person: (when first found, documents checked,
    /// changes sent again), summed, and marked shown.
    pub(crate) async fn take_restore_notice(&self) -> Result<Option<(i64, u64, u64)>, ClientError> {
        self.backend.take_restore_notice().await
    }
}

impl<B: Backend> StoreTx<B> {
    /// Keep what was written in this transaction.
    pub(crate) async fn commit(self) -> Result<(), ClientError> {
        self.tx.commit().await
    }

    pub(crate) async fn set_meta(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        self.tx.set_meta(key, value).await
    }

    pub(crate) async fn delete_meta(&mut self, key: &str) -> Result<(), ClientError> {
        self.tx.delete_meta(key).await
    }

    /// Store `value` sealed under `key` (bound to the key's name).
    pub(crate) async fn set_sealed_meta(
        &mut self,
        keys: &Keys,
        key: &str,
        value: &[u8],
    ) -> Result<(), ClientError> {
        let sealed = sealed::seal_meta(keys, key, value)?;
        self.tx.set_meta(key, &sealed).await
    }

    /// A meta value sealed with [`StoreTx::set_sealed_meta`], read in this transaction.
    pub(crate) async fn sealed_meta(
        &mut self,
        keys: &Keys,
        key: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let value = self.tx.meta(key).await?;
        Ok(sealed::open_meta(keys, key, value)?)
    }

    /// A document's saved state, read in this transaction.
    pub(crate) async fn snapshot(
        &mut self,
        keys: &Keys,
        doc_id: &str,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let stored = self.tx.snapshot(doc_id).await?;
        Ok(sealed::open_snapshot(keys, doc_id, stored)?)
    }

    /// Insert or replace a document's stored state, sealed; `scope_key` is the document's
    /// scope (`child:ID`, `worker:ID`), stored as its keyed tag.
    pub(crate) async fn put_document(
        &mut self,
        keys: &Keys,
        row: &DocRow,
        scope_key: &str,
        snapshot: &[u8],
    ) -> Result<(), ClientError> {
        let doc = sealed::seal_document(keys, row, Some(scope_key), snapshot)?;
        self.tx.put_document(&doc).await
    }

    /// Add a change of this device's to the outbox. A held document is released: it has been
    /// edited, so all its changes go to the server again.
    pub(crate) async fn enqueue(
        &mut self,
        keys: &Keys,
        doc_id: &str,
        hash: &str,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<(), ClientError> {
        self.tx.release_held(doc_id).await?;
        self.requeue(keys, doc_id, hash, bytes, now_ms).await?;
        self.tx.set_own_head(doc_id, hash).await
    }

    /// Put a change in the outbox, sealed (a change the server lost goes back as it was first
    /// sent). Unlike [`StoreTx::enqueue`] it releases nothing: a held change stays held.
    /// Returns the rows added (0 when the change is already waiting).
    pub(crate) async fn requeue(
        &mut self,
        keys: &Keys,
        doc_id: &str,
        hash: &str,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<u64, ClientError> {
        let sealed = sealed::seal_change(keys, doc_id, hash, bytes)?;
        let change = OutboxEntry {
            doc_id,
            hash,
            sealed: &sealed,
            at_ms: now_ms,
        };
        self.tx.insert_change(&change).await
    }

    /// Drop an acknowledged change from the outbox. Returns the rows removed.
    pub(crate) async fn acknowledge(
        &mut self,
        doc_id: &str,
        hash: &str,
    ) -> Result<u64, ClientError> {
        self.tx.delete_change(doc_id, hash).await
    }

    /// Hold an outbox row the server refused, with the reason (sealed).
    pub(crate) async fn hold(
        &mut self,
        keys: &Keys,
        doc_id: &str,
        change: &ChangeRef,
        code: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<u64, ClientError> {
        let note = sealed::seal_note(keys, doc_id, &change.hash, reason)?;
        let hold = HoldEntry {
            seq: change.seq,
            code,
            sealed_note: &note,
            at_ms: now_ms,
        };
        self.tx.hold(&hold).await
    }

    /// Record `hash` as the newest change this device wrote to `doc_id` (see migration 0003).
    pub(crate) async fn set_own_head(
        &mut self,
        doc_id: &str,
        hash: &str,
    ) -> Result<(), ClientError> {
        self.tx.set_own_head(doc_id, hash).await
    }

    /// Forget the newest own change of `doc_id` (the device holds none of its own any more).
    pub(crate) async fn clear_own_head(&mut self, doc_id: &str) -> Result<(), ClientError> {
        self.tx.clear_own_head(doc_id).await
    }

    /// Remove a document (and any outbox row left for it) from the device.
    pub(crate) async fn remove_document(&mut self, doc_id: &str) -> Result<(), ClientError> {
        self.tx.delete_document(doc_id).await?;
        self.tx.clear_own_head(doc_id).await
    }

    /// Remove withdrawn outbox rows, and release every other held row of the document: they
    /// were held only because the server refuses a document's batch as a whole.
    pub(crate) async fn withdraw_rows(
        &mut self,
        doc_id: &str,
        seqs: &[i64],
    ) -> Result<(), ClientError> {
        for seq in seqs {
            self.tx.delete_change_at(doc_id, *seq).await?;
        }
        self.tx.release_held(doc_id).await
    }

    /// Remove a scope's documents and their (held) outbox rows; returns the documents removed.
    pub(crate) async fn remove_scope(
        &mut self,
        sel: &ScopeSel,
    ) -> Result<Vec<String>, ClientError> {
        let ids = self.tx.docs_in_scope(sel).await?;
        for id in &ids {
            self.tx.delete_document(id).await?;
        }
        Ok(ids)
    }

    /// Record that the server was found restored.
    pub(crate) async fn record_restore(
        &mut self,
        at_ms: i64,
        feed_id: &str,
        message: &str,
    ) -> Result<(), ClientError> {
        self.tx.record_restore(at_ms, feed_id, message).await
    }

    /// Count a verify round against the newest restore.
    pub(crate) async fn count_restore_work(
        &mut self,
        checked: u64,
        resent: u64,
    ) -> Result<(), ClientError> {
        self.tx.count_restore_work(checked, resent).await
    }

    /// Plaintext document rows (from the first version of the store).
    pub(crate) async fn plaintext_docs(&mut self) -> Result<Vec<PlainDoc>, ClientError> {
        self.tx.plaintext_docs().await
    }

    /// Seal a plaintext document row in place (its scope tag is `None` if the scope key could
    /// not be found: such a document is removed only with every document).
    pub(crate) async fn seal_plain_doc(
        &mut self,
        keys: &Keys,
        doc: &PlainDoc,
        scope_key: Option<&str>,
    ) -> Result<(), ClientError> {
        let sealed = sealed::seal_document(keys, &doc.row, scope_key, &doc.snapshot)?;
        self.tx.put_document(&sealed).await
    }

    /// Seal the plaintext outbox rows in place; returns how many.
    pub(crate) async fn seal_plain_outbox(&mut self, keys: &Keys) -> Result<u64, ClientError> {
        let rows = self.tx.plaintext_changes().await?;
        let mut n = 0;
        for r in rows {
            let sealed = sealed::seal_change(keys, &r.doc_id, &r.hash, &r.bytes)?;
            let note = r
                .held_reason
                .map(|reason| sealed::seal_note(keys, &r.doc_id, &r.hash, &reason))
                .transpose()?;
            self.tx
                .reseal_change(r.seq, &sealed, note.as_deref())
                .await?;
            n += 1;
        }
        Ok(n)
    }
}
