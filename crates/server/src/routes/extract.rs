//! Extractors whose rejections are [`ApiError`]s with reasons a person can act on.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::auth::AuthDevice;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

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
                ErrorCode::UnreadableBody,
                format!(
                    "the request body could not be read ({}); if it is compressed, it must be \
                     valid gzip with `Content-Encoding: gzip`",
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// A JSON body. Malformed JSON is refused naming the field at fault (`team_id: invalid type:
/// ...`), not with a bare "unprocessable entity".
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let RawBody(body) = RawBody::from_request(req, state).await?;
        parse_json(&body).map(ApiJson)
    }
}

/// Parse JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        ApiError::bad_request(
            ErrorCode::InvalidJson,
            format!("the request body is not as expected: {e}"),
        )
    })
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
            .map_err(|rejection| {
                ApiError::bad_request(ErrorCode::InvalidQuery, rejection.body_text())
            })
    }
}

/// Something a request names by the id in its path (`/v1/children/{id}/...`), which only some
/// callers may reach.
pub trait PathResource: Sized + Send {
    /// The path parameter that names it.
    type Id: DeserializeOwned + Send;

    /// What `id` names, if `auth` may reach it. Otherwise an error, typically "not found"
    /// whether or not it exists, so ids cannot be probed.
    fn reach(
        state: &AppState,
        auth: &AuthDevice,
        id: Self::Id,
    ) -> impl Future<Output = Result<Self, ApiError>> + Send;
}

/// The authenticated caller and the `T` the path names, which they may reach: a handler that
/// takes it runs only once [`PathResource::reach`] has found it. The caller is authenticated
/// first, then the path read (a malformed id is axum's answer, as with [`Path`]); being part
/// of the request head, all of it comes before a body extractor reads the body.
#[derive(Debug)]
pub struct Reached<T>(pub AuthDevice, pub T);

impl<T: PathResource> FromRequestParts<AppState> for Reached<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let auth = AuthDevice::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(id) = Path::<T::Id>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let found = T::reach(state, &auth, id)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Reached(auth, found))
    }
}
