//! The access and refresh tokens, and the authenticated call every server request goes through.

use std::sync::Arc;

use fieldnotes_protocol::auth::{ME_PATH, Me, REFRESH_PATH, RefreshRequest, Tokens, UserInfo};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::MutexGuard;

use crate::crypto::Keys;
use crate::transport::Transport;
use crate::{AuthView, Client, ClientError, META_TOKENS, META_USER, now_ms};

/// How long before its expiry an access token is refreshed.
const EXPIRY_MARGIN_MS: i64 = 30_000;

/// The tokens as stored (sealed) in `meta.tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Device time the access token expires, from the server's `expires_in`.
    pub access_expires_at_ms: i64,
}

impl StoredTokens {
    pub(super) fn from_wire(tokens: Tokens, now: i64) -> Self {
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

/// A signed-in, unlocked client holding the session lock, with its tokens: every
/// authenticated server call of one operation goes through [`AuthedSession::call`].
pub(crate) struct AuthedSession<'a> {
    client: &'a Client,
    pub keys: Arc<Keys>,
    pub transport: Transport,
    tokens: StoredTokens,
    /// Whether the access token was refreshed (at most once per operation before a call).
    pub refreshed: bool,
    _session: MutexGuard<'a, ()>,
}

impl std::fmt::Debug for AuthedSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthedSession")
            .field("refreshed", &self.refreshed)
            .finish_non_exhaustive()
    }
}

impl AuthedSession<'_> {
    /// Make an authenticated call: refresh first if the access token has expired (once per
    /// session), and on a 401 refresh and retry once. A 403 `device_revoked` wipes the store.
    pub(crate) async fn call<R, F, Fut>(&mut self, call: F) -> Result<R, ClientError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<R, ClientError>>,
    {
        self.client
            .authed(
                &self.transport,
                &self.keys,
                &mut self.tokens,
                &mut self.refreshed,
                call,
            )
            .await
    }
}

impl Client {
    /// The prologue of every authenticated operation: the keys, the transport, the session
    /// lock and the stored tokens.
    pub(crate) async fn authed_session(&self) -> Result<AuthedSession<'_>, ClientError> {
        let keys = self.keys()?;
        let transport = self.transport(self.retry)?;
        let session = self.session.lock().await;
        self.check_wiped()?;
        let tokens = self.require_tokens(&keys).await?;
        Ok(AuthedSession {
            client: self,
            keys,
            transport,
            tokens,
            refreshed: false,
            _session: session,
        })
    }

    /// Who the server says is signed in on this device (`GET /v1/me`); refreshes the stored
    /// user info (display name, role, team).
    pub async fn me(&self) -> Result<UserInfo, ClientError> {
        let mut session = self.authed_session().await?;
        let transport = session.transport.clone();
        let me: Me = session
            .call(|access| {
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
    pub(super) async fn authed<R, F, Fut>(
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
            Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => {
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
        match self.wipe_if_revoked(e).await {
            ClientError::Server {
                status: StatusCode::UNAUTHORIZED,
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
                self.store_tokens(keys, &stored).await?;
                *tokens = stored;
                tracing::debug!("access token refreshed");
                Ok(())
            }
            Err(e) if e.is_revoked() => Err(self.wipe().await),
            Err(ClientError::Server {
                status: StatusCode::UNAUTHORIZED,
                code,
                message,
            }) => {
                tracing::warn!(%code, "the server refused the refresh token; sign-in required");
                self.delete_tokens(None).await?;
                Err(ClientError::SignInRequired { reason: message })
            }
            Err(e) => Err(e),
        }
    }

    async fn store_tokens(&self, keys: &Keys, tokens: &StoredTokens) -> Result<(), ClientError> {
        let json =
            serde_json::to_vec(tokens).map_err(|e| ClientError::Corrupt(format!("tokens: {e}")))?;
        let mut tx = self.store.begin().await?;
        tx.set_sealed_meta(keys, META_TOKENS, &json).await?;
        self.store.commit(tx).await
    }

    /// Delete the stored tokens, and with `session`, set the session state in the same
    /// transaction.
    pub(super) async fn delete_tokens(&self, session: Option<&str>) -> Result<(), ClientError> {
        let mut tx = self.store.begin().await?;
        tx.delete_meta(META_TOKENS).await?;
        if let Some(state) = session {
            tx.set_meta(crate::META_SESSION, state).await?;
        }
        self.store.commit(tx).await
    }
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
}
