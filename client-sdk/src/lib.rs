//! The Fieldnotes client SDK: what runs on a practitioner's laptop or phone.
//!
//! Everything is local first. [`Client::create`] and [`Client::edit`] write the document and
//! its new change to a local SQLite store and return once that is committed — no network is
//! involved. [`Client::sync`] later sends the outbox and fetches what others wrote, in as few
//! HTTP rounds as the data allows (one round when it all fits in a page), retrying with
//! backoff when the network fails. A refused document is held on the device with its reason
//! and never blocks the others.
//!
//! One process at a time may write as a device: [`ClientBuilder::open`] takes an exclusive
//! lock on a file in the data folder, so two processes never write changes with the same
//! automerge actor id.

mod error;
mod local;
mod transport;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use fieldnotes_model::{
    ActorId, DocKind, Document, FieldConflict, NewRecord, Patch, Record, hash_hex,
};
use fieldnotes_protocol::{
    Cursor, PROTOCOL_VERSION, PushDoc, PushOutcome, RejectCode, SyncRequest,
};
use tokio::sync::Mutex;

pub use error::ClientError;
pub use transport::RetryPolicy;

use local::{DocRow, LocalStore, enqueue, put_document, set_meta};

const LOCK_FILE: &str = "fieldnotes.lock";
const META_DEVICE: &str = "device_id";
const META_ACTOR: &str = "actor_id";
const META_SERVER: &str = "server_url";
const META_CURSOR: &str = "cursor";
const META_LAST_SYNC: &str = "last_sync_ms";

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
}

impl ClientBuilder {
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

    /// Open the device's store (creating it, and the device identity, the first time).
    pub async fn open(self) -> Result<Client, ClientError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| ClientError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| ClientError::Io {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ClientError::Locked {
                    path: self.dir.clone(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(ClientError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        let store = LocalStore::open(&self.dir).await?;

        let device_id = match store.meta(META_DEVICE).await? {
            Some(id) => id,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
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
        let server_url = match self.server_url {
            Some(url) => {
                validate_url(&url)?;
                store.set_meta(META_SERVER, &url).await?;
                Some(url)
            }
            None => store.meta(META_SERVER).await?,
        };
        Ok(Client {
            dir: self.dir,
            store,
            device_id,
            actor,
            server_url,
            retry: self.retry,
            push_batch_bytes: self.push_batch_bytes,
            page_bytes: self.page_bytes,
            write: Mutex::new(HashMap::new()),
            _lock: lock,
        })
    }
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

/// A document the server refused, held on this device with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub doc_id: String,
    pub code: String,
    pub reason: String,
    /// Changes held for it.
    pub changes: u64,
}

/// What one call to [`Client::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// HTTP rounds made (each carries a push and a pull).
    pub round_trips: u32,
    /// Changes sent.
    pub pushed_changes: u64,
    /// Changes the server confirmed durable.
    pub accepted: u64,
    /// Documents the server refused in this sync (held on the device, see [`Client::rejections`]).
    pub rejected: Vec<Rejection>,
    /// Documents the server could not apply yet (kept, sent again next time).
    pub deferred: u64,
    /// Changes received from others.
    pub pulled_changes: u64,
    /// Documents those changes touched.
    pub pulled_docs: u64,
}

/// Facts about the device's store, for `fieldnotes status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub device_id: String,
    pub data_dir: PathBuf,
    pub server_url: Option<String>,
    pub documents: u64,
    pub pending_changes: u64,
    pub held_documents: u64,
    /// Device time of the last successful sync, ms since the epoch.
    pub last_sync_ms: Option<i64>,
}

/// A device's handle on its local store and the sync server.
#[derive(Debug)]
pub struct Client {
    dir: PathBuf,
    store: LocalStore,
    device_id: String,
    actor: ActorId,
    server_url: Option<String>,
    retry: RetryPolicy,
    push_batch_bytes: u64,
    page_bytes: u64,
    /// Serialises read-modify-write of documents, and caches documents loaded for editing.
    write: Mutex<HashMap<String, Document>>,
    /// Held for the client's lifetime: the exclusive lock on the data folder.
    _lock: File,
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
        }
    }

