//! The store check behind `fieldnotes doctor`: what is damaged in a data folder, what can be
//! saved from it, and the export file that carries the saved changes to a healthy store.
//!
//! [`check`] works where [`crate::ClientBuilder::open`] refuses: an empty file, a file whose
//! first bytes were overwritten, corrupt pages, missing key records. It never writes to the
//! damaged store: it reads a copy (in a temporary folder), repairing the copy's 100-byte file
//! header when that is what was overwritten, runs SQLite's `integrity_check`, and reads the
//! outbox row by row, so one corrupt page costs only the rows on it.
//!
//! The changes it can read are put in an [`Export`]: the outbox rows exactly as stored (sealed
//! under the store's data key) with the store's password wrap of that key, so the file reveals
//! no more than the store did. [`crate::Client::import`] opens them with the person's password
//! and queues them in a healthy store; the server's idempotency by change hash makes sending a
//! change it already has harmless.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use fieldnotes_protocol::auth::UserInfo;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, Keys, PasswordWrap};
use crate::store::sealed::change_aad;
use crate::store::sqlite::STORE_FILE;
use crate::{
    ClientError, LOCK_FILE, META_ACTOR, META_DEK_PASSWORD, META_DEK_SERVER, META_DEVICE,
    META_SERVER, META_USER,
};

/// The SQLite file header's first 16 bytes.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The size of SQLite's file header.
const HEADER_LEN: usize = 100;
/// The `format` field of an export file.
pub const EXPORT_FORMAT: &str = "fieldnotes-outbox-export";
/// Most integrity problems listed.
const MAX_PROBLEMS: usize = 20;

/// The path of `name`'s companion file (`fieldnotes.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Damage visible without opening the database: called before every open, so it reads only
/// the file's size and header. `None` means SQLite may open it.
pub(crate) fn quick_damage(path: &Path) -> Option<String> {
    let Some(len) = file_len(path) else {
        let wal = file_len(&with_suffix(path, "-wal")).unwrap_or(0);
        return (wal > 0).then(|| {
            "the store file is missing, but its write-ahead log (fieldnotes.db-wal) is still \
             there"
                .to_owned()
        });
    };
    if len == 0 {
        return Some("the store file is empty (0 bytes): its contents are gone from it".into());
    }
    let mut header = [0u8; HEADER_LEN];
    let read = File::open(path).and_then(|mut f| f.read_exact(&mut header));
    if read.is_err() || len < HEADER_LEN as u64 {
        return Some(format!(
            "the store file is cut short ({len} bytes, less than a database header)"
        ));
    }
    if &header[..16] != SQLITE_MAGIC {
        return Some(
            "the file is not a database (its first bytes were overwritten or it was replaced)"
                .into(),
        );
    }
    if page_size(&header).is_none() {
        return Some("the store file's header is damaged (it names no valid page size)".into());
    }
    // (The header's page count is not compared with the file's length: a checkpoint by a
    // connection still closing in this process may be extending the file right now. A file cut
    // short is found by SQLite when a missing page is read, as corruption.)
    None
}

/// The page size the header names, if valid.
fn page_size(header: &[u8; HEADER_LEN]) -> Option<u64> {
    let raw = u16::from_be_bytes([header[16], header[17]]);
    let size = if raw == 1 { 65536 } else { u64::from(raw) };
    (size.is_power_of_two() && (512..=65536).contains(&size)).then_some(size)
}

/// Whether the folder holding `path` has no room left: after SQLite reported an I/O error, a
/// small write tells a full disk from other failures.
pub(crate) fn storage_is_full(path: &Path) -> bool {
    let Some(dir) = path.parent() else {
        return false;
    };
    let probe = dir.join(format!(
        ".fieldnotes-space-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let result = File::options()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| {
            f.write_all(&[0u8; 64 * 1024])?;
            f.sync_all()
        });
    let _ = std::fs::remove_file(&probe);
    matches!(result, Err(e) if e.kind() == std::io::ErrorKind::StorageFull)
}

