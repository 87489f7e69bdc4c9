//! The Fieldnotes field app: a mobile-first web app, rendered in the browser by Leptos from
//! WebAssembly and served by `fieldnotes-server --app-dir`.
//!
//! The app is the client SDK in the page (its IndexedDB store, sealed at rest, one writer
//! across tabs, and sync over the browser's fetch) with screens over it: sign in, unlock with
//! no signal, the caseload and the records on this device, a visit note, and the status line.
//! `cargo xtask app` builds it for wasm32 and writes the page, its JS glue, the wasm, the web
//! manifest, the icons and the service worker (`static/`) into one folder. The forms' rules
//! ([`note`], [`plan`], [`profile`]), the status line ([`status`]) and the server's words as
//! people say them ([`words`]) build on the host, so they are tested by `cargo test`; the
//! browser tests in `tests/` (and the CLI's, with the real binary as a second device) run the
//! built app in Chromium against the real server.

pub mod note;
pub mod plan;
pub mod profile;
pub mod status;
pub mod words;

#[cfg(target_arch = "wasm32")]
mod device;
#[cfg(target_arch = "wasm32")]
mod photo;
#[cfg(target_arch = "wasm32")]
mod ui;

/// The entry point wasm-bindgen runs when the page loads the module: mount the app on `<body>`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(ui::App);
}