    /// This device's id, sent with every sync.
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
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut cache = self.write.lock().await;
        let mut doc = Document::create(&id, self.actor.clone(), record, now)?;
        let changes = doc.all_changes();
        let row = doc_row(&mut doc, now)?;
        let snapshot = doc.save();
        let mut tx = self.store.begin().await?;
        put_document(&mut tx, &row, &snapshot)
            .await
            .map_err(|e| self.store.err(e))?;
        for change in &changes {
            enqueue(&mut tx, &id, &hash_hex(&change.hash), &change.bytes, now)
                .await
                .map_err(|e| self.store.err(e))?;
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
        let now = now_ms();
        let mut cache = self.write.lock().await;
        let mut doc = match cache.remove(id) {
            Some(doc) => doc,
            None => self
                .load(id)
                .await?
                .ok_or_else(|| ClientError::NotFound { id: id.to_owned() })?,
        };
        let Some(change) = doc.edit(patch, now)? else {
            cache_insert(&mut cache, id.to_owned(), doc);
            return Ok(()); // Nothing changed.
        };
        let row = doc_row(&mut doc, now)?;
        let snapshot = doc.save();
        let mut tx = self.store.begin().await?;
        put_document(&mut tx, &row, &snapshot)
            .await
            .map_err(|e| self.store.err(e))?;
        enqueue(&mut tx, id, &hash_hex(&change.hash), &change.bytes, now)
            .await
            .map_err(|e| self.store.err(e))?;
        // If this commit fails the edited document is dropped from the cache with it.
        self.store.commit(tx).await?;
        cache_insert(&mut cache, id.to_owned(), doc);
        Ok(())
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
        let mut doc = self
            .load(id)
            .await?
            .ok_or_else(|| ClientError::NotFound { id: id.to_owned() })?;
        let mut heads: Vec<String> = doc.heads().iter().map(hash_hex).collect();
        heads.sort();
        Ok(heads)
    }

    /// Fields of a document that hold concurrent, conflicting values.
    pub async fn conflicts(&self, id: &str) -> Result<Vec<FieldConflict>, ClientError> {
        let doc = self
            .load(id)
            .await?
            .ok_or_else(|| ClientError::NotFound { id: id.to_owned() })?;
        Ok(doc.conflicts())
    }