/// What is wrong with a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The store file is missing but its write-ahead log is there.
    Missing,
    /// The store file is empty.
    Empty,
    /// The file is shorter than a database header, or than its header says.
    CutShort { detail: String },
    /// The file's header was overwritten: it no longer says it is a database.
    NotADatabase,
    /// SQLite's integrity check found corrupt pages (its own words).
    CorruptPages { problems: Vec<String> },
    /// The database could not be read at all, even from a repaired copy.
    Unreadable { detail: String },
    /// The store's own records (device identity, owner) could not be read.
    MetaUnreadable { detail: String },
    /// Sealed rows exist but the record of their key is missing.
    KeyMaterialMissing,
    /// Outbox rows that could not be read, or whose sealed bytes do not open.
    UnreadableChanges { count: u64 },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Missing => f.write_str(
                "the store file is missing, but its write-ahead log (fieldnotes.db-wal) is \
                 still there",
            ),
            Damage::Empty => f.write_str(
                "the store file is empty (0 bytes): what it held is gone from this device",
            ),
            Damage::CutShort { detail } => write!(f, "the store file is cut short: {detail}"),
            Damage::NotADatabase => f.write_str(
                "the store file's header was overwritten: it no longer says it is a database",
            ),
            Damage::CorruptPages { problems } => write!(
                f,
                "parts of the store file are corrupt ({} problem(s) found by SQLite's \
                 integrity check, first: {})",
                problems.len(),
                problems.first().map(String::as_str).unwrap_or("-")
            ),
            Damage::Unreadable { detail } => {
                write!(f, "the store file cannot be read as a database ({detail})")
            }
            Damage::MetaUnreadable { detail } => write!(
                f,
                "the store's own records (device, owner, keys) cannot be read ({detail})"
            ),
            Damage::KeyMaterialMissing => f.write_str(
                "the record of the store's key is missing, so its encrypted content cannot \
                 be opened",
            ),
            Damage::UnreadableChanges { count } => write!(
                f,
                "{count} change(s) waiting to be sent cannot be read (their part of the file \
                 is corrupt)"
            ),
        }
    }
}

/// Whether a store exists and is sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreState {
    /// No store in this folder (nothing to check).
    Absent,
    /// The store is sound.
    Healthy,
    /// The store is damaged: see [`StoreCheck::damage`].
    Damaged,
}

/// The changes waiting to be sent that the check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxSalvage {
    /// Changes read from the store.
    pub readable: u64,
    /// Changes that could not be read (counted in [`Damage::UnreadableChanges`] too).
    pub unreadable: u64,
    /// Whether the readable ones were opened with the password (else they are exported
    /// sealed, unchecked).
    pub verified: bool,
}

/// What [`check`] found.
#[derive(Debug, Clone)]
pub struct StoreCheck {
    pub data_dir: PathBuf,
    pub store_path: PathBuf,
    pub state: StoreState,
    pub damage: Vec<Damage>,
    /// `None` when the outbox could not be reached at all (or there is no store).
    pub outbox: Option<OutboxSalvage>,
    /// What of the outbox can be saved: see [`StoreCheck::export`].
    export: Option<Export>,
    /// The device identity and owner, when they could be read.
    pub device_id: Option<String>,
    pub owner: Option<UserInfo>,
    pub server_url: Option<String>,
}

impl StoreCheck {
    /// The readable changes waiting to be sent, as an export, if there are any.
    pub fn export(&self) -> Option<&Export> {
        self.export.as_ref().filter(|e| !e.changes.is_empty())
    }
}

/// One change in an export, as it was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedChange {
    pub doc_id: String,
    pub hash: String,
    /// Whether `bytes` is sealed under the store's data key.
    pub sealed: bool,
    /// Base64.
    pub bytes: String,
}

