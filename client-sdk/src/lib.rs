//! The Fieldnotes client SDK: what runs on a practitioner's laptop or phone.
//!
//! Everything is local first. [`Client::create`] and [`Client::edit`] write the document and
//! its new change to a local SQLite store and return once that is committed — no network is
//! involved. [`Client::sync`] later sends the outbox and fetches what others wrote, in as few
//! HTTP rounds as the data allows (one round when it all fits in a page), retrying with
//! backoff when the network fails. A refused document is held on the device with its reason
//! and never blocks the others.
//!
//! **Signing in.** [`Client::sign_in`] (password) or [`Client::sign_in_external`] (a token from
//! the organisation's identity provider) registers the device with the server and unlocks the
//! store. With no signal, a password sign-in falls back to unlocking the store offline, for a
//! person who has signed in on this device before. A new process after an earlier sign-in
//! (each CLI command) calls [`Client::unlock`] with the password: the store's key is never
//! written to disk. Every server call carries the access token (`Authorization: Bearer`); an
//! expired one is refreshed before or, on a 401, during a sync, and the rotated refresh token
//! is stored at once. Only a refused refresh asks the person to sign in again
//! ([`ClientError::SignInRequired`]); an expired or missing token never blocks local work.
//! [`Client::sign_out`] keeps all unsynced work, sealed, for the next sign-in.
//!
//! **Encryption at rest.** Document content, listings, outbox changes, held reasons, tokens
//! and the held scope list are sealed with a data key that exists in memory only while the
//! store is unlocked; see [`crypto`] for the design. A copied store file without
//! the person's password reveals no child's name or note text.
//!
//! **Scopes.** A device lists the scope keys (`child:ID`, `worker:ID`, `*`) whose documents it
//! holds in full; when the server says a scope left the person's caseload, its documents are
//! removed once their pending changes have been pushed (meanwhile the key is no longer listed,
//! so if it comes back first the server sends its whole history again). A device the server
//! reports as revoked wipes its store ([`ClientError::Wiped`]).
//!
//! One process at a time may write as a device: [`ClientBuilder::open`] takes an exclusive
//! lock on a file in the data folder, so two processes never write changes with the same
//! automerge actor id.

mod api;
/// Damage checks and saving work from a damaged SQLite file: native only.
#[cfg(not(target_arch = "wasm32"))]
mod check;
/// The sync conformance suite, for the native and browser test runners (feature
/// `conformance`; the browser runner is this crate's own wasm32 tests).
#[cfg(any(feature = "conformance", all(test, target_arch = "wasm32")))]
pub mod conformance;
pub mod crypto;
mod draft;
mod error;
mod platform;
mod review;
mod session;
mod store;
mod sync;
mod transport;
mod withdraw;

use std::collections::{BTreeMap, HashMap};
#[cfg(not(target_arch = "wasm32"))]
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

use fieldnotes_model::{
    ActorId, DocKind, Document, FieldConflict, NewRecord, Patch, Record, ShortPlanPatch, Writer,
    hash_hex,
};
use fieldnotes_protocol::ScopeKey;
use fieldnotes_protocol::auth::UserInfo;
use tokio::sync::Mutex;

#[cfg(not(target_arch = "wasm32"))]
pub use check::{
    Damage, EXPORT_FORMAT, Export, ExportedChange, ImportReport, OutboxSalvage, StoreCheck,
    StoreState, check,
};
pub use crypto::PasswordKdf;
pub use error::ClientError;
pub use fieldnotes_protocol::admin::AuditQuery;
pub use fieldnotes_protocol::review::ReviewQuery;
/// The sync core's account of a sync ([`SyncReport::protocol`]) and of a document the server
/// refused, held on this device with the reason ([`Client::rejections`]).
pub use fieldnotes_sync_core::{Refused, Summary};
/// The HTTP status in [`ClientError::Server`].
pub use reqwest::StatusCode;
pub use review::Resolution;
pub use session::SignIn;
pub use sync::{ServerRestored, SyncReport};
pub use transport::RetryPolicy;
pub use withdraw::{HeldChange, WITHDRAWN_DIR, Withdrawal, WithdrawnExport};

