//! What this process holds: the wiped flag, the owner and session view, and the keys.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use fieldnotes_protocol::auth::{DeviceInfo, UserInfo};

use crate::crypto::Keys;
use crate::transport::Transport;
use crate::{AuthView, Client, ClientError, RetryPolicy};

/// What the data key's wraps are bound to: a device and its owner.
pub(crate) fn wrap_binding(device_id: &str, user_id: &str) -> String {
    format!("device={device_id} user={user_id}")
}

impl Client {
    pub(crate) fn check_wiped(&self) -> Result<(), ClientError> {
        if self.wiped.load(Ordering::SeqCst) {
            Err(ClientError::Wiped)
        } else {
            Ok(())
        }
    }

    pub(crate) fn auth_view(&self) -> AuthView {
        self.auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn set_auth_view(&self, view: AuthView) {
        *self.auth.lock().unwrap_or_else(PoisonError::into_inner) = view;
    }

    /// Hold the keys and mark `owner` signed in (or, with `None`, forget both).
    pub(super) fn set_signed_in(&self, keys: Arc<Keys>, owner: &UserInfo) {
        self.set_keys(Some(keys));
        self.set_auth_view(AuthView {
            owner: Some(owner.clone()),
            signed_in: true,
        });
    }

    pub(super) fn set_keys(&self, keys: Option<Arc<Keys>>) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// The keys if this process holds them.
    pub(super) fn held_keys(&self) -> Option<Arc<Keys>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The store's keys, or why content cannot be opened now.
    pub(crate) fn keys(&self) -> Result<Arc<Keys>, ClientError> {
        self.check_wiped()?;
        if let Some(keys) = self.held_keys() {
            return Ok(keys);
        }
        if self.auth_view().signed_in {
            Err(ClientError::NotUnlocked)
        } else {
            Err(ClientError::SignedOut)
        }
    }

    /// Whether this process holds the store's key (content operations work).
    pub fn is_unlocked(&self) -> bool {
        !self.wiped.load(Ordering::SeqCst) && self.held_keys().is_some()
    }

    /// The signed-in person (kept on the device; `None` when signed out). They may still need
    /// to [`unlock`](Client::unlock) in this process.
    pub fn user(&self) -> Option<UserInfo> {
        if self.wiped.load(Ordering::SeqCst) {
            return None;
        }
        let view = self.auth_view();
        if view.signed_in { view.owner } else { None }
    }

    pub(super) fn device_info(&self, name: &str) -> DeviceInfo {
        DeviceInfo {
            device_id: self.device_id.clone(),
            actor_id: self.actor.to_hex_string(),
            name: name.to_owned(),
        }
    }

    /// What the data key's wraps are bound to: this device and its owner.
    pub(super) fn wrap_binding(&self, user_id: &str) -> String {
        wrap_binding(&self.device_id, user_id)
    }

    pub(crate) fn transport(&self, retry: RetryPolicy) -> Result<Transport, ClientError> {
        let base = self.server_url.as_deref().ok_or_else(|| {
            ClientError::Config(
                "no server is set for this device; give one with --server (or \
                 ClientBuilder::server_url)"
                    .into(),
            )
        })?;
        Ok(Transport::new(&self.http, base, retry))
    }
}
