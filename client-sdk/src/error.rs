//! Errors of the client SDK. Each says what happened, what it means for the person's work, and
//! what to do next.

use std::path::PathBuf;

use fieldnotes_protocol::ErrorCode;
use reqwest::StatusCode;
use thiserror::Error;

/// Why a client operation failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server could not be reached (no signal, server down). Nothing is lost.
    #[error(
        "could not reach the server at {url} after {attempts} attempt(s): {reason}. Everything \
         recorded is safe on this device and will be sent on the next sync"
    )]
    Unreachable {
        url: String,
        attempts: u32,
        reason: String,
    },
    /// The server answered with an error.
    #[error(
        "the server refused the request ({} {code}): {message}. Everything recorded is safe on \
         this device", .status.as_u16()
    )]
    Server {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// The local store failed (not for damage or a full disk: those are
    /// [`ClientError::StoreDamaged`] and [`ClientError::StorageFull`]). The cause is the error's
    /// source.
    #[cfg(not(target_arch = "wasm32"))]
    #[error("the local store at {path} failed")]
    Store {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[cfg(not(target_arch = "wasm32"))]
    #[error("the local store at {path} could not be updated")]
    Migration {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// The store file is damaged: empty, cut short, not a database, or with corrupt pages.
    /// Nothing is changed or created over it; `check` (`fieldnotes doctor`) says what can be
    /// saved.
    #[error("the store at {path} is damaged: {what}. {advice}")]
    StoreDamaged {
        path: PathBuf,
        /// What is wrong, in plain words.
        what: String,
        /// What to do next.
        advice: String,
    },
    /// The device's storage is full: the last change was not saved; everything saved before is
    /// intact.
    #[error(
        "this device's storage is full: the store at {path} could not be written, so the last \
         change was not saved. Nothing saved before was lost. Free some space on this device \
         (delete or move files you do not need), then try again"
    )]
    StorageFull { path: PathBuf },
    /// The browser would not let the store keep data: its quota for this site is used up, or
    /// storage is turned off (a private window, a setting, a policy). The last change was not
    /// saved; everything saved before is intact. Browser (wasm32) only.
    #[cfg(target_arch = "wasm32")]
    #[error(
        "the browser refused storage: {reason}. The last change was not saved; nothing saved \
         before was lost. Free space for this site (or leave a private window), then try again"
    )]
    BrowserRefused {
        /// What the browser said, in its words (`QuotaExceededError: ...`).
        reason: String,
    },
    /// The browser's store (IndexedDB) failed for another reason. Browser (wasm32) only.
    #[cfg(target_arch = "wasm32")]
    #[error("the browser's store {name:?} failed: {reason}")]
    BrowserStore {
        /// The IndexedDB database.
        name: String,
        /// What failed, in the browser's words.
        reason: String,
    },
    /// The server is reachable but its own storage failed (full, read-only, I/O error), so it
    /// could not store the changes. Nothing is lost.
    #[error(
        "the server at {url} could not store the changes: {reason}. Your connection is fine; \
         everything recorded is safe on this device and will be sent by a later sync. If this \
         goes on, tell your administrator that the server's storage is failing"
    )]
    ServerStorage {
        url: String,
        /// What failed, in words ("its storage is full").
        reason: String,
    },
    /// Input the model refused (for example a validation rule).
    #[error(transparent)]
    Model(#[from] fieldnotes_model::ModelError),
    /// The device refused the change before writing anything: the server would refuse it too
    /// (the same rule and sentence, from `fieldnotes_model::rules`). Nothing was saved.
    #[error("{message}. Nothing was saved on this device")]
    Refused {
        code: fieldnotes_model::RuleCode,
        message: String,
    },
    /// `withdraw` found no change held for this document.
    #[error(
        "no change to document {doc_id} is held on this device: only changes the server refused \
         can be withdrawn (see `fieldnotes status`)"
    )]
    NothingToWithdraw { doc_id: String },
    /// No document with this id on this device.
    #[error("no document {id} on this device (run `sync` to fetch new work)")]
    NotFound { id: String },
    /// Another process already has this device's store open for writing (in a browser:
    /// another tab, window or `Client` of this site has it open). Nothing was opened.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        error(
            "the store at {path} is in use by another Fieldnotes process on this device; close \
             it first (only one may write as this device at a time)"
        )
    )]
    #[cfg_attr(
        target_arch = "wasm32",
        error(
            "Fieldnotes is already open in another tab or window on this device; close it, or \
             use that one (only one may write as this device at a time, so nothing was opened \
             here)"
        )
    )]
    Locked {
        /// The data folder (in a browser: the store's name).
        path: PathBuf,
    },
    /// The browser cannot keep the store to one writer (no Web Locks API, or it refused the
    /// lock), so the store was not opened: two tabs writing at once could lose work. Browser
    /// (wasm32) only.
    #[cfg(target_arch = "wasm32")]
    #[error(
        "this browser cannot make sure Fieldnotes is open in one tab only ({reason}), so \
         nothing was opened: two tabs writing at once could lose work. Open Fieldnotes from its \
         https address in an up-to-date browser"
    )]
    NoWriterLock {
        /// Why, in plain words and the browser's.
        reason: String,
    },
    /// The client is not set up for this operation.
    #[error("{0}")]
    Config(String),
    /// The local store holds data this version cannot read.
    #[error(
        "the local store holds data this version cannot read: {0}. Run `fieldnotes doctor` to \
         see what can be saved"
    )]
    Corrupt(String),
    /// Nobody is signed in on this device (never, or they signed out). Content stays sealed
    /// until someone signs in; nothing recorded is lost.
    #[error(
        "you are signed out: sign in to open the records on this device. Everything recorded \
         here is kept safe (encrypted) on this device"
    )]
    SignedOut,
    /// Signed in, but this process has not unlocked the store (the key is never kept on disk, so
    /// each new process unlocks with the password).
    #[error(
        "the records on this device are locked: unlock them with your password (or sign in \
         again). Everything recorded is safe"
    )]
    NotUnlocked,
    /// The password does not open this device's store.
    #[error(
        "that password does not unlock this device's records. Use the password you last signed \
         in with on this device (if it was changed, sign in while connected to the server)"
    )]
    WrongPassword,
    /// The server no longer accepts this device's sign-in (the refresh was refused, the session
    /// was ended, or there is no sign-in to refresh). Local work is unaffected.
    #[error(
        "your sign-in has ended ({reason}): sign in again to sync. Everything recorded is safe \
         on this device and will be sent after you sign in"
    )]
    SignInRequired { reason: String },
    /// The server refused the sign-in (wrong username or password, account disabled...).
    #[error("sign-in refused: {message}")]
    SignInRefused { code: String, message: String },
    /// This device's store belongs to someone else.
    #[error(
        "this device's store belongs to {owner}; to sign in as {attempted}, use another data \
         folder (two people's work is never mixed in one store)"
    )]
    WrongUser { owner: String, attempted: String },
    /// The server could not be reached and an offline sign-in is not possible here.
    #[error("cannot sign in without the server: {reason}")]
    OfflineSignInUnavailable { reason: String },
    /// Signed in on the server, but neither the server's key for this device nor the password
    /// opens the store.
    #[error(
        "the server accepted the sign-in, but its key for this device does not open the records \
         stored here, and {detail}. Sign in with the password last used on this device, or ask \
         an administrator. Nothing has been removed"
    )]
    KeyMismatch { detail: String },
    /// The device was revoked and its local data removed; the client refuses all operations.
    #[error(
        "this device was revoked by an administrator and its data has been removed from it. \
         Ask an administrator if you need to use it again"
    )]
    Wiped,
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<fieldnotes_model::Refusal> for ClientError {
    fn from(r: fieldnotes_model::Refusal) -> Self {
        ClientError::Refused {
            code: r.code,
            message: r.message,
        }
    }
}