use crypto::Keys;
use store::{DeviceBackend, DocRow, LocalStore};

#[cfg(not(target_arch = "wasm32"))]
const LOCK_FILE: &str = "fieldnotes.lock";
const META_DEVICE: &str = "device_id";
const META_ACTOR: &str = "actor_id";
const META_SERVER: &str = "server_url";
const META_CURSOR: &str = "cursor";
const META_LAST_SYNC: &str = "last_sync_ms";
/// The store's owner: the person who first signed in here (JSON `UserInfo`, plain).
const META_USER: &str = "user";
/// `signed_in` or `signed_out`.
const META_SESSION: &str = "session";
/// The data key wrapped under the password (JSON, see `crypto::PasswordWrap`).
const META_DEK_PASSWORD: &str = "dek_password";
/// The data key wrapped under the server's store key (base64).
const META_DEK_SERVER: &str = "dek_server";
/// The access and refresh tokens (sealed JSON).
const META_TOKENS: &str = "tokens";
/// The scope keys held in full (sealed JSON list).
const META_SCOPES: &str = "scopes";
/// Sealed JSON list of the scope keys the person may read on this device but not write.
const META_READ_ONLY_SCOPES: &str = "read_only_scopes";
/// Sealed JSON list of the scope keys being removed: they left the person's scope while
/// changes to their documents waited to be sent. Not listed to the server; their documents go
/// once nothing of them waits.
const META_REMOVING_SCOPES: &str = "removing_scopes";
/// The children this person may see, as the server last listed them (sealed JSON).
const META_CHILDREN: &str = "children";
/// The person's team and its rules, as the server last said (sealed JSON).
const META_TEAM: &str = "team";
/// The anchor from the server's last answer (plain: a feed position and random numbers).
const META_ANCHOR: &str = "feed_anchor";
/// Present while own heads remain to be checked after a reset: the last document id checked.
const META_HEAL_AFTER: &str = "heal_after";

/// Default size of the changes sent in one round.
pub const DEFAULT_PUSH_BATCH_BYTES: u64 = 4 * 1024 * 1024;
/// Default size of the changes asked for in one round.
pub const DEFAULT_PAGE_BYTES: u64 = fieldnotes_protocol::DEFAULT_PAGE_BYTES;

/// Sets up a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    dir: PathBuf,
    server_url: Option<String>,
    retry: RetryPolicy,
    push_batch_bytes: u64,
    page_bytes: u64,
    kdf: PasswordKdf,
    identity: Option<(String, String)>,
}

impl ClientBuilder {
    /// The device id and automerge actor (hex) a *new* store takes instead of fresh ones: to
    /// carry on as the device a damaged store belonged to (see [`Export`]), so the server
    /// accepts its saved changes. An existing store keeps its own identity.
    pub fn device_identity(mut self, device_id: &str, actor_hex: &str) -> Self {
        self.identity = Some((device_id.to_owned(), actor_hex.to_owned()));
        self
    }

    /// The sync server, for example `http://127.0.0.1:7878`. Remembered in the store: later
    /// opens may leave it out.
    pub fn server_url(mut self, url: &str) -> Self {
        self.server_url = Some(url.to_owned());
        self
    }

    /// How sync retries rounds that fail for a reason that may pass.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Most change bytes pushed in one round (at least one change is always sent).
    pub fn push_batch_bytes(mut self, bytes: u64) -> Self {
        self.push_batch_bytes = bytes.max(1);
        self
    }

    /// Most change bytes asked for in one round.
    pub fn page_bytes(mut self, bytes: u64) -> Self {
        self.page_bytes = bytes.max(1);
        self
    }

    /// The Argon2id cost of the key derived from the password (used at sign-in and unlock only).
    /// Lower it only in tests: see [`PasswordKdf::insecure_fast_for_tests`].
    pub fn password_kdf(mut self, kdf: PasswordKdf) -> Self {
        self.kdf = kdf;
        self
    }

