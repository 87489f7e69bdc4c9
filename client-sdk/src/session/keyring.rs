//! Which key opens the store, and the wraps that keep the data key: under the password (for
//! offline unlock) and under the server's per-device key (so a changed password still opens
//! the store). See [`crate::crypto`] for the design.

use std::sync::Arc;

use fieldnotes_model::{Document, scope};
use fieldnotes_protocol::auth::UserInfo;
use zeroize::Zeroizing;

use super::crypto_err;
use crate::crypto::{CryptoError, DataKey, Keys, PasswordWrap, ServerKey};
use crate::store::{DeviceBackend, StoreTx};
use crate::{Client, ClientError, META_DEK_PASSWORD, META_DEK_SERVER, META_SESSION};

/// How an online sign-in opens the store, decided from what the store holds and what the
/// sign-in brought. `K` is the data key the server's wrap opened, `W` the stored password
/// wrap and `P` the password given.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum KeyPlan<K, W, P> {
    /// A store never unlocked: make a new data key.
    Generate,
    /// The server's key for this device opened the store.
    Server(K),
    /// Try the password on the password wrap.
    Password(W, P),
    /// Nothing can open the store: refuse, and change nothing.
    Refuse(KeyRefusal),
}

/// Why no key can open the store at an online sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyRefusal {
    /// Sealed records but neither wrap: a new key would make them unreadable for good.
    SealedWithoutKey,
    /// Only a password wrap, and this sign-in has no password (an identity-provider token).
    NoPasswordToTry,
    /// The server's key does not open the store and there is no password wrap.
    NoPasswordKey,
    /// The password given does not open the password wrap either.
    PasswordDoesNotOpen,
}

impl From<KeyRefusal> for ClientError {
    fn from(r: KeyRefusal) -> Self {
        let detail = match r {
            KeyRefusal::SealedWithoutKey => {
                return ClientError::Corrupt(
                    "this store holds sealed records but no record of their key; it was not \
                     changed"
                        .into(),
                );
            }
            KeyRefusal::NoPasswordToTry => {
                "this sign-in has no password to try (sign in with your password instead)"
            }
            KeyRefusal::NoPasswordKey => "no password key is stored here",
            KeyRefusal::PasswordDoesNotOpen => {
                "the password you gave does not open them either (they were last locked under \
                 an older password)"
            }
        };
        ClientError::KeyMismatch {
            detail: detail.into(),
        }
    }
}

/// The keyring decision (pure). `had_server_wrap` says whether a server wrap is stored at
/// all, `opened_by_server` what it opened to under the server's current key, `sealed_rows`
/// whether the store holds sealed records.
pub(super) fn key_plan<K, W, P>(
    had_server_wrap: bool,
    opened_by_server: Option<K>,
    password_wrap: Option<W>,
    password: Option<P>,
    sealed_rows: bool,
) -> KeyPlan<K, W, P> {
    if !had_server_wrap && password_wrap.is_none() {
        // A store never unlocked has no sealed rows; if it has, its key records are missing.
        return if sealed_rows {
            KeyPlan::Refuse(KeyRefusal::SealedWithoutKey)
        } else {
            KeyPlan::Generate
        };
    }
    if let Some(key) = opened_by_server {
        return KeyPlan::Server(key);
    }
    match (password_wrap, password) {
        (Some(wrap), Some(password)) => KeyPlan::Password(wrap, password),
        (Some(_), None) => KeyPlan::Refuse(KeyRefusal::NoPasswordToTry),
        (None, _) => KeyPlan::Refuse(KeyRefusal::NoPasswordKey),
    }
}

/// What an online sign-in stores: the data key's wraps, re-made under the server's current
/// key and (with a password) the current password.
pub(super) struct Rewrapped {
    pub keys: Keys,
    pub server_wrap: String,
    pub password_wrap: Option<PasswordWrap>,
}

