//! The browser store backend (wasm32): IndexedDB through `indexed_db_futures` (see
//! docs/ARCHITECTURE.md, "Browser store: the choice"). Like [`super::sqlite`], it moves sealed
//! bytes, keyed scope tags and plain facts in and out of its object stores; what is sealed
//! under which binding is decided in [`super::sealed`], never here.
//!
//! **Object stores** mirror the native tables: `meta` (text by key), `documents` (the sealed
//! snapshot), `listings` (the sealed listing and scope tag, apart so that a list does not
//! clone every snapshot), `outbox` (by `seq`, with indexes by `hash` and by `doc_id` since
//! layout 2), `own_heads`, `server_restores`, and `sequences` (the last `seq` and restore id
//! given, as SQLite's `AUTOINCREMENT` keeps them: never reused). Every row is sealed: a
//! browser store has no plaintext rows of a first version.
//!
//! **Transactions.** An IndexedDB transaction commits itself as soon as no request is pending,
//! so it cannot stay open across the awaits of a [`super::StoreTx`]. An [`IdbTx`] therefore
//! gathers its writes in memory and reads through them; [`BackendTx::commit`] applies them
//! all in ONE read-write IndexedDB transaction with `durability: "strict"` (the commit
//! returns once the browser has flushed them, as SQLite's `synchronous = FULL`), so they are
//! kept all together or not at all. A transaction dropped uncommitted never wrote anything.
//! One transaction is open at a time in a store (`begin` waits for the one before to end),
//! as with the native store's single connection; so the reads a transaction makes, each in a
//! read-only IndexedDB transaction of its own, cannot go stale before its commit.
//!
//! **Refusals.** A browser that will not keep data (quota used up, storage turned off in a
//! private window) is [`ClientError::BrowserRefused`]; any other failure is
//! [`ClientError::BrowserStore`], in the browser's words.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{TransactionDurability, TransactionMode, TransactionOptions};
use indexed_db_futures::{KeyPath, KeyRange};
#[cfg(test)]
use js_sys::{Object, Uint8Array};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OwnedMutexGuard};
use wasm_bindgen::{JsCast as _, JsValue};

use super::sealed::{ListingFacts, SealedDoc, Stored, StoredDoc};
use super::{
    Backend, BackendTx, Failure, HoldEntry, LocalStore, OutboxEntry, PlainChange, PlainDoc,
    ScopeSel, StoredChange, StoredHold,
};
use crate::ClientError;

/// The version of the object stores' layout (IndexedDB's database version): 1, the object
/// stores; 2, the outbox's indexes by `hash` and by `doc_id`, so that a transaction reads
/// only the outbox rows it needs.
const LAYOUT_VERSION: u8 = 2;

/// The outbox's index by change hash, and its index by document.
const BY_HASH: &str = "hash";
const BY_DOC: &str = "doc_id";
/// An object store that exists only inside the upgrade to layout 2: created to reach the
/// upgrade's transaction (and the outbox through it), deleted before the upgrade ends.
const UPGRADE_SCRATCH: &str = "layout_upgrade";

const META: &str = "meta";
const DOCUMENTS: &str = "documents";
const LISTINGS: &str = "listings";
const OUTBOX: &str = "outbox";
const OWN_HEADS: &str = "own_heads";
const RESTORES: &str = "server_restores";
const SEQUENCES: &str = "sequences";
/// Every object store: a commit writes in one transaction over all of them.
const ALL_STORES: [&str; 7] = [
    META, DOCUMENTS, LISTINGS, OUTBOX, OWN_HEADS, RESTORES, SEQUENCES,
];

/// The IndexedDB store: one database, named by the caller.
#[derive(Debug, Clone)]
pub(crate) struct Idb {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The connection. The browser may close it under the page (Chromium does after a write
    /// it could not keep, for a full disk): the next call that finds it closed opens another
    /// in its place ([`Idb::reopen`]) and tries once more.
    db: RefCell<Database>,
    name: String,
    /// Held by the open transaction: one at a time.
    writer: Arc<Mutex<()>>,
}

impl LocalStore<Idb> {
    /// Open (or create) the browser store in the IndexedDB database `name`.
    pub(crate) async fn open_browser(name: &str) -> Result<Self, ClientError> {
        Ok(LocalStore::new(Idb::open(name).await?))
    }

    /// The IndexedDB database's name.
    pub(crate) fn name(&self) -> &str {
        &self.backend().inner.name
    }

    /// Delete the whole IndexedDB database (after [`LocalStore::close`]).
    pub(crate) async fn destroy(&self) -> Result<(), ClientError> {
        let name = self.name();
        let request = Database::delete_by_name(name).map_err(|e| open_error(name, &e))?;
        request.await.map_err(|e| idb_error(name, &e))
    }
}

/// The object stores of layout 1 (no indexes).
fn create_layout_1(db: &Database) -> Result<(), indexed_db_futures::error::Error> {
    db.create_object_store(META).build()?;
    db.create_object_store(SEQUENCES).build()?;
    for (store, key) in [
        (DOCUMENTS, "doc_id"),
        (LISTINGS, "doc_id"),
        (OUTBOX, "seq"),
        (OWN_HEADS, "doc_id"),
        (RESTORES, "id"),
    ] {
        db.create_object_store(store)
            .with_key_path(KeyPath::One(key))
            .build()?;
    }
    Ok(())
}

impl Idb {
    async fn open(name: &str) -> Result<Self, ClientError> {
        Ok(Idb {
            inner: Rc::new(Inner {
                db: RefCell::new(open_database(name).await?),
                name: name.to_owned(),
                writer: Arc::new(Mutex::new(())),
            }),
        })
    }

    /// The connection now.
    fn database(&self) -> Database {
        self.inner.db.borrow().clone()
    }

    /// Open a new connection in place of one the browser closed.
    async fn reopen(&self) -> Result<(), ClientError> {
        let fresh = open_database(&self.inner.name).await?;
        let stale = self.inner.db.replace(fresh);
        stale.close();
        Ok(())
    }

