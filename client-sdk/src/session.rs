//! Signing in and out, unlocking the store, the tokens, and the wipe a revoked device does.
//!
//! States, as stored in `meta` (plain: they say nothing about children):
//!
//! * no `user`: nobody has signed in here yet; the first online sign-in makes the data key and
//!   claims the store for that person. No one else can then sign in with this data folder.
//! * `session = signed_in`: content operations work once this process holds the key (after
//!   [`Client::sign_in`], [`Client::sign_in_external`] or [`Client::unlock`]).
//! * `session = signed_out`: tokens deleted, key forgotten; all work stays, sealed, and comes
//!   back at the next sign-in (offline too, with the password).
//!
//! Refresh tokens rotate: each is good for one use. Every refresh runs under the client's
//! session lock and stores the new pair in one transaction before anything else happens. A
//! refresh whose answer is lost is sent again with the same token (the stored one is replaced
//! only by an answer): the server gives its own device the same successor again within a short
//! grace window, so a dropped answer does not end the session.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use fieldnotes_model::{Document, scope};
use fieldnotes_protocol::auth::{
    DeviceInfo, EXTERNAL_LOGIN_PATH, ExternalLogin, LOGIN_PATH, LOGOUT_PATH, ME_PATH, Me,
    PasswordLogin, REFRESH_PATH, RefreshRequest, Session, Tokens, UserInfo,
};
use serde::{Deserialize, Serialize};
use sqlx::{Sqlite, Transaction};
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, DataKey, Keys, PasswordWrap, ServerKey};
use crate::local::{self, LocalError};
use crate::transport::Transport;
use crate::{
    AuthView, Client, ClientError, META_DEK_PASSWORD, META_DEK_SERVER, META_SESSION, META_TOKENS,
    META_USER, RetryPolicy, now_ms,
};

/// How long before its expiry an access token is refreshed.
const EXPIRY_MARGIN_MS: i64 = 30_000;

/// The outcome of a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// True when the server checked the credentials; false for an offline sign-in (the store
    /// was unlocked with the password alone; sync will need an online sign-in if this device
    /// holds no refresh token).
    pub online: bool,
    /// Who is signed in.
    pub user: UserInfo,
    /// Rows from an earlier, unencrypted version of the store that this sign-in sealed.
    pub sealed_rows: u64,
}

/// The tokens as stored (sealed) in `meta.tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Device time the access token expires, from the server's `expires_in`.
    pub access_expires_at_ms: i64,
}

impl StoredTokens {
    fn from_wire(tokens: Tokens, now: i64) -> Self {
        let ttl = i64::try_from(tokens.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        StoredTokens {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            access_expires_at_ms: now.saturating_add(ttl),
        }
    }

    /// Whether the access token is expired, or about to be.
    fn expired(&self, now: i64) -> bool {
        self.access_expires_at_ms <= now.saturating_add(EXPIRY_MARGIN_MS)
    }
}

/// Usernames compare without regard to case or surrounding space (the server's account is
/// what decides; this only keeps a second person out of the store before asking it).
fn same_username(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Whether the server refused for too many tries (it says when to try again).
fn is_throttled(e: &ClientError) -> bool {
    matches!(e, ClientError::Server { status: 429, .. })
}

/// What the data key's wraps are bound to: a device and its owner.
pub(crate) fn wrap_binding(device_id: &str, user_id: &str) -> String {
    format!("device={device_id} user={user_id}")
}

/// Whether a server error is the order to wipe.
fn is_revoked(e: &ClientError) -> bool {
    matches!(e, ClientError::Server { status: 403, code, .. } if code == "device_revoked")
}

fn crypto_err(what: &str) -> impl FnOnce(CryptoError) -> ClientError + '_ {
    move |e| ClientError::Corrupt(format!("{what}: {e}"))
}

impl Client {
    // ----- state ------------------------------------------------------------------------------

    pub(crate) fn check_wiped(&self) -> Result<(), ClientError> {
        if self.wiped.load(Ordering::SeqCst) {
            Err(ClientError::Wiped)
        } else {
            Ok(())
        }
    }

