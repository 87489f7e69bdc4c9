//! The device: the client SDK's [`Client`] over this site's IndexedDB store (sealed at rest,
//! one writer across tabs), talking to the server that served the page, and the sync that runs
//! by itself: when the connection comes back, after each change, and every so often with
//! backoff while something fails.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fieldnotes_client::{Client, ClientError, PasswordKdf};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::status::SyncWords;

/// The store's name: one store per site, like one data folder per device.
const STORE: &str = "fieldnotes";

/// How this device is named in the server's list of devices.
pub const DEVICE_NAME: &str = "Web browser";

/// Argon2id for the password key in a browser: 46 MiB, one pass (OWASP's second setting).
/// Measured at 0.24 s in Chromium here (docs/PERFORMANCE.md) against 0.82 s for the SDK's
/// default, which would hold a phone's page for seconds at each unlock. The settings are kept
/// with the wrapped key, so a later change needs no migration.
const BROWSER_KDF: PasswordKdf = PasswordKdf {
    memory_kib: 46 * 1024,
    iterations: 1,
    parallelism: 1,
};

/// How long the background sync waits between tries while all is well, and at most while
/// failing (it doubles from the first up to this).
const QUIET: Duration = Duration::from_secs(30);
const MOST: Duration = Duration::from_secs(300);

thread_local! {
    static CLIENT: RefCell<Option<Rc<Client>>> = const { RefCell::new(None) };
    static SYNCING: Cell<bool> = const { Cell::new(false) };
    static AGAIN: Cell<bool> = const { Cell::new(false) };
    /// A sync changed which children the person holds, and the server has not yet given the
    /// caseload's names since.
    static NAMES_STALE: Cell<bool> = const { Cell::new(false) };
}

/// Leave a User Timing mark named `name` (`fieldnotes:...`): what the app benchmark times
/// the app's screens by, and what a browser's developer tools show.
pub fn mark(name: &str) {
    if let Some(performance) = window().performance() {
        let _ = performance.mark(name);
    }
}

/// The opened client (once [`open`] has succeeded).
pub fn client() -> Option<Rc<Client>> {
    CLIENT.with(|c| c.borrow().clone())
}

/// Open this site's store, talking to the server the page came from.
pub async fn open() -> Result<Rc<Client>, ClientError> {
    let origin = window()
        .location()
        .origin()
        .map_err(|_| ClientError::Config("the page's address cannot be read".to_owned()))?;
    let client = Rc::new(
        Client::builder(STORE)
            .server_url(&origin)
            .password_kdf(BROWSER_KDF)
            .open()
            .await?,
    );
    CLIENT.with(|c| *c.borrow_mut() = Some(Rc::clone(&client)));
    Ok(client)
}

/// Whether the browser says it has a connection.
pub fn online() -> bool {
    window().navigator().on_line()
}

/// A time (ms since the epoch) as the person's locale writes it: `3 Dec 2026, 10:42`.
pub fn local_time(ms: i64, with_date: bool) -> String {
    #[expect(
        clippy::cast_precision_loss,
        reason = "ms since 1970 fit an f64 exactly"
    )]
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    let locale = window()
        .navigator()
        .language()
        .unwrap_or_else(|| "en-GB".to_owned());
    // Hours and minutes, and the day when asked for: `3 Dec 2026, 10:42`.
    let options = js_sys::Object::new();
    let set = |key: &str, value: &str| {
        let _ = js_sys::Reflect::set(&options, &key.into(), &value.into());
    };
    set("timeStyle", "short");
    if with_date {
        set("dateStyle", "medium");
    }
    String::from(date.to_locale_string(&locale, &options))
}

/// An RFC 3339 time (`2026-12-03T10:30:00+01:00`) as ms since the epoch, if it is one.
pub fn parse_time(rfc3339: &str) -> Option<i64> {
    let ms = js_sys::Date::parse(rfc3339);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a parsed date is a whole number of ms well inside an i64"
    )]
    ms.is_finite().then_some(ms as i64)
}