    /// The documents on this device, most recently changed first.
    pub async fn list(&self, kind: Option<DocKind>) -> Result<Vec<DocSummary>, ClientError> {
        let rows = self.store.list(kind.map(|k| k.as_str())).await?;
        rows.into_iter()
            .map(|r| {
                let kind = r.kind.parse().map_err(ClientError::Model)?;
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
    pub async fn pending_changes(&self) -> Result<u64, ClientError> {
        self.store.pending_changes().await
    }

    /// Documents the server refused, held here with the reason until they are edited.
    pub async fn rejections(&self) -> Result<Vec<Rejection>, ClientError> {
        Ok(self
            .store
            .held()
            .await?
            .into_iter()
            .map(|(doc_id, code, reason, n)| Rejection {
                doc_id,
                code,
                reason,
                changes: u64::try_from(n).unwrap_or(0),
            })
            .collect())
    }

    /// Facts about this device's store.
    pub async fn status(&self) -> Result<Status, ClientError> {
        Ok(Status {
            device_id: self.device_id.clone(),
            data_dir: self.dir.clone(),
            server_url: self.server_url.clone(),
            documents: self.store.list(None).await?.len() as u64,
            pending_changes: self.store.pending_changes().await?,
            held_documents: self.store.held().await?.len() as u64,
            last_sync_ms: self
                .store
                .meta(META_LAST_SYNC)
                .await?
                .and_then(|v| v.parse().ok()),
        })
    }

    /// Send the outbox and fetch what others wrote, until both are done. Each HTTP round
    /// carries a batch of the outbox and brings back a page of the feed, so reconciling takes
    /// as many rounds as the data needs pages, not one per document.
    ///
    /// On a network failure the round is retried with backoff; if it still fails the error is
    /// [`ClientError::Unreachable`] and everything stays in the outbox.
    pub async fn sync(&self) -> Result<SyncReport, ClientError> {
        let base = self.server_url.as_deref().ok_or_else(|| {
            ClientError::Config(
                "no server is set for this device; give one with --server (or \
                 ClientBuilder::server_url)"
                    .into(),
            )
        })?;
        let transport = transport::Transport::new(base, &self.device_id, self.retry)?;
        let mut report = SyncReport::default();
        // Outbox rows sent in this sync; a deferred change is not sent twice in one sync.
        let mut sent_up_to = 0i64;
        loop {
            let batch = self
                .store
                .outbox_batch(sent_up_to, self.push_batch_bytes)
                .await?;
            let cursor = self.store.meta(META_CURSOR).await?.map(Cursor);
            let mut push: Vec<PushDoc> = Vec::new();
            let mut index: HashMap<&str, usize> = HashMap::new();
            for row in &batch {
                let slot = *index.entry(row.doc_id.as_str()).or_insert_with(|| {
                    push.push(PushDoc {
                        doc_id: row.doc_id.clone(),
                        changes: Vec::new(),
                    });
                    push.len() - 1
                });
                push[slot].changes.push(row.bytes.clone().into());
            }
            if let Some(last) = batch.last() {
                sent_up_to = last.seq;
            }
            report.pushed_changes += batch.len() as u64;
            let request = SyncRequest {
                protocol: PROTOCOL_VERSION,
                cursor,
                push,
                max_page_bytes: Some(self.page_bytes),
            };
            let response = transport.round(&request).await?;
            report.round_trips += 1;
            if response.protocol != PROTOCOL_VERSION {
                return Err(ClientError::Server {
                    status: 200,
                    code: "unsupported_protocol".into(),
                    message: format!(
                        "the server answered in protocol {}, this app speaks {PROTOCOL_VERSION}",
                        response.protocol
                    ),
                });
            }
            let more = response.more;
            self.apply_response(response, &batch, &mut report).await?;
            let outbox_left = !self.store.outbox_batch(sent_up_to, 1).await?.is_empty();
            if !more && !outbox_left {
                break;
            }
        }
        self.store
            .set_meta(META_LAST_SYNC, &now_ms().to_string())
            .await?;
        Ok(report)
    }

    /// Apply one round's answer in one local transaction: drop acknowledged changes, hold
    /// refused ones, merge pulled changes, store the new cursor.
    async fn apply_response(
        &self,
        response: fieldnotes_protocol::SyncResponse,
        batch: &[local::OutboxRow],
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        let now = now_ms();
        let mut cache = self.write.lock().await;
        let mut tx = self.store.begin().await?;
        for result in response.results {
            match result.outcome {
                PushOutcome::Accepted { hashes } => {
                    for hash in &hashes {
                        let done = sqlx::query("DELETE FROM outbox WHERE doc_id = ? AND hash = ?")
                            .bind(&result.doc_id)
                            .bind(hash)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| self.store.err(e))?;
                        report.accepted += done.rows_affected();
                    }
                }
                PushOutcome::Rejected { code, reason, .. } => {
                    let mut held = 0u64;
                    for row in batch.iter().filter(|r| r.doc_id == result.doc_id) {
                        let done = sqlx::query(
                            "UPDATE outbox SET held_code = ?, held_reason = ?, held_at_ms = ? WHERE seq = ?",
                        )
                        .bind(code_str(code))
                        .bind(&reason)
                        .bind(now)
                        .bind(row.seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.store.err(e))?;
                        held += done.rows_affected();
                    }
                    tracing::warn!(doc_id = %result.doc_id, %reason, "the server refused a document; it is held on this device");
                    report.rejected.push(Rejection {
                        doc_id: result.doc_id,
                        code: code_str(code).to_owned(),
                        reason,
                        changes: held,
                    });
                }
                PushOutcome::Deferred { reason, .. } => {
                    tracing::info!(doc_id = %result.doc_id, %reason, "the server deferred a document");
                    report.deferred += 1;
                }
            }
        }
        for pulled in response.pull {
            let changes: Vec<Vec<u8>> =
                pulled.changes.into_iter().map(|c| c.into_inner()).collect();
            report.pulled_changes += changes.len() as u64;
            report.pulled_docs += 1;
            cache.remove(&pulled.doc_id);
            let stored = local::snapshot(&mut *tx, &pulled.doc_id)
                .await
                .map_err(|e| self.store.err(e))?;
            let (row, snapshot) = match (stored, pulled.meta) {
                // A document new to this device: the changes, concatenated, are a valid saved
                // form. Store them as they are and list the document from the server's facts;
                // it is loaded (and checked) when first read. This keeps a cold start of
                // thousands of documents from loading each one.
                (None, Some(meta)) if meta.kind.parse::<DocKind>().is_ok() => (
                    DocRow {
                        doc_id: pulled.doc_id.clone(),
                        kind: meta.kind,
                        child_id: meta.child_id,
                        summary: meta.summary,
                        updated_at_ms: now,
                    },
                    changes.concat(),
                ),
                (stored, _) => {
                    let mut doc = match stored {
                        Some(snapshot) => {
                            let mut doc = Document::load(&pulled.doc_id, &snapshot)?;
                            doc.apply_changes(&changes)?;
                            doc
                        }
                        None => Document::load(&pulled.doc_id, &changes.concat())?,
                    };
                    (doc_row(&mut doc, now)?, doc.save())
                }
            };
            put_document(&mut tx, &row, &snapshot)
                .await
                .map_err(|e| self.store.err(e))?;
        }
        set_meta(&mut tx, META_CURSOR, &response.cursor.0)
            .await
            .map_err(|e| self.store.err(e))?;
        self.store.commit(tx).await?;
        Ok(())
    }

    async fn load(&self, id: &str) -> Result<Option<Document>, ClientError> {
        match self.store.snapshot(id).await? {
            Some(bytes) => {
                let mut doc = Document::load(id, &bytes)?;
                doc.set_actor(self.actor.clone());
                Ok(Some(doc))
            }
            None => Ok(None),
        }
    }
}

fn cache_insert(cache: &mut HashMap<String, Document>, id: String, doc: Document) {
    if cache.len() >= DOC_CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(id, doc);
}

fn code_str(code: RejectCode) -> &'static str {
    code.as_str()
}

fn doc_row(doc: &mut Document, now: i64) -> Result<DocRow, ClientError> {
    let record = doc.read()?;
    Ok(DocRow {
        doc_id: doc.id().to_owned(),
        kind: record.kind().as_str().to_owned(),
        child_id: record.child_id().map(str::to_owned),
        summary: record.summary(),
        updated_at_ms: now,
    })
}
