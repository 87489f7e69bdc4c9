//! Extractors whose rejections are [`ApiError`]s with reasons a person can act on.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use fieldnotes_protocol::DEVICE_HEADER;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::merge::valid_doc_id;
use crate::state::AppState;

/// The device making the request, named by the `fieldnotes-device` header.
///
/// Until sign-in lands (and the server listens on loopback only) a device names itself; the
/// name is checked for shape, not trusted for identity.
#[derive(Debug, Clone)]
pub struct DeviceId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for DeviceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let value = parts.headers.get(DEVICE_HEADER).ok_or_else(|| {
            ApiError::bad_request(
                "missing_device",
                format!(
                    "name the device in the `{DEVICE_HEADER}` header (the client SDK does this)"
                ),
            )
        })?;
        let id = value
            .to_str()
            .ok()
            .filter(|id| valid_doc_id(id))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_device",
                    format!(
                        "the `{DEVICE_HEADER}` header must be 1 to 100 letters, digits, '-' or '_'"
                    ),
                )
            })?;
        Ok(DeviceId(id.to_owned()))
    }
}

/// The whole request body, decompressed and within the server's size limit.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge {
                    limit: state.limits.max_request_bytes,
                })
            }
            Err(rejection) => Err(ApiError::bad_request(
                "unreadable_body",
                format!(
                    "the request body could not be read ({}); if it is compressed, it must be \
                     valid gzip with `Content-Encoding: gzip`",
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// Query-string parameters, with a readable error for bad ones.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))
    }
}
