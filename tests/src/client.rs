//! Real devices for tests: the client SDK's store in a temporary folder, talking to a test
//! server. The password key derivation is the SDK's cheap test setting, and a failed round is
//! reported at once (tests that want retries set them).

use std::path::Path;

use fieldnotes_client::{Client, PasswordKdf, RetryPolicy};

/// A device keeping its store in `dir`, pointed at `url`, not signed in.
pub async fn open(dir: &Path, url: &str) -> anyhow::Result<Client> {
    Ok(Client::builder(dir)
        .server_url(url)
        .retry(RetryPolicy::none())
        .password_kdf(PasswordKdf::insecure_fast_for_tests())
        .open()
        .await?)
}

/// A device for `user` (password [`crate::PASSWORD`]) keeping its store in `dir`, signed in
/// online.
pub async fn signed_in(dir: &Path, url: &str, user: &str) -> anyhow::Result<Client> {
    let client = open(dir, url).await?;
    client
        .sign_in(user, crate::PASSWORD, &format!("{user}'s test device"))
        .await?;
    Ok(client)
}

/// A real device in a temporary folder of its own, signed in: derefs to its [`Client`]. The
/// folder goes when the device is dropped (after the client).
#[derive(Debug)]
pub struct Device {
    client: Client,
    dir: tempfile::TempDir,
}

impl Device {
    /// A device for `user` in a new temporary folder, signed in online at `url`.
    pub async fn sign_in(url: &str, user: &str) -> anyhow::Result<Device> {
        let dir = tempfile::tempdir()?;
        let client = signed_in(dir.path(), url, user).await?;
        Ok(Device { client, dir })
    }

    /// The folder the device keeps its store in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl std::ops::Deref for Device {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}