    /// Open the device's store (creating it, and the device identity, the first time). The
    /// store opens locked: content operations need [`Client::sign_in`] or [`Client::unlock`].
    pub async fn open(self) -> Result<Client, ClientError> {
        let lock = platform::lock_data_dir(&self.dir).await?;
        let store = platform::open_store(&self.dir).await?;
        let (device_id, actor) = device_identity(&store, self.identity).await?;
        let server_url = match self.server_url {
            Some(url) => {
                validate_url(&url)?;
                store.set_meta(META_SERVER, &url).await?;
                Some(url)
            }
            None => store.meta(META_SERVER).await?,
        };
        let auth = stored_auth(&store).await?;
        Ok(Client {
            dir: self.dir,
            store,
            device_id,
            actor,
            server_url,
            http: transport::Transport::http_client()?,
            retry: self.retry,
            push_batch_bytes: self.push_batch_bytes,
            page_bytes: self.page_bytes,
            kdf: self.kdf,
            write: Mutex::new(HashMap::new()),
            keys: RwLock::new(None),
            auth: std::sync::Mutex::new(auth),
            session: Mutex::new(()),
            wiped: AtomicBool::new(false),
            _lock: lock,
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// Take the data folder's exclusive lock (held by `file` until it is dropped).
pub(crate) fn take_lock(file: &File, dir: &Path, lock_path: &Path) -> Result<(), ClientError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(ClientError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ClientError::Io {
            path: lock_path.to_path_buf(),
            source,
        }),
    }
}

/// The store's device id and actor: made the first time (or taken from `identity`, for a new
/// store carrying on as a damaged one's device), then kept.
async fn device_identity(
    store: &LocalStore<DeviceBackend>,
    identity: Option<(String, String)>,
) -> Result<(String, ActorId), ClientError> {
    let identity = match store.meta(META_DEVICE).await? {
        Some(_) => None,
        None => identity,
    };
    if let Some((_, actor)) = &identity
        && store.meta(META_ACTOR).await?.is_none()
    {
        hex::decode(actor)
            .map_err(|e| ClientError::Config(format!("device actor id {actor:?}: {e}")))?;
        store.set_meta(META_ACTOR, actor).await?;
    }
    let device_id = match store.meta(META_DEVICE).await? {
        Some(id) => id,
        None => {
            let id = identity
                .map(|(id, _)| id)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            store.set_meta(META_DEVICE, &id).await?;
            id
        }
    };
    let actor = match store.meta(META_ACTOR).await? {
        Some(hex) => ActorId::from(
            hex::decode(&hex)
                .map_err(|e| ClientError::Corrupt(format!("stored actor id {hex:?}: {e}")))?,
        ),
        None => {
            let actor = ActorId::from(uuid::Uuid::new_v4().as_bytes().to_vec());
            store.set_meta(META_ACTOR, &actor.to_hex_string()).await?;
            actor
        }
    };
    Ok((device_id, actor))
}

/// The owner and session state as stored.
async fn stored_auth(store: &LocalStore<DeviceBackend>) -> Result<AuthView, ClientError> {
    let owner = match store.meta(META_USER).await? {
        Some(json) => Some(
            serde_json::from_str::<UserInfo>(&json)
                .map_err(|e| ClientError::Corrupt(format!("stored user: {e}")))?,
        ),
        None => None,
    };
    let signed_in =
        owner.is_some() && store.meta(META_SESSION).await?.as_deref() == Some("signed_in");
    Ok(AuthView { owner, signed_in })
}

fn validate_url(url: &str) -> Result<(), ClientError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ClientError::Config(format!("server address {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(ClientError::Config(format!(
            "server address {url:?} must look like http://HOST:PORT or https://HOST"
        )));
    }
    Ok(())
}

/// One line in a listing of the device's documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSummary {
    pub id: String,
    pub kind: DocKind,
    pub child_id: Option<String>,
    pub summary: String,
    /// Device time of the last local write or merge, ms since the epoch.
    pub updated_at_ms: i64,
}