/// Changes saved from a damaged store, for [`crate::Client::import`]: a JSON file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub format: String,
    pub version: u32,
    /// The device that wrote the changes (they must be sent as it: the server accepts a
    /// device's changes only under its own actor).
    pub device_id: String,
    pub actor_id: String,
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// The store's data key wrapped under the person's password (`meta.dek_password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_wrap: Option<String>,
    pub changes: Vec<ExportedChange>,
}

impl Export {
    /// Write the export to a new file (an existing file is never overwritten), readable only by
    /// its owner.
    pub fn write_to(&self, path: &Path) -> Result<(), ClientError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| ClientError::Config(format!("cannot encode the export: {e}")))?;
        let io = |source| ClientError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut options = File::options();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        file.write_all(&json).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Read an export file.
    pub fn read_from(path: &Path) -> Result<Export, ClientError> {
        let bytes = std::fs::read(path).map_err(|source| ClientError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let export: Export = serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::Config(format!(
                "{} is not a Fieldnotes export file (made by `fieldnotes doctor`): {e}",
                path.display()
            ))
        })?;
        if export.format != EXPORT_FORMAT || export.version != 1 {
            return Err(ClientError::Config(format!(
                "{} is not a Fieldnotes export file this version can read (format {:?}, \
                 version {})",
                path.display(),
                export.format,
                export.version
            )));
        }
        Ok(export)
    }

    /// The changes, opened: sealed ones with the data key the password unwraps.
    pub(crate) async fn open_changes(
        &self,
        password: &str,
    ) -> Result<Vec<(String, String, Vec<u8>)>, ClientError> {
        let keys = if self.changes.iter().any(|c| c.sealed) {
            let wrap = self.password_wrap.as_deref().ok_or_else(|| {
                ClientError::Config(
                    "the export holds encrypted changes but no record of their key".into(),
                )
            })?;
            Some(unwrap_keys(wrap, password, &self.device_id, &self.user.user_id).await?)
        } else {
            None
        };
        self.changes
            .iter()
            .map(|c| {
                let stored = B64.decode(&c.bytes).map_err(|e| {
                    ClientError::Config(format!("change {} in the export: {e}", c.hash))
                })?;
                let bytes = match (&keys, c.sealed) {
                    (Some(keys), true) => {
                        let aad = change_aad(&c.doc_id, &c.hash);
                        keys.open(&aad, &stored).map_err(|e| {
                            ClientError::Corrupt(format!(
                                "change {} of document {} in the export: {e}",
                                c.hash, c.doc_id
                            ))
                        })?
                    }
                    _ => stored,
                };
                Ok((c.doc_id.clone(), c.hash.clone(), bytes))
            })
            .collect()
    }
}

/// Unwrap a stored password wrap (JSON) for device `device_id` and owner `user_id`.
async fn unwrap_keys(
    wrap_json: &str,
    password: &str,
    device_id: &str,
    user_id: &str,
) -> Result<Keys, ClientError> {
    let wrap: PasswordWrap = serde_json::from_str(wrap_json)
        .map_err(|e| ClientError::Corrupt(format!("stored password key: {e}")))?;
    let password = Zeroizing::new(password.to_owned());
    let binding = crate::session::wrap_binding(device_id, user_id);
    let result = tokio::task::spawn_blocking(move || wrap.unwrap(&password, &binding))
        .await
        .map_err(|e| ClientError::Corrupt(format!("key derivation stopped: {e}")))?;
    match result {
        Ok(dek) => Ok(dek.keys()),
        Err(CryptoError::Open) => Err(ClientError::WrongPassword),
        Err(e) => Err(ClientError::Corrupt(format!("stored password key: {e}"))),
    }
}

