//! The server's own tokens: short-lived access tokens (HS256 JWTs) and opaque refresh tokens.
//!
//! The HS256 key is made on the first start and kept in the database (`server_secrets`), so
//! every server sharing the database signs and checks alike and a new install needs no key
//! set up. Validation pins the algorithm, issuer and audience and requires `exp`, `nbf`,
//! `iat` and `sub`, and refuses an `iat` in the future beyond the leeway. A sign-in's first
//! refresh token is 32 random bytes; each successor is derived from the token it replaces with
//! HMAC-SHA256 under a key derived from the server secret, so a retried refresh (its answer was
//! lost) gets the same successor without the server keeping any token in the clear. Only
//! SHA-256 hashes of refresh tokens are stored.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret as _, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{ApiError, ErrorCode};

/// The `iss` of access tokens.
pub const ISSUER: &str = "fieldnotes-server";
/// The `aud` of access tokens.
pub const AUDIENCE: &str = "fieldnotes-sync";
/// The name of the signing key in the store's server secrets.
pub const SIGNING_KEY_NAME: &str = "access_token_hs256";
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The person (user id).
    pub sub: String,
    /// The device.
    pub did: String,
    /// The device's session: a token from an ended session is refused.
    pub sid: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
}

/// Signing and checking keys, and token lifetimes. The keys are secrets, and `Debug` never
/// shows them (jsonwebtoken's keys redact themselves).
#[derive(Clone, Debug)]
pub struct AuthKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Derives a refresh token's successor (see [`AuthKeys::successor_of`]).
    successor_key: SecretSlice<u8>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl AuthKeys {
    /// Keys from the shared HS256 secret.
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        // jsonwebtoken needs a process-wide crypto provider; an error only means one is
        // installed already.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        // A key of its own for refresh successors, so the signing key is used for one job.
        let successor_key = hmac_sha256(secret, b"fieldnotes refresh-successor key v1").to_vec();
        AuthKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            successor_key: SecretSlice::from(successor_key),
            access_ttl,
            refresh_ttl,
        }
    }

    /// A fresh random signing secret (stored only if the database has none yet).
    pub fn new_secret() -> Result<Vec<u8>, ApiError> {
        random::<32>().map(Vec::from)
    }

    /// Sign an access token for `user_id` on `device_id` in session `session_id`.
    pub fn issue_access(
        &self,
        user_id: &str,
        device_id: &str,
        session_id: &str,
        now_secs: u64,
    ) -> Result<String, ApiError> {
        let claims = AccessClaims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_owned(),
            did: device_id.to_owned(),
            sid: session_id.to_owned(),
            iat: now_secs,
            nbf: now_secs,
            exp: now_secs + self.access_ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("signing an access token failed: {e}")))
    }

    /// Check an access token's signature, algorithm, issuer, audience and times.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, ApiError> {
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| token_error(e.kind()))?;
        check_issued_at(claims.iat, jsonwebtoken::get_current_timestamp()).map_err(|message| {
            ApiError::Unauthorized {
                code: ErrorCode::InvalidToken,
                message: format!("the access token {message}"),
            }
        })?;
        Ok(claims)
    }

    /// The refresh token that replaces `presented`, and its stored hash: always the same for
    /// the same token, unguessable without the server's key, and never stored in the clear.
    pub fn successor_of(&self, presented: &str) -> (String, String) {
        let mut input = b"fieldnotes refresh successor v1\0".to_vec();
        input.extend_from_slice(presented.as_bytes());
        let token = URL_SAFE_NO_PAD.encode(hmac_sha256(self.successor_key.expose_secret(), &input));
        let hash = hash_refresh_token(&token);
        (token, hash)
    }
}

fn hmac_sha256(key: &[u8], input: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256>>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(input);
    mac.finalize().into_bytes().into()
}

/// Refuse an `iat` (seconds) later than `now` plus the leeway: a token cannot have been issued
/// in the future, and one that says so was made with a wrong clock or by someone else. The
/// error completes "the token ...".
pub fn check_issued_at(iat: u64, now_secs: u64) -> Result<(), String> {
    if iat > now_secs.saturating_add(LEEWAY_SECS) {
        return Err(format!(
            "says it was issued {} seconds in the future (its iat); it was made with a wrong \
             clock or not by this server. Sign in again, and check the device's clock",
            iat - now_secs
        ));
    }
    Ok(())
}

/// A plain sentence for why a JWT (`what`: "the access token", "the identity provider's
/// token") cannot be used, for the kinds of failure every token shares. Never Debug text.
pub fn describe_jwt_error(what: &str, kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidToken => {
            format!("{what} is not a JSON Web Token (three base64url parts separated by dots)")
        }
        ErrorKind::Base64(_) => format!("{what} has a part that is not valid base64url"),
        ErrorKind::Utf8(_) => format!("{what} has a part that is not valid UTF-8 text"),
        ErrorKind::Json(e) => format!(
            "{what} has a header or claims that are not as expected: {}",
            json_error_sentence(e)
        ),
        ErrorKind::InvalidClaimFormat(claim) => {
            format!("{what} has a `{claim}` claim of the wrong type")
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("{what} has no `{claim}` claim"),
        ErrorKind::InvalidSubject => format!("{what} is for another subject"),
        ErrorKind::UnsupportedAlgorithm | ErrorKind::MissingAlgorithm => {
            format!("{what} is signed with an algorithm this server does not accept")
        }
        _ => format!("{what} cannot be checked"),
    }
}

