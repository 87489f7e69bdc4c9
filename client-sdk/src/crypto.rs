//! Encryption at rest: what protects a practitioner's records in a store file that leaves the
//! device (a stolen laptop, a copied data folder, a backup).
//!
//! # Keys
//!
//! * **Data key (DEK).** 32 random bytes, made on the store's first sign-in, never written to
//!   disk in the clear and held in memory only while the person is signed in and the store is
//!   unlocked (zeroized when dropped: at sign-out, at wipe, and when the [`crate::Client`] goes).
//!   Two keys are derived from it with HMAC-SHA256 (one PRF block, as in HKDF-Expand): the
//!   *sealing key* and the *tag key*. The DEK itself seals nothing.
//! * **Password wrap** (`meta.dek_password`). The DEK sealed under a key derived with Argon2id
//!   from the person's password and a random 16-byte salt; the Argon2 parameters are stored with
//!   it (and bound into its AAD), so a later version may raise them without stranding old
//!   stores. This is what lets a person sign in with no signal, and what [`crate::Client::unlock`]
//!   uses in a new process. A sign-in with an identity-provider token has no password, so it
//!   cannot write or refresh this wrap: offline unlock needs an earlier password sign-in.
//! * **Server wrap** (`meta.dek_server`). The DEK sealed under the `store_key` the server
//!   returns in every `Session` (32 random bytes the server keeps per device). An online sign-in
//!   opens the store with it, so a password changed on the server (by the person or an admin)
//!   still opens the store; the password wrap is then re-made under the current password. If the
//!   server's key no longer opens it (the device was registered afresh), the password wrap is
//!   tried and the server wrap re-made.
//!
//! Both wraps are bound through their AAD to this device id and the owner's user id. The first
//! online sign-in on a store with neither wrap makes the DEK. Argon2 runs only at sign-in and
//! unlock (on a blocking thread), never per edit: sealing costs microseconds per value.
//!
//! # Sealed values
//!
//! A sealed value is `0x01 ‖ nonce (24 bytes) ‖ XChaCha20-Poly1305 ciphertext ‖ tag (16)`; the
//! nonce is random (192 bits, so random nonces never realistically repeat under one key). The
//! AAD binds each value to its place: `"fieldnotes/v1"`, the purpose (table and column, such as
//! `documents.snapshot`), and the row's identity (document id; document id and change hash for
//! an outbox row), each length-prefixed. A ciphertext copied into another row or column fails to
//! open. Sealed: document snapshots, each document's listing (child id and summary), outbox
//! change bytes, held reasons, the access and refresh tokens, and the list of held scope keys.
//! Plain: document kind and id (random UUIDs), change hashes, timestamps, the cursor, the device
//! and actor ids, the server address, and the signed-in person's own user info.
//!
//! # On disk
//!
//! * `documents`: `kind`, `doc_id`, `updated_at_ms` plain; `snapshot` sealed
//!   (`documents.snapshot`, doc id); `listing` sealed JSON `{child_id, summary}`
//!   (`documents.listing`, doc id), with `child_id` NULL and `summary` empty; `scope_tag` (below);
//!   `enc = 1`.
//! * `outbox`: `bytes` sealed (`outbox.bytes`, doc id + change hash); a held change's reason in
//!   `held_note` sealed (`outbox.held_note`, doc id + hash), `held_reason` NULL; `held_code`,
//!   hash and times plain; `enc = 1`.
//! * `meta`: `tokens` and `scopes` sealed, base64 (`meta`, key name); `dek_password` (JSON:
//!   Argon2 parameters, salt, sealed DEK), `dek_server` (base64 sealed DEK), `user` (the owner's
//!   `UserInfo` JSON), `session` (`signed_in`/`signed_out`), and the device id, actor id, server
//!   URL, cursor and last sync time, plain.
//! * Rows with `enc = 0` are plaintext rows of the first version of the store; the first unlock
//!   seals them in one transaction, then `VACUUM` and a truncating WAL checkpoint leave no copy.
//!   The connection runs with `secure_delete = ON`, so deleted rows are overwritten.
//!
//! Documents are found by scope key (to remove a child's records when an allocation ends) by a
//! *scope tag*: HMAC-SHA256 under the tag key of the scope key, so equal keys have equal tags but
//! a tag does not reveal the child id to anyone without the DEK.
//!
//! # What this does not protect
//!
//! Someone who has the store file *and* the person's password can open it (that is what offline
//! sign-in is). The per-device Argon2 parameters make guessing a password from a copied file
//! slow, not impossible: a weak password is a weak store. A person able to *write* the store file
//! could replace a row with an older sealed version of the same row (AEAD does not prevent
//! rollback); the threat here is disclosure, not tampering by someone holding the device.
//! Document kinds, counts, sizes and edit times remain visible.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::TryRng as _;
use rand::rngs::SysRng;
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

