//! The Fieldnotes sync server.
//!
//! An embeddable axum service: [`app`] builds the router over an [`AppState`], [`serve`] runs it
//! on a listener the caller has already bound (tests bind `127.0.0.1:0`, so no sleeps are
//! needed), and [`cli::main`] is the `fieldnotes-server` binary.
//!
//! Request flow for a sync round: the body is gzip-decompressed and size-limited by tower
//! layers, parsed by [`routes::sync`], each pushed document is merged and validated by
//! [`merge::ModelMerger`] (the pure model crate) inside the store's write transaction, and the
//! response is built only after that transaction has committed.

pub mod auth;
pub mod cli;
pub(crate) mod clock;
pub mod config;
pub(crate) mod detect;
pub mod error;
pub mod merge;
pub mod routes;
pub mod scope;
pub mod state;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;

/// Build the HTTP router over `state`.
///
/// Every answer carries `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store`
/// unless a handler set its own: answers hold tokens, the device's `store_key`, or records
/// about children, none of which a browser or proxy may keep. Sign-in is throttled per client
/// address, which comes from the socket (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`, as [`serve_state`] does). With an
/// app folder, its files answer every path no route takes ([`web`]).
pub fn app(state: AppState) -> Router {
    let body_limit = state.limits.max_request_bytes;
    let cors = cors(&state.cors_origins);
    web::with_app_files(routes::router(), state.app_dir.as_deref())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::health::watch_storage,
        ))
        .with_state(state)
        // The limit applies to the decompressed body, so a small gzip bomb cannot expand past it.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestDecompressionLayer::new().gzip(true))
        .layer(CompressionLayer::new().gzip(true))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
}

/// Cross-origin calls from the pages of `origins` (`--cors-origin`), with the headers the SDK
/// sends and reads; with no origins, no cross-origin call is allowed (the layer adds nothing
/// and preflights are refused by the routes). Credentials are bearer tokens in
/// `Authorization`, never cookies, so none are allowed.
fn cors(origins: &[HeaderValue]) -> tower::util::Either<CorsLayer, tower::layer::util::Identity> {
    tower::util::option_layer((!origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
            ])
            .expose_headers([header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(600))
    }))
}

/// Open the store named by `config`, then serve on `listener` until `shutdown` resolves.
/// In-flight requests are allowed to finish; nothing is acknowledged that was not committed.
pub async fn serve(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::open(config).await?;
    serve_state(state, listener, shutdown).await
}

/// Serve an already opened [`AppState`] (tests that share one store between servers use this).
pub async fn serve_state(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "fieldnotes-server listening");
    // Responses go out as soon as they are written: without TCP_NODELAY, the later pieces of
    // a response on a kept-alive connection wait for the device's delayed ACK (about 40 ms
    // on Linux), which made a cold start's one round trip about 55 ms slower once the SDK
    // began reusing its connection.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Shared handle to the store, as kept in [`AppState`].
pub type SharedStore = Arc<dyn fieldnotes_store::Store>;
