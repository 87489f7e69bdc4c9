//! What `static/bench.js` (the page) and `static/worker.js` (the dedicated worker SQLite on
//! OPFS needs) call. Each function prepares its data first and times only the store's or the
//! KDF's own work, with `performance.now()`.

use fieldnotes_bench_idb::{self as idb, Durability, IdbStore};
use fieldnotes_bench_sqlite::{self as sqlite, SqliteStore};
use fieldnotes_bench_workload::{Doc, Edit, Listed, Rng, js_object, now_ms};
use js_sys::Float64Array;
use wasm_bindgen::prelude::*;

/// The seed of every run's data, so runs write the same bytes.
const SEED: u64 = 0x5eed_f1e1_d000_0011;

/// A first sync's page of `count` documents, then `edits` typed edits to one of them, each
/// committed on its own, in the IndexedDB database `name` (deleted first) with this
/// durability (`strict` or `relaxed`).
#[wasm_bindgen]
pub async fn idb_write(
    name: String,
    durability: String,
    count: usize,
    edits: usize,
) -> Result<JsValue, JsError> {
    let durability = Durability::parse(&durability)
        .ok_or_else(|| JsError::new("durability is strict or relaxed"))?;
    let (page, edits) = data(count, edits);
    idb::delete(&name).await.map_err(err)?;
    let start = now_ms();
    let store = IdbStore::open(&name, durability).await.map_err(err)?;
    let open_ms = now_ms() - start;
    let start = now_ms();
    store.apply_page(&page, "cursor-1").await.map_err(err)?;
    let page_ms = now_ms() - start;
    let mut edit_ms = Vec::with_capacity(edits.len());
    for edit in &edits {
        let start = now_ms();
        store.write_edit(edit).await.map_err(err)?;
        edit_ms.push(now_ms() - start);
    }
    store.close();
    written(open_ms, page_ms, &edit_ms)
}

/// Open the IndexedDB database `name` and list every document.
#[wasm_bindgen]
pub async fn idb_read(name: String) -> Result<JsValue, JsError> {
    let start = now_ms();
    let store = IdbStore::open(&name, Durability::Strict)
        .await
        .map_err(err)?;
    let open_ms = now_ms() - start;
    let start = now_ms();
    let listed = store.list().await.map_err(err)?;
    let list_ms = now_ms() - start;
    store.close();
    read(open_ms, list_ms, listed)
}

/// Install the OPFS VFS (in the worker); gives the time it took.
#[wasm_bindgen]
pub async fn sqlite_install() -> Result<f64, JsError> {
    let start = now_ms();
    sqlite::install_opfs().await.map_err(err)?;
    Ok(now_ms() - start)
}

/// Release the OPFS files (before the worker is ended).
#[wasm_bindgen]
pub fn sqlite_release() -> Result<(), JsError> {
    sqlite::release_opfs().map_err(err)
}

/// As [`idb_write`], in the SQLite database `file` on OPFS with this rollback journal mode.
#[wasm_bindgen]
pub fn sqlite_write(
    file: String,
    journal_mode: String,
    count: usize,
    edits: usize,
) -> Result<JsValue, JsError> {
    let (page, edits) = data(count, edits);
    let start = now_ms();
    let store = SqliteStore::open(&file, &journal_mode).map_err(err)?;
    let open_ms = now_ms() - start;
    let start = now_ms();
    store.apply_page(&page, "cursor-1").map_err(err)?;
    let page_ms = now_ms() - start;
    let mut edit_ms = Vec::with_capacity(edits.len());
    for edit in &edits {
        let start = now_ms();
        store.write_edit(edit).map_err(err)?;
        edit_ms.push(now_ms() - start);
    }
    drop(store);
    written(open_ms, page_ms, &edit_ms)
}

/// As [`idb_read`], for the SQLite database `file`.
#[wasm_bindgen]
pub fn sqlite_read(file: String) -> Result<JsValue, JsError> {
    let start = now_ms();
    let store = SqliteStore::open(&file, "DELETE").map_err(err)?;
    let open_ms = now_ms() - start;
    let start = now_ms();
    let listed = store.list().map_err(err)?;
    let list_ms = now_ms() - start;
    drop(store);
    read(open_ms, list_ms, listed)
}

/// One Argon2id derivation with these parameters (the SDK's `PasswordKdf`: memory in KiB,
/// passes, lanes; a 32-byte key); gives the time it took.
#[wasm_bindgen]
pub fn argon2id(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<f64, JsError> {
    let params = argon2::Params::new(memory_kib, iterations, parallelism, Some(32))
        .map_err(|e| JsError::new(&e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    let start = now_ms();
    argon
        .hash_password_into(b"correct horse battery staple", &[7u8; 16], &mut key)
        .map_err(|e| JsError::new(&e.to_string()))?;
    let took = now_ms() - start;
    // Use the key, so the derivation cannot be dropped.
    if key == [0u8; 32] {
        return Err(JsError::new("Argon2id gave an all-zero key"));
    }
    Ok(took)
}

/// The page's documents and the edits, made before any timing.
fn data(count: usize, edits: usize) -> (Vec<Doc>, Vec<Edit>) {
    let mut rng = Rng::new(SEED);
    let page = (0..count).map(|i| Doc::numbered(i, &mut rng)).collect();
    let edits = (0..edits).map(|n| Edit::of(0, n, &mut rng)).collect();
    (page, edits)
}

fn written(open_ms: f64, page_ms: f64, edit_ms: &[f64]) -> Result<JsValue, JsError> {
    object(&[
        ("open_ms", open_ms.into()),
        ("page_ms", page_ms.into()),
        ("edit_ms", Float64Array::from(edit_ms).into()),
    ])
}

#[expect(
    clippy::cast_precision_loss,
    reason = "row and byte counts are far below 2^53"
)]
fn read(open_ms: f64, list_ms: f64, listed: Listed) -> Result<JsValue, JsError> {
    object(&[
        ("open_ms", open_ms.into()),
        ("list_ms", list_ms.into()),
        ("rows", (listed.rows as f64).into()),
        ("bytes", (listed.bytes as f64).into()),
    ])
}

fn object(fields: &[(&str, JsValue)]) -> Result<JsValue, JsError> {
    js_object(fields).map_err(|_| JsError::new("could not build the result"))
}

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}
