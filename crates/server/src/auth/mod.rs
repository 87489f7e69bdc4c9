//! Who is calling: passwords, the server's own access and refresh tokens, tokens from an
//! authority's identity provider, and the request extractors that turn a bearer token into an
//! authenticated device.
//!
//! Keys live in [`AuthKeys`] inside the server state, never in globals, so two servers with
//! different keys can run in one process (the tests do).

pub mod external;
pub mod extract;
pub mod password;
pub mod throttle;
pub mod tokens;

pub use external::ExternalIdp;
pub use extract::{AdminDevice, AuthDevice};
pub use tokens::{AccessClaims, AuthKeys};
