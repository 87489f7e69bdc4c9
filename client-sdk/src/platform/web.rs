//! A browser (wasm32): the store is an IndexedDB database named by the "data folder" path the
//! app gives [`crate::Client::builder`], one tab writes as the device (an exclusive Web Lock
//! named after the store, held while the `Client` lives), and Argon2 runs where it is called.
//!
//! The writer's lock: `navigator.locks.request(name, { ifAvailable: true }, callback)`. The
//! browser calls `callback` with the lock, or with `null` when another tab, window, worker or
//! `Client` of this site holds it; that second writer is refused with
//! [`ClientError::Locked`]. Granted, the callback returns a promise that stays pending while
//! the `Client` lives; dropping the `Client` resolves it, and the browser releases the lock
//! (also when the tab closes or crashes). It does so a moment later, after the promise
//! settles, so an open in the same page first waits for the lock this page let go of last
//! (without that, Chromium refuses a store closed and opened again at once). A browser without
//! Web Locks (older than 2022, or a
//! page not served over https or from localhost) is refused with
//! [`ClientError::NoWriterLock`] rather than let two tabs write: each store handle serialises
//! only its own transactions, so two writers could lose an outbox change.
//!
//! Not done yet (issue 11): Argon2 in a short-lived dedicated worker (docs/ARCHITECTURE.md,
//! "Browser store: the choice"), and a withdrawal's export (there is no folder to write to).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use js_sys::{Array, Function, Object, Promise};
use wasm_bindgen::prelude::*;

use crate::crypto::Keys;
use crate::store::{DeviceBackend, LocalStore};
use crate::{Client, ClientError, WITHDRAWN_DIR, WithdrawnExport};

/// The Web Locks API, as far as the writer's lock uses it. web-sys has these bindings
/// (`LockManager`, `LockOptions`, `Navigator::locks`) only behind `--cfg=web_sys_unstable_apis`,
/// a flag every build of the SDK (and the app) would need in its RUSTFLAGS; these few typed
/// imports need none.
#[wasm_bindgen]
extern "C" {
    /// `globalThis`: a window, or a worker's global scope. Both have a `navigator`.
    type GlobalScope;
    #[wasm_bindgen(method, getter)]
    fn navigator(this: &GlobalScope) -> Option<Navigator>;

    /// `Navigator` or `WorkerNavigator`.
    type Navigator;
    /// `undefined` in a browser without Web Locks, and on a page that is not a secure context.
    #[wasm_bindgen(method, getter)]
    fn locks(this: &Navigator) -> Option<LockManager>;

    /// The site's locks, shared by its tabs, windows and workers.
    type LockManager;
    /// Ask for the lock `name`; the browser calls `callback` with it (or `null`, see
    /// [`LockOptions`]) and releases it once the promise `callback` returned settles. The
    /// returned promise settles after that, with the callback's result.
    #[wasm_bindgen(method, catch)]
    fn request(
        this: &LockManager,
        name: &str,
        options: &LockOptions,
        callback: &JsValue,
    ) -> Result<Promise, JsValue>;

    /// The dictionary `LockOptions` (the mode is left `exclusive`).
    #[wasm_bindgen(extends = Object)]
    type LockOptions;
    /// Call back at once with `null` rather than wait while the lock is held elsewhere.
    #[wasm_bindgen(method, setter = ifAvailable)]
    fn set_if_available(this: &LockOptions, value: bool);
}

/// The Web Lock's name for the store `store`. A name starting with `-` is reserved.
fn lock_name(store: &str) -> String {
    format!("fieldnotes-writer:{store}")
}

thread_local! {
    /// Per lock name, a promise that settles once the lock this page held last is released:
    /// the browser releases a lock a moment after its `WriterLock` is dropped.
    static RELEASING: RefCell<HashMap<String, Promise>> = RefCell::new(HashMap::new());
}

