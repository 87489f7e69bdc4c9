//! Access tokens made by hand, as the server would sign them or as a forger would: for the
//! suites that try every way in that must be shut.

use fieldnotes_server::auth::tokens::{AUDIENCE, ISSUER};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::RawDevice;
use crate::server::{IDP_AUDIENCE, IDP_ISSUER, IDP_KEY_ID, IDP_PRIVATE_KEY};

/// Seconds since the epoch, as token times are written.
pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Claims as the server issues them for `device` (valid from now for ten minutes), with
/// `edit` applied.
pub fn claims(device: &RawDevice, edit: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let sid = match jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(device.token()) {
        Ok(token) => token.claims["sid"].clone(),
        Err(e) => panic!("the server's access token is not a JWT: {e}"),
    };
    let mut c = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": device.user_id(), "did": device.device_id(),
        "sid": sid, "iat": now(), "nbf": now(), "exp": now() + 600,
    });
    edit(&mut c);
    c
}

/// `claims` signed with HS256 and `key`.
pub fn sign_hs256(key: &[u8], claims: &serde_json::Value) -> String {
    let header = Header::new(Algorithm::HS256);
    match jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key)) {
        Ok(token) => token,
        Err(e) => panic!("signing {claims}: {e}"),
    }
}

/// `claims` signed as the test identity provider signs (RS256, its key id).
pub fn idp_token(claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(IDP_KEY_ID.to_owned());
    let key = match EncodingKey::from_rsa_pem(IDP_PRIVATE_KEY.as_bytes()) {
        Ok(key) => key,
        Err(e) => panic!("the test identity provider's key does not load: {e}"),
    };
    match jsonwebtoken::encode(&header, claims, &key) {
        Ok(token) => token,
        Err(e) => panic!("signing {claims}: {e}"),
    }
}

/// A token from the test identity provider for `subject`, valid for five minutes.
pub fn idp_token_for(subject: &str) -> String {
    idp_token(&json!({
        "iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": subject, "iat": now(), "exp": now() + 300,
    }))
}