    pub(crate) fn auth_view(&self) -> AuthView {
        self.auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_auth_view(&self, view: AuthView) {
        *self
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = view;
    }

    fn set_keys(&self, keys: Option<Arc<Keys>>) {
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
    }

    /// The store's keys, or why content cannot be opened now.
    pub(crate) fn keys(&self) -> Result<Arc<Keys>, ClientError> {
        self.check_wiped()?;
        if let Some(keys) = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            return Ok(keys.clone());
        }
        if self.auth_view().signed_in {
            Err(ClientError::NotUnlocked)
        } else {
            Err(ClientError::SignedOut)
        }
    }

    /// Whether this process holds the store's key (content operations work).
    pub fn is_unlocked(&self) -> bool {
        !self.wiped.load(Ordering::SeqCst)
            && self
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_some()
    }

    /// The signed-in person (kept on the device; `None` when signed out). They may still need
    /// to [`unlock`](Client::unlock) in this process.
    pub fn user(&self) -> Option<UserInfo> {
        if self.wiped.load(Ordering::SeqCst) {
            return None;
        }
        let view = self.auth_view();
        if view.signed_in { view.owner } else { None }
    }

    fn device_info(&self, name: &str) -> DeviceInfo {
        DeviceInfo {
            device_id: self.device_id.clone(),
            actor_id: self.actor.to_hex_string(),
            name: name.to_owned(),
        }
    }

    /// What the data key's wraps are bound to: this device and its owner.
    fn wrap_binding(&self, user_id: &str) -> String {
        wrap_binding(&self.device_id, user_id)
    }

    pub(crate) fn transport(&self, retry: RetryPolicy) -> Result<Transport, ClientError> {
        let base = self.server_url.as_deref().ok_or_else(|| {
            ClientError::Config(
                "no server is set for this device; give one with --server (or \
                 ClientBuilder::server_url)"
                    .into(),
            )
        })?;
        Transport::new(base, retry)
    }

    // ----- signing in -------------------------------------------------------------------------

    /// Sign in with a username and password, and unlock the store.
    ///
    /// With a server set, the server checks the credentials, registers this device under
    /// `device_name`, and the store is unlocked with the server's key for this device (so a
    /// password changed on the server still opens it) and re-locked under the current password.
    /// If the server cannot be reached, the store is unlocked offline with the password —
    /// possible only for the person who has signed in here online before. A refused password
    /// never falls back to offline. A store belonging to someone else is refused.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        device_name: &str,
    ) -> Result<SignIn, ClientError> {
        self.check_wiped()?;
        let _session = self.session.lock().await;
        self.check_wiped()?;
        if let Some(owner) = self.auth_view().owner
            && !same_username(&owner.username, username)
        {
            return Err(ClientError::WrongUser {
                owner: owner.username,
                attempted: username.to_owned(),
            });
        }
        if self.server_url.is_none() {
            return self
                .sign_in_offline(username, password, "no server is set for this device")
                .await;
        }
        // An interactive sign-in should not wait long before working offline.
        let transport = self.transport(self.retry)?;
        let login = PasswordLogin {
            username: username.to_owned(),
            password: password.to_owned(),
            device: self.device_info(device_name),
        };
        let attempts = self.retry.max_attempts.min(2);
        match transport
            .post_json::<_, Session>(LOGIN_PATH, &login, None, attempts)
            .await
        {
            Ok(session) => {
                self.finish_online(&transport, session, Some(password))
                    .await
            }
            // Too many tries (429) is the server's answer, not an absence of one: say when to
            // try again rather than working offline.
            Err(e) if e.is_retryable() && !is_throttled(&e) => {
                tracing::info!(error = %e, "the server is unreachable; signing in offline");
                let why = match &e {
                    // The server answered: it is its storage that failed, not the connection.
                    ClientError::ServerStorage { .. } => format!(
                        "the server at {} answered but could not complete the sign-in ({e})",
                        transport.base()
                    ),
                    _ => format!(
                        "the server at {} could not be reached ({e})",
                        transport.base()
                    ),
                };
                self.sign_in_offline(username, password, &why).await
            }
            Err(e) => Err(self.sign_in_error(e).await),
        }
    }