/// The store's Web Lock, held by this page while the `Client` lives (see the module's note).
#[derive(Debug)]
pub(crate) struct WriterLock {
    name: String,
    /// Resolves the promise the lock's callback returned: the browser then releases the lock.
    release: Function,
    /// The lock request's promise: it settles once the lock is released.
    released: Promise,
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        if let Err(e) = self.release.call0(&JsValue::UNDEFINED) {
            tracing::error!(lock = %self.name, error = ?e, "could not release the writer's lock");
        }
        RELEASING.with_borrow_mut(|releasing| {
            releasing.insert(self.name.clone(), self.released.clone());
        });
    }
}

/// Take the store `dir`'s Web Lock, without waiting: another tab, window or `Client` of this
/// site holding it is [`ClientError::Locked`]; a browser without Web Locks (or one that
/// refuses the request) is [`ClientError::NoWriterLock`].
pub(crate) async fn lock_data_dir(dir: &Path) -> Result<WriterLock, ClientError> {
    let store = dir.to_string_lossy();
    let name = lock_name(&store);
    // A lock this page let go of is released a moment later: wait for it, so that a store
    // closed and opened again in one page is not refused by its own past.
    if let Some(released) = RELEASING.with_borrow(|releasing| releasing.get(&name).cloned()) {
        // A rejected request also holds the lock no more.
        let _ = released.clone().await;
        RELEASING.with_borrow_mut(|releasing| {
            if releasing
                .get(&name)
                .is_some_and(|p| Object::is(p, &released))
            {
                releasing.remove(&name);
            }
        });
    }
    let locks = js_sys::global()
        .unchecked_into::<GlobalScope>()
        .navigator()
        .and_then(|navigator| navigator.locks())
        .ok_or_else(|| ClientError::NoWriterLock {
            reason: "it has no Web Locks API (navigator.locks): it is older than 2022, or \
                     the page is not served over https"
                .to_owned(),
        })?;
    // `held` stays pending while the lock is held; `granted` is fulfilled once it is.
    let unstarted = || ClientError::NoWriterLock {
        reason: "a promise could not be made".to_owned(),
    };
    let (held, release) = pending().ok_or_else(unstarted)?;
    let (granted, grant) = pending().ok_or_else(unstarted)?;
    // Called once, by the browser: it owns the closure from here (`once_into_js`).
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        // `null`: held elsewhere.
        if lock.is_null() || lock.is_undefined() {
            return JsValue::FALSE;
        }
        let _ = grant.call1(&JsValue::UNDEFINED, &JsValue::TRUE);
        held.into()
    });
    let options = Object::new().unchecked_into::<LockOptions>();
    options.set_if_available(true);
    let requested = locks
        .request(&name, &options, &callback)
        .map_err(|e| refused_request(&e))?;
    // From here a dropped `lock` (this future dropped too) lets the lock go once granted.
    let lock = WriterLock {
        name,
        release,
        released: requested.clone(),
    };
    // Fulfilled with `true` when the lock is granted, `false` (the callback's result) when
    // it is held elsewhere; rejected when the browser refuses the request.
    let outcome = Promise::race(&Array::of2(&granted, &requested)).await;
    match outcome {
        Ok(v) if v.is_truthy() => Ok(lock),
        Ok(_) => Err(ClientError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(e) => Err(refused_request(&e)),
    }
}

/// A pending promise and the function that fulfils it. `None` only if the browser did not
/// run the promise's executor (it always does, before the constructor returns).
fn pending() -> Option<(Promise, Function)> {
    let mut resolve = None;
    let promise = Promise::new(&mut |fulfil, _reject| resolve = Some(fulfil));
    resolve.map(|resolve| (promise, resolve))
}

/// The error for a lock request the browser refused, in the browser's words. A
/// `SecurityError` is the browser keeping no data for this site (its settings block sites from
/// saving data, a policy, a sandboxed frame): [`ClientError::BrowserRefused`], as IndexedDB's
/// refusal would be.
fn refused_request(e: &JsValue) -> ClientError {
    let Some(error) = e.dyn_ref::<js_sys::Error>() else {
        return ClientError::NoWriterLock {
            reason: format!("it refused the lock: {e:?}"),
        };
    };
    let reason = format!("{}: {}", error.name(), error.message());
    if error.name() == "SecurityError" {
        ClientError::BrowserRefused { reason }
    } else {
        ClientError::NoWriterLock {
            reason: format!("it refused the lock: {reason}"),
        }
    }
}

