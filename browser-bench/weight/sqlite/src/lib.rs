//! The SQLite-on-OPFS store's operations and nothing else: install the VFS, open, apply a
//! page, write an edit, list.

use fieldnotes_bench_sqlite::{self as sqlite, SqliteStore};
use fieldnotes_bench_workload::probe_data;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub async fn run(name: String) -> Result<f64, JsError> {
    let (doc, edit) = probe_data(&name);
    let fail = |e: fieldnotes_bench_sqlite::SqliteError| JsError::new(&e.to_string());
    sqlite::install_opfs().await.map_err(fail)?;
    let store = SqliteStore::open(&name, "DELETE").map_err(fail)?;
    store.apply_page(&[doc], "cursor").map_err(fail)?;
    store.write_edit(&edit).map_err(fail)?;
    let listed = store.list().map_err(fail)?;
    Ok(f64::from(u32::try_from(listed.rows).unwrap_or(0)))
}