/// Where this device's work stands with the server, as a status line shows it ("3 changes
/// waiting, 1 document held, last synced at 10:42"). Counts only: readable while signed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Changes of this device's in the outbox, not yet confirmed by the server (held ones
    /// included).
    pub pending_changes: u64,
    /// Documents with changes the server refused, held on this device (see
    /// [`Client::rejections`]).
    pub held_documents: u64,
    /// Device time of the last successful sync, ms since the epoch.
    pub last_sync_ms: Option<i64>,
}

/// Facts about the device's store, for `fieldnotes status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub device_id: String,
    pub data_dir: PathBuf,
    pub server_url: Option<String>,
    pub documents: u64,
    /// Where the device's work stands with the server.
    pub sync: SyncStatus,
    /// The person this device's store belongs to (the first to sign in here).
    pub owner: Option<UserInfo>,
    /// Whether that person is signed in (they may still need to unlock in this process).
    pub signed_in: bool,
    /// Whether this process holds the store's key.
    pub unlocked: bool,
}

/// A device's handle on its local store and the sync server.
#[derive(Debug)]
pub struct Client {
    dir: PathBuf,
    store: LocalStore<DeviceBackend>,
    device_id: String,
    actor: ActorId,
    server_url: Option<String>,
    /// One HTTP client for the client's lifetime: every call and sync shares its connections.
    http: reqwest::Client,
    retry: RetryPolicy,
    push_batch_bytes: u64,
    page_bytes: u64,
    kdf: PasswordKdf,
    /// Serialises read-modify-write of documents, and caches documents loaded for editing.
    write: Mutex<HashMap<String, Document>>,
    /// The store's working keys: present only while signed in and unlocked in this process.
    keys: RwLock<Option<Arc<Keys>>>,
    /// Who owns the store and whether they are signed in, as stored in `meta`.
    auth: std::sync::Mutex<AuthView>,
    /// Serialises sync, sign-in, unlock, sign-out and token refresh (a refresh token is good
    /// for one use, so two refreshes must never race).
    session: Mutex<()>,
    /// Set once the store has been wiped on the server's order; every operation then fails.
    wiped: AtomicBool,
    /// Held for the client's lifetime: the exclusive lock on the data folder (in a browser,
    /// the store's Web Lock).
    _lock: platform::WriterLock,
}

#[derive(Debug, Clone)]
struct AuthView {
    owner: Option<UserInfo>,
    signed_in: bool,
}

fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Documents kept in memory for editing; beyond this the cache is cleared.
const DOC_CACHE_LIMIT: usize = 16;

impl Client {
    /// Set up a client keeping its data in `dir`.
    pub fn builder(dir: impl AsRef<Path>) -> ClientBuilder {
        ClientBuilder {
            dir: dir.as_ref().to_path_buf(),
            server_url: None,
            retry: RetryPolicy::default(),
            push_batch_bytes: DEFAULT_PUSH_BATCH_BYTES,
            page_bytes: DEFAULT_PAGE_BYTES,
            kdf: PasswordKdf::default(),
            identity: None,
        }
    }

    /// Close the store (its write-ahead log is folded into the file) and release the data
    /// folder. Dropping the client does the same, in the background.
    pub async fn close(self) {
        self.store.close().await;
    }

    /// This device's id (registered with the server at sign-in).
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The automerge actor id this device writes as.
    pub fn actor_id(&self) -> &ActorId {
        &self.actor
    }