    /// Sign in with a token from the organisation's identity provider (online only).
    ///
    /// There is no password, so the store is unlocked with the server's key for this device,
    /// and no password key is made: to unlock this device offline, or in a new process with
    /// [`Client::unlock`], sign in with a password at least once.
    pub async fn sign_in_external(
        &self,
        id_token: &str,
        device_name: &str,
    ) -> Result<SignIn, ClientError> {
        self.check_wiped()?;
        let _session = self.session.lock().await;
        self.check_wiped()?;
        let transport = self.transport(self.retry)?;
        let login = ExternalLogin {
            token: id_token.to_owned(),
            device: self.device_info(device_name),
        };
        let attempts = self.retry.max_attempts.min(2);
        match transport
            .post_json::<_, Session>(EXTERNAL_LOGIN_PATH, &login, None, attempts)
            .await
        {
            Ok(session) => self.finish_online(&transport, session, None).await,
            Err(e) if e.is_retryable() => Err(ClientError::OfflineSignInUnavailable {
                reason: format!(
                    "the server at {} could not be reached ({e}); signing in with your \
                     organisation's account needs the server (to work offline, sign in with \
                     your password)",
                    transport.base()
                ),
            }),
            Err(e) => Err(self.sign_in_error(e).await),
        }
    }

    /// Unlock the store with the password, without the network: for a process that starts
    /// after an earlier sign-in (the key is never kept on disk).
    pub async fn unlock(&self, password: &str) -> Result<(), ClientError> {
        self.check_wiped()?;
        let _session = self.session.lock().await;
        self.check_wiped()?;
        let view = self.auth_view();
        let Some(owner) = view.owner.filter(|_| view.signed_in) else {
            return Err(ClientError::SignedOut);
        };
        let Some(wrap) = self.password_wrap().await? else {
            return Err(ClientError::OfflineSignInUnavailable {
                reason: "this device was signed in with your organisation's account, which \
                         leaves no password key on it; sign in again"
                    .into(),
            });
        };
        let dek = self.unwrap_password(wrap, password, &owner.user_id).await?;
        self.activate(dek, &owner).await?;
        Ok(())
    }

    /// Unlock with the password alone, for the person who signed in here online before.
    async fn sign_in_offline(
        &self,
        username: &str,
        password: &str,
        why: &str,
    ) -> Result<SignIn, ClientError> {
        let Some(owner) = self.auth_view().owner else {
            return Err(ClientError::OfflineSignInUnavailable {
                reason: format!(
                    "{why}, and no one has signed in on this device while connected yet; the \
                     first sign-in needs the server"
                ),
            });
        };
        if !same_username(&owner.username, username) {
            return Err(ClientError::WrongUser {
                owner: owner.username,
                attempted: username.to_owned(),
            });
        }
        let Some(wrap) = self.password_wrap().await? else {
            return Err(ClientError::OfflineSignInUnavailable {
                reason: format!(
                    "{why}, and the last sign-in here was with your organisation's account, \
                     which cannot unlock the device offline; connect and sign in"
                ),
            });
        };
        let dek = self.unwrap_password(wrap, password, &owner.user_id).await?;
        let sealed_rows = self.activate(dek, &owner).await?;
        Ok(SignIn {
            online: false,
            user: owner,
            sealed_rows,
        })
    }

