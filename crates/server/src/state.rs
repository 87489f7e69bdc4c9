//! Server state: the store and the limits, passed to every handler. No globals, so several
//! servers with different settings can run in one test process.

use std::sync::Arc;

use crate::SharedStore;
use crate::config::Config;

/// Limits the server enforces on what devices send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest decompressed request body, in bytes.
    pub max_request_bytes: usize,
    /// Largest total of change bytes for one document in one push.
    pub max_doc_push_bytes: usize,
}

/// Everything a handler needs.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub limits: Limits,
}

impl AppState {
    /// Open the store `config` names (running its migrations) and build the state.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let store = fieldnotes_store::open(&config.database_url)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "could not open the database at {}: {e}",
                    fieldnotes_store::redact_url(&config.database_url)
                )
            })?;
        Ok(Self::new(Arc::from(store), config.limits()))
    }

    pub fn new(store: SharedStore, limits: Limits) -> Self {
        Self { store, limits }
    }
}
