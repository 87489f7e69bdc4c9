//! Server state: the store, the keys, the limits and the access policy, passed to every
//! handler. No globals, so several servers with different settings can run in one test process.

use std::sync::Arc;
use std::time::Duration;

use crate::SharedStore;
use crate::auth::throttle::{AddressThrottle, ClientAddr, SignInLimits, UsernameThrottle};
use crate::auth::{AuthKeys, ExternalIdp};
use crate::config::Config;

/// Limits the server enforces on what devices send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest decompressed request body, in bytes.
    pub max_request_bytes: usize,
    /// Largest total of change bytes for one document in one push.
    pub max_doc_push_bytes: usize,
    /// Automerge operations one sync request may merge across its documents (see
    /// [`crate::merge::ModelMerger::ops_left`]).
    pub max_ops_per_request: u64,
}

/// Access rules that are settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long after an allocation or referral ends its worker may still send work about the
    /// child.
    pub late_work: Duration,
    /// How long a used refresh token may be presented again by its own device.
    pub refresh_grace: Duration,
    /// Sign-in throttling.
    pub signin: SignInLimits,
}

/// Everything a handler needs.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub limits: Limits,
    pub policy: Policy,
    pub auth: Arc<AuthKeys>,
    /// The authority's identity provider, when one is configured.
    pub idp: Option<Arc<ExternalIdp>>,
    /// Password checks running at once (see `auth::password`).
    pub password_slots: Arc<tokio::sync::Semaphore>,
    /// Sign-in tries per username.
    pub username_throttle: Arc<UsernameThrottle>,
    /// Sign-in tries per client address.
    pub address_throttle: Arc<AddressThrottle>,
    /// How a request's client address is found: the reverse proxies whose `X-Forwarded-For`
    /// is believed (none by default).
    pub client_addr: ClientAddr,
    /// The last storage failure a request met (reported by `/readyz`).
    pub storage: Arc<crate::routes::health::StorageHealth>,
    /// The built field app, served at `/` when set (`--app-dir`).
    pub app_dir: Option<Arc<std::path::Path>>,
    /// Web origins whose pages may call the API (`--cors-origin`); none by default.
    pub cors_origins: Arc<[axum::http::HeaderValue]>,
}

/// Password checks allowed at once.
pub const PASSWORD_SLOTS: usize = 4;

impl AppState {
    /// Open the store `config` names (running its migrations), load or make the token signing
    /// key, read the identity provider's keys, and build the state.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let store = config.open_store().await?;
        let idp = match (
            &config.idp_issuer,
            &config.idp_audience,
            &config.idp_jwks_file,
        ) {
            (Some(issuer), Some(audience), Some(jwks)) => Some(Arc::new(
                ExternalIdp::from_jwks_file(issuer, audience, jwks)?,
            )),
            _ => None,
        };
        let mut state =
            Self::with_store(Arc::from(store), config.limits(), config.policy(), idp).await?;
        state.client_addr = ClientAddr {
            trusted_proxies: Arc::from(config.trusted_proxy.clone()),
        };
        state.app_dir = config.app_dir.as_deref().map(Arc::from);
        state.cors_origins = Arc::from(config.cors_origin.clone());
        Ok(state)
    }

    /// Build the state over an opened store (tests that share one store between servers).
    pub async fn with_store(
        store: SharedStore,
        limits: Limits,
        policy: Policy,
        idp: Option<Arc<ExternalIdp>>,
    ) -> anyhow::Result<Self> {
        let secret = store
            .server_secret(
                crate::auth::tokens::SIGNING_KEY_NAME,
                &AuthKeys::new_secret()?,
            )
            .await
            .map_err(|e| anyhow::anyhow!("could not load the token signing key: {e}"))?;
        let auth = AuthKeys::new(&secret, policy.access_ttl, policy.refresh_ttl);
        Ok(Self {
            store,
            limits,
            policy,
            auth: Arc::new(auth),
            idp,
            password_slots: Arc::new(tokio::sync::Semaphore::new(PASSWORD_SLOTS)),
            username_throttle: Arc::new(UsernameThrottle::new(policy.signin)),
            address_throttle: Arc::new(AddressThrottle::new(policy.signin)),
            client_addr: ClientAddr {
                trusted_proxies: Arc::from(Vec::new()),
            },
            storage: Arc::default(),
            app_dir: None,
            cors_origins: Arc::from(Vec::new()),
        })
    }
}
