//! The client SDK's store on IndexedDB, through `indexed_db_futures` (the one maintained Rust wrapper that
//! sets a transaction's `durability`; web-sys has the option only behind its unstable APIs).
//!
//! Object stores mirror the native store's tables. A document's listing lives in an object
//! store of its own, so a list reads the small listings without structured-cloning every
//! 2 KB snapshot (IndexedDB reads whole values; SQLite reads the columns asked for).

use indexed_db_futures::KeyPath;
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{TransactionDurability, TransactionMode, TransactionOptions};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};

use fieldnotes_bench_workload::{Doc, Edit, Listed, js_object};

/// What went wrong in IndexedDB.
#[derive(Debug, thiserror::Error)]
pub enum IdbError {
    #[error("IndexedDB: {0}")]
    Request(#[from] indexed_db_futures::error::Error),
    #[error("IndexedDB could not be opened: {0}")]
    Open(#[from] indexed_db_futures::error::OpenDbError),
    #[error("IndexedDB returned an unexpected value: {0}")]
    Unexpected(&'static str),
}

const DOCUMENTS: &str = "documents";
const LISTINGS: &str = "listings";
const OUTBOX: &str = "outbox";
const OWN_HEADS: &str = "own_heads";
const META: &str = "meta";
const EDIT_STORES: [&str; 5] = [DOCUMENTS, LISTINGS, OUTBOX, OWN_HEADS, META];
const PAGE_STORES: [&str; 3] = [DOCUMENTS, LISTINGS, META];

/// How durable a commit is: `strict` waits for the data to reach the disk (as SQLite's
/// `synchronous=FULL` does); `relaxed` (Chromium's default) only for the OS to have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Strict,
    Relaxed,
}

impl Durability {
    pub fn parse(name: &str) -> Option<Durability> {
        match name {
            "strict" => Some(Durability::Strict),
            "relaxed" => Some(Durability::Relaxed),
            _ => None,
        }
    }

    fn options(self) -> TransactionOptions {
        let durability = match self {
            Durability::Strict => TransactionDurability::Strict,
            Durability::Relaxed => TransactionDurability::Relaxed,
        };
        let mut options = TransactionOptions::new();
        options.set_durability(durability);
        options
    }
}

/// An open IndexedDB store.
#[derive(Debug)]
pub struct IdbStore {
    db: Database,
    durability: Durability,
}

impl IdbStore {
    /// Open (creating the object stores and indexes on first use) the database `name`.
    pub async fn open(name: &str, durability: Durability) -> Result<IdbStore, IdbError> {
        let db = Database::open(name)
            .with_version(1u8)
            .with_on_upgrade_needed(|_event, db| {
                db.create_object_store(DOCUMENTS).build()?;
                db.create_object_store(LISTINGS).build()?;
                db.create_object_store(OWN_HEADS).build()?;
                db.create_object_store(META).build()?;
                let outbox = db
                    .create_object_store(OUTBOX)
                    .with_auto_increment(true)
                    .build()?;
                outbox
                    .create_index("by_doc", KeyPath::One("doc_id"))
                    .build()?;
                outbox
                    .create_index("by_hash", KeyPath::One("hash"))
                    .with_unique(true)
                    .build()?;
                Ok(())
            })
            .await?;
        Ok(IdbStore { db, durability })
    }

    /// A read-write transaction over `stores`, with the store's durability.
    fn write<'a>(
        &'a self,
        stores: &'a [&'a str],
    ) -> Result<indexed_db_futures::transaction::Transaction<'a>, IdbError> {
        Ok(self
            .db
            .transaction(stores)
            .with_mode(TransactionMode::Readwrite)
            .with_options(self.durability.options())
            .build()?)
    }

    /// One typed edit, committed: the document's new snapshot and listing, its change in the
    /// outbox, the device's newest change to it, and a meta entry.
    pub async fn write_edit(&self, edit: &Edit) -> Result<(), IdbError> {
        let tx = self.write(&EDIT_STORES)?;
        put_doc(&tx, &edit.doc)?;
        let change = record(&[
            ("doc_id", edit.doc.doc_id.as_str().into()),
            ("hash", edit.change_hash.as_str().into()),
            ("bytes", bytes(&edit.change)),
            ("created_at_ms", ms(edit.doc.updated_at_ms)),
        ])?;
        tx.object_store(OUTBOX)?.add(change).primitive()?;
        tx.object_store(OWN_HEADS)?
            .put(JsValue::from(edit.change_hash.as_str()))
            .with_key(edit.doc.doc_id.as_str())
            .primitive()?;
        tx.object_store(META)?
            .put(ms(edit.doc.updated_at_ms))
            .with_key("last_edit_ms")
            .primitive()?;
        tx.commit().await?;
        Ok(())
    }

    /// A first sync's page: every document of it and the new cursor, in one transaction.
    pub async fn apply_page(&self, docs: &[Doc], cursor: &str) -> Result<(), IdbError> {
        let tx = self.write(&PAGE_STORES)?;
        for doc in docs {
            put_doc(&tx, doc)?;
        }
        tx.object_store(META)?
            .put(JsValue::from(cursor))
            .with_key("cursor")
            .primitive()?;
        tx.commit().await?;
        Ok(())
    }

    /// Every document's listing, copied into wasm memory.
    pub async fn list(&self) -> Result<Listed, IdbError> {
        let tx = self
            .db
            .transaction(LISTINGS)
            .with_mode(TransactionMode::Readonly)
            .build()?;
        let all = tx.object_store(LISTINGS)?.get_all().primitive()?.await?;
        let mut listed = Listed::default();
        for row in all {
            let row: JsValue = row?;
            let listing: Uint8Array = Reflect::get(&row, &"listing".into())
                .map_err(|_| IdbError::Unexpected("a listing without its bytes"))?
                .dyn_into()
                .map_err(|_| IdbError::Unexpected("a listing that is not bytes"))?;
            listed.bytes += listing.to_vec().len();
            listed.rows += 1;
        }
        Ok(listed)
    }

    pub fn close(self) {
        self.db.close();
    }
}

fn put_doc(
    tx: &indexed_db_futures::transaction::Transaction<'_>,
    doc: &Doc,
) -> Result<(), IdbError> {
    let document = record(&[
        ("kind", doc.kind.into()),
        ("snapshot", bytes(&doc.snapshot)),
        ("updated_at_ms", ms(doc.updated_at_ms)),
    ])?;
    let listing = record(&[
        ("kind", doc.kind.into()),
        ("listing", bytes(&doc.listing)),
        ("scope_tag", bytes(&doc.scope_tag)),
        ("updated_at_ms", ms(doc.updated_at_ms)),
    ])?;
    tx.object_store(DOCUMENTS)?
        .put(document)
        .with_key(doc.doc_id.as_str())
        .primitive()?;
    tx.object_store(LISTINGS)?
        .put(listing)
        .with_key(doc.doc_id.as_str())
        .primitive()?;
    Ok(())
}

/// A plain JS object with these fields.
fn record(fields: &[(&str, JsValue)]) -> Result<JsValue, IdbError> {
    js_object(fields).map_err(|_| IdbError::Unexpected("an object that refuses a field"))
}

fn bytes(data: &[u8]) -> JsValue {
    Uint8Array::from(data).into()
}

#[expect(
    clippy::cast_precision_loss,
    reason = "milliseconds since 1970 fit an f64 exactly"
)]
fn ms(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// Delete the database `name` (before a run, so each starts empty).
pub async fn delete(name: &str) -> Result<(), IdbError> {
    Database::delete_by_name(name)?.await?;
    Ok(())
}