/// A temporary folder removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Check the store in the data folder `dir`, and gather the changes waiting to be sent that
/// can still be read. With the person's `password`, sealed changes are opened to make sure
/// they are whole (a wrong password is [`ClientError::WrongPassword`]); without it they are
/// gathered unchecked. Never writes to the store; fails with [`ClientError::Locked`] while
/// another process has the folder open.
pub async fn check(
    dir: impl AsRef<Path>,
    password: Option<&str>,
) -> Result<StoreCheck, ClientError> {
    let dir = dir.as_ref().to_path_buf();
    let path = dir.join(STORE_FILE);
    let mut report = StoreCheck {
        data_dir: dir.clone(),
        store_path: path.clone(),
        state: StoreState::Healthy,
        damage: Vec::new(),
        device_id: None,
        owner: None,
        server_url: None,
        outbox: None,
        export: None,
    };
    // Hold the folder's lock while reading, as a writer would.
    let _lock = lock_for_reading(&dir)?;
    let wal = with_suffix(&path, "-wal");
    let wal_len = file_len(&wal).unwrap_or(0);
    let Some(len) = file_len(&path) else {
        if wal_len > 0 {
            report.state = StoreState::Damaged;
            report.damage.push(Damage::Missing);
        } else {
            report.state = StoreState::Absent;
        }
        return Ok(report);
    };
    if len == 0 {
        report.state = StoreState::Damaged;
        report.damage.push(Damage::Empty);
        return Ok(report);
    }

    // Work on a copy: the damaged file stays exactly as it is.
    let scratch = scratch_copy(&path, &wal, wal_len)?;
    let copy = scratch.0.join(STORE_FILE);
    if let Some(what) = quick_damage(&path) {
        if len < HEADER_LEN as u64 {
            report.damage.push(Damage::CutShort {
                detail: format!("{len} bytes, less than a database header"),
            });
            report.state = StoreState::Damaged;
            return Ok(report);
        }
        report
            .damage
            .push(header_damage(&path, &copy, len, wal_len > 0, what)?);
    }

    let pool = match open_copy(&copy).await {
        Ok(pool) => pool,
        Err(e) => {
            report.damage.push(Damage::Unreadable {
                detail: sql_words(&e),
            });
            report.state = StoreState::Damaged;
            return Ok(report);
        }
    };
    let result = inspect(&pool, password, &mut report).await;
    pool.close().await;
    result?;
    if !report.damage.is_empty() {
        report.state = StoreState::Damaged;
    }
    Ok(report)
}

/// The folder's lock, held while reading as a writer would (`None` when there is no lock file).
fn lock_for_reading(dir: &Path) -> Result<Option<File>, ClientError> {
    match File::options().write(true).open(dir.join(LOCK_FILE)) {
        Ok(file) => {
            crate::take_lock(&file, dir, &dir.join(LOCK_FILE))?;
            Ok(Some(file))
        }
        Err(_) => Ok(None),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClientError {
    let path = path.to_path_buf();
    move |source| ClientError::Io { path, source }
}

/// A private scratch folder holding a copy of the store (and its journal).
fn scratch_copy(path: &Path, wal: &Path, wal_len: u64) -> Result<Scratch, ClientError> {
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "fieldnotes-doctor-{}",
        uuid::Uuid::new_v4().simple()
    )));
    let mut folder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(&scratch.0).map_err(io_err(&scratch.0))?;
    let copy = scratch.0.join(STORE_FILE);
    std::fs::copy(path, &copy).map_err(io_err(&copy))?;
    if wal_len > 0 {
        std::fs::copy(wal, with_suffix(&copy, "-wal")).map_err(io_err(&copy))?;
    }
    Ok(scratch)
}

/// What is wrong with a file of at least a header's length that SQLite cannot open; a file
/// that is not a database gets a plausible header on its copy, so what is left can be read.
fn header_damage(
    path: &Path,
    copy: &Path,
    len: u64,
    wal: bool,
    what: String,
) -> Result<Damage, ClientError> {
    let mut header = [0u8; HEADER_LEN];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(io_err(path))?;
    if &header[..16] != SQLITE_MAGIC || page_size(&header).is_none() {
        repair_header(copy, len, wal).map_err(io_err(copy))?;
        Ok(Damage::NotADatabase)
    } else {
        Ok(Damage::Unreadable { detail: what })
    }
}

