//! Sign-in and tokens: the messages of `/v1/auth/*`.
//!
//! A device signs in with a password ([`PasswordLogin`]) or with a token from the authority's
//! own identity provider ([`ExternalLogin`]); either way it registers itself and its automerge
//! actor id, and gets a [`Session`]: a short-lived access token (a JWT, sent as
//! `Authorization: Bearer`) and an opaque refresh token bound to this device. Refresh tokens
//! rotate: each is good for one [`RefreshRequest`], and presenting one that was already used
//! ends the device's session.

use serde::{Deserialize, Serialize};

/// Password sign-in.
pub const LOGIN_PATH: &str = "/v1/auth/login";
/// Sign-in with a token from the authority's identity provider.
pub const EXTERNAL_LOGIN_PATH: &str = "/v1/auth/external";
/// Trade a refresh token for new tokens.
pub const REFRESH_PATH: &str = "/v1/auth/refresh";
/// End this device's session (authenticated).
pub const LOGOUT_PATH: &str = "/v1/auth/logout";
/// Who am I, on which device (authenticated).
pub const ME_PATH: &str = "/v1/me";
/// My team and its rules, such as how many points a short plan may have (authenticated).
pub const TEAM_PATH: &str = "/v1/team";
/// The people of my team who can sign in, by name (authenticated): how screens name
/// colleagues, and whom a manager allocates to.
pub const TEAM_PEOPLE_PATH: &str = "/v1/team/people";

pub use fieldnotes_vocab::Role;

/// The device signing in, and the automerge actor id it writes with. The server refuses
/// changes from this device written by any other actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// The device's id (a UUID the device made for itself).
    pub device_id: String,
    /// The device's automerge actor id, hex.
    pub actor_id: String,
    /// A name a person recognises in the device list ("Sam's laptop").
    pub name: String,
}

/// `POST /v1/auth/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordLogin {
    pub username: String,
    pub password: String,
    pub device: DeviceInfo,
}

/// `POST /v1/auth/external`: a signed token (JWT) from the identity provider the server is
/// configured to trust.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalLogin {
    pub token: String,
    pub device: DeviceInfo,
}

/// `POST /v1/auth/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
    /// The device asking (the one the token was issued to). The same token presented again by
    /// its own device shortly after its first use (the answer was lost) gets the same new
    /// tokens; from anywhere else, or without a device named, it ends the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// An access token and the refresh token that renews it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; good for one refresh.
    pub refresh_token: String,
    /// Seconds until the refresh token expires if unused.
    pub refresh_expires_in: u64,
}

/// Who a person is (also the first columns of the store's record of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct UserInfo {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
}

/// A person of one's team as colleagues see them (`GET /v1/team/people`): who they are, not
/// how they sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Colleague {
    pub user_id: String,
    pub display_name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
}

/// The answer to a sign-in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(flatten)]
    pub tokens: Tokens,
    pub user: UserInfo,
    pub device_id: String,
    /// A secret the server keeps for this device (32 bytes, base64). The device uses it to
    /// unlock its encrypted store after an online sign-in, whatever the person's password is
    /// now; it holds it only in memory.
    pub store_key: String,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user: UserInfo,
    pub device_id: String,
}

/// Secrets never appear in debug output (logs, panics).
macro_rules! redacted_debug {
    ($name:ident { $($shown:ident),* } hides { $($hidden:ident),* }) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($hidden), &"<redacted>"))*
                    .finish()
            }
        }
    };
}

redacted_debug!(PasswordLogin { username, device } hides { password });
redacted_debug!(ExternalLogin { device } hides { token });
redacted_debug!(RefreshRequest {} hides { refresh_token });
redacted_debug!(Tokens { expires_in, refresh_expires_in } hides { access_token, refresh_token });
redacted_debug!(Session { tokens, user, device_id } hides { store_key });
