//! The IndexedDB store's operations and nothing else: open, apply a page, write an edit, list.

use fieldnotes_bench_idb::{Durability, IdbStore};
use fieldnotes_bench_workload::probe_data;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub async fn run(name: String) -> Result<f64, JsError> {
    let (doc, edit) = probe_data(&name);
    let fail = |e: fieldnotes_bench_idb::IdbError| JsError::new(&e.to_string());
    let store = IdbStore::open(&name, Durability::Strict)
        .await
        .map_err(fail)?;
    store.apply_page(&[doc], "cursor").await.map_err(fail)?;
    store.write_edit(&edit).await.map_err(fail)?;
    let listed = store.list().await.map_err(fail)?;
    store.close();
    Ok(f64::from(u32::try_from(listed.rows).unwrap_or(0)))
}