impl ClientError {
    /// A model error as the device shows it: an edit to a locked or deleted record is a
    /// refusal by the write rules, in the server's words.
    pub(crate) fn from_model(e: fieldnotes_model::ModelError) -> Self {
        use fieldnotes_model::{ModelError, rules};
        match e {
            ModelError::Locked { doc_id, status } => rules::locked(&doc_id, status).into(),
            ModelError::Deleted { doc_id, by, reason } => {
                rules::deleted(&doc_id, &by, &reason).into()
            }
            other => ClientError::Model(other),
        }
    }

    /// True when the failure is about the network or server, and the work is waiting safely
    /// in the outbox.
    pub fn is_retryable(&self) -> bool {
        // (Auth failures and wipes are final: retrying cannot help.)
        match self {
            ClientError::Unreachable { .. } | ClientError::ServerStorage { .. } => true,
            ClientError::Server { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    /// The HTTP status of a server's refusal.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server refused for too many tries (it says when to try again).
    pub(crate) fn is_throttled(&self) -> bool {
        self.status() == Some(StatusCode::TOO_MANY_REQUESTS)
    }

    /// Whether this is the server's order to wipe: the device was revoked.
    pub(crate) fn is_revoked(&self) -> bool {
        matches!(self, ClientError::Server { status: StatusCode::FORBIDDEN, code, .. }
            if ErrorCode::parse(code) == Some(ErrorCode::DeviceRevoked))
    }
}

/// What the doctor advice says, for every damaged store.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) const DOCTOR_ADVICE: &str = "Nothing has been changed or created over it. Run \
     `fieldnotes doctor` to see what can be saved and how to carry on";