    /// The folder holding the store.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Record a new document. Returns its id once it is committed to the local store.
    pub async fn create(&self, record: NewRecord) -> Result<String, ClientError> {
        let keys = self.keys()?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        fieldnotes_model::validate::check_clock_new(&record, now)
            .map_err(fieldnotes_model::ModelError::from)?;
        if let NewRecord::ShortPlan(plan) = &record {
            self.check_team_rules(plan.points.len()).await?;
        }
        let mut cache = self.write.lock().await;
        let mut doc = Document::create(&id, self.actor.clone(), record, now)?;
        let changes = doc.all_changes();
        let (row, scope) = doc_row(&mut doc, now)?;
        // The server's rules, before anything is written: the author, and the child.
        let me = self.rules_user()?;
        let writer = writer(&me);
        doc.check_write_rules(&writer, &[], &changes)?;
        self.check_write_scope(&keys, &me.user_id, &scope).await?;
        let snapshot = doc.save();
        let mut tx = self.store.begin().await?;
        tx.put_document(&keys, &row, &scope, &snapshot).await?;
        for change in &changes {
            tx.enqueue(&keys, &id, &hash_hex(&change.hash), &change.bytes, now)
                .await?;
        }
        self.store.commit(tx).await?;
        cache_insert(&mut cache, id.clone(), doc);
        Ok(id)
    }

    /// Change fields of a document. Fields left `None` in the patch are not touched; long text
    /// is diffed so that concurrent edits elsewhere in the same text merge. Returns once the
    /// change is committed locally. Refused (and nothing changed) if the result would break a
    /// validation rule.
    pub async fn edit(&self, id: &str, patch: Patch) -> Result<(), ClientError> {
        self.check_team_rules_for(&patch).await?;
        self.change_with(id, |doc, now| {
            fieldnotes_model::validate::check_clock_patch(&patch, now)?;
            doc.edit(patch, now)
        })
        .await
        .map(|_| ())
    }

    /// Apply one model operation to a stored document and, if it wrote a change, store the
    /// new state and queue the change in one local transaction. Returns the change's hash.
    pub(crate) async fn change_with(
        &self,
        id: &str,
        operation: impl FnOnce(
            &mut Document,
            i64,
        ) -> Result<
            Option<fieldnotes_model::EncodedChange>,
            fieldnotes_model::ModelError,
        >,
    ) -> Result<Option<String>, ClientError> {
        let keys = self.keys()?;
        let me = self.rules_user()?;
        let writer = writer(&me);
        let now = now_ms();
        let mut cache = self.write.lock().await;
        let mut doc = match cache.remove(id) {
            Some(doc) => doc,
            None => self.load_existing(&keys, id).await?,
        };
        let before = doc.heads();
        let change = match operation(&mut doc, now) {
            Ok(Some(change)) => change,
            Ok(None) => {
                cache_insert(&mut cache, id.to_owned(), doc);
                return Ok(None); // Nothing changed.
            }
            Err(e) => {
                cache_insert(&mut cache, id.to_owned(), doc);
                return Err(ClientError::from_model(e));
            }
        };
        // The server's write rules, before anything is stored. On a refusal the in-memory
        // document (which holds the refused change) is dropped: the store never saw it.
        doc.check_write_rules(&writer, &before, std::slice::from_ref(&change))?;
        let read_only = self.read_only_scopes(&keys).await?;
        if !read_only.is_empty()
            && let Ok(record) = doc.read()
            && read_only.iter().any(|k| *k == record.scope_key())
        {
            return Err(
                fieldnotes_model::rules::out_of_scope(&me.user_id, &record.scope_key()).into(),
            );
        }
        let (row, scope) = doc_row(&mut doc, now)?;
        let snapshot = doc.save();
        let hash = hash_hex(&change.hash);
        let mut tx = self.store.begin().await?;
        tx.put_document(&keys, &row, &scope, &snapshot).await?;
        tx.enqueue(&keys, id, &hash, &change.bytes, now).await?;
        // If this commit fails the edited document is dropped from the cache with it.
        self.store.commit(tx).await?;
        cache_insert(&mut cache, id.to_owned(), doc);
        Ok(Some(hash))
    }

    /// Read a document.
    pub async fn get(&self, id: &str) -> Result<Option<Record>, ClientError> {
        match self.load(id).await? {
            Some(doc) => Ok(Some(doc.read()?)),
            None => Ok(None),
        }
    }

    /// The automerge document itself (for history, heads and conflict inspection).
    pub async fn document(&self, id: &str) -> Result<Option<Document>, ClientError> {
        self.load(id).await
    }

