//! The baseline: the same data and the same kind of async export as the engine probes, and no
//! storage engine.

use fieldnotes_bench_workload::probe_data;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub async fn run(name: String) -> Result<f64, JsError> {
    let (doc, edit) = probe_data(&name);
    let promise = js_sys::Promise::resolve(&JsValue::from_str(&doc.doc_id));
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|_| JsError::new("no value"))?;
    Ok(f64::from(
        u32::try_from(edit.change.len() + doc.snapshot.len()).unwrap_or(0),
    ))
}