    async fn password_wrap(&self) -> Result<Option<PasswordWrap>, ClientError> {
        match self.store.meta(META_DEK_PASSWORD).await? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| ClientError::Corrupt(format!("stored password key: {e}"))),
        }
    }

    /// Argon2 on a blocking thread; a wrong password is [`ClientError::WrongPassword`].
    async fn unwrap_password(
        &self,
        wrap: PasswordWrap,
        password: &str,
        user_id: &str,
    ) -> Result<DataKey, ClientError> {
        let password = Zeroizing::new(password.to_owned());
        let binding = self.wrap_binding(user_id);
        let result = tokio::task::spawn_blocking(move || wrap.unwrap(&password, &binding))
            .await
            .map_err(|e| ClientError::Corrupt(format!("key derivation stopped: {e}")))?;
        match result {
            Ok(dek) => Ok(dek),
            Err(CryptoError::Open) => Err(ClientError::WrongPassword),
            Err(e) => Err(ClientError::Corrupt(format!("stored password key: {e}"))),
        }
    }

    /// Mark the session signed in, seal any plaintext rows, and hold the keys.
    async fn activate(&self, dek: DataKey, owner: &UserInfo) -> Result<u64, ClientError> {
        let keys = dek.keys();
        drop(dek);
        let mut tx = self.store.begin().await?;
        local::set_meta(&mut tx, META_SESSION, "signed_in")
            .await
            .map_err(|e| self.store.err(e))?;
        let sealed = seal_plaintext(&mut tx, &keys)
            .await
            .map_err(|e| self.store.err(e))?;
        self.store.commit(tx).await?;
        self.after_sealing(sealed).await;
        self.set_keys(Some(Arc::new(keys)));
        self.set_auth_view(AuthView {
            owner: Some(owner.clone()),
            signed_in: true,
        });
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

    /// Store what an online sign-in returned and unlock.
    async fn finish_online(
        &self,
        transport: &Transport,
        session: Session,
        password: Option<&str>,
    ) -> Result<SignIn, ClientError> {
        let now = now_ms();
        let user = session.user.clone();
        let tokens = StoredTokens::from_wire(session.tokens, now);
        if let Some(owner) = self.auth_view().owner
            && owner.user_id != user.user_id
        {
            self.forget_server_session(transport, &tokens.access_token)
                .await;
            return Err(ClientError::WrongUser {
                owner: owner.username,
                attempted: user.username,
            });
        }
        let server_key =
            ServerKey::from_base64(&session.store_key).map_err(|e| ClientError::Server {
                status: 200,
                code: "unreadable_response".into(),
                message: format!("the sign-in answer's store key is unusable: {e}"),
            })?;
        let binding = self.wrap_binding(&user.user_id);
        let server_wrap = self.store.meta(META_DEK_SERVER).await?;
        let password_wrap = self.password_wrap().await?;
        let dek = match (server_wrap, password_wrap) {
            (None, None) => {
                // A store never unlocked has no sealed rows; if it has, its key records are
                // missing, and a new key would make that content unreadable for good.
                if self.store.has_sealed_rows().await? {
                    self.forget_server_session(transport, &tokens.access_token)
                        .await;
                    return Err(ClientError::Corrupt(
                        "this store holds sealed records but no record of their key; it was \
                         not changed"
                            .into(),
                    ));
                }
                DataKey::generate().map_err(crypto_err("a new store key"))?
            }
            (server_wrap, password_wrap) => {
                let via_server = server_wrap
                    .and_then(|w| DataKey::unwrap_with_server_key(&w, &server_key, &binding).ok());
                match (via_server, password, password_wrap) {
                    (Some(dek), _, _) => dek,
                    (None, Some(pw), Some(wrap)) => {
                        match self.unwrap_password(wrap, pw, &user.user_id).await {
                            Ok(dek) => dek,
                            Err(ClientError::WrongPassword) => {
                                self.forget_server_session(transport, &tokens.access_token)
                                    .await;
                                return Err(ClientError::KeyMismatch {
                                    detail: "the password you gave does not open them either \
                                             (they were last locked under an older password)"
                                        .into(),
                                });
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    (None, None, Some(_)) => {
                        self.forget_server_session(transport, &tokens.access_token)
                            .await;
                        return Err(ClientError::KeyMismatch {
                            detail: "this sign-in has no password to try (sign in with your \
                                     password instead)"
                                .into(),
                        });
                    }
                    (None, _, None) => {
                        self.forget_server_session(transport, &tokens.access_token)
                            .await;
                        return Err(ClientError::KeyMismatch {
                            detail: "no password key is stored here".into(),
                        });
                    }
                }
            }
        };
        // Re-wrap: under the server's current key, and (with a password) under the current
        // password with a fresh salt.
        let server_wrap = dek
            .wrap_with_server_key(&server_key, &binding)
            .map_err(crypto_err("the store key"))?;
        let (dek, password_wrap) = match password {
            Some(pw) => {
                let pw = Zeroizing::new(pw.to_owned());
                let kdf = self.kdf;
                let binding = binding.clone();
                let (dek, wrap) = tokio::task::spawn_blocking(move || {
                    let wrap = dek.wrap_with_password(&pw, kdf, &binding);
                    (dek, wrap)
                })
                .await
                .map_err(|e| ClientError::Corrupt(format!("key derivation stopped: {e}")))?;
                (dek, Some(wrap.map_err(crypto_err("the password key"))?))
            }
            None => (dek, None),
        };
        let keys = dek.keys();
        drop(dek);
        let user_json = serde_json::to_string(&user)
            .map_err(|e| ClientError::Corrupt(format!("user info: {e}")))?;
        let tokens_json = serde_json::to_vec(&tokens)
            .map_err(|e| ClientError::Corrupt(format!("tokens: {e}")))?;
        let mut tx = self.store.begin().await?;
        let sealed = async {
            local::set_meta(&mut tx, META_DEK_SERVER, &server_wrap).await?;
            if let Some(wrap) = &password_wrap {
                let json = serde_json::to_string(wrap).map_err(|e| LocalError::Sealed {
                    what: "password key".into(),
                    source: CryptoError::Format(e.to_string()),
                })?;
                local::set_meta(&mut tx, META_DEK_PASSWORD, &json).await?;
            }
            local::set_meta(&mut tx, META_USER, &user_json).await?;
            local::set_meta(&mut tx, META_SESSION, "signed_in").await?;
            local::set_sealed_meta(&mut tx, &keys, META_TOKENS, &tokens_json).await?;
            seal_plaintext(&mut tx, &keys).await
        }
        .await
        .map_err(|e| self.store.err(e))?;
        self.store.commit(tx).await?;
        self.after_sealing(sealed).await;
        self.set_keys(Some(Arc::new(keys)));
        self.set_auth_view(AuthView {
            owner: Some(user.clone()),
            signed_in: true,
        });
        Ok(SignIn {
            online: true,
            user,
            sealed_rows: sealed,
        })
    }

    /// The error for a refused sign-in.
    async fn sign_in_error(&self, e: ClientError) -> ClientError {
        if is_revoked(&e) {
            return self.wipe().await;
        }
        match e {
            ClientError::Server {
                status: 401 | 403 | 429,
                code,
                message,
            } => ClientError::SignInRefused { code, message },
            ClientError::Server {
                status: 409,
                code,
                message,
            } => ClientError::SignInRefused {
                code,
                message: format!(
                    "{message} (this device is registered to someone else on the server; use \
                     another data folder)"
                ),
            },
            other => other,
        }
    }

    /// Best effort: end a server session this device will not use.
    async fn forget_server_session(&self, transport: &Transport, access_token: &str) {
        if let Err(e) = transport.post_empty(LOGOUT_PATH, access_token).await {
            tracing::info!(error = %e, "could not end the unused session on the server");
        }
    }

    // ----- signing out ------------------------------------------------------------------------

    /// Sign out: tell the server (best effort: no signal is fine), delete the stored tokens and
    /// forget the key. Every record, synced or not, stays on the device, sealed; signing in
    /// again (offline too, with the password) gives it all back.
    ///
    /// The server is told only when this process has unlocked the store (the tokens are
    /// sealed); otherwise the server's session simply expires.
    pub async fn sign_out(&self) -> Result<(), ClientError> {
        self.check_wiped()?;
        let _session = self.session.lock().await;
        self.check_wiped()?;
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let (Some(keys), Some(_)) = (keys, self.server_url.as_deref()) {
            match self.load_tokens(&keys).await {
                Ok(Some(mut tokens)) => {
                    let transport = self.transport(RetryPolicy::none())?;
                    let mut refreshed = false;
                    let result = self
                        .authed(&transport, &keys, &mut tokens, &mut refreshed, |access| {
                            let transport = &transport;
                            async move { transport.post_empty(LOGOUT_PATH, &access).await }
                        })
                        .await;
                    match result {
                        Ok(()) => {}
                        Err(ClientError::Wiped) => return Err(ClientError::Wiped),
                        Err(e) => {
                            tracing::info!(error = %e, "signed out on this device only")
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "stored tokens unreadable at sign-out"),
            }
        }
        let mut tx = self.store.begin().await?;
        local::delete_meta(&mut tx, META_TOKENS)
            .await
            .map_err(|e| self.store.err(e))?;
        local::set_meta(&mut tx, META_SESSION, "signed_out")
            .await
            .map_err(|e| self.store.err(e))?;
        self.store.commit(tx).await?;
        self.set_keys(None);
        self.write.lock().await.clear();
        let owner = self.auth_view().owner;
        self.set_auth_view(AuthView {
            owner,
            signed_in: false,
        });
        Ok(())
    }

    /// Who the server says is signed in on this device (`GET /v1/me`); refreshes the stored
    /// user info (display name, role, team).
    pub async fn me(&self) -> Result<UserInfo, ClientError> {
        let keys = self.keys()?;
        let transport = self.transport(self.retry)?;
        let _session = self.session.lock().await;
        self.check_wiped()?;
        let mut tokens = self.require_tokens(&keys).await?;
        let mut refreshed = false;
        let me: Me = self
            .authed(&transport, &keys, &mut tokens, &mut refreshed, |access| {
                let transport = &transport;
                async move { transport.get_json(ME_PATH, &access).await }
            })
            .await?;
        let view = self.auth_view();
        if view.owner.as_ref().map(|o| &o.user_id) == Some(&me.user.user_id) {
            let json = serde_json::to_string(&me.user)
                .map_err(|e| ClientError::Corrupt(format!("user info: {e}")))?;
            self.store.set_meta(META_USER, &json).await?;
            self.set_auth_view(AuthView {
                owner: Some(me.user.clone()),
                signed_in: view.signed_in,
            });
        }
        Ok(me.user)
    }

    // ----- tokens -----------------------------------------------------------------------------

    pub(crate) async fn load_tokens(
        &self,
        keys: &Keys,
    ) -> Result<Option<StoredTokens>, ClientError> {
        match self.store.sealed_meta(keys, META_TOKENS).await? {
            None => Ok(None),
            Some(json) => serde_json::from_slice(&json)
                .map(Some)
                .map_err(|e| ClientError::Corrupt(format!("stored tokens: {e}"))),
        }
    }

    /// The stored tokens, or [`ClientError::SignInRequired`] when there are none (the last
    /// sign-in was offline, or a refresh was refused).
    pub(crate) async fn require_tokens(&self, keys: &Keys) -> Result<StoredTokens, ClientError> {
        self.load_tokens(keys)
            .await?
            .ok_or_else(|| ClientError::SignInRequired {
                reason: "this device holds no sign-in for the server (the last sign-in was \
                         offline, or the server ended it)"
                    .into(),
            })
    }

    /// Make an authenticated call: refresh first if the access token has expired (once per
    /// sync), and on a 401 refresh and retry once. A 403 `device_revoked` wipes the store.
    /// The caller holds the session lock.
    pub(crate) async fn authed<R, F, Fut>(
        &self,
        transport: &Transport,
        keys: &Keys,
        tokens: &mut StoredTokens,
        refreshed: &mut bool,
        call: F,
    ) -> Result<R, ClientError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<R, ClientError>>,
    {
        if !*refreshed && tokens.expired(now_ms()) {
            self.refresh(transport, keys, tokens).await?;
            *refreshed = true;
        }
        match call(tokens.access_token.clone()).await {
            Ok(r) => Ok(r),
            Err(ClientError::Server { status: 401, .. }) => {
                self.refresh(transport, keys, tokens).await?;
                *refreshed = true;
                match call(tokens.access_token.clone()).await {
                    Ok(r) => Ok(r),
                    Err(e) => Err(self.after_call_error(e).await),
                }
            }
            Err(e) => Err(self.after_call_error(e).await),
        }
    }

    async fn after_call_error(&self, e: ClientError) -> ClientError {
        if is_revoked(&e) {
            return self.wipe().await;
        }
        match e {
            ClientError::Server {
                status: 401,
                message,
                ..
            } => ClientError::SignInRequired { reason: message },
            other => other,
        }
    }

    /// Trade the refresh token for new tokens and store them (the old refresh token is never
    /// used again). A refused refresh deletes the tokens: [`ClientError::SignInRequired`].
    async fn refresh(
        &self,
        transport: &Transport,
        keys: &Keys,
        tokens: &mut StoredTokens,
    ) -> Result<(), ClientError> {
        let request = RefreshRequest {
            refresh_token: tokens.refresh_token.clone(),
            device_id: Some(self.device_id.clone()),
        };
        let result = transport
            .post_json::<_, Tokens>(REFRESH_PATH, &request, None, self.retry.max_attempts)
            .await;
        match result {
            Ok(new) => {
                let stored = StoredTokens::from_wire(new, now_ms());
                let json = serde_json::to_vec(&stored)
                    .map_err(|e| ClientError::Corrupt(format!("tokens: {e}")))?;
                let mut tx = self.store.begin().await?;
                local::set_sealed_meta(&mut tx, keys, META_TOKENS, &json)
                    .await
                    .map_err(|e| self.store.err(e))?;
                self.store.commit(tx).await?;
                *tokens = stored;
                tracing::debug!("access token refreshed");
                Ok(())
            }
            Err(e) if is_revoked(&e) => Err(self.wipe().await),
            Err(ClientError::Server {
                status: 401,
                code,
                message,
            }) => {
                tracing::warn!(%code, "the server refused the refresh token; sign-in required");
                let mut tx = self.store.begin().await?;
                local::delete_meta(&mut tx, META_TOKENS)
                    .await
                    .map_err(|e| self.store.err(e))?;
                self.store.commit(tx).await?;
                Err(ClientError::SignInRequired { reason: message })
            }
            Err(e) => Err(e),
        }
    }

    // ----- wipe -------------------------------------------------------------------------------

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
}

/// Overwrite a file with zeros, then delete it. A missing file is fine.
fn destroy_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write as _;
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(mut file) => {
            let len = file.metadata()?.len();
            let zeros = vec![0u8; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
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

/// Seal every plaintext row left by the first version of the store, in the caller's
/// transaction. Returns how many rows were sealed.
async fn seal_plaintext(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &Keys,
) -> Result<u64, LocalError> {
    let docs = local::plaintext_docs(tx).await?;
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
        local::seal_plain_doc(tx, keys, doc, scope_key.as_deref()).await?;
        n += 1;
    }
    n += local::seal_plain_outbox(tx, keys).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn expiry_comes_from_the_servers_lifetime_with_a_margin() {
        let now = 1_000_000_000_000; // ms
        let tokens = |expires_at: i64| StoredTokens {
            access_token: "opaque".into(),
            refresh_token: "r".into(),
            access_expires_at_ms: expires_at,
        };
        assert!(!tokens(now + 3_600_000).expired(now));
        assert!(tokens(now + 10_000).expired(now), "within the margin");
        assert!(tokens(now - 1).expired(now));
        let wire = Tokens {
            access_token: "opaque".into(),
            expires_in: 900,
            refresh_token: "r".into(),
            refresh_expires_in: 0,
        };
        assert_eq!(
            StoredTokens::from_wire(wire, now).access_expires_at_ms,
            now + 900_000
        );
    }

    #[test]
    fn usernames_compare_loosely_and_revocation_is_recognised() {
        assert!(same_username("Sam", " sam "));
        assert!(!same_username("sam", "alex"));
        let revoked = ClientError::Server {
            status: 403,
            code: "device_revoked".into(),
            message: String::new(),
        };
        assert!(is_revoked(&revoked));
        let forbidden = ClientError::Server {
            status: 403,
            code: "forbidden".into(),
            message: String::new(),
        };
        assert!(!is_revoked(&forbidden));
    }
}