/// Open (or create) the IndexedDB store named `dir`.
pub(crate) async fn open_store(dir: &Path) -> Result<LocalStore<DeviceBackend>, ClientError> {
    LocalStore::open_browser(&dir.to_string_lossy()).await
}

/// Run `work` where it is called: the page has one thread (a worker is to take Argon2).
#[allow(clippy::unused_async)] // The same signature as natively, where it awaits a thread.
pub(crate) async fn off_thread<T, F>(work: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Ok(work())
}

/// Delete the closed store's IndexedDB database.
pub(crate) async fn destroy_store(store: &LocalStore<DeviceBackend>) -> Result<(), ClientError> {
    store.destroy().await
}

/// The sealed meta value holding a browser's withdrawal exports.
const META_WITHDRAWN: &str = "withdrawn_exports";

/// Keep a withdrawal's export: a browser has no folder for it, so it is kept sealed in the
/// store, committed before the withdrawal changes anything. Returns its name under
/// `withdrawn/`.
pub(crate) async fn keep_export(
    client: &Client,
    keys: &Keys,
    export: &WithdrawnExport,
) -> Result<PathBuf, ClientError> {
    let mut kept = kept_exports(client, keys).await?;
    kept.push(export.clone());
    let bytes = serde_json::to_vec(&kept)
        .map_err(|e| ClientError::Corrupt(format!("keeping the export: {e}")))?;
    let mut tx = client.store.begin().await?;
    tx.set_sealed_meta(keys, META_WITHDRAWN, &bytes).await?;
    client.store.commit(tx).await?;
    Ok(PathBuf::from(WITHDRAWN_DIR).join(&export.name))
}