impl Client {
    pub(super) async fn password_wrap(&self) -> Result<Option<PasswordWrap>, ClientError> {
        match self.store.meta(META_DEK_PASSWORD).await? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| ClientError::Corrupt(format!("stored password key: {e}"))),
        }
    }

    /// Argon2 off the async threads (see `platform`); a wrong password is
    /// [`ClientError::WrongPassword`].
    pub(super) async fn unwrap_password(
        &self,
        wrap: PasswordWrap,
        password: &str,
        user_id: &str,
    ) -> Result<DataKey, ClientError> {
        let password = Zeroizing::new(password.to_owned());
        let binding = self.wrap_binding(user_id);
        let result = crate::platform::off_thread(move || wrap.unwrap(&password, &binding))
            .await
            .map_err(|e| ClientError::Corrupt(format!("key derivation stopped: {e}")))?;
        match result {
            Ok(dek) => Ok(dek),
            Err(CryptoError::Open) => Err(ClientError::WrongPassword),
            Err(e) => Err(ClientError::Corrupt(format!("stored password key: {e}"))),
        }
    }

    /// The data key for an online sign-in, or why none can be had (a [`KeyRefusal`] is
    /// returned as `Ok(Err(..))`: the caller ends the unused server session before saying so).
    pub(super) async fn online_data_key(
        &self,
        server_key: &ServerKey,
        user_id: &str,
        password: Option<&str>,
    ) -> Result<Result<DataKey, KeyRefusal>, ClientError> {
        let binding = self.wrap_binding(user_id);
        let server_wrap = self.store.meta(META_DEK_SERVER).await?;
        let password_wrap = self.password_wrap().await?;
        let sealed_rows = server_wrap.is_none()
            && password_wrap.is_none()
            && self.store.has_sealed_rows().await?;
        let opened = server_wrap
            .as_deref()
            .and_then(|w| DataKey::unwrap_with_server_key(w, server_key, &binding).ok());
        let plan = key_plan(
            server_wrap.is_some(),
            opened,
            password_wrap,
            password,
            sealed_rows,
        );
        match plan {
            KeyPlan::Generate => Ok(Ok(
                DataKey::generate().map_err(crypto_err("a new store key"))?
            )),
            KeyPlan::Server(dek) => Ok(Ok(dek)),
            KeyPlan::Password(wrap, password) => {
                match self.unwrap_password(wrap, password, user_id).await {
                    Ok(dek) => Ok(Ok(dek)),
                    Err(ClientError::WrongPassword) => Ok(Err(KeyRefusal::PasswordDoesNotOpen)),
                    Err(e) => Err(e),
                }
            }
            KeyPlan::Refuse(refusal) => Ok(Err(refusal)),
        }
    }

    /// Re-wrap the data key: under the server's current key, and (with a password) under the
    /// current password with a fresh salt (Argon2, off the async threads).
    pub(super) async fn rewrap(
        &self,
        dek: DataKey,
        server_key: &ServerKey,
        user_id: &str,
        password: Option<&str>,
    ) -> Result<Rewrapped, ClientError> {
        let binding = self.wrap_binding(user_id);
        let server_wrap = dek
            .wrap_with_server_key(server_key, &binding)
            .map_err(crypto_err("the store key"))?;
        let (dek, password_wrap) = match password {
            Some(pw) => {
                let pw = Zeroizing::new(pw.to_owned());
                let kdf = self.kdf;
                let (dek, wrap) = crate::platform::off_thread(move || {
                    let wrap = dek.wrap_with_password(&pw, kdf, &binding);
                    (dek, wrap)
                })
                .await
                .map_err(|e| ClientError::Corrupt(format!("key derivation stopped: {e}")))?;
                (dek, Some(wrap.map_err(crypto_err("the password key"))?))
            }
            None => (dek, None),
        };
        Ok(Rewrapped {
            keys: dek.keys(),
            server_wrap,
            password_wrap,
        })
    }

    /// Write an online sign-in's wraps, owner, session state and tokens, and seal any plaintext
    /// rows, in one transaction. Returns how many rows were sealed.
    pub(super) async fn store_online(
        &self,
        wraps: &Rewrapped,
        user: &UserInfo,
        tokens_json: &[u8],
    ) -> Result<u64, ClientError> {
        let user_json = serde_json::to_string(user)
            .map_err(|e| ClientError::Corrupt(format!("user info: {e}")))?;
        let mut tx = self.store.begin().await?;
        tx.set_meta(META_DEK_SERVER, &wraps.server_wrap).await?;
        if let Some(wrap) = &wraps.password_wrap {
            let json = serde_json::to_string(wrap).map_err(|e| {
                let source = CryptoError::Format(e.to_string());
                ClientError::Corrupt(format!("password key: {source}"))
            })?;
            tx.set_meta(META_DEK_PASSWORD, &json).await?;
        }
        tx.set_meta(crate::META_USER, &user_json).await?;
        tx.set_meta(META_SESSION, "signed_in").await?;
        tx.set_sealed_meta(&wraps.keys, crate::META_TOKENS, tokens_json)
            .await?;
        let sealed = seal_plaintext(&mut tx, &wraps.keys).await?;
        self.store.commit(tx).await?;
        self.after_sealing(sealed).await;
        Ok(sealed)
    }

    /// Mark the session signed in, seal any plaintext rows, and hold the keys.
    pub(super) async fn activate(
        &self,
        dek: DataKey,
        owner: &UserInfo,
    ) -> Result<u64, ClientError> {
        let keys = dek.keys();
        drop(dek);
        let mut tx = self.store.begin().await?;
        tx.set_meta(META_SESSION, "signed_in").await?;
        let sealed = seal_plaintext(&mut tx, &keys).await?;
        self.store.commit(tx).await?;
        self.after_sealing(sealed).await;
        self.set_signed_in(Arc::new(keys), owner);
        Ok(sealed)
    }

    /// After plaintext rows were sealed, rewrite the file so no copy of them is left.
    async fn after_sealing(&self, sealed: u64) {
        if sealed > 0 {
            tracing::info!(rows = sealed, "sealed the rows of an unencrypted store");
            if let Err(e) = self.store.compact().await {
                // Sealing is done and committed; a failed vacuum only leaves freed pages (which
                // secure_delete has zeroed) to be reclaimed later.
                tracing::warn!(error = %e, "could not compact the store after sealing it");
            }
        }
    }
}