/// SQLite's message for an error, without sqlx's wrapping.
fn sql_words(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

async fn open_copy(copy: &Path) -> Result<SqlitePool, sqlx::Error> {
    let url = format!("sqlite://{}", copy.display());
    let options = SqliteConnectOptions::from_str(&url)?.create_if_missing(false);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
}

/// Write a plausible header over the copy's first 100 bytes: SQLite's fixed fields, the page
/// size the file's length allows (4096, the store's own, when it fits), and a page count from
/// the length. The rest of page 1 (the schema) is left as it is.
fn repair_header(copy: &Path, len: u64, wal: bool) -> std::io::Result<()> {
    let page: u32 = [4096u32, 1024, 2048, 8192, 16384, 32768, 65536, 512]
        .into_iter()
        .find(|p| len.is_multiple_of(u64::from(*p)))
        .unwrap_or(4096);
    let mut h = [0u8; HEADER_LEN];
    h[..16].copy_from_slice(SQLITE_MAGIC);
    let raw = if page == 65536 {
        1u16
    } else {
        u16::try_from(page).unwrap_or(4096)
    };
    h[16..18].copy_from_slice(&raw.to_be_bytes());
    let version = if wal { 2 } else { 1 };
    h[18] = version;
    h[19] = version;
    h[20] = 0; // reserved bytes per page
    h[21] = 64;
    h[22] = 32;
    h[23] = 32;
    h[24..28].copy_from_slice(&1u32.to_be_bytes()); // change counter
    let pages = u32::try_from(len / u64::from(page)).unwrap_or(u32::MAX);
    h[28..32].copy_from_slice(&pages.to_be_bytes());
    h[40..44].copy_from_slice(&1u32.to_be_bytes()); // schema cookie
    h[44..48].copy_from_slice(&4u32.to_be_bytes()); // schema format
    h[56..60].copy_from_slice(&1u32.to_be_bytes()); // UTF-8
    h[92..96].copy_from_slice(&1u32.to_be_bytes()); // version valid for
    h[96..100].copy_from_slice(&3_046_000u32.to_be_bytes());
    let mut file = File::options().write(true).open(copy)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&h)?;
    file.sync_all()
}

/// Read the copy: integrity, the store's records, and the outbox row by row.
async fn inspect(
    pool: &SqlitePool,
    password: Option<&str>,
    report: &mut StoreCheck,
) -> Result<(), ClientError> {
    if let Some(damage) = integrity(pool).await {
        report.damage.push(damage);
    }
    let meta = read_meta(pool, report).await;
    report.device_id = meta.get(META_DEVICE).cloned();
    report.server_url = meta.get(META_SERVER).cloned();
    report.owner = meta
        .get(META_USER)
        .and_then(|json| serde_json::from_str(json).ok());

    let rows = read_outbox(pool).await;
    let Some((rows, unreadable)) = rows else {
        report.damage.push(Damage::Unreadable {
            detail: "the list of changes waiting to be sent cannot be read".into(),
        });
        return Ok(());
    };
    let mut salvage = OutboxSalvage {
        readable: 0,
        unreadable,
        verified: false,
    };
    let sealed = rows.iter().any(|r| r.sealed);
    let password_wrap = meta.get(META_DEK_PASSWORD).cloned();
    if sealed && password_wrap.is_none() && !meta.contains_key(META_DEK_SERVER) {
        report.damage.push(Damage::KeyMaterialMissing);
    }
    let identity = match (
        report.device_id.clone(),
        meta.get(META_ACTOR).cloned(),
        report.owner.clone(),
    ) {
        (Some(device), Some(actor), Some(owner)) => Some((device, actor, owner)),
        _ => None,
    };
    let keys = match (password, &password_wrap, &identity) {
        (Some(pw), Some(wrap), Some((device, _, owner))) if sealed => {
            Some(unwrap_keys(wrap, pw, device, &owner.user_id).await?)
        }
        _ => None,
    };
    salvage.verified = keys.is_some() || !sealed;
    let changes = salvage_rows(rows, keys.as_ref(), &mut salvage);
    if salvage.unreadable > 0 {
        report.damage.push(Damage::UnreadableChanges {
            count: salvage.unreadable,
        });
    }
    report.outbox = Some(salvage);
    if let Some((device_id, actor_id, user)) = identity {
        report.export = Some(Export {
            format: EXPORT_FORMAT.to_owned(),
            version: 1,
            device_id,
            actor_id,
            user,
            server_url: report.server_url.clone(),
            password_wrap,
            changes,
        });
    } else if !changes.is_empty() {
        report.damage.push(Damage::MetaUnreadable {
            detail: "the device's identity or owner is missing, so its changes cannot be \
                     sent as it"
                .into(),
        });
    }
    Ok(())
}