type HmacSha256 = Hmac<Sha256>;
/// A 32-byte key that zeroizes itself when dropped and never prints.
type SecretKey = SecretBox<[u8; KEY_LEN]>;

/// Version byte of the sealed-value format.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
const SALT_LEN: usize = 16;
const AAD_DOMAIN: &[u8] = b"fieldnotes/v1";

/// Why a sealed value or a wrapped key did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CryptoError {
    /// Authentication failed: wrong key, or the value was altered or moved.
    #[error("a sealed value did not open (wrong key, or the value was altered or moved)")]
    Open,
    /// The value is not in a format this version writes.
    #[error("a sealed value is not in a format this version can read: {0}")]
    Format(String),
    #[error("the password key could not be derived: {0}")]
    Kdf(String),
    #[error("the system's random number generator failed: {0}")]
    Random(String),
}

/// Fill `buf` from the operating system's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    SysRng
        .try_fill_bytes(buf)
        .map_err(|e| CryptoError::Random(e.to_string()))
}

/// The associated data that binds a sealed value to its place in the store.
pub(crate) fn aad(purpose: &str, ids: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        AAD_DOMAIN.len() + purpose.len() + 8 + ids.iter().map(|s| s.len() + 4).sum::<usize>(),
    );
    for part in std::iter::once(AAD_DOMAIN)
        .chain(std::iter::once(purpose.as_bytes()))
        .chain(ids.iter().map(|s| s.as_bytes()))
    {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Place names used in AADs.
pub(crate) mod purpose {
    pub const SNAPSHOT: &str = "documents.snapshot";
    pub const LISTING: &str = "documents.listing";
    pub const OUTBOX_BYTES: &str = "outbox.bytes";
    pub const HELD_NOTE: &str = "outbox.held_note";
    pub const META: &str = "meta";
    pub const WRAP_PASSWORD: &str = "dek.password";
    pub const WRAP_SERVER: &str = "dek.server";
}

fn seal_with(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // Only inputs beyond 2^38 bytes fail.
        .map_err(|_| CryptoError::Format("a value is too large to seal".into()))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_with(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Format(format!(
            "{} bytes is too short to be a sealed value",
            sealed.len()
        )));
    }
    if sealed[0] != FORMAT_V1 {
        return Err(CryptoError::Format(format!(
            "unknown format version {}",
            sealed[0]
        )));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[1..=NONCE_LEN]);
    cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &sealed[1 + NONCE_LEN..],
                aad,
            },
        )
        .map_err(|_| CryptoError::Open)
}

fn cipher_for(key: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key).into())
}

/// The store's data key, in memory only.
#[derive(Debug)]
pub(crate) struct DataKey(SecretKey);

/// A secret key filled by `fill` (which may fail).
fn secret_key<E>(fill: impl FnOnce(&mut [u8; KEY_LEN]) -> Result<(), E>) -> Result<SecretKey, E> {
    let mut key = SecretBox::new(Box::new([0u8; KEY_LEN]));
    fill(key.expose_secret_mut())?;
    Ok(key)
}

impl DataKey {
    /// A new random data key.
    pub(crate) fn generate() -> Result<Self, CryptoError> {
        secret_key(|key| random_bytes(key)).map(DataKey)
    }

    fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        secret_key(|key| {
            if bytes.len() != KEY_LEN {
                return Err(CryptoError::Format(
                    "a wrapped key has the wrong length".into(),
                ));
            }
            key.copy_from_slice(bytes);
            Ok(())
        })
        .map(DataKey)
    }

    /// The working keys derived from this data key.
    pub(crate) fn keys(&self) -> Keys {
        let seal = prf(self.0.expose_secret(), b"fieldnotes/v1 sealing key");
        Keys {
            cipher: cipher_for(seal.expose_secret()),
            tag: prf(self.0.expose_secret(), b"fieldnotes/v1 scope tag key"),
        }
    }

    /// Seal this key under a password, for offline unlock.
    pub(crate) fn wrap_with_password(
        &self,
        password: &str,
        kdf: PasswordKdf,
        binding: &str,
    ) -> Result<PasswordWrap, CryptoError> {
        let mut salt = [0u8; SALT_LEN];
        random_bytes(&mut salt)?;
        let kek = kdf.derive(password, &salt)?;
        let salt = B64.encode(salt);
        let aad = password_wrap_aad(binding, &kdf, &salt);
        let sealed = seal_with(&cipher_for(&kek), &aad, self.0.expose_secret())?;
        Ok(PasswordWrap {
            v: 1,
            m_kib: kdf.memory_kib,
            t: kdf.iterations,
            p: kdf.parallelism,
            salt,
            sealed: B64.encode(sealed),
        })
    }

    /// Seal this key under the server's per-device store key.
    pub(crate) fn wrap_with_server_key(
        &self,
        server_key: &ServerKey,
        binding: &str,
    ) -> Result<String, CryptoError> {
        let aad = aad(purpose::WRAP_SERVER, &[binding]);
        Ok(B64.encode(seal_with(
            &cipher_for(server_key.0.expose_secret()),
            &aad,
            self.0.expose_secret(),
        )?))
    }

    /// Open a key sealed with [`DataKey::wrap_with_server_key`].
    pub(crate) fn unwrap_with_server_key(
        wrapped: &str,
        server_key: &ServerKey,
        binding: &str,
    ) -> Result<Self, CryptoError> {
        let sealed = B64
            .decode(wrapped.trim())
            .map_err(|e| CryptoError::Format(format!("server wrap: {e}")))?;
        let aad = aad(purpose::WRAP_SERVER, &[binding]);
        let plain = Zeroizing::new(open_with(
            &cipher_for(server_key.0.expose_secret()),
            &aad,
            &sealed,
        )?);
        Self::from_slice(&plain)
    }
}

/// HKDF-Expand (HMAC-SHA256) of the data key, used directly as the pseudorandom key, with
/// `info` as the label: one output block.
fn prf(key: &[u8; KEY_LEN], info: &[u8]) -> SecretKey {
    let mut out = SecretBox::new(Box::new([0u8; KEY_LEN]));
    // Both lengths are constants that HKDF-SHA256 accepts, so neither step can fail; if one
    // ever did, stopping is right: a zero key would seal every store under one constant.
    Hkdf::<Sha256>::from_prk(key)
        .expect("a 32-byte key is a valid HKDF-SHA256 pseudorandom key")
        .expand(info, out.expose_secret_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// The working keys of an unlocked store.
#[derive(Debug)]
pub(crate) struct Keys {
    /// XChaCha20-Poly1305 under the sealing key (zeroizes the key when dropped).
    cipher: XChaCha20Poly1305,
    tag: SecretKey,
}

impl Keys {
    /// Seal `plaintext` for the place `aad` names.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.cipher, aad, plaintext)
    }

    /// Open a value sealed for the place `aad` names.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.cipher, aad, sealed)
    }

    /// Seal text as base64 (for TEXT columns such as `meta.value`).
    pub(crate) fn seal_text(&self, aad: &[u8], plaintext: &[u8]) -> Result<String, CryptoError> {
        Ok(B64.encode(self.seal(aad, plaintext)?))
    }

    /// Open a value sealed with [`Keys::seal_text`].
    pub(crate) fn open_text(&self, aad: &[u8], sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let bytes = B64
            .decode(sealed.trim())
            .map_err(|e| CryptoError::Format(format!("base64: {e}")))?;
        self.open(aad, &bytes)
    }

    /// The keyed hash of a scope key stored in `documents.scope_tag`.
    pub(crate) fn scope_tag(&self, scope_key: &str) -> Vec<u8> {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = match <HmacSha256 as KeyInit>::new_from_slice(self.tag.expose_secret()) {
            Ok(mac) => mac,
            Err(_) => return Vec::new(),
        };
        mac.update(b"scope:");
        mac.update(scope_key.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// The server's per-device store key (from `Session::store_key`), in memory only.
#[derive(Debug)]
pub(crate) struct ServerKey(SecretKey);

impl ServerKey {
    /// Decode the base64 key the server sent.
    pub(crate) fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let mut bytes = B64
            .decode(text.trim())
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim()))
            .map_err(|e| CryptoError::Format(format!("the server's store key: {e}")))?;
        let key = secret_key(|key| {
            if bytes.len() != KEY_LEN {
                return Err(CryptoError::Format(format!(
                    "the server's store key has {} bytes, not {KEY_LEN}",
                    bytes.len()
                )));
            }
            key.copy_from_slice(&bytes);
            Ok(())
        });
        bytes.zeroize();
        key.map(ServerKey)
    }
}