/// The exports kept in the store, oldest first.
pub(crate) async fn kept_exports(
    client: &Client,
    keys: &Keys,
) -> Result<Vec<WithdrawnExport>, ClientError> {
    match client.store.sealed_meta(keys, META_WITHDRAWN).await? {
        Some(kept) => serde_json::from_slice(&kept)
            .map_err(|e| ClientError::Corrupt(format!("the kept withdrawal exports: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// The writer's lock in a real browser (`wasm-bindgen-test` in headless Chromium; see
/// docs/ARCHITECTURE.md, "A backend", for the command).
#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use std::path::Path;

    use wasm_bindgen_test::wasm_bindgen_test;

    use super::lock_data_dir;
    use crate::{Client, ClientError};

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    /// A store name no other test uses.
    fn fresh_store(test: &str) -> String {
        format!("fieldnotes-lock-{test}-{}", uuid::Uuid::new_v4())
    }

    /// `err` is the refusal of a second writer on the store `store`, in the person's words.
    fn assert_refused(err: &ClientError, store: &str) {
        assert!(
            matches!(err, ClientError::Locked { path } if path == Path::new(store)),
            "{err:?}"
        );
        assert!(
            err.to_string().starts_with(
                "Fieldnotes is already open in another tab or window on this device; close \
                 it, or use that one"
            ),
            "{err}"
        );
    }

    #[wasm_bindgen_test]
    async fn a_second_client_on_one_store_is_refused_until_the_first_is_dropped() {
        let store = fresh_store("client");
        let first = Client::builder(&store).open().await.unwrap();
        let second = Client::builder(&store).open().await.unwrap_err();
        assert_refused(&second, &store);
        // Refused again: a refusal takes nothing and leaves the holder's lock alone.
        let third = Client::builder(&store).open().await.unwrap_err();
        assert_refused(&third, &store);
        // Another store has a lock of its own.
        let other = Client::builder(fresh_store("other")).open().await.unwrap();
        drop(first);
        let reopened = Client::builder(&store).open().await.unwrap();
        assert_refused(&Client::builder(&store).open().await.unwrap_err(), &store);
        drop((reopened, other));
    }

    #[wasm_bindgen_test]
    async fn the_lock_is_the_browsers_and_is_released_on_drop() {
        let store = fresh_store("lock");
        let held = lock_data_dir(Path::new(&store)).await.unwrap();
        assert_refused(&lock_data_dir(Path::new(&store)).await.unwrap_err(), &store);
        // The browser itself says the lock is held (what another tab would be told).
        assert!(held_elsewhere(&store).await);
        drop(held);
        let again = lock_data_dir(Path::new(&store)).await.unwrap();
        drop(again);
    }

    #[wasm_bindgen_test]
    async fn another_agent_is_refused_while_a_client_holds_the_store() {
        let store = fresh_store("agent");
        let other = OtherAgent::start();
        // (The worker does not look first: the lock it would take and let go is released in
        // the browser a moment after its request settles, and the client could be refused.)
        let client = Client::builder(&store).open().await.unwrap();
        assert!(
            !other.can_lock(&store).await,
            "another agent could take the lock a client holds"
        );
        drop(client);
        // The browser lets the lock go a moment after the drop: ask again until it has.
        let mut freed = false;
        for _ in 0..50 {
            if other.can_lock(&store).await {
                freed = true;
                break;
            }
        }
        assert!(
            freed,
            "the lock was not released after the client was dropped"
        );
    }

    /// A dedicated worker: another agent of this site, whose locks are shared with this page's
    /// as another tab's are.
    struct OtherAgent {
        worker: web_sys::Worker,
    }

    impl OtherAgent {
        /// Answers a lock name with whether it could take that lock at once, after its request
        /// has settled (the browser may still be letting the lock go).
        const SCRIPT: &str = "onmessage = async (e) => postMessage(await \
            navigator.locks.request(e.data, { ifAvailable: true }, (lock) => lock !== null));";

        fn start() -> Self {
            use wasm_bindgen::prelude::*;

            let options = web_sys::BlobPropertyBag::new();
            options.set_type("text/javascript");
            let parts = js_sys::Array::of1(&JsValue::from_str(Self::SCRIPT));
            let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).unwrap();
            let url = web_sys::Url::create_object_url_with_blob(&blob).unwrap();
            OtherAgent {
                worker: web_sys::Worker::new(&url).unwrap(),
            }
        }

        /// Whether the worker could take the store's lock now.
        async fn can_lock(&self, store: &str) -> bool {
            use wasm_bindgen::prelude::*;

            let answer = js_sys::Promise::new(&mut |resolve, _reject| {
                let on_message = Closure::once_into_js(move |e: web_sys::MessageEvent| {
                    let _ = resolve.call1(&JsValue::UNDEFINED, &e.data());
                });
                self.worker.set_onmessage(Some(on_message.unchecked_ref()));
            });
            self.worker
                .post_message(&JsValue::from_str(&super::lock_name(store)))
                .unwrap();
            answer.await.unwrap().is_truthy()
        }
    }

    impl Drop for OtherAgent {
        fn drop(&mut self) {
            self.worker.terminate();
        }
    }

    /// Whether a request of the store's lock made around the SDK (as another tab's would be)
    /// finds it held. Waits until the lock this page released last is let go.
    async fn held_elsewhere(store: &str) -> bool {
        use wasm_bindgen::prelude::*;

        let locks = js_sys::global()
            .unchecked_into::<super::GlobalScope>()
            .navigator()
            .and_then(|n| n.locks())
            .unwrap();
        let options = js_sys::Object::new().unchecked_into::<super::LockOptions>();
        options.set_if_available(true);
        let callback = Closure::once_into_js(|lock: JsValue| JsValue::from_bool(lock.is_null()));
        let outcome = locks
            .request(&super::lock_name(store), &options, &callback)
            .unwrap()
            .await
            .unwrap();
        outcome.is_truthy()
    }
}