    /// Run the read `op` on the connection; if the browser had closed it, once more on a new
    /// one.
    async fn read<T, F, Fut>(&self, op: F) -> Result<T, ClientError>
    where
        F: Fn(Database) -> Fut,
        Fut: Future<Output = Result<T, indexed_db_futures::error::Error>>,
    {
        match op(self.database()).await {
            Err(e) if connection_closed(&e) => {
                self.reopen().await?;
                op(self.database()).await.map_err(|e| self.err(&e))
            }
            other => other.map_err(|e| self.err(&e)),
        }
    }
}

/// A read-only transaction over `store`.
fn read_only<'d>(
    db: &'d Database,
    store: &str,
) -> Result<indexed_db_futures::transaction::Transaction<'d>, indexed_db_futures::error::Error> {
    db.transaction(store)
        .with_mode(TransactionMode::Readonly)
        .build()
}

/// Whether `e` is the browser saying the connection is closed (or closing).
fn connection_closed(e: &indexed_db_futures::error::Error) -> bool {
    dom_exception(e).is_some_and(|(kind, _)| kind == "InvalidStateError")
}

/// Open (or create) the IndexedDB database `name` at [`LAYOUT_VERSION`], upgrading an older
/// layout in place.
async fn open_database(name: &str) -> Result<Database, ClientError> {
    Database::open(name)
        .with_version(LAYOUT_VERSION)
        .with_on_upgrade_needed(|event, db| {
            if event.old_version() < 1.0 {
                create_layout_1(&db)?;
            }
            if event.old_version() < 2.0 {
                // The outbox's rows stay as they are; IndexedDB indexes them as it
                // creates each index, inside the upgrade's transaction.
                let scratch = db.create_object_store(UPGRADE_SCRATCH).build()?;
                let outbox = scratch.transaction().object_store(OUTBOX)?;
                for index in [BY_HASH, BY_DOC] {
                    outbox.create_index(index, KeyPath::One(index)).build()?;
                }
                db.delete_object_store(UPGRADE_SCRATCH)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| open_error(name, &e))
}

impl Idb {
    fn err(&self, e: &indexed_db_futures::error::Error) -> ClientError {
        idb_error(&self.inner.name, e)
    }

    /// The value of `key` in `store`, read in a read-only transaction of its own.
    async fn get(&self, store: &str, key: JsValue) -> Result<Option<JsValue>, ClientError> {
        self.read(|db| {
            let key = key.clone();
            async move {
                let tx = read_only(&db, store)?;
                let value = tx
                    .object_store(store)?
                    .get::<JsValue, _, _>(key)
                    .primitive()?
                    .await?;
                Ok(value)
            }
        })
        .await
    }

    /// Every value in `store`, in key order.
    async fn all(&self, store: &str) -> Result<Vec<JsValue>, ClientError> {
        self.read(|db| async move {
            let tx = read_only(&db, store)?;
            let values = tx
                .object_store(store)?
                .get_all::<JsValue>()
                .primitive()?
                .await?;
            values.collect::<Result<Vec<JsValue>, _>>()
        })
        .await
    }

    /// How many values `store` holds.
    async fn count(&self, store: &str) -> Result<u64, ClientError> {
        self.read(|db| async move {
            let tx = read_only(&db, store)?;
            tx.object_store(store)?.count().primitive()?.await
        })
        .await
        .map(u64::from)
    }

    /// The outbox rows whose `index` field is `key`, in outbox order: a keyed read, not the
    /// whole outbox.
    async fn outbox_where(&self, index: &str, key: &str) -> Result<Vec<OutboxRow>, ClientError> {
        let values = self
            .read(|db| async move {
                let tx = read_only(&db, OUTBOX)?;
                let values = tx
                    .object_store(OUTBOX)?
                    .index(index)?
                    .get_all::<JsValue>()
                    .with_query::<JsValue, _>(KeyRange::Only(JsValue::from_str(key)))
                    .primitive()?
                    .await?;
                values.collect::<Result<Vec<JsValue>, _>>()
            })
            .await?;
        values.into_iter().map(from_js).collect()
    }

    /// The outbox row `seq`, if there is one.
    async fn outbox_row(&self, seq: i64) -> Result<Option<OutboxRow>, ClientError> {
        self.get(OUTBOX, number(seq))
            .await?
            .map(from_js)
            .transpose()
    }

    /// The last key given in the object store `name` (kept in `sequences`), never below a
    /// key in use: a read of the keys above it, which are none unless the sequence was lost.
    async fn last_key(&self, name: &'static str) -> Result<i64, ClientError> {
        let last: i64 = match self.get(SEQUENCES, JsValue::from_str(name)).await? {
            Some(v) => from_js(v)?,
            None => 0,
        };
        let above = self
            .read(|db| async move {
                let tx = read_only(&db, name)?;
                let keys = tx
                    .object_store(name)?
                    .get_all_keys::<JsValue>()
                    .with_query::<JsValue, _>(KeyRange::LowerBound(number(last), true))
                    .primitive()?
                    .await?;
                keys.collect::<Result<Vec<JsValue>, _>>()
            })
            .await?;
        above
            .into_iter()
            .try_fold(last, |max, k| Ok(max.max(from_js::<i64>(k)?)))
    }

    /// The whole outbox, in outbox order.
    async fn outbox(&self) -> Result<Vec<OutboxRow>, ClientError> {
        self.all(OUTBOX).await?.into_iter().map(from_js).collect()
    }

    /// Every document's listing row.
    async fn listings(&self) -> Result<Vec<ListingRow>, ClientError> {
        self.all(LISTINGS).await?.into_iter().map(from_js).collect()
    }

    /// The ids of the documents in `sel`.
    async fn doc_ids_in(&self, sel: &ScopeSel) -> Result<BTreeSet<String>, ClientError> {
        Ok(self
            .listings()
            .await?
            .into_iter()
            .filter(|l| sel.holds(l.scope_tag.as_deref()))
            .map(|l| l.doc_id)
            .collect())
    }
}

impl ScopeSel {
    /// Whether a document with scope tag `tag` is in this selection.
    fn holds(&self, tag: Option<&[u8]>) -> bool {
        match self {
            ScopeSel::All => true,
            ScopeSel::Tag(want) => tag == Some(want.as_slice()),
        }
    }
}

impl Backend for Idb {
    type Tx = IdbTx;

    async fn begin(&self) -> Result<IdbTx, ClientError> {
        let writer = Arc::clone(&self.inner.writer).lock_owned().await;
        Ok(IdbTx {
            store: self.clone(),
            _writer: writer,
            meta: HashMap::new(),
            documents: BTreeMap::new(),
            own_heads: BTreeMap::new(),
            outbox: None,
            restores: None,
        })
    }

    /// Close the connection (IndexedDB lets it finish the transactions under way first).
    async fn close(&self) {
        self.database().close();
    }

    /// Nothing to do: IndexedDB rewrites its files itself, and a browser store never held a
    /// plaintext row to be rid of.
    async fn compact(&self) -> Result<(), ClientError> {
        Ok(())
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, ClientError> {
        self.get(META, JsValue::from_str(key))
            .await?
            .map(|v| meta_text(key, &v))
            .transpose()
    }

    async fn snapshot(&self, doc_id: &str) -> Result<Option<Stored<Vec<u8>>>, ClientError> {
        let row = self.get(DOCUMENTS, JsValue::from_str(doc_id)).await?;
        row.map(|v| Ok(Stored::Sealed(from_js::<DocumentRow>(v)?.snapshot)))
            .transpose()
    }

    async fn documents(&self, kind: Option<&str>) -> Result<Vec<StoredDoc>, ClientError> {
        let mut rows: Vec<ListingRow> = self
            .listings()
            .await?
            .into_iter()
            .filter(|l| kind.is_none_or(|k| l.kind == k))
            .collect();
        rows.sort_by(|a, b| {
            b.updated_at_ms
                .cmp(&a.updated_at_ms)
                .then_with(|| a.doc_id.cmp(&b.doc_id))
        });
        Ok(rows
            .into_iter()
            .map(|l| StoredDoc {
                doc_id: l.doc_id,
                kind: l.kind,
                updated_at_ms: l.updated_at_ms,
                listing: ListingFacts::Sealed(Some(l.listing)),
            })
            .collect())
    }

    async fn unheld_after(
        &self,
        after_seq: i64,
        limit: u16,
    ) -> Result<Vec<StoredChange>, ClientError> {
        Ok(self
            .outbox()
            .await?
            .into_iter()
            .filter(|r| r.held_code.is_none() && r.seq > after_seq)
            .take(usize::from(limit))
            .map(|r| StoredChange {
                seq: r.seq,
                doc_id: r.doc_id,
                hash: r.hash,
                bytes: Stored::Sealed(r.bytes),
            })
            .collect())
    }

    async fn unheld_in_scope(&self, sel: &ScopeSel) -> Result<Vec<String>, ClientError> {
        let docs = match sel {
            ScopeSel::All => None,
            ScopeSel::Tag(_) => Some(self.doc_ids_in(sel).await?),
        };
        Ok(self
            .outbox()
            .await?
            .into_iter()
            .filter(|r| r.held_code.is_none())
            .filter(|r| docs.as_ref().is_none_or(|d| d.contains(&r.doc_id)))
            .map(|r| r.hash)
            .collect())
    }

    async fn has_unheld_after(&self, after_seq: i64) -> Result<bool, ClientError> {
        Ok(self
            .outbox()
            .await?
            .iter()
            .any(|r| r.held_code.is_none() && r.seq > after_seq))
    }

    async fn outbox_count(&self) -> Result<u64, ClientError> {
        self.count(OUTBOX).await
    }

    async fn document_count(&self) -> Result<u64, ClientError> {
        self.count(DOCUMENTS).await
    }

    async fn outbox_count_by_doc(&self) -> Result<BTreeMap<String, u64>, ClientError> {
        let mut counts = BTreeMap::new();
        for row in self.outbox().await? {
            *counts.entry(row.doc_id).or_insert(0) += 1;
        }
        Ok(counts)
    }

    async fn held_doc_count(&self) -> Result<u64, ClientError> {
        let held: BTreeSet<String> = self
            .outbox()
            .await?
            .into_iter()
            .filter(|r| r.held_code.is_some())
            .map(|r| r.doc_id)
            .collect();
        Ok(u64::try_from(held.len()).unwrap_or(u64::MAX))
    }

    /// Every row a browser store writes is sealed: any row at all.
    async fn has_sealed_rows(&self) -> Result<bool, ClientError> {
        Ok(self.count(DOCUMENTS).await? > 0 || self.count(OUTBOX).await? > 0)
    }

    async fn held_rows(&self) -> Result<Vec<StoredHold>, ClientError> {
        Ok(self
            .outbox()
            .await?
            .into_iter()
            .filter(|r| r.held_code.is_some())
            .map(OutboxRow::into_hold)
            .collect())
    }

    async fn doc_outbox(&self, doc_id: &str) -> Result<Vec<StoredHold>, ClientError> {
        Ok(self
            .outbox_where(BY_DOC, doc_id)
            .await?
            .into_iter()
            .map(OutboxRow::into_hold)
            .collect())
    }

    async fn held_doc_ids(&self) -> Result<Vec<String>, ClientError> {
        // The outbox is in `seq` order, so each document's first held row is its oldest.
        let mut ids: Vec<String> = Vec::new();
        for r in self.outbox().await? {
            if r.held_code.is_some() && !ids.contains(&r.doc_id) {
                ids.push(r.doc_id);
            }
        }
        Ok(ids)
    }

    async fn own_heads_after(
        &self,
        after_doc: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, ClientError> {
        // Keys come back in IndexedDB's order (UTF-16 code units), the same as SQLite's byte
        // order for the ASCII ids devices and the server make.
        let mut heads = Vec::new();
        for v in self.all(OWN_HEADS).await? {
            if heads.len() >= limit {
                break;
            }
            let head: OwnHeadRow = from_js(v)?;
            if head.doc_id.as_str() > after_doc {
                heads.push((head.doc_id, head.hash));
            }
        }
        Ok(heads)
    }

    async fn docs_without_own_head(&self) -> Result<Vec<String>, ClientError> {
        let heads: BTreeSet<String> = self
            .all(OWN_HEADS)
            .await?
            .into_iter()
            .map(|v| Ok(from_js::<OwnHeadRow>(v)?.doc_id))
            .collect::<Result<_, ClientError>>()?;
        let docs: BTreeSet<String> = self
            .listings()
            .await?
            .into_iter()
            .map(|l| l.doc_id)
            .collect();
        Ok(docs.difference(&heads).cloned().collect())
    }

    async fn take_restore_notice(&self) -> Result<Option<(i64, u64, u64)>, ClientError> {
        let mut tx = self.begin().await?;
        let restores = tx.restores().await?;
        let mut first: Option<i64> = None;
        let (mut checked, mut resent) = (0u64, 0u64);
        for row in restores.rows.values_mut().filter(|r| !r.shown) {
            first = Some(first.map_or(row.detected_at_ms, |f| f.min(row.detected_at_ms)));
            checked = checked.saturating_add(u64::try_from(row.checked_docs).unwrap_or(0));
            resent = resent.saturating_add(u64::try_from(row.resent_changes).unwrap_or(0));
            row.shown = true;
            restores.dirty.insert(row.id);
        }
        let Some(at) = first else {
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some((at, checked, resent)))
    }
}

/// An open transaction on the browser store: its writes, kept in memory until
/// [`BackendTx::commit`] applies them in one IndexedDB transaction. Dropped uncommitted, it
/// leaves nothing.
#[derive(Debug)]
pub(crate) struct IdbTx {
    store: Idb,
    _writer: OwnedMutexGuard<()>,
    /// Meta values written (`None`: deleted).
    meta: HashMap<String, Option<String>>,
    /// Documents written (`None`: deleted), with their listing rows.
    documents: BTreeMap<String, Option<(DocumentRow, ListingRow)>>,
    /// Own heads written (`None`: cleared).
    own_heads: BTreeMap<String, Option<String>>,
    /// The outbox rows this transaction has read or written (never the whole outbox: each
    /// call reads the rows it needs, by hash, by document or by `seq`), and the outbox's last
    /// key, read at its first use.
    outbox: Option<Table<OutboxRow>>,
    /// The restores as this transaction sees them, read at their first use.
    restores: Option<Table<RestoreRow>>,
}

/// A table's rows as a transaction sees them (the restores: all of them, read whole; the
/// outbox: those the transaction has read or written), with the keys it changed and the last
/// key given.
#[derive(Debug)]
struct Table<R> {
    rows: BTreeMap<i64, R>,
    /// Keys written or deleted (deleted: no longer in `rows`).
    dirty: BTreeSet<i64>,
    /// The last key given (kept in `sequences`, never reused).
    last: i64,
    /// Whether `last` changed.
    last_moved: bool,
}

impl<R> Table<R> {
    fn next_key(&mut self) -> i64 {
        self.last += 1;
        self.last_moved = true;
        self.last
    }

    fn remove(&mut self, key: i64) {
        if self.rows.remove(&key).is_some() {
            self.dirty.insert(key);
        }
    }

    /// Take in `row`, just read from the store at `key`, unless this transaction already
    /// holds its own version of that row (written, or removed).
    fn see(&mut self, key: i64, row: R) {
        if !self.dirty.contains(&key) {
            self.rows.entry(key).or_insert(row);
        }
    }
}

/// An outbox index: the field a keyed read looks rows up by.
#[derive(Debug, Clone, Copy)]
enum By {
    Hash,
    Doc,
}

impl By {
    fn index(self) -> &'static str {
        match self {
            By::Hash => BY_HASH,
            By::Doc => BY_DOC,
        }
    }

    fn of(self, row: &OutboxRow) -> &str {
        match self {
            By::Hash => &row.hash,
            By::Doc => &row.doc_id,
        }
    }
}

impl IdbTx {
    /// The outbox rows this transaction has seen, with the outbox's last key read the first
    /// time it needs them.
    async fn outbox(&mut self) -> Result<&mut Table<OutboxRow>, ClientError> {
        let table = match self.outbox.take() {
            Some(table) => table,
            None => Table {
                rows: BTreeMap::new(),
                dirty: BTreeSet::new(),
                last: self.store.last_key(OUTBOX).await?,
                last_moved: false,
            },
        };
        Ok(self.outbox.insert(table))
    }

    /// The outbox, holding every row whose `by` field is `key` (read by that index), and
    /// those rows' `seq`s, in outbox order, as this transaction sees them: its own rows in,
    /// the rows it removed out.
    async fn outbox_where(
        &mut self,
        by: By,
        key: &str,
    ) -> Result<(&mut Table<OutboxRow>, Vec<i64>), ClientError> {
        let stored = self.store.outbox_where(by.index(), key).await?;
        let outbox = self.outbox().await?;
        for row in stored {
            outbox.see(row.seq, row);
        }
        let seqs = outbox
            .rows
            .values()
            .filter(|r| by.of(r) == key)
            .map(|r| r.seq)
            .collect();
        Ok((outbox, seqs))
    }

    /// The outbox, holding the row `seq` as this transaction sees it, if there is one (read
    /// by its key).
    async fn outbox_at(&mut self, seq: i64) -> Result<&mut Table<OutboxRow>, ClientError> {
        let seen = self
            .outbox
            .as_ref()
            .is_some_and(|t| t.rows.contains_key(&seq) || t.dirty.contains(&seq));
        let stored = if seen {
            None
        } else {
            self.store.outbox_row(seq).await?
        };
        let outbox = self.outbox().await?;
        if let Some(row) = stored {
            outbox.see(seq, row);
        }
        Ok(outbox)
    }

    /// The restores, read the first time this transaction needs them.
    async fn restores(&mut self) -> Result<&mut Table<RestoreRow>, ClientError> {
        loaded(&self.store, &mut self.restores, RESTORES, |r| r.id).await
    }

    /// Every write of this transaction, as requests in `tx` (one IndexedDB transaction).
    fn write_all(
        &self,
        tx: &indexed_db_futures::transaction::Transaction<'_>,
    ) -> Result<(), ClientError> {
        let err = |e: indexed_db_futures::error::Error| self.store.err(&e);
        let meta = tx.object_store(META).map_err(err)?;
        for (key, value) in &self.meta {
            match value {
                Some(value) => meta
                    .put(JsValue::from_str(value))
                    .with_key(key.as_str())
                    .primitive()
                    .map(drop),
                None => meta.delete(JsValue::from_str(key)).primitive().map(drop),
            }
            .map_err(err)?;
        }
        let documents = tx.object_store(DOCUMENTS).map_err(err)?;
        let listings = tx.object_store(LISTINGS).map_err(err)?;
        for (doc_id, row) in &self.documents {
            match row {
                Some((doc, listing)) => {
                    documents.put(to_js(doc)?).primitive().map_err(err)?;
                    listings.put(to_js(listing)?).primitive().map(drop)
                }
                None => {
                    let key = JsValue::from_str(doc_id);
                    documents.delete(key.clone()).primitive().map_err(err)?;
                    listings.delete(key).primitive().map(drop)
                }
            }
            .map_err(err)?;
        }
        let own_heads = tx.object_store(OWN_HEADS).map_err(err)?;
        for (doc_id, hash) in &self.own_heads {
            match hash {
                Some(hash) => own_heads
                    .put(to_js(&OwnHeadRow {
                        doc_id: doc_id.clone(),
                        hash: hash.clone(),
                    })?)
                    .primitive()
                    .map(drop),
                None => own_heads
                    .delete(JsValue::from_str(doc_id))
                    .primitive()
                    .map(drop),
            }
            .map_err(err)?;
        }
        let sequences = tx.object_store(SEQUENCES).map_err(err)?;
        if let Some(outbox) = &self.outbox {
            let store = tx.object_store(OUTBOX).map_err(err)?;
            write_table(&store, &sequences, OUTBOX, outbox, err)?;
        }
        if let Some(restores) = &self.restores {
            let store = tx.object_store(RESTORES).map_err(err)?;
            write_table(&store, &sequences, RESTORES, restores, err)?;
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.meta.is_empty()
            && self.documents.is_empty()
            && self.own_heads.is_empty()
            && untouched(self.outbox.as_ref())
            && untouched(self.restores.as_ref())
    }
}

/// The table in `slot`, read from the object store `name` (with its last key) if the
/// transaction has not read it yet.
async fn loaded<'t, R: DeserializeOwned>(
    idb: &Idb,
    slot: &'t mut Option<Table<R>>,
    name: &'static str,
    key: fn(&R) -> i64,
) -> Result<&'t mut Table<R>, ClientError> {
    let table = match slot.take() {
        Some(table) => table,
        None => {
            let mut rows = BTreeMap::new();
            for v in idb.all(name).await? {
                let row: R = from_js(v)?;
                rows.insert(key(&row), row);
            }
            let last = match idb.get(SEQUENCES, JsValue::from_str(name)).await? {
                Some(v) => from_js(v)?,
                None => 0,
            };
            // Never below a key in use.
            let last = rows.keys().next_back().map_or(last, |&k| last.max(k));
            Table {
                rows,
                dirty: BTreeSet::new(),
                last,
                last_moved: false,
            }
        }
    };
    Ok(slot.insert(table))
}

/// Whether a transaction left a table as it read it (or never read it).
fn untouched<R>(table: Option<&Table<R>>) -> bool {
    table.is_none_or(|t| t.dirty.is_empty() && !t.last_moved)
}

/// A table's changed rows and last key, as requests in the commit's transaction.
fn write_table<R: Serialize>(
    store: &indexed_db_futures::object_store::ObjectStore<'_>,
    sequences: &indexed_db_futures::object_store::ObjectStore<'_>,
    name: &str,
    table: &Table<R>,
    err: impl Fn(indexed_db_futures::error::Error) -> ClientError,
) -> Result<(), ClientError> {
    for key in &table.dirty {
        match table.rows.get(key) {
            Some(row) => store.put(to_js(row)?).primitive().map(drop),
            None => store.delete(number(*key)).primitive().map(drop),
        }
        .map_err(&err)?;
    }
    if table.last_moved {
        sequences
            .put(number(table.last))
            .with_key(name)
            .primitive()
            .map_err(&err)?;
    }
    Ok(())
}

impl BackendTx for IdbTx {
    async fn commit(self) -> Result<(), ClientError> {
        if self.is_empty() {
            return Ok(());
        }
        let build = |db| {
            let mut options = TransactionOptions::new();
            options.set_durability(TransactionDurability::Strict);
            Database::transaction(db, ALL_STORES.as_slice())
                .with_mode(TransactionMode::Readwrite)
                .with_options(options)
                .build()
        };
        let db = self.store.database();
        let reopened;
        let tx = match build(&db) {
            Ok(tx) => tx,
            // The browser closed the connection (after an earlier write it could not keep):
            // a new one, and the same writes in it.
            Err(e) if connection_closed(&e) => {
                self.store.reopen().await?;
                reopened = self.store.database();
                build(&reopened).map_err(|e| self.store.err(&e))?
            }
            Err(e) => return Err(self.store.err(&e)),
        };
        // On an error here `tx` is dropped, which aborts it: nothing is kept.
        self.write_all(&tx)?;
        tx.commit().await.map_err(|e| match e {
            // Every request went through, and then the browser aborted the commit: it would
            // not keep the data (Chromium does this when the device or the site's storage is
            // full). Nothing of the transaction was kept; everything before it stands.
            indexed_db_futures::error::Error::MissingData(
                indexed_db_futures::error::UnexpectedDataError::TransactionAborted,
            ) => ClientError::BrowserRefused {
                reason: "it stopped the write before keeping it, most often because this \
                         device's storage, or the browser's space for this site, is full"
                    .to_owned(),
            },
            e => self.store.err(&e),
        })
    }

    async fn meta(&mut self, key: &str) -> Result<Option<String>, ClientError> {
        match self.meta.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.store.meta(key).await,
        }
    }

    async fn set_meta(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        self.meta.insert(key.to_owned(), Some(value.to_owned()));
        Ok(())
    }

    async fn delete_meta(&mut self, key: &str) -> Result<(), ClientError> {
        self.meta.insert(key.to_owned(), None);
        Ok(())
    }

    async fn snapshot(&mut self, doc_id: &str) -> Result<Option<Stored<Vec<u8>>>, ClientError> {
        match self.documents.get(doc_id) {
            Some(row) => Ok(row
                .as_ref()
                .map(|(doc, _)| Stored::Sealed(doc.snapshot.clone()))),
            None => self.store.snapshot(doc_id).await,
        }
    }

    async fn put_document(&mut self, doc: &SealedDoc) -> Result<(), ClientError> {
        let row = DocumentRow {
            doc_id: doc.doc_id.clone(),
            kind: doc.kind.clone(),
            snapshot: doc.snapshot.clone(),
            updated_at_ms: doc.updated_at_ms,
        };
        let listing = ListingRow {
            doc_id: doc.doc_id.clone(),
            kind: doc.kind.clone(),
            listing: doc.listing.clone(),
            scope_tag: doc.scope_tag.clone(),
            updated_at_ms: doc.updated_at_ms,
        };
        self.documents
            .insert(doc.doc_id.clone(), Some((row, listing)));
        Ok(())
    }

    /// Also forgets the document's own head, as the native table's `ON DELETE CASCADE` does.
    async fn delete_document(&mut self, doc_id: &str) -> Result<(), ClientError> {
        let (outbox, seqs) = self.outbox_where(By::Doc, doc_id).await?;
        for seq in seqs {
            outbox.remove(seq);
        }
        self.documents.insert(doc_id.to_owned(), None);
        self.own_heads.insert(doc_id.to_owned(), None);
        Ok(())
    }

    async fn docs_in_scope(&mut self, sel: &ScopeSel) -> Result<Vec<String>, ClientError> {
        let mut ids = self.store.doc_ids_in(sel).await?;
        for (doc_id, row) in &self.documents {
            match row {
                Some((_, listing)) if sel.holds(listing.scope_tag.as_deref()) => {
                    ids.insert(doc_id.clone())
                }
                _ => ids.remove(doc_id),
            };
        }
        Ok(ids.into_iter().collect())
    }

    async fn insert_change(&mut self, change: &OutboxEntry<'_>) -> Result<u64, ClientError> {
        let (outbox, same) = self.outbox_where(By::Hash, change.hash).await?;
        if !same.is_empty() {
            return Ok(0);
        }
        let seq = outbox.next_key();
        outbox.rows.insert(
            seq,
            OutboxRow {
                seq,
                doc_id: change.doc_id.to_owned(),
                hash: change.hash.to_owned(),
                bytes: change.sealed.to_vec(),
                created_at_ms: change.at_ms,
                held_code: None,
                held_note: None,
                held_at_ms: None,
            },
        );
        outbox.dirty.insert(seq);
        Ok(1)
    }

    async fn delete_change(&mut self, doc_id: &str, hash: &str) -> Result<u64, ClientError> {
        let (outbox, same) = self.outbox_where(By::Hash, hash).await?;
        let seqs: Vec<i64> = same
            .into_iter()
            .filter(|seq| outbox.rows.get(seq).is_some_and(|r| r.doc_id == doc_id))
            .collect();
        for &seq in &seqs {
            outbox.remove(seq);
        }
        Ok(u64::try_from(seqs.len()).unwrap_or(u64::MAX))
    }

    async fn delete_change_at(&mut self, doc_id: &str, seq: i64) -> Result<(), ClientError> {
        let outbox = self.outbox_at(seq).await?;
        if outbox.rows.get(&seq).is_some_and(|r| r.doc_id == doc_id) {
            outbox.remove(seq);
        }
        Ok(())
    }

    async fn hold(&mut self, hold: &HoldEntry<'_>) -> Result<u64, ClientError> {
        let outbox = self.outbox_at(hold.seq).await?;
        let Some(row) = outbox.rows.get_mut(&hold.seq) else {
            return Ok(0);
        };
        row.held_code = Some(hold.code.to_owned());
        row.held_note = Some(hold.sealed_note.to_vec());
        row.held_at_ms = Some(hold.at_ms);
        outbox.dirty.insert(hold.seq);
        Ok(1)
    }

    async fn release_held(&mut self, doc_id: &str) -> Result<(), ClientError> {
        let (outbox, seqs) = self.outbox_where(By::Doc, doc_id).await?;
        for seq in seqs {
            let Some(row) = outbox.rows.get_mut(&seq) else {
                continue;
            };
            if row.held_code.is_some() {
                row.held_code = None;
                row.held_note = None;
                row.held_at_ms = None;
                outbox.dirty.insert(row.seq);
            }
        }
        Ok(())
    }

    async fn set_own_head(&mut self, doc_id: &str, hash: &str) -> Result<(), ClientError> {
        self.own_heads
            .insert(doc_id.to_owned(), Some(hash.to_owned()));
        Ok(())
    }

    async fn clear_own_head(&mut self, doc_id: &str) -> Result<(), ClientError> {
        self.own_heads.insert(doc_id.to_owned(), None);
        Ok(())
    }

    async fn record_restore(
        &mut self,
        at_ms: i64,
        feed_id: &str,
        message: &str,
    ) -> Result<(), ClientError> {
        let restores = self.restores().await?;
        let id = restores.next_key();
        restores.rows.insert(
            id,
            RestoreRow {
                id,
                detected_at_ms: at_ms,
                feed_id: feed_id.to_owned(),
                message: message.to_owned(),
                checked_docs: 0,
                resent_changes: 0,
                shown: false,
            },
        );
        restores.dirty.insert(id);
        Ok(())
    }

    async fn count_restore_work(&mut self, checked: u64, resent: u64) -> Result<(), ClientError> {
        let restores = self.restores().await?;
        if let Some((&id, row)) = restores.rows.iter_mut().next_back() {
            let add = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            row.checked_docs = row.checked_docs.saturating_add(add(checked));
            row.resent_changes = row.resent_changes.saturating_add(add(resent));
            restores.dirty.insert(id);
        }
        Ok(())
    }

    /// A browser store never held plaintext rows.
    async fn plaintext_docs(&mut self) -> Result<Vec<PlainDoc>, ClientError> {
        Ok(Vec::new())
    }

    /// A browser store never held plaintext rows.
    async fn plaintext_changes(&mut self) -> Result<Vec<PlainChange>, ClientError> {
        Ok(Vec::new())
    }

    async fn reseal_change(
        &mut self,
        seq: i64,
        sealed: &[u8],
        sealed_note: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let outbox = self.outbox_at(seq).await?;
        if let Some(row) = outbox.rows.get_mut(&seq) {
            row.bytes = sealed.to_vec();
            row.held_note = sealed_note.map(<[u8]>::to_vec);
            outbox.dirty.insert(seq);
        }
        Ok(())
    }
}

/// A `documents` value: the sealed snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DocumentRow {
    doc_id: String,
    kind: String,
    #[serde(with = "serde_bytes")]
    snapshot: Vec<u8>,
    updated_at_ms: i64,
}