    /// The document's heads, as sorted hex hashes: two devices with equal heads hold the same
    /// document.
    pub async fn heads(&self, id: &str) -> Result<Vec<String>, ClientError> {
        let keys = self.keys()?;
        let mut doc = self.load_existing(&keys, id).await?;
        let mut heads: Vec<String> = doc.heads().iter().map(hash_hex).collect();
        heads.sort();
        Ok(heads)
    }

    /// Fields of a document that hold concurrent, conflicting values.
    pub async fn conflicts(&self, id: &str) -> Result<Vec<FieldConflict>, ClientError> {
        let keys = self.keys()?;
        let mut doc = self.load_existing(&keys, id).await?;
        Ok(doc.conflicts())
    }

    /// The documents on this device, most recently changed first.
    pub async fn list(&self, kind: Option<DocKind>) -> Result<Vec<DocSummary>, ClientError> {
        let keys = self.keys()?;
        let rows = self.store.list(&keys, kind.map(|k| k.as_str())).await?;
        rows.into_iter()
            .map(|r| {
                let kind = r
                    .kind
                    .parse::<DocKind>()
                    .map_err(|e| ClientError::Model(e.into()))?;
                Ok(DocSummary {
                    id: r.doc_id,
                    kind,
                    child_id: r.child_id,
                    summary: r.summary,
                    updated_at_ms: r.updated_at_ms,
                })
            })
            .collect()
    }

    /// Changes recorded here that the server has not confirmed yet (held ones included).
    /// Works while signed out (a count reveals nothing).
    pub async fn pending_changes(&self) -> Result<u64, ClientError> {
        self.check_wiped()?;
        self.store.pending_changes().await
    }

    /// How many changes wait to be sent for each record that has any (held ones included), by
    /// record id: what a list shows beside a record or a child. Works while signed out (counts
    /// and random ids reveal nothing).
    pub async fn pending_by_record(&self) -> Result<BTreeMap<String, u64>, ClientError> {
        self.check_wiped()?;
        self.store.pending_by_document().await
    }

    /// Documents the server refused, held here with the reason until they are edited.
    pub async fn rejections(&self) -> Result<Vec<Refused>, ClientError> {
        let keys = self.keys()?;
        self.store.held(&keys).await
    }

    /// Where this device's work stands with the server. Works while signed out.
    pub async fn sync_status(&self) -> Result<SyncStatus, ClientError> {
        self.check_wiped()?;
        Ok(SyncStatus {
            pending_changes: self.store.pending_changes().await?,
            held_documents: self.store.held_count().await?,
            last_sync_ms: self
                .store
                .meta(META_LAST_SYNC)
                .await?
                .and_then(|v| v.parse().ok()),
        })
    }