/// SQLite's integrity check; corrupt pages can stop the check itself (what is readable is
/// still read).
async fn integrity(pool: &SqlitePool) -> Option<Damage> {
    match sqlx::query_scalar::<_, String>("PRAGMA integrity_check(20)")
        .fetch_all(pool)
        .await
    {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => None,
        Ok(lines) => Some(Damage::CorruptPages {
            problems: lines.into_iter().take(MAX_PROBLEMS).collect(),
        }),
        Err(e) => Some(Damage::CorruptPages {
            problems: vec![format!("the check stopped: {}", sql_words(&e))],
        }),
    }
}

/// The `meta` table, or nothing (and the damage noted) when it cannot be read.
async fn read_meta(pool: &SqlitePool, report: &mut StoreCheck) -> HashMap<String, String> {
    match sqlx::query_as::<_, (String, String)>("SELECT key, value FROM meta")
        .fetch_all(pool)
        .await
    {
        Ok(rows) => rows.into_iter().collect(),
        Err(e) => {
            report.damage.push(Damage::MetaUnreadable {
                detail: sql_words(&e),
            });
            HashMap::new()
        }
    }
}

/// The outbox rows as exported changes; with `keys`, sealed ones that do not open are
/// counted unreadable and left out.
fn salvage_rows(
    rows: Vec<RawRow>,
    keys: Option<&Keys>,
    salvage: &mut OutboxSalvage,
) -> Vec<ExportedChange> {
    let mut changes = Vec::new();
    for row in rows {
        if let (Some(keys), true) = (keys, row.sealed)
            && keys
                .open(&change_aad(&row.doc_id, &row.hash), &row.bytes)
                .is_err()
        {
            salvage.unreadable += 1;
            continue;
        }
        salvage.readable += 1;
        changes.push(ExportedChange {
            doc_id: row.doc_id,
            hash: row.hash,
            sealed: row.sealed,
            bytes: B64.encode(&row.bytes),
        });
    }
    changes
}

struct RawRow {
    doc_id: String,
    hash: String,
    sealed: bool,
    bytes: Vec<u8>,
}