/// A `listings` value: what a list shows of a document, sealed, and its scope tag.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ListingRow {
    doc_id: String,
    kind: String,
    #[serde(with = "serde_bytes")]
    listing: Vec<u8>,
    #[serde(with = "serde_bytes")]
    scope_tag: Option<Vec<u8>>,
    updated_at_ms: i64,
}

/// An `own_heads` value: this device's newest change to a document.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OwnHeadRow {
    doc_id: String,
    hash: String,
}

/// An `outbox` value.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OutboxRow {
    seq: i64,
    doc_id: String,
    hash: String,
    /// The sealed change.
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    created_at_ms: i64,
    held_code: Option<String>,
    /// The sealed reason of a held change.
    #[serde(with = "serde_bytes")]
    held_note: Option<Vec<u8>>,
    held_at_ms: Option<i64>,
}

impl OutboxRow {
    fn into_hold(self) -> StoredHold {
        StoredHold {
            seq: self.seq,
            doc_id: self.doc_id,
            hash: self.hash,
            held_code: self.held_code,
            note: Stored::Sealed(self.held_note),
        }
    }
}

/// A `server_restores` value.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RestoreRow {
    id: i64,
    detected_at_ms: i64,
    feed_id: String,
    message: String,
    checked_docs: i64,
    resent_changes: i64,
    #[serde(default)]
    shown: bool,
}

