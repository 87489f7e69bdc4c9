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