/// serde_json's message without its "at line 1 column 9" tail (a position in base64-decoded
/// text means nothing to a person).
fn json_error_sentence(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// A refused token, with a reason a person (or an app) can act on.
pub fn token_error(kind: &ErrorKind) -> ApiError {
    let (code, message) = match kind {
        ErrorKind::ExpiredSignature => (
            ErrorCode::TokenExpired,
            "the access token has expired; refresh it with the refresh token".to_owned(),
        ),
        ErrorKind::ImmatureSignature => (
            ErrorCode::InvalidToken,
            "the access token is not valid yet (its nbf is in the future); check the device's \
             clock"
                .to_owned(),
        ),
        ErrorKind::InvalidIssuer => (
            ErrorCode::InvalidToken,
            "the access token was not issued by this server (wrong issuer)".to_owned(),
        ),
        ErrorKind::InvalidAudience => (
            ErrorCode::InvalidToken,
            "the access token is not meant for this service (wrong audience)".to_owned(),
        ),
        ErrorKind::InvalidSignature => (
            ErrorCode::InvalidToken,
            "the access token's signature does not match: it was altered or signed by someone \
             else"
                .to_owned(),
        ),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => (
            ErrorCode::InvalidToken,
            "the access token is signed with an algorithm this server does not accept".to_owned(),
        ),
        ErrorKind::MissingRequiredClaim(claim) => (
            ErrorCode::InvalidToken,
            format!("the access token has no `{claim}` claim"),
        ),
        other => (
            ErrorCode::InvalidToken,
            format!(
                "{}; sign in again",
                describe_jwt_error("the access token", other)
            ),
        ),
    };
    ApiError::Unauthorized {
        code,
        message: message.clone(),
    }
}

/// `N` bytes from the operating system's random source.
pub fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("the system's random source failed: {e}")))?;
    Ok(bytes)
}

/// A new opaque refresh token and the hash to store for it.
pub fn new_refresh_token() -> Result<(String, String), ApiError> {
    let token = URL_SAFE_NO_PAD.encode(random::<32>()?);
    let hash = hash_refresh_token(&token);
    Ok((token, hash))
}

/// The stored form of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random session id.
pub fn new_session_id() -> Result<String, ApiError> {
    Ok(hex::encode(random::<16>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> AuthKeys {
        AuthKeys::new(
            b"0123456789abcdef0123456789abcdef",
            Duration::from_secs(900),
            Duration::from_secs(86_400),
        )
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let keys = keys();
        let token = keys.issue_access("sw-1", "dev-1", "s1", now()).unwrap();
        let claims = keys.verify_access(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.did.as_str()),
            ("sw-1", "dev-1")
        );
    }

    #[test]
    fn a_token_from_other_keys_is_refused() {
        let token = keys().issue_access("sw-1", "dev-1", "s1", now()).unwrap();
        let other = AuthKeys::new(
            b"another secret, another server!!",
            Duration::from_secs(900),
            Duration::from_secs(900),
        );
        let err = other.verify_access(&token).unwrap_err().to_string();
        assert!(err.contains("signature"), "{err}");
    }

    #[test]
    fn an_old_token_is_expired() {
        let keys = keys();
        let token = keys
            .issue_access("sw-1", "dev-1", "s1", now() - 7200)
            .unwrap();
        match keys.verify_access(&token) {
            Err(ApiError::Unauthorized { code, .. }) => assert_eq!(code.as_str(), "token_expired"),
            other => panic!("expected expiry, got {other:?}"),
        }
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let keys = keys();
        let token = keys
            .issue_access("sw-1", "dev-1", "s1", now() + 365 * 86_400)
            .unwrap();
        // nbf is in the future too; jsonwebtoken reports that first. The iat check itself:
        assert!(keys.verify_access(&token).is_err());
        assert!(check_issued_at(now() + LEEWAY_SECS + 5, now()).is_err());
        assert!(check_issued_at(now() + LEEWAY_SECS, now()).is_ok());
    }

    #[test]
    fn token_errors_are_sentences_not_debug_text() {
        let keys = keys();
        // A header whose alg is not an algorithm at all.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        let token = format!("{header}.{claims}.");
        let err = keys.verify_access(&token).unwrap_err().to_string();
        assert!(!err.contains("Json(") && !err.contains("Error("), "{err}");
        assert!(err.contains("unknown variant"), "{err}");
        for garbage in ["", "a.b", "###.###.###"] {
            let err = keys.verify_access(garbage).unwrap_err().to_string();
            assert!(
                !err.contains("InvalidToken") && !err.contains("Base64("),
                "{garbage:?}: {err}"
            );
        }
    }

    #[test]
    fn a_successor_is_the_same_for_the_same_token_and_secret() {
        let keys = keys();
        let (a1, h1) = keys.successor_of("token-a");
        let (a2, h2) = keys.successor_of("token-a");
        let (b, _) = keys.successor_of("token-b");
        assert_eq!((a1.as_str(), h1.as_str()), (a2.as_str(), h2.as_str()));
        assert_ne!(a1, b);
        assert_eq!(h1, hash_refresh_token(&a1));
        let other = AuthKeys::new(
            b"another secret, another server!!",
            Duration::from_secs(900),
            Duration::from_secs(900),
        );
        assert_ne!(other.successor_of("token-a").0, a1, "the key decides it");
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_refresh_token().unwrap();
        let (b, _) = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(hash_a, hash_refresh_token(&a));
        assert!(!hash_a.contains(&a));
    }
}