/// Argon2id cost for the key derived from a password.
///
/// The default (64 MiB, 3 passes, 1 lane) takes a fraction of a second on a laptop, once per
/// sign-in or unlock. The parameters are stored with the wrapped key, so changing the default
/// affects only keys wrapped afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordKdf {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordKdf {
    fn default() -> Self {
        PasswordKdf {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl PasswordKdf {
    /// A cheap setting for tests only: it makes a copied store's password quick to guess.
    pub fn insecure_fast_for_tests() -> Self {
        PasswordKdf {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    /// Most memory a stored parameter set may ask for (an altered file must not exhaust memory).
    const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    const MAX_ITERATIONS: u32 = 64;
    const MAX_PARALLELISM: u32 = 16;

    fn derive(&self, password: &str, salt: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
        if self.memory_kib > Self::MAX_MEMORY_KIB
            || self.iterations > Self::MAX_ITERATIONS
            || self.parallelism > Self::MAX_PARALLELISM
        {
            return Err(CryptoError::Kdf(format!(
                "stored Argon2 parameters are out of range: {self:?}"
            )));
        }
        let params = argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(KEY_LEN),
        )
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        argon
            .hash_password_into(password.as_bytes(), salt, out.as_mut())
            .map_err(|e| CryptoError::Kdf(e.to_string()))?;
        Ok(out)
    }
}

/// The data key sealed under a password-derived key, as stored in `meta.dek_password` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PasswordWrap {
    /// Format version.
    pub v: u32,
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
    /// Base64 salt.
    pub salt: String,
    /// Base64 sealed data key.
    pub sealed: String,
}

fn password_wrap_aad(binding: &str, kdf: &PasswordKdf, salt: &str) -> Vec<u8> {
    let params = format!(
        "argon2id m={} t={} p={} salt={salt}",
        kdf.memory_kib, kdf.iterations, kdf.parallelism
    );
    aad(purpose::WRAP_PASSWORD, &[binding, &params])
}

impl PasswordWrap {
    /// Open the data key with `password`. [`CryptoError::Open`] means a wrong password.
    /// Runs Argon2: call it on a blocking thread.
    pub(crate) fn unwrap(&self, password: &str, binding: &str) -> Result<DataKey, CryptoError> {
        if self.v != 1 {
            return Err(CryptoError::Format(format!(
                "password wrap version {}",
                self.v
            )));
        }
        let kdf = PasswordKdf {
            memory_kib: self.m_kib,
            iterations: self.t,
            parallelism: self.p,
        };
        let salt = B64
            .decode(&self.salt)
            .map_err(|e| CryptoError::Format(format!("salt: {e}")))?;
        let sealed = B64
            .decode(&self.sealed)
            .map_err(|e| CryptoError::Format(format!("password wrap: {e}")))?;
        let kek = kdf.derive(password, &salt)?;
        let aad = password_wrap_aad(binding, &kdf, &self.salt);
        let plain = Zeroizing::new(open_with(&cipher_for(&kek), &aad, &sealed)?);
        DataKey::from_slice(&plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        DataKey::generate().unwrap().keys()
    }

    #[test]
    fn seal_round_trip_and_fresh_nonces() {
        let k = keys();
        let a = aad(purpose::SNAPSHOT, &["doc-1"]);
        let one = k.seal(&a, b"Sam was seen alone").unwrap();
        let two = k.seal(&a, b"Sam was seen alone").unwrap();
        assert_ne!(one, two, "each seal takes a fresh nonce");
        assert_eq!(one.len(), 1 + NONCE_LEN + 18 + TAG_LEN);
        assert_eq!(k.open(&a, &one).unwrap(), b"Sam was seen alone");
        assert_eq!(k.open(&a, &two).unwrap(), b"Sam was seen alone");
        assert_eq!(k.open(&a, &k.seal(&a, b"").unwrap()).unwrap(), b"");
    }

    #[test]
    fn a_value_moved_to_another_row_or_column_does_not_open() {
        let k = keys();
        let sealed = k
            .seal(&aad(purpose::SNAPSHOT, &["doc-1"]), b"secret")
            .unwrap();
        assert_eq!(
            k.open(&aad(purpose::SNAPSHOT, &["doc-2"]), &sealed),
            Err(CryptoError::Open)
        );
        assert_eq!(
            k.open(&aad(purpose::LISTING, &["doc-1"]), &sealed),
            Err(CryptoError::Open)
        );
        // Length prefixes keep ("ab","c") apart from ("a","bc").
        assert_ne!(aad("p", &["ab", "c"]), aad("p", &["a", "bc"]));
    }

    #[test]
    fn altered_or_foreign_ciphertext_does_not_open() {
        let k = keys();
        let a = aad(purpose::OUTBOX_BYTES, &["d", "h"]);
        let mut sealed = k.seal(&a, b"change bytes").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(k.open(&a, &sealed), Err(CryptoError::Open));
        let other = keys().seal(&a, b"change bytes").unwrap();
        assert_eq!(k.open(&a, &other), Err(CryptoError::Open));
        assert!(matches!(k.open(&a, b"short"), Err(CryptoError::Format(_))));
        let mut wrong_version = k.seal(&a, b"x").unwrap();
        wrong_version[0] = 9;
        assert!(matches!(
            k.open(&a, &wrong_version),
            Err(CryptoError::Format(_))
        ));
    }

    #[test]
    fn password_wrap_opens_only_with_the_password_and_binding() {
        let dek = DataKey::generate().unwrap();
        let kdf = PasswordKdf::insecure_fast_for_tests();
        let wrap = dek
            .wrap_with_password("correct horse", kdf, "user-1")
            .unwrap();
        let opened = wrap.unwrap("correct horse", "user-1").unwrap();
        assert_eq!(opened.0.expose_secret(), dek.0.expose_secret());
        assert!(matches!(
            wrap.unwrap("wrong", "user-1"),
            Err(CryptoError::Open)
        ));
        assert!(matches!(
            wrap.unwrap("correct horse", "user-2"),
            Err(CryptoError::Open)
        ));
        // Parameters are bound: weakening them in the file breaks the wrap.
        let mut weakened = wrap.clone();
        weakened.t += 1;
        assert!(matches!(
            weakened.unwrap("correct horse", "user-1"),
            Err(CryptoError::Open)
        ));
        let mut absurd = wrap.clone();
        absurd.m_kib = u32::MAX;
        assert!(matches!(
            absurd.unwrap("correct horse", "user-1"),
            Err(CryptoError::Kdf(_))
        ));
    }

    #[test]
    fn server_wrap_round_trip() {
        let dek = DataKey::generate().unwrap();
        let key = ServerKey::from_base64(&B64.encode([7u8; 32])).unwrap();
        let wrapped = dek.wrap_with_server_key(&key, "user-1").unwrap();
        let opened = DataKey::unwrap_with_server_key(&wrapped, &key, "user-1").unwrap();
        assert_eq!(opened.0.expose_secret(), dek.0.expose_secret());
        let other = ServerKey::from_base64(&B64.encode([8u8; 32])).unwrap();
        assert!(DataKey::unwrap_with_server_key(&wrapped, &other, "user-1").is_err());
        assert!(ServerKey::from_base64(&B64.encode([1u8; 16])).is_err());
        assert!(ServerKey::from_base64("not base64!").is_err());
    }

    /// Stores already written must still open: these bytes were computed by the first
    /// (hand-written HMAC) derivation, before it moved to the `hkdf` crate.
    #[test]
    fn key_derivation_matches_the_first_version() {
        let dek = [0x42u8; KEY_LEN];
        assert_eq!(
            hex::encode(prf(&dek, b"fieldnotes/v1 sealing key").expose_secret()),
            "e94b141ff38b820f04e8619d67a0c70fa2b0c56ce5d52832770e000597f5de69"
        );
        assert_eq!(
            hex::encode(prf(&dek, b"fieldnotes/v1 scope tag key").expose_secret()),
            "766ecca06a3668d5f27e68629e0c457879a3a1711898b5cb99b5e017bf3e9a4b"
        );
        let keys = DataKey::from_slice(&dek).unwrap().keys();
        assert_eq!(
            hex::encode(keys.scope_tag("child:c-1")),
            "598af4ab607311e32fe9d6a6f97a9c315c56c81a3ea96d262076733f88639442"
        );
    }

    #[test]
    fn data_keys_derive_distinct_working_keys() {
        let dek = DataKey::generate().unwrap();
        let a = dek.keys();
        let b = dek.keys();
        let sealed = a.seal(b"x", b"y").unwrap();
        assert_eq!(b.open(b"x", &sealed).unwrap(), b"y");
        assert_eq!(a.scope_tag("child:c-1"), b.scope_tag("child:c-1"));
        assert_ne!(a.scope_tag("child:c-1"), a.scope_tag("child:c-2"));
        assert_ne!(
            a.scope_tag("child:c-1"),
            keys().scope_tag("child:c-1"),
            "tags depend on the data key"
        );
        assert_eq!(a.scope_tag("child:c-1").len(), 32);
    }
}