    /// Facts about this device's store. Works while signed out: counts only, no content.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.check_wiped()?;
        let view = self.auth_view();
        Ok(Status {
            device_id: self.device_id.clone(),
            data_dir: self.dir.clone(),
            server_url: self.server_url.clone(),
            documents: self.store.document_count().await?,
            sync: self.sync_status().await?,
            owner: view.owner,
            signed_in: view.signed_in,
            unlocked: self.is_unlocked(),
        })
    }

    /// Who writes on this device, for the write rules: the signed-in person (and their role).
    fn rules_user(&self) -> Result<UserInfo, ClientError> {
        self.user().ok_or(ClientError::SignedOut)
    }

    /// A record under `scope_key` may be written only if this device holds that key (its
    /// person's children, referrals and team cards, as the server last said). A device that
    /// has not yet learnt its scope (never synced) lets the server decide.
    async fn check_write_scope(
        &self,
        keys: &Keys,
        user_id: &str,
        scope_key: &str,
    ) -> Result<(), ClientError> {
        if self
            .read_only_scopes(keys)
            .await?
            .iter()
            .any(|k| k == scope_key)
        {
            return Err(fieldnotes_model::rules::out_of_scope(user_id, scope_key).into());
        }
        let held = self.held_scopes(keys).await?;
        if held.is_empty()
            || held
                .iter()
                .any(|k| k == scope_key || ScopeKey::is_all_text(k))
        {
            Ok(())
        } else {
            Err(fieldnotes_model::rules::out_of_scope(user_id, scope_key).into())
        }
    }

    /// The most points a short plan may have, as this device last learnt its team's rules
    /// ([`Client::team`]); `None` until it has learnt them.
    pub(crate) async fn known_plan_limit(&self) -> Result<Option<usize>, ClientError> {
        Ok(self
            .known_team()
            .await?
            .map(|team| usize::try_from(team.plan_point_limit).unwrap_or(usize::MAX)))
    }

    /// The team's rules a local write keeps to, as this device last learnt them: a short
    /// plan's points. A device that has not learnt them yet keeps to the limit of a team that
    /// set none ([`fieldnotes_model::PLAN_POINT_LIMIT`]); the server compares what it receives
    /// with the team's own limit all the same, and a plan past it goes to review.
    async fn check_team_rules(&self, plan_points: usize) -> Result<(), ClientError> {
        let limit = self
            .known_plan_limit()
            .await?
            .unwrap_or(fieldnotes_model::PLAN_POINT_LIMIT);
        check_plan_points(plan_points, limit)
    }

    /// [`Client::check_team_rules`] for a patch (only a plan's points are ruled on).
    pub(crate) async fn check_team_rules_for(&self, patch: &Patch) -> Result<(), ClientError> {
        match patch {
            Patch::ShortPlan(ShortPlanPatch {
                points: Some(points),
                ..
            }) => self.check_team_rules(points.len()).await,
            _ => Ok(()),
        }
    }

    /// The scope keys the server last said this person may read here but not write.
    async fn read_only_scopes(&self, keys: &Keys) -> Result<Vec<String>, ClientError> {
        match self.store.sealed_meta(keys, META_READ_ONLY_SCOPES).await? {
            None => Ok(Vec::new()),
            Some(json) => serde_json::from_slice(&json)
                .map_err(|e| ClientError::Corrupt(format!("stored read-only scope list: {e}"))),
        }
    }

    async fn load(&self, id: &str) -> Result<Option<Document>, ClientError> {
        let keys = self.keys()?;
        self.load_with(&keys, id).await
    }

    /// A stored document, or [`ClientError::NotFound`].
    async fn load_existing(&self, keys: &Keys, id: &str) -> Result<Document, ClientError> {
        self.load_with(keys, id)
            .await?
            .ok_or_else(|| ClientError::NotFound { id: id.to_owned() })
    }

    async fn load_with(&self, keys: &Keys, id: &str) -> Result<Option<Document>, ClientError> {
        match self.store.snapshot(keys, id).await? {
            Some(bytes) => {
                let mut doc = Document::load(id, &bytes)?;
                doc.set_actor(self.actor.clone());
                Ok(Some(doc))
            }
            None => Ok(None),
        }
    }
}

/// The write rules' view of `user`.
fn writer(user: &UserInfo) -> Writer<'_> {
    Writer {
        user_id: &user.user_id,
        role: user.role,
    }
}

fn cache_insert(cache: &mut HashMap<String, Document>, id: String, doc: Document) {
    if cache.len() >= DOC_CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(id, doc);
}

/// A document's listing facts and its scope key.
fn doc_row(doc: &mut Document, now: i64) -> Result<(DocRow, String), ClientError> {
    let record = doc.read()?;
    Ok((
        DocRow {
            doc_id: doc.id().to_owned(),
            kind: record.kind().as_str().to_owned(),
            child_id: record.child_id().map(str::to_owned),
            summary: record.summary(),
            updated_at_ms: now,
        },
        record.scope_key(),
    ))
}

/// [`fieldnotes_model::validate::check_plan_points`] as the SDK's error.
pub(crate) fn check_plan_points(points: usize, limit: usize) -> Result<(), ClientError> {
    fieldnotes_model::validate::check_plan_points(points, limit).map_err(|e| {
        ClientError::Model(fieldnotes_model::ModelError::Invalid(
            fieldnotes_model::validate::ValidationErrors(vec![e]),
        ))
    })
}