/// Every outbox row that can be read, and how many could not. A scan first; if corrupt pages
/// stop it, each row by its number, up to the highest number ever given.
async fn read_outbox(pool: &SqlitePool) -> Option<(Vec<RawRow>, u64)> {
    const COLUMNS: &str = "SELECT doc_id, hash, bytes, enc FROM outbox";
    let decode = |r: &sqlx::sqlite::SqliteRow| -> Result<RawRow, sqlx::Error> {
        Ok(RawRow {
            doc_id: r.try_get("doc_id")?,
            hash: r.try_get("hash")?,
            sealed: r.try_get::<i64, _>("enc")? != 0,
            bytes: r.try_get("bytes")?,
        })
    };
    if let Ok(rows) = sqlx::query(&format!("{COLUMNS} ORDER BY seq"))
        .fetch_all(pool)
        .await
        && let Ok(rows) = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()
    {
        return Some((rows, 0));
    }
    let max: i64 =
        match sqlx::query_scalar::<_, i64>("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
            .fetch_optional(pool)
            .await
        {
            Ok(max) => max.unwrap_or(0),
            Err(_) => sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM outbox")
                .fetch_one(pool)
                .await
                .ok()??,
        };
    let mut rows = Vec::new();
    let mut unreadable = 0;
    for seq in 1..=max {
        match sqlx::query(&format!("{COLUMNS} WHERE seq = ?"))
            .bind(seq)
            .fetch_optional(pool)
            .await
        {
            Ok(Some(row)) => match decode(&row) {
                Ok(row) => rows.push(row),
                Err(_) => unreadable += 1,
            },
            Ok(None) => {}
            Err(_) => unreadable += 1,
        }
    }
    Some((rows, unreadable))
}

/// A document's changes, each with its hash.
type HashedChanges = Vec<(String, Vec<u8>)>;

/// What [`crate::Client::import`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Changes queued to be sent (or already waiting here).
    pub queued: u64,
    /// Documents whose changes could not be applied yet because this device lacks their
    /// earlier history: sync, then import again.
    pub waiting: Vec<String>,
}

impl crate::Client {
    /// Queue the changes of an [`Export`] (from [`check`] on a damaged store) in this store's
    /// outbox, so the next [`sync`](crate::Client::sync) sends them. `password` is the one the
    /// damaged store was last unlocked with. The store must be signed in and unlocked as the
    /// export's owner, with the export's device identity (a fresh data folder opened with
    /// [`crate::ClientBuilder::device_identity`]): the server takes a device's changes only
    /// under its own actor. When a document the changes build on is not on this device, the
    /// scopes are fetched again in full first (a sync: the feed never sends a device its own
    /// changes, a backfill does); documents still missing their history (no connection) are
    /// reported in [`ImportReport::waiting`]. Importing the same file twice, or changes the
    /// server already has, is harmless.
    pub async fn import(
        &self,
        export: &Export,
        password: &str,
    ) -> Result<ImportReport, ClientError> {
        let keys = self.keys()?;
        self.check_import_identity(export)?;
        let changes = export.open_changes(password).await?;
        self.fetch_before_import(&keys, &changes).await?;
        let mut report = ImportReport::default();
        let now = crate::now_ms();
        let mut cache = self.write.lock().await;
        for (doc_id, list) in by_document(changes) {
            cache.remove(&doc_id);
            match self.import_document(&keys, &doc_id, &list, now).await? {
                Some(queued) => report.queued += queued,
                None => report.waiting.push(doc_id),
            }
        }
        Ok(report)
    }

    /// The export must be this device's, and its owner this store's.
    fn check_import_identity(&self, export: &Export) -> Result<(), ClientError> {
        if export.device_id != self.device_id || export.actor_id != self.actor.to_hex_string() {
            return Err(ClientError::Config(format!(
                "these changes were written as device {}, and this data folder is device {}; \
                 import them into a fresh data folder (it then carries on as that device)",
                export.device_id, self.device_id
            )));
        }
        if let Some(owner) = self.auth_view().owner
            && owner.user_id != export.user.user_id
        {
            return Err(ClientError::WrongUser {
                owner: owner.username,
                attempted: export.user.username.clone(),
            });
        }
        Ok(())
    }

