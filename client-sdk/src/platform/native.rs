//! A native device: the store is one SQLite file in the data folder, one process writes as
//! the device (an exclusive lock on a file beside it), and Argon2 runs on tokio's blocking
//! threads.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::crypto::Keys;
use crate::store::{DeviceBackend, LocalStore};
use crate::{Client, ClientError, LOCK_FILE, WITHDRAWN_DIR, WithdrawnExport, take_lock};

/// The data folder's exclusive lock, held while the `Client` lives.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

/// Create the data folder `dir` if needed and take its lock; another process holding it is
/// [`ClientError::Locked`]. Async only to match the browser's, which awaits the lock manager.
#[allow(clippy::unused_async)]
pub(crate) async fn lock_data_dir(dir: &Path) -> Result<WriterLock, ClientError> {
    std::fs::create_dir_all(dir).map_err(|source| ClientError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let lock_path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| ClientError::Io {
            path: lock_path.clone(),
            source,
        })?;
    take_lock(&file, dir, &lock_path)?;
    Ok(WriterLock { _file: file })
}

/// Open (or create) the store in the data folder `dir`.
pub(crate) async fn open_store(dir: &Path) -> Result<LocalStore<DeviceBackend>, ClientError> {
    LocalStore::open(dir).await
}

/// Run `work` on a blocking thread (it takes most of a second: the async threads stay free).
/// The error says why it stopped.
pub(crate) async fn off_thread<T, F>(work: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string())
}

/// Delete the closed store's files, each overwritten with zeros first. Every file is tried;
/// the first failure is returned.
pub(crate) async fn destroy_store(store: &LocalStore<DeviceBackend>) -> Result<(), ClientError> {
    let db = store.path().to_path_buf();
    let mut failure = None;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        let path = PathBuf::from(name);
        if let Err(source) = destroy_file(&path) {
            tracing::error!(path = %path.display(), error = %source, "could not remove");
            failure.get_or_insert(ClientError::Io { path, source });
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Overwrite a file with zeros, then delete it. A missing file is fine.
fn destroy_file(path: &Path) -> std::io::Result<()> {
    const CHUNK: usize = 64 * 1024;
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(mut file) => {
            let zeros = vec![0u8; CHUNK];
            let mut left = file.metadata()?.len();
            while left > 0 {
                let n = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
                file.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            file.sync_all()?;
            drop(file);
            std::fs::remove_file(path)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Keep a withdrawal's export as a new file in the data folder's `withdrawn/`, readable only
/// by this user, synced to disk before returning. Returns the file's path.
pub(crate) async fn keep_export(
    client: &Client,
    _keys: &Keys,
    export: &WithdrawnExport,
) -> Result<PathBuf, ClientError> {
    write_private_file(
        &client.dir.join(WITHDRAWN_DIR),
        &export.name,
        export.json.as_bytes(),
    )
}

/// The exports in the data folder's `withdrawn/`, oldest first (their names end in the time).
pub(crate) async fn kept_exports(
    client: &Client,
    _keys: &Keys,
) -> Result<Vec<WithdrawnExport>, ClientError> {
    let dir = client.dir.join(WITHDRAWN_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ClientError::Io { path, source }
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir)(e)),
    };
    let mut kept = Vec::new();
    for entry in entries {
        let path = entry.map_err(io(&dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !name.ends_with(".json") {
            continue;
        }
        let json = std::fs::read_to_string(&path).map_err(io(&path))?;
        kept.push(WithdrawnExport { name, json });
    }
    kept.sort_by_key(|e| export_time(&e.name));
    Ok(kept)
}

/// The time (ms) at the end of an export's name (`<doc id>-<ms>.json`).
fn export_time(name: &str) -> i64 {
    name.trim_end_matches(".json")
        .rsplit('-')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Write `bytes` to a new file `name` in the folder `dir` (made if needed), readable only by
/// this user, synced to disk before returning. Returns the file's path.
pub(crate) fn write_private_file(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<PathBuf, ClientError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ClientError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io(&path))?;
    file.write_all(bytes).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))?;
    Ok(path)
}
