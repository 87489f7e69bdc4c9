//! Tokens from an authority's own identity provider (OpenID Connect style): signed JWTs from a
//! configured issuer, checked against a configured key set (JWKS). A person is matched by the
//! token's `sub` to a user's `external_subject`.
//!
//! Each key is used only with its own algorithm (its JWK `alg`, or RS256 for an RSA key with
//! none), so a token cannot choose a weaker check: an HS256 token "signed" with an RSA public
//! key is refused because HS256 is not that key's algorithm. Issuer and audience are pinned
//! and `exp` and `sub` are required.

use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::tokens::LEEWAY_SECS;
use crate::error::{ApiError, ErrorCode};

/// One key of the provider, with the only algorithm it is accepted with (public keys:
/// `Debug` shows them redacted all the same).
#[derive(Clone, Debug)]
struct ProviderKey {
    kid: Option<String>,
    key: DecodingKey,
    validation: Validation,
}

/// A trusted identity provider.
#[derive(Clone, Debug)]
pub struct ExternalIdp {
    pub issuer: String,
    pub audience: String,
    keys: Vec<ProviderKey>,
}

/// The claims read from a provider's token.
#[derive(Debug, Clone, Deserialize)]
pub struct ExternalClaims {
    pub sub: String,
    /// When the provider issued the token, if it says (seconds since the epoch).
    #[serde(default)]
    pub iat: Option<u64>,
}

/// Why a provider configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdpConfigError {
    #[error("cannot read the identity provider's key set {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the identity provider's key set {path} is not a JWKS document: {reason}")]
    Parse { path: String, reason: String },
    #[error("key {kid:?} in {path} cannot be used: {reason}")]
    Key {
        path: String,
        kid: Option<String>,
        reason: String,
    },
    #[error("the identity provider's key set {path} has no keys")]
    Empty { path: String },
}

fn algorithm_of(alg: Option<KeyAlgorithm>, params: &AlgorithmParameters) -> Option<Algorithm> {
    match alg {
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        // Symmetric keys have no place in a provider's public key set.
        Some(_) => None,
        None => match params {
            AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(_) => Some(Algorithm::ES256),
            AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
            // Symmetric keys, and kinds this version does not know.
            _ => None,
        },
    }
}

impl ExternalIdp {
    /// Trust `issuer` for `audience`, with the keys in the JWKS file at `jwks_path`.
    pub fn from_jwks_file(
        issuer: &str,
        audience: &str,
        jwks_path: &Path,
    ) -> Result<Self, IdpConfigError> {
        let path = jwks_path.display().to_string();
        let text = std::fs::read_to_string(jwks_path).map_err(|source| IdpConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::from_jwks(issuer, audience, &text, &path)
    }

    /// Trust `issuer` for `audience`, with the keys in a JWKS document.
    pub fn from_jwks(
        issuer: &str,
        audience: &str,
        jwks: &str,
        source: &str,
    ) -> Result<Self, IdpConfigError> {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| IdpConfigError::Parse {
            path: source.to_owned(),
            reason: e.to_string(),
        })?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone();
            let key_error = |reason: String| IdpConfigError::Key {
                path: source.to_owned(),
                kid: kid.clone(),
                reason,
            };
            let algorithm = algorithm_of(jwk.common.key_algorithm, &jwk.algorithm)
                .ok_or_else(|| key_error("it is not an asymmetric signing key".to_owned()))?;
            let key = DecodingKey::from_jwk(jwk).map_err(|e| key_error(e.to_string()))?;
            let mut validation = Validation::new(algorithm);
            validation.set_issuer(&[issuer]);
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            validation.validate_exp = true;
            validation.validate_nbf = true;
            validation.leeway = LEEWAY_SECS;
            keys.push(ProviderKey {
                kid,
                key,
                validation,
            });
        }
        if keys.is_empty() {
            return Err(IdpConfigError::Empty {
                path: source.to_owned(),
            });
        }
        Ok(ExternalIdp {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys,
        })
    }

    /// Check a provider token; the error names what is wrong with it.
    pub fn verify(&self, token: &str) -> Result<ExternalClaims, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| ApiError::Unauthorized {
            code: ErrorCode::InvalidToken,
            message: crate::auth::tokens::describe_jwt_error(
                "the identity provider's token",
                e.kind(),
            ),
        })?;
        let candidates: Vec<&ProviderKey> = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                .collect(),
            None => self.keys.iter().collect(),
        };
        if candidates.is_empty() {
            return Err(ApiError::Unauthorized {
                code: ErrorCode::InvalidToken,
                message: format!(
                    "the token is signed with key {:?}, which is not in the identity provider's \
                     key set this server trusts",
                    header.kid
                ),
            });
        }
        let mut last = None;
        for key in candidates {
            match jsonwebtoken::decode::<ExternalClaims>(token, &key.key, &key.validation) {
                Ok(data) => {
                    if let Some(iat) = data.claims.iat {
                        crate::auth::tokens::check_issued_at(
                            iat,
                            jsonwebtoken::get_current_timestamp(),
                        )
                        .map_err(|message| ApiError::Unauthorized {
                            code: ErrorCode::InvalidToken,
                            message: format!("the identity provider's token {message}"),
                        })?;
                    }
                    return Ok(data.claims);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => external_error(e.kind()),
            None => ApiError::Unauthorized {
                code: ErrorCode::InvalidToken,
                message: "the identity provider's token could not be checked".to_owned(),
            },
        })
    }
}

fn external_error(kind: &jsonwebtoken::errors::ErrorKind) -> ApiError {
    use jsonwebtoken::errors::ErrorKind;
    let message = match kind {
        ErrorKind::ExpiredSignature => "the identity provider's token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "the identity provider's token is not valid yet".to_owned(),
        ErrorKind::InvalidIssuer => {
            "the token was not issued by the identity provider this server trusts".to_owned()
        }
        ErrorKind::InvalidAudience => {
            "the token is not meant for Fieldnotes (wrong audience)".to_owned()
        }
        ErrorKind::InvalidSignature => {
            "the token's signature does not match the identity provider's key".to_owned()
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token is signed with an algorithm the identity provider's key is not used with"
                .to_owned()
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        other => crate::auth::tokens::describe_jwt_error("the identity provider's token", other),
    };
    ApiError::Unauthorized {
        code: ErrorCode::InvalidToken,
        message,
    }
}