/// Seal every plaintext row left by the first version of the store, in the caller's
/// transaction. Returns how many rows were sealed.
async fn seal_plaintext(tx: &mut StoreTx<DeviceBackend>, keys: &Keys) -> Result<u64, ClientError> {
    let docs = tx.plaintext_docs().await?;
    let mut n = 0u64;
    for doc in &docs {
        let scope_key = match &doc.row.child_id {
            Some(child) => Some(scope::child(child)),
            None => Document::load(&doc.row.doc_id, &doc.snapshot)
                .and_then(|d| d.read())
                .map(|r| r.scope_key())
                .map_err(|e| {
                    tracing::warn!(doc_id = %doc.row.doc_id, error = %e,
                        "could not read an old document's scope; it is kept, sealed, untagged");
                })
                .ok(),
        };
        tx.seal_plain_doc(keys, doc, scope_key.as_deref()).await?;
        n += 1;
    }
    n += tx.seal_plain_outbox(keys).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Plan = KeyPlan<&'static str, &'static str, &'static str>;

    fn plan(
        server_wrap: bool,
        opened: Option<&'static str>,
        password_wrap: Option<&'static str>,
        password: Option<&'static str>,
        sealed_rows: bool,
    ) -> Plan {
        key_plan(server_wrap, opened, password_wrap, password, sealed_rows)
    }

    #[test]
    fn a_new_store_makes_a_key_unless_it_holds_sealed_rows() {
        assert_eq!(plan(false, None, None, Some("pw"), false), Plan::Generate);
        assert_eq!(plan(false, None, None, None, false), Plan::Generate);
        assert_eq!(
            plan(false, None, None, Some("pw"), true),
            Plan::Refuse(KeyRefusal::SealedWithoutKey)
        );
    }

    #[test]
    fn the_servers_key_comes_first() {
        assert_eq!(
            plan(true, Some("dek"), Some("wrap"), Some("pw"), true),
            Plan::Server("dek")
        );
        assert_eq!(
            plan(true, Some("dek"), None, None, true),
            Plan::Server("dek")
        );
    }

    #[test]
    fn the_password_is_tried_when_the_servers_key_does_not_open() {
        assert_eq!(
            plan(true, None, Some("wrap"), Some("pw"), true),
            Plan::Password("wrap", "pw")
        );
        // A password wrap alone (no server wrap stored) is tried too.
        assert_eq!(
            plan(false, None, Some("wrap"), Some("pw"), true),
            Plan::Password("wrap", "pw")
        );
    }

    #[test]
    fn nothing_to_open_with_is_a_refusal() {
        assert_eq!(
            plan(true, None, Some("wrap"), None, true),
            Plan::Refuse(KeyRefusal::NoPasswordToTry)
        );
        assert_eq!(
            plan(true, None, None, Some("pw"), true),
            Plan::Refuse(KeyRefusal::NoPasswordKey)
        );
        assert!(matches!(
            ClientError::from(KeyRefusal::SealedWithoutKey),
            ClientError::Corrupt(_)
        ));
        assert!(matches!(
            ClientError::from(KeyRefusal::PasswordDoesNotOpen),
            ClientError::KeyMismatch { .. }
        ));
    }
}
