//! Signing in (online, offline, with an identity provider's token), unlocking in a new
//! process, and signing out.

use std::sync::Arc;

use fieldnotes_protocol::ErrorCode;
use fieldnotes_protocol::auth::{
    EXTERNAL_LOGIN_PATH, ExternalLogin, LOGIN_PATH, LOGOUT_PATH, PasswordLogin, Session, UserInfo,
};
use reqwest::StatusCode;
use serde::Serialize;

use super::check_owner;
use super::tokens::StoredTokens;
use crate::crypto::ServerKey;
use crate::transport::Transport;
use crate::{AuthView, Client, ClientError, RetryPolicy, now_ms};

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

/// Send a sign-in. An interactive sign-in should not wait long before working offline: two
/// attempts at most.
async fn post_login(
    transport: &Transport,
    retry: RetryPolicy,
    path: &str,
    login: &impl Serialize,
) -> Result<Session, ClientError> {
    let attempts = retry.max_attempts.min(2);
    transport.post_json(path, login, None, attempts).await
}

impl Client {
    /// The session lock, with the device checked not wiped before and after waiting for it.
    async fn session_lock(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, ClientError> {
        self.check_wiped()?;
        let session = self.session.lock().await;
        self.check_wiped()?;
        Ok(session)
    }

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
        let _session = self.session_lock().await?;
        check_owner(self.auth_view().owner, username)?;
        if self.server_url.is_none() {
            return self
                .sign_in_offline(username, password, "no server is set for this device")
                .await;
        }
        let transport = self.transport(self.retry)?;
        let login = PasswordLogin {
            username: username.to_owned(),
            password: password.to_owned(),
            device: self.device_info(device_name),
        };
        match post_login(&transport, self.retry, LOGIN_PATH, &login).await {
            Ok(session) => {
                self.finish_online(&transport, session, Some(password))
                    .await
            }
            // Too many tries (429) is the server's answer, not an absence of one: say when to
            // try again rather than working offline.
            Err(e) if e.is_retryable() && !e.is_throttled() => {
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
        let _session = self.session_lock().await?;
        let transport = self.transport(self.retry)?;
        let login = ExternalLogin {
            token: id_token.to_owned(),
            device: self.device_info(device_name),
        };
        match post_login(&transport, self.retry, EXTERNAL_LOGIN_PATH, &login).await {
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
        let _session = self.session_lock().await?;
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
        check_owner(Some(owner.clone()), username)?;
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

    /// Store what an online sign-in returned and unlock. A sign-in this device cannot use
    /// ends its new server session before saying why.
    async fn finish_online(
        &self,
        transport: &Transport,
        session: Session,
        password: Option<&str>,
    ) -> Result<SignIn, ClientError> {
        let user = session.user;
        let tokens = StoredTokens::from_wire(session.tokens, now_ms());
        if let Some(owner) = self.auth_view().owner
            && owner.user_id != user.user_id
        {
            let refusal = ClientError::WrongUser {
                owner: owner.username,
                attempted: user.username,
            };
            return Err(self.abandon(transport, &tokens, refusal).await);
        }
        let server_key =
            ServerKey::from_base64(&session.store_key).map_err(|e| ClientError::Server {
                status: StatusCode::OK,
                code: ErrorCode::UnreadableResponse.as_str().into(),
                message: format!("the sign-in answer's store key is unusable: {e}"),
            })?;
        let dek = match self
            .online_data_key(&server_key, &user.user_id, password)
            .await?
        {
            Ok(dek) => dek,
            Err(refusal) => return Err(self.abandon(transport, &tokens, refusal.into()).await),
        };
        let wraps = self
            .rewrap(dek, &server_key, &user.user_id, password)
            .await?;
        let tokens_json = serde_json::to_vec(&tokens)
            .map_err(|e| ClientError::Corrupt(format!("tokens: {e}")))?;
        let sealed_rows = self.store_online(&wraps, &user, &tokens_json).await?;
        self.set_signed_in(Arc::new(wraps.keys), &user);
        Ok(SignIn {
            online: true,
            user,
            sealed_rows,
        })
    }

    /// End a server session this device will not use (best effort), and return `refusal`.
    async fn abandon(
        &self,
        transport: &Transport,
        tokens: &StoredTokens,
        refusal: ClientError,
    ) -> ClientError {
        if let Err(e) = transport
            .post_empty(LOGOUT_PATH, &tokens.access_token)
            .await
        {
            tracing::info!(error = %e, "could not end the unused session on the server");
        }
        refusal
    }

    /// The error for a refused sign-in.
    async fn sign_in_error(&self, e: ClientError) -> ClientError {
        match self.wipe_if_revoked(e).await {
            ClientError::Server {
                status:
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS,
                code,
                message,
            } => ClientError::SignInRefused { code, message },
            ClientError::Server {
                status: StatusCode::CONFLICT,
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

    /// Sign out: tell the server (best effort: no signal is fine), delete the stored tokens and
    /// forget the key. Every record, synced or not, stays on the device, sealed; signing in
    /// again (offline too, with the password) gives it all back.
    ///
    /// The server is told only when this process has unlocked the store (the tokens are
    /// sealed); otherwise the server's session simply expires.
    pub async fn sign_out(&self) -> Result<(), ClientError> {
        let _session = self.session_lock().await?;
        if let Some(keys) = self.held_keys()
            && self.server_url.is_some()
        {
            self.sign_out_on_server(&keys).await?;
        }
        self.delete_tokens(Some("signed_out")).await?;
        self.set_keys(None);
        self.write.lock().await.clear();
        let owner = self.auth_view().owner;
        self.set_auth_view(AuthView {
            owner,
            signed_in: false,
        });
        Ok(())
    }

    /// Tell the server this device signs out; only a wipe stops the sign-out.
    async fn sign_out_on_server(&self, keys: &crate::crypto::Keys) -> Result<(), ClientError> {
        let mut tokens = match self.load_tokens(keys).await {
            Ok(Some(tokens)) => tokens,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "stored tokens unreadable at sign-out");
                return Ok(());
            }
        };
        let transport = self.transport(RetryPolicy::none())?;
        let mut refreshed = false;
        let result = self
            .authed(&transport, keys, &mut tokens, &mut refreshed, |access| {
                let transport = &transport;
                async move { transport.post_empty(LOGOUT_PATH, &access).await }
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(ClientError::Wiped) => Err(ClientError::Wiped),
            Err(e) => {
                tracing::info!(error = %e, "signed out on this device only");
                Ok(())
            }
        }
    }
}
