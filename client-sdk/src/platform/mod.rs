//! What differs between a native device and a browser, in one place: where the store lives,
//! how one writer is kept, where slow work (Argon2) runs, how a revoked device's store is
//! destroyed, and where a withdrawal's export goes. The rest of the SDK is the same code on
//! both; it calls these functions and never asks which it runs on.

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::*;

#[cfg(target_arch = "wasm32")]
mod web;
#[cfg(target_arch = "wasm32")]
pub(crate) use web::*;
