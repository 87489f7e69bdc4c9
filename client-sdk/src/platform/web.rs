//! A browser (wasm32): the store is an IndexedDB database named by the "data folder" path the
//! app gives [`crate::Client::builder`], and Argon2 runs where it is called.
//!
//! Not done yet (issue 11): one writer across tabs (the Web Locks API; until then a second
//! tab is not refused, and two tabs writing at once could lose an outbox change: each store
//! handle serialises only its own transactions), Argon2 in a short-lived dedicated worker
//! (docs/ARCHITECTURE.md, "Browser store: the choice"), and a withdrawal's export (there is
//! no folder to write to).

use std::path::{Path, PathBuf};

use crate::ClientError;
use crate::store::{DeviceBackend, LocalStore};

/// Stands for the lock one writer will hold across tabs (not taken yet).
#[derive(Debug)]
pub(crate) struct WriterLock;

/// Nothing is locked yet: a second tab is not refused (see the module's note).
pub(crate) fn lock_data_dir(_dir: &Path) -> Result<WriterLock, ClientError> {
    Ok(WriterLock)
}

/// Open (or create) the IndexedDB store named `dir`.
pub(crate) async fn open_store(dir: &Path) -> Result<LocalStore<DeviceBackend>, ClientError> {
    LocalStore::open_browser(&dir.to_string_lossy()).await
}

/// Run `work` where it is called: the page has one thread (a worker is to take Argon2).
#[allow(clippy::unused_async)] // The same signature as natively, where it awaits a thread.
pub(crate) async fn off_thread<T, F>(work: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Ok(work())
}

/// Delete the closed store's IndexedDB database.
pub(crate) async fn destroy_store(store: &LocalStore<DeviceBackend>) -> Result<(), ClientError> {
    store.destroy().await
}

/// A browser has no folder for a withdrawal's export: withdrawing is refused before anything
/// changes.
pub(crate) fn write_private_file(
    _dir: &Path,
    name: &str,
    _bytes: &[u8],
) -> Result<PathBuf, ClientError> {
    Err(ClientError::Config(format!(
        "withdrawing a held change is not available in the browser yet: its export ({name}) \
         has nowhere to be kept. Nothing was changed"
    )))
}
