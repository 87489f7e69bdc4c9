//! The wipe a revoked device does on the server's order.

use std::sync::atomic::Ordering;

use crate::{AuthView, Client, ClientError};

impl Client {
    /// The server said this device is revoked: forget the key, close the store and delete its
    /// files (overwritten first). Returns [`ClientError::Wiped`] (or the I/O error if a file
    /// could not be removed); the client refuses everything afterwards.
    pub(crate) async fn wipe(&self) -> ClientError {
        tracing::warn!("this device was revoked by an administrator; removing its data");
        self.wiped.store(true, Ordering::SeqCst);
        self.set_keys(None);
        self.set_auth_view(AuthView {
            owner: None,
            signed_in: false,
        });
        if let Ok(mut cache) = self.write.try_lock() {
            cache.clear();
        }
        self.store.close().await;
        match crate::platform::destroy_store(&self.store).await {
            Ok(()) => ClientError::Wiped,
            Err(e) => e,
        }
    }

    /// The error to return for a failed server call: a revoked device wipes itself first.
    pub(super) async fn wipe_if_revoked(&self, e: ClientError) -> ClientError {
        if e.is_revoked() { self.wipe().await } else { e }
    }
}
