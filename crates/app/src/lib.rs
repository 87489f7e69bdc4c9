//! The Fieldnotes field app: a mobile-first web app, rendered in the browser by Leptos from
//! WebAssembly and served by `fieldnotes-server --app-dir`.
//!
//! This is the skeleton the app grows from: the shell (a header, the always-visible status
//! line, a sign-in form that does not sign in yet). `cargo xtask app` builds it for wasm32 and
//! writes the page, its JS glue, the wasm, the web manifest, the icons and the service worker
//! (`static/`) into one folder. Only [`status`] builds on the host, so its words are tested by
//! `cargo test`; the browser tests in `tests/` run the built app in Chromium.

pub mod status;

#[cfg(target_arch = "wasm32")]
mod ui;

/// The entry point wasm-bindgen runs when the page loads the module: mount the app on `<body>`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(ui::App);
}
