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
//!
//! The modules follow the concerns: [`state`] (what this process holds), [`sign_in`] (signing
//! in and out), [`keyring`] (which key opens the store, and the wraps that keep it), [`tokens`]
//! (the access and refresh tokens, and the authenticated call) and [`wipe`] (a revoked device).

mod keyring;
mod sign_in;
mod state;
mod tokens;
mod wipe;

use fieldnotes_protocol::auth::UserInfo;

use crate::ClientError;
use crate::crypto::CryptoError;

pub use sign_in::SignIn;
#[cfg(not(target_arch = "wasm32"))] // For the damage checks.
pub(crate) use state::wrap_binding;
pub(crate) use tokens::AuthedSession;

/// Usernames compare without regard to case or surrounding space (the server's account is
/// what decides; this only keeps a second person out of the store before asking it).
fn same_username(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Refuse a sign-in as someone other than the store's owner.
fn check_owner(owner: Option<UserInfo>, username: &str) -> Result<(), ClientError> {
    match owner {
        Some(owner) if !same_username(&owner.username, username) => Err(ClientError::WrongUser {
            owner: owner.username,
            attempted: username.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn crypto_err(what: &str) -> impl FnOnce(CryptoError) -> ClientError + '_ {
    move |e| ClientError::Corrupt(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_compare_loosely_and_revocation_is_recognised() {
        assert!(same_username("Sam", " sam "));
        assert!(!same_username("sam", "alex"));
        let revoked = ClientError::Server {
            status: reqwest::StatusCode::FORBIDDEN,
            code: "device_revoked".into(),
            message: String::new(),
        };
        assert!(revoked.is_revoked());
        let forbidden = ClientError::Server {
            status: reqwest::StatusCode::FORBIDDEN,
            code: "forbidden".into(),
            message: String::new(),
        };
        assert!(!forbidden.is_revoked());
    }
}