/// A row as the plain JS object IndexedDB keeps: byte fields as `Uint8Array`, `None` as
/// null, whole numbers as numbers (ids, times and counts are far below 2^53).
fn to_js<T: Serialize>(row: &T) -> Result<JsValue, ClientError> {
    row.serialize(&serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true))
        .map_err(|e| ClientError::Corrupt(format!("a row the browser cannot keep: {e}")))
}

/// A row (or value) read back from IndexedDB.
fn from_js<T: DeserializeOwned>(v: JsValue) -> Result<T, ClientError> {
    serde_wasm_bindgen::from_value(v)
        .map_err(|e| unreadable(&format!("a row that does not read: {e}")))
}

/// A number kept as a JS number: ids, times and counts are far below 2^53.
#[expect(
    clippy::cast_precision_loss,
    reason = "sequence numbers, ms since 1970 and counts fit an f64 exactly"
)]
fn number(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

fn unreadable(what: &str) -> ClientError {
    ClientError::Corrupt(format!("the browser's store holds {what}"))
}

/// A meta value (text).
fn meta_text(key: &str, v: &JsValue) -> Result<String, ClientError> {
    v.as_string()
        .ok_or_else(|| unreadable(&format!("a meta value {key:?} that is not text")))
}

/// What a DOM exception's name means for the person.
fn classify(name: &str) -> Failure {
    match name {
        "QuotaExceededError" => Failure::Full,
        // Chromium's name for a failed read or write of its files.
        "UnknownError" => Failure::Io,
        // A value that cannot be read back (a file of the store went missing).
        "NotReadableError" | "DataError" => Failure::Damaged,
        _ => Failure::Other,
    }
}

/// The DOM exception's name and message in `e`, if it is one.
fn dom_exception(e: &indexed_db_futures::error::Error) -> Option<(String, String)> {
    match e {
        indexed_db_futures::error::Error::DomException(d) => {
            let js: &JsValue = d.as_ref();
            let dom: &web_sys::DomException = js.unchecked_ref();
            Some((dom.name(), dom.message()))
        }
        _ => None,
    }
}

/// The client error for a failed IndexedDB call on the store `name`: a refusal to keep data
/// is named as such.
fn idb_error(name: &str, e: &indexed_db_futures::error::Error) -> ClientError {
    match dom_exception(e) {
        Some((kind, message)) if classify(&kind) == Failure::Full => ClientError::BrowserRefused {
            reason: format!("{kind}: {message}"),
        },
        Some((kind, message)) => ClientError::BrowserStore {
            name: name.to_owned(),
            reason: format!("{kind}: {message}"),
        },
        None => ClientError::BrowserStore {
            name: name.to_owned(),
            reason: e.to_string(),
        },
    }
}

/// The client error for a store that could not be opened. A browser that keeps no data for
/// this page (no IndexedDB, a private window, storage blocked or full) refuses at open.
fn open_error(name: &str, e: &indexed_db_futures::error::OpenDbError) -> ClientError {
    use indexed_db_futures::error::OpenDbError;
    match e {
        OpenDbError::Base(base) => match dom_exception(base) {
            Some((kind, message))
                if matches!(
                    kind.as_str(),
                    "QuotaExceededError" | "SecurityError" | "InvalidStateError" | "UnknownError"
                ) =>
            {
                ClientError::BrowserRefused {
                    reason: format!("{kind}: {message}"),
                }
            }
            _ => idb_error(name, base),
        },
        other => ClientError::BrowserRefused {
            reason: other.to_string(),
        },
    }
}

/// Every key and value in the store `name`, as bytes (text as UTF-8, numbers as text, byte
/// arrays as they are, objects field by field): what a test looks through for anything kept
/// in the clear.
#[cfg(test)]
pub(crate) async fn contents(name: &str) -> Result<Vec<u8>, ClientError> {
    let store = Idb::open(name).await?;
    let mut out = Vec::new();
    for table in ALL_STORES {
        let db = store.database();
        let run = async {
            let tx = read_only(&db, table)?;
            let os = tx.object_store(table)?;
            let keys = os.get_all_keys::<JsValue>().primitive()?.await?;
            let keys = keys.collect::<Result<Vec<JsValue>, _>>()?;
            let values = os.get_all::<JsValue>().primitive()?.await?;
            let values = values.collect::<Result<Vec<JsValue>, _>>()?;
            Ok::<_, indexed_db_futures::error::Error>((keys, values))
        };
        let (keys, values) = run.await.map_err(|e| store.err(&e))?;
        for v in keys.iter().chain(&values) {
            flatten(v, &mut out);
        }
    }
    store.close().await;
    Ok(out)
}

#[cfg(test)]
fn flatten(v: &JsValue, out: &mut Vec<u8>) {
    if let Some(text) = v.as_string() {
        out.extend(text.as_bytes());
    } else if let Some(n) = v.as_f64() {
        out.extend(n.to_string().as_bytes());
    } else if let Some(array) = v.dyn_ref::<Uint8Array>() {
        out.extend(array.to_vec());
    } else if let Some(object) = v.dyn_ref::<Object>() {
        for field in Object::keys(object)
            .iter()
            .chain(Object::values(object).iter())
        {
            flatten(&field, out);
        }
    }
    out.push(0);
}

#[cfg(all(test, target_arch = "wasm32"))]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    fn outbox_row(seq: i64, doc_id: &str, hash: &str) -> OutboxRow {
        OutboxRow {
            seq,
            doc_id: doc_id.to_owned(),
            hash: hash.to_owned(),
            bytes: vec![1, 2, 3],
            created_at_ms: seq,
            held_code: None,
            held_note: None,
            held_at_ms: None,
        }
    }

    fn seqs(rows: &[StoredHold]) -> Vec<i64> {
        rows.iter().map(|r| r.seq).collect()
    }

    /// A store an earlier release made at layout 1 (an outbox without indexes) keeps its
    /// outbox when this release opens it, and the upgrade's indexes find its rows: a
    /// document's rows, and a hash already waiting (not enqueued twice).
    #[wasm_bindgen_test]
    async fn an_outbox_of_layout_1_is_kept_and_indexed_by_the_upgrade() {
        let name = format!("fieldnotes-idb-upgrade-{}", uuid::Uuid::new_v4());
        let db = Database::open(name.as_str())
            .with_version(1u8)
            .with_on_upgrade_needed(|_event, db| create_layout_1(&db))
            .await
            .unwrap();
        {
            let tx = db
                .transaction([OUTBOX, SEQUENCES].as_slice())
                .with_mode(TransactionMode::Readwrite)
                .build()
                .unwrap();
            let outbox = tx.object_store(OUTBOX).unwrap();
            for row in [
                outbox_row(1, "doc-1", "h1"),
                outbox_row(2, "doc-1", "h2"),
                outbox_row(3, "doc-2", "h3"),
            ] {
                outbox.put(to_js(&row).unwrap()).primitive().unwrap();
            }
            let sequences = tx.object_store(SEQUENCES).unwrap();
            sequences
                .put(number(3))
                .with_key(OUTBOX)
                .primitive()
                .unwrap();
            tx.commit().await.unwrap();
        }
        db.close();

        let store = Idb::open(&name).await.unwrap();
        assert_eq!(store.outbox_count().await.unwrap(), 3, "no row lost");
        assert_eq!(seqs(&store.doc_outbox("doc-1").await.unwrap()), [1, 2]);
        let mut tx = store.begin().await.unwrap();
        let entry = |doc_id, hash| OutboxEntry {
            doc_id,
            hash,
            sealed: b"sealed",
            at_ms: 9,
        };
        assert_eq!(
            tx.insert_change(&entry("doc-2", "h3")).await.unwrap(),
            0,
            "a change already waiting is found by its hash"
        );
        assert_eq!(tx.delete_change("doc-1", "h1").await.unwrap(), 1);
        assert_eq!(tx.delete_change("doc-1", "h1").await.unwrap(), 0);
        assert_eq!(tx.insert_change(&entry("doc-2", "h4")).await.unwrap(), 1);
        tx.commit().await.unwrap();
        assert_eq!(seqs(&store.doc_outbox("doc-1").await.unwrap()), [2]);
        assert_eq!(
            seqs(&store.doc_outbox("doc-2").await.unwrap()),
            [3, 4],
            "a new change takes the next key"
        );
        store.close().await;
        Database::delete_by_name(&name).unwrap().await.unwrap();
    }
}
