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
        let db = self.store.path().to_path_buf();
        let mut failure = None;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            let path = std::path::PathBuf::from(name);
            if let Err(source) = destroy_file(&path) {
                tracing::error!(path = %path.display(), error = %source, "could not remove");
                failure.get_or_insert(ClientError::Io { path, source });
            }
        }
        failure.unwrap_or(ClientError::Wiped)
    }

    /// The error to return for a failed server call: a revoked device wipes itself first.
    pub(super) async fn wipe_if_revoked(&self, e: ClientError) -> ClientError {
        if e.is_revoked() { self.wipe().await } else { e }
    }
}

/// Overwrite a file with zeros, then delete it. A missing file is fine.
fn destroy_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write as _;
    const CHUNK: usize = 64 * 1024;
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(mut file) => {
            let zeros = vec![0u8; CHUNK];
            let mut left = file.metadata()?.len();
            while left > 0 {
                let n = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
                file.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            file.sync_all()?;
            drop(file);
            std::fs::remove_file(path)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