    /// The feed never sends a device its own changes, so a store carrying on as a device
    /// lacks the documents that device wrote and synced. A backfill sends every change of
    /// a scope: forget the held scopes and sync once, when a document is missing.
    async fn fetch_before_import(
        &self,
        keys: &Keys,
        changes: &[(String, String, Vec<u8>)],
    ) -> Result<(), ClientError> {
        let mut missing = false;
        for (doc_id, _, _) in changes {
            if self.store.snapshot(keys, doc_id).await?.is_none() {
                missing = true;
                break;
            }
        }
        if !missing {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        tx.delete_meta(crate::META_SCOPES).await?;
        self.store.commit(tx).await?;
        match self.sync().await {
            Ok(_) => Ok(()),
            Err(e) if e.is_retryable() => {
                tracing::info!(error = %e, "could not fetch the records before importing");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Apply one document's imported changes and queue them. `None` when this device lacks
    /// the history they build on (the document waits).
    async fn import_document(
        &self,
        keys: &Keys,
        doc_id: &str,
        list: &HashedChanges,
        now: i64,
    ) -> Result<Option<u64>, ClientError> {
        let bytes: Vec<Vec<u8>> = list.iter().map(|(_, b)| b.clone()).collect();
        let loaded = match self.load_with(keys, doc_id).await? {
            Some(mut doc) => doc.apply_changes(&bytes).map(|()| doc),
            None => fieldnotes_model::Document::load(doc_id, &bytes.concat()),
        };
        let Ok(mut doc) = loaded else {
            return Ok(None);
        };
        let applied: std::collections::HashSet<String> = doc
            .all_changes()
            .iter()
            .map(|c| fieldnotes_model::hash_hex(&c.hash))
            .collect();
        if list.iter().any(|(hash, _)| !applied.contains(hash)) {
            return Ok(None);
        }
        doc.set_actor(self.actor.clone());
        let (row, scope) = crate::doc_row(&mut doc, now)?;
        let snapshot = doc.save();
        let mut tx = self.store.begin().await?;
        tx.put_document(keys, &row, &scope, &snapshot).await?;
        let mut queued = 0;
        for (hash, bytes) in list {
            tx.enqueue(keys, doc_id, hash, bytes, now).await?;
            queued += 1;
        }
        self.store.commit(tx).await?;
        Ok(Some(queued))
    }
}

/// Changes grouped by document, documents in first-seen order.
fn by_document(changes: Vec<(String, String, Vec<u8>)>) -> Vec<(String, HashedChanges)> {
    let mut by_doc: Vec<(String, HashedChanges)> = Vec::new();
    for (doc_id, hash, bytes) in changes {
        match by_doc.iter_mut().find(|(d, _)| *d == doc_id) {
            Some((_, list)) => list.push((hash, bytes)),
            None => by_doc.push((doc_id, vec![(hash, bytes)])),
        }
    }
    by_doc
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn damage_seen_before_opening() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(STORE_FILE);
        // No store: a new one may be made.
        assert_eq!(quick_damage(&db), None);
        // No store but a journal with content: its work may be in there.
        std::fs::write(with_suffix(&db, "-wal"), b"frames").unwrap();
        assert!(quick_damage(&db).unwrap().contains("missing"));
        std::fs::remove_file(with_suffix(&db, "-wal")).unwrap();
        std::fs::write(&db, b"").unwrap();
        assert!(quick_damage(&db).unwrap().contains("empty (0 bytes)"));
        std::fs::write(&db, [7u8; 50]).unwrap();
        assert!(quick_damage(&db).unwrap().contains("cut short"));
        let mut header = [0u8; 4096];
        header[..16].copy_from_slice(SQLITE_MAGIC);
        header[16..18].copy_from_slice(&1000u16.to_be_bytes());
        std::fs::write(&db, header).unwrap();
        assert!(quick_damage(&db).unwrap().contains("no valid page size"));
        header[16..18].copy_from_slice(&4096u16.to_be_bytes());
        std::fs::write(&db, header).unwrap();
        assert_eq!(quick_damage(&db), None);
    }
}
