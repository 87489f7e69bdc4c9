//! Serving the field app: the folder `cargo xtask app` writes (`--app-dir`), at `/`, under the
//! API routes. A path no route takes is looked up in the folder; a path that is neither answers
//! the API's JSON 404, so the API answers exactly as without the app.
//!
//! Content types come from the file names (`.wasm` is `application/wasm`, `.webmanifest`
//! `application/manifest+json`, `.js` `text/javascript`). Every file is sent with
//! `Cache-Control: no-cache`: the browser keeps it but asks again each time (a 304 when
//! unchanged), so a new build is picked up at once; the file names carry no content hash, and
//! the service worker keeps the copies the app opens offline with. The page may run only its
//! own scripts and WebAssembly (`Content-Security-Policy`).

use std::path::Path;

use axum::Router;
use axum::handler::HandlerWithoutStateExt as _;
use axum::http::{HeaderValue, Response, StatusCode, header};
use tower_http::services::ServeDir;
use tower_http::set_header::{MakeHeaderValue, SetResponseHeader};

use crate::error::ApiError;
use crate::state::AppState;

/// `Cache-Control` of every file of the app.
pub const APP_CACHE_CONTROL: &str = "no-cache";

/// What the app's page may load: its own files, and WebAssembly compiled from them.
pub const APP_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
    script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// `router`, with the app's files answering what its routes do not when `app_dir` is set.
pub fn with_app_files(router: Router<AppState>, app_dir: Option<&Path>) -> Router<AppState> {
    let Some(dir) = app_dir else {
        return router;
    };
    let files = ServeDir::new(dir)
        .append_index_html_on_directories(true)
        .call_fallback_on_method_not_allowed(true)
        .fallback(not_found.into_service());
    let files =
        SetResponseHeader::overriding(files, header::CACHE_CONTROL, FileHeader(APP_CACHE_CONTROL));
    router.fallback_service(SetResponseHeader::overriding(
        files,
        header::CONTENT_SECURITY_POLICY,
        FileHeader(APP_CONTENT_SECURITY_POLICY),
    ))
}

/// A header value only the folder's files get (a file, part of one, or "not modified"): the
/// API's 404 for a path that is neither keeps the API's headers.
#[derive(Debug, Clone, Copy)]
struct FileHeader(&'static str);

impl<B> MakeHeaderValue<Response<B>> for FileHeader {
    fn make_header_value(&mut self, response: &Response<B>) -> Option<HeaderValue> {
        let status = response.status();
        (status.is_success() || status == StatusCode::NOT_MODIFIED)
            .then(|| HeaderValue::from_static(self.0))
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound {
        what: "this path (neither an endpoint, see the README, nor a file of the app)".into(),
    }
}

/// Say at start-up whether the app is served, and how to serve it when it is not.
pub fn announce(app_dir: Option<&Path>) {
    match app_dir {
        Some(dir) => tracing::info!(app_dir = %dir.display(), "serving the field app at /"),
        None => tracing::info!(
            "the field app is not served: build it with `cargo xtask app` and start the server \
             with --app-dir target/app (or FIELDNOTES_APP_DIR), or run `cargo xtask serve`"
        ),
    }
}
