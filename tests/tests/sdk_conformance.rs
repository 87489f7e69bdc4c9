//! The sync conformance suite (`fieldnotes_client::conformance`) on native devices: the SQLite
//! store, against the real server on 127.0.0.1 (in-process, on a fresh SQLite database, one a
//! test). The same guarantees run in headless Chromium over the browser store through `cargo
//! xtask sdk-browser-test`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use fieldnotes_client::ClientError;
use fieldnotes_client::conformance::Devices;
use fieldnotes_protocol::Role;
use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer};

/// The admin the server holds (written straight to its database, as `create-admin` does).
const ADMIN: &str = "admin";

/// Native devices, each store a folder in one temporary folder, and a server of their own.
struct Native {
    dir: tempfile::TempDir,
    server: TestServer,
    _db: TestDb,
}

impl Native {
    async fn new() -> anyhow::Result<Native> {
        let (db, server) = TestServer::fresh(Backend::Sqlite).await?;
        server.org().person(ADMIN, Role::Admin, None).await?;
        Ok(Native {
            dir: tempfile::tempdir()?,
            server,
            _db: db,
        })
    }
}

impl Devices for Native {
    fn server_url(&self) -> String {
        self.server.url()
    }

    fn admin(&self) -> (String, String) {
        (ADMIN.to_owned(), PASSWORD.to_owned())
    }

    fn location(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Every file in the store's data folder, as someone copying the folder would get them.
    async fn bytes_at_rest(&self, location: &Path) -> Result<Vec<u8>, ClientError> {
        let io = |source| ClientError::Io {
            path: location.to_path_buf(),
            source,
        };
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(location).map_err(io)? {
            let path = entry.map_err(io)?.path();
            bytes.extend(std::fs::read(&path).map_err(io)?);
        }
        Ok(bytes)
    }
}

/// One `#[tokio::test]` a guarantee, each with a server of its own.
macro_rules! native_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let devices = Native::new().await.unwrap();
            fieldnotes_client::conformance::$name(&devices).await.unwrap();
        }
    )*};
}

fieldnotes_client::sync_guarantees!(native_tests);