/// A calendar date (`2027-01-15`) as the person's locale writes it: `15 Jan 2027`. Text that
/// is not such a date is shown as it is.
pub fn local_date(date: &str) -> String {
    let mut parts = date.splitn(3, '-');
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) = (
        parts.next().map(str::parse::<u32>),
        parts.next().map(str::parse::<i32>),
        parts.next().map(str::parse::<i32>),
    ) else {
        return date.to_owned();
    };
    // The month is counted from 0.
    let when = js_sys::Date::new_with_year_month_day(year, month - 1, day);
    let locale = window()
        .navigator()
        .language()
        .unwrap_or_else(|| "en-GB".to_owned());
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"dateStyle".into(), &"medium".into());
    String::from(when.to_locale_date_string(&locale, &options))
}

/// Now, for a `datetime-local` field (`2026-12-03T10:42`), and the device's offset from UTC
/// in minutes east.
pub fn local_now() -> (String, i32) {
    let now = js_sys::Date::new_0();
    let field = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        now.get_full_year(),
        now.get_month() + 1,
        now.get_date(),
        now.get_hours(),
        now.get_minutes()
    );
    #[expect(
        clippy::cast_possible_truncation,
        reason = "an offset from UTC is a few hundred minutes"
    )]
    let east = -(now.get_timezone_offset() as i32);
    (field, east)
}

/// Read the device's sync state into `words` (no network; works while locked).
pub async fn read_status(words: RwSignal<SyncWords>) {
    let Some(client) = client() else {
        return;
    };
    if let Ok(status) = client.sync_status().await {
        words.update(|w| {
            w.pending = status.pending_changes;
            w.held = status.held_documents;
            w.last_synced = status.last_sync_ms.map(|ms| local_time(ms, false));
        });
    }
}

/// Whether a sync changed which children this person holds records of.
fn scope_changed(sync: &fieldnotes_client::Summary) -> bool {
    !(sync.scopes_completed.is_empty()
        && sync.removed_scopes.is_empty()
        && sync.removals_waiting.is_empty())
}

/// Sync now if there is a connection and the store is open; one sync at a time (a request
/// made during one runs once it ends). Calls `after` when a sync has finished, and gives back
/// whether it went through (`None`: nothing was tried).
pub async fn sync_now(words: RwSignal<SyncWords>, after: impl Fn()) -> Option<bool> {
    let client = client()?;
    if !online() || !client.is_unlocked() {
        return None;
    }
    if SYNCING.with(Cell::get) {
        AGAIN.with(|again| again.set(true));
        return None;
    }
    SYNCING.with(|s| s.set(true));
    let went = loop {
        AGAIN.with(|again| again.set(false));
        words.update(|w| w.syncing = true);
        let result = client.sync().await;
        let went = result.is_ok();
        if let Ok(report) = &result
            && scope_changed(&report.protocol)
        {
            NAMES_STALE.with(|stale| stale.set(true));
        }
        words.update(|w| {
            w.syncing = false;
            w.problem = result
                .err()
                .map(|e| crate::status::sentence(&e.to_string()));
        });
        // A child allocated to this person, or no longer theirs: the caseload's names are
        // asked for again (until the server has answered), so a new child is listed by name
        // and one who left is not.
        if went && NAMES_STALE.with(Cell::get) && client.children().await.is_ok() {
            NAMES_STALE.with(|stale| stale.set(false));
        }
        read_status(words).await;
        after();
        if !went || !AGAIN.with(Cell::get) {
            break went;
        }
    };
    SYNCING.with(|s| s.set(false));
    Some(went)
}

/// The sync that needs no button: every [`QUIET`] while it goes through, backing off to
/// [`MOST`] while it fails. (The `online` event and each change also start one.)
pub fn keep_syncing(words: RwSignal<SyncWords>, after: impl Fn() + Clone + 'static) {
    spawn_local(async move {
        let mut wait = QUIET;
        loop {
            gloo_timers::future::sleep(wait).await;
            wait = match sync_now(words, after.clone()).await {
                Some(false) => (wait * 2).min(MOST),
                _ => QUIET,
            };
        }
    });
}
