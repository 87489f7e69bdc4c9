//! The app's screens: a header and the status line under it (both stay on screen while the
//! page scrolls), then one of: opening, refused (another tab has the store, or the browser keeps
//! no data), sign in, unlock, the caseload with the records on this device, a child's page
//! (`child`), the visit note form, and the "about me" and contact card forms (`profile`).

mod child;
mod console;
mod history;
mod keep;
mod org;
mod plan;
mod profile;
mod refused;

use std::collections::HashMap;

use fieldnotes_client::{ClientError, DocSummary};
use fieldnotes_model::rules::WriterRole as Role;
use fieldnotes_model::{
    DocKind, NewRecord, NewVisitNote, NotAloneReason, NoteStatus, PLAN_POINT_LIMIT, Patch, Record,
    VisitKind,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::device::{self, DEVICE_NAME};
use crate::note::{VisitDraft, headline, not_alone_label, visit_kind_label};
use crate::status::{Connection, SyncWords, sentence};
use crate::words::{field_words, plain_reason};

/// Which screen shows under the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Screen {
    Opening,
    /// The store cannot be opened here; the words say why and what to do.
    Refused(String),
    /// Sign in; the username of the person this device belongs to, when known.
    SignIn(Option<String>),
    /// Signed in before: the password opens the records (no network needed).
    Unlock(String),
    Home,
    /// A child's page (the child's id).
    Child(String),
    /// A new visit note, about this child when one is named (and back to their page after).
    NewNote(Option<String>),
    /// A visit note on this device, opened to edit or complete (its id).
    EditNote(String),
    /// Whose "about me" to write or edit.
    AboutMe(Subject),
    /// The person's own contact card.
    Card,
    /// A short plan for the child `child`: a new one, or the plan `id` on this device.
    Plan {
        child: String,
        id: Option<String>,
    },
    /// The review queue (managers and admins).
    Review,
    /// One review item (its id).
    ReviewItem(i64),
    /// A record's history (its id), and the screen to go back to.
    History {
        id: String,
        back: Box<Screen>,
    },
    /// The organisation: children and their workers, people, the audit log; for admins
    /// teams, devices and the quarantine.
    Organisation,
    /// The records the server refused, with why and the ways out.
    RefusedRecords,
}

impl Screen {
    /// Whether the records are open (signed in and unlocked) on this screen.
    fn is_open(&self) -> bool {
        !matches!(
            self,
            Screen::Opening | Screen::Refused(_) | Screen::SignIn(_) | Screen::Unlock(_)
        )
    }
}

/// Whose "about me" profile a form is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    /// A child in the caseload: their id and name.
    Child { id: String, name: String },
    /// The signed-in worker.
    Me,
}

/// A child the person may see, as the caseload shows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ChildRow {
    id: String,
    name: String,
    /// The user id of their social worker (the allocation), when there is one.
    case_holder: Option<String>,
    notes: usize,
    last_contact: Option<String>,
    /// Changes to their records not yet sent.
    waiting: u64,
}

/// A record on this device, as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RecordRow {
    id: String,
    kind: &'static str,
    summary: String,
    child: String,
    when: String,
    /// Changes to it not yet sent.
    waiting: u64,
}

/// What the screens share.
#[derive(Debug, Clone, Copy)]
struct App {
    screen: RwSignal<Screen>,
    connection: RwSignal<Connection>,
    sync: RwSignal<SyncWords>,
    /// The signed-in person's name and user id.
    person: RwSignal<Option<(String, String)>>,
    /// What the signed-in person does (a youth worker's caseload is the young people
    /// referred to them).
    role: RwSignal<Option<Role>>,
    /// The most points a short plan may have in the person's team, as the device last learnt.
    plan_limit: RwSignal<usize>,
    children: RwSignal<Vec<ChildRow>>,
    records: RwSignal<Vec<RecordRow>>,
}

impl App {
    /// Whether the person is a youth worker: their caseload is the young people referred to
    /// them, and the screens call it so.
    fn youth_worker(self) -> bool {
        self.role.get() == Some(Role::YouthWorker)
    }

    /// Whether the person reviews, signs off and deletes: a manager or an admin.
    fn reviews(self) -> bool {
        matches!(self.role.get(), Some(Role::Manager | Role::Admin))
    }

    /// Read the records, the caseload and the sync state again from the device.
    fn refresh(self) {
        spawn_local(async move { self.reload().await });
    }

    async fn reload(self) {
        device::read_status(self.sync).await;
        let Some(client) = device::client() else {
            return;
        };
        if !client.is_unlocked() {
            return;
        }
        let known = client.known_children().await.unwrap_or_default();
        let names: HashMap<String, String> = known
            .iter()
            .map(|c| (c.child_id.clone(), c.display_name.clone()))
            .collect();
        let waiting = client.pending_by_record().await.unwrap_or_default();
        let waiting_on = |id: &str| waiting.get(id).copied().unwrap_or(0);
        let mut listed: Vec<DocSummary> = client.list(None).await.unwrap_or_default();
        listed.sort_by_key(|doc| std::cmp::Reverse(doc.updated_at_ms));
        let rows = listed
            .iter()
            .map(|doc| RecordRow {
                id: doc.id.clone(),
                kind: kind_label(doc.kind),
                summary: headline(doc.kind, &doc.summary).to_owned(),
                child: match &doc.child_id {
                    Some(id) => names
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| "A child no longer in your caseload".to_owned()),
                    None => "About you".to_owned(),
                },
                when: device::local_time(doc.updated_at_ms, true),
                waiting: waiting_on(&doc.id),
            })
            .collect();
        let children = known
            .iter()
            .map(|child| {
                let theirs = listed
                    .iter()
                    .filter(|d| d.child_id.as_deref() == Some(child.child_id.as_str()));
                let last = theirs.clone().map(|d| d.updated_at_ms).max();
                let waiting = theirs.clone().map(|d| waiting_on(&d.id)).sum();
                ChildRow {
                    id: child.child_id.clone(),
                    name: child.display_name.clone(),
                    case_holder: child.case_holder.clone(),
                    notes: theirs.count(),
                    last_contact: last.map(|ms| device::local_time(ms, true)),
                    waiting,
                }
            })
            .collect();
        self.records.set(rows);
        self.children.set(children);
        device::mark("fieldnotes:records-listed");
    }

    /// Sync now (if there is a connection), then show what came.
    fn sync(self) {
        spawn_local(async move {
            device::sync_now(self.sync, move || self.refresh()).await;
        });
    }

    /// The records are open: show the caseload, ask the server for the caseload's names when
    /// there is a connection, and sync.
    async fn opened(self) {
        if let Some(client) = device::client() {
            let user = client.user();
            self.role.set(user.as_ref().map(|user| user.role));
            self.person
                .set(user.map(|user| (user.display_name, user.user_id)));
            if device::online() {
                // Without a connection the names and the team's rules kept from the last time
                // serve.
                let _ = client.children().await;
                let _ = client.team().await;
            }
            if let Ok(Some(team)) = client.known_team().await {
                self.plan_limit
                    .set(usize::try_from(team.plan_point_limit).unwrap_or(PLAN_POINT_LIMIT));
            }
        }
        self.screen.set(Screen::Home);
        self.reload().await;
        self.sync();
    }
}

/// What a form's save writes: a new record, or the changes to the record with this id.
type Change = Result<NewRecord, (String, Patch)>;

/// What saving a form writes, for a record already on the device (its id and what it says)
/// or a new one: the changes `patch` finds (as a [`Patch`] by `as_patch`), or the record
/// `new` makes. `Ok(None)`: nothing was changed. `Err`: what the form still needs, in its
/// words.
fn change_of<W, P, E: std::fmt::Display>(
    existing: Option<(&str, &W)>,
    patch: impl FnOnce(&W) -> Result<Option<P>, E>,
    as_patch: fn(P) -> Patch,
    new: impl FnOnce() -> Result<NewRecord, E>,
) -> Result<Option<Change>, String> {
    match existing {
        Some((id, was)) => patch(was).map(|p| p.map(|p| Err((id.to_owned(), as_patch(p))))),
        None => new().map(|record| Some(Ok(record))),
    }
    .map_err(|missing| missing.to_string())
}

/// Save a new record or the changes to one (and forget the form's `draft`), then show `back`
/// with the records read again, and sync. Gives back the words to show when the device
/// refused it.
async fn save(
    app: App,
    back: Screen,
    change: Change,
    draft: Option<keep::Keeper>,
) -> Option<String> {
    let client = device::client()?;
    let saved = match change {
        Ok(new) => client.create(new).await.map(drop),
        Err((id, patch)) => client.edit(&id, patch).await,
    };
    match saved {
        Ok(()) => {
            // The draft goes before the form does, so it cannot come back as a second note.
            if let Some(draft) = draft {
                draft.forget().await;
            }
            app.screen.set(back);
            app.reload().await;
            app.sync();
            None
        }
        Err(e) => Some(sentence(&in_words(&e.to_string()))),
    }
}

/// The server's reason with its fields named as the forms name them and its times in the
/// device's local format.
pub(super) fn in_words(reason: &str) -> String {
    plain_reason(reason, field_words, |stamp| {
        device::parse_time(stamp).map(|ms| device::local_time(ms, true))
    })
}

/// Why something kept on the server (`what`: "The review queue") could not be read: with no
/// signal, that it needs one and that the device's own records are still here; otherwise the
/// SDK's words.
fn from_server(e: &ClientError, what: &str) -> String {
    if e.is_retryable() {
        format!(
            "{what} is kept on the server, so it needs a signal. Your own records are still on \
             this device; try again when you are back online."
        )
    } else {
        sentence(&e.to_string())
    }
}

/// Run a decision on a record (sign off, amend, delete), then show `back` with the records
/// read again, and sync; or say why it was refused, leaving the form as it is.
fn act(
    app: App,
    back: Screen,
    answer: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
    run: impl std::future::Future<Output = Result<(), ClientError>> + 'static,
) {
    busy.set(true);
    answer.set(None);
    spawn_local(async move {
        match run.await {
            Ok(()) => {
                app.screen.set(back);
                app.reload().await;
                app.sync();
            }
            Err(e) => answer.set(Some(sentence(&in_words(&e.to_string())))),
        }
        busy.set(false);
    });
}

/// [`save`] from a form: the form is busy meanwhile, and what the device refused is shown in
/// `answer`.
fn send(
    app: App,
    back: Screen,
    change: Change,
    draft: Option<keep::Keeper>,
    busy: RwSignal<bool>,
    answer: RwSignal<Option<String>>,
) {
    busy.set(true);
    answer.set(None);
    spawn_local(async move {
        answer.set(save(app, back, change, draft).await);
        busy.set(false);
    });
}

/// "3 changes waiting to be sent", beside a child or a record with any.
fn waiting_words(changes: u64) -> Option<String> {
    match changes {
        0 => None,
        1 => Some("1 change waiting to be sent".to_owned()),
        n => Some(format!("{n} changes waiting to be sent")),
    }
}

/// Where a saved record is, under every form.
const SAVED_HINT: &str =
    "Saved at once on this device, locked with your password; sent when there is a signal.";

fn kind_label(kind: DocKind) -> &'static str {
    match kind {
        DocKind::VisitNote => "Visit note",
        DocKind::AboutMe => "About me",
        DocKind::ContactCard => "Contact card",
        DocKind::ShortPlan => "Short plan",
    }
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let app = App {
        screen: RwSignal::new(Screen::Opening),
        connection: RwSignal::new(Connection::from_online(device::online())),
        sync: RwSignal::new(SyncWords::default()),
        person: RwSignal::new(None),
        role: RwSignal::new(None),
        plan_limit: RwSignal::new(PLAN_POINT_LIMIT),
        children: RwSignal::new(Vec::new()),
        records: RwSignal::new(Vec::new()),
    };
    spawn_local(async move {
        let screen = match device::open().await {
            Ok(client) => {
                device::read_status(app.sync).await;
                match client.status().await {
                    Ok(status) => match status.owner {
                        Some(owner) if status.signed_in => Screen::Unlock(owner.display_name),
                        owner => Screen::SignIn(owner.map(|o| o.username)),
                    },
                    Err(e) => Screen::Refused(sentence(&e.to_string())),
                }
            }
            Err(e) => Screen::Refused(refusal(&e)),
        };
        app.screen.set(screen);
        device::keep_syncing(app.sync, move || app.refresh());
    });
    // A new screen starts at its top, not where the last one was scrolled to.
    Effect::new(move |_| {
        let shown = app.screen.with(|screen| match screen {
            Screen::SignIn(_) => Some("fieldnotes:sign-in"),
            Screen::Unlock(_) => Some("fieldnotes:unlock"),
            Screen::Home => Some("fieldnotes:home"),
            _ => None,
        });
        if let Some(shown) = shown {
            device::mark(shown);
        }
        window().scroll_to_with_x_and_y(0.0, 0.0);
    });
    // The listeners live as long as the page: the app is never unmounted.
    let _online = window_event_listener(leptos::ev::online, move |_| {
        app.connection.set(Connection::Online);
        app.sync();
    });
    let _offline = window_event_listener(leptos::ev::offline, move |_| {
        app.connection.set(Connection::Offline);
    });
    view! {
        <div class="top">
            <header class="bar">
                <h1>"Fieldnotes"</h1>
                <span class="who">{move || app.person.get().map(|(name, _)| name)}</span>
            </header>
            <StatusLine app=app/>
        </div>
        <main class:wide=move || matches!(app.screen.get(), Screen::Review | Screen::ReviewItem(_) | Screen::History { .. } | Screen::Organisation)>
            {move || match app.screen.get() {
                Screen::Opening => view! { <p class="card" id="opening">"Opening your records…"</p> }.into_any(),
                Screen::Refused(why) => view! {
                    <section class="card" id="refused" role="alert">
                        <h2>"Fieldnotes cannot open here"</h2>
                        <p>{why}</p>
                        <button type="button" on:click=|_| { let _ = window().location().reload(); }>
                            "Try again"
                        </button>
                    </section>
                }.into_any(),
                Screen::SignIn(username) => view! { <SignIn app=app username=username/> }.into_any(),
                Screen::Unlock(name) => view! { <Unlock app=app name=name/> }.into_any(),
                Screen::Home => view! { <Home app=app/> }.into_any(),
                Screen::Child(id) => view! { <child::ChildPage app=app id=id/> }.into_any(),
                Screen::NewNote(child) => view! { <NewNoteScreen app=app child=child/> }.into_any(),
                Screen::EditNote(id) => view! { <EditNote app=app id=id/> }.into_any(),
                Screen::AboutMe(subject) => view! { <profile::AboutForm app=app subject=subject/> }.into_any(),
                Screen::Card => view! { <profile::CardForm app=app/> }.into_any(),
                Screen::Plan { child, id } => view! { <plan::PlanForm app=app child=child id=id/> }.into_any(),
                Screen::Review => view! { <console::ReviewQueue app=app/> }.into_any(),
                Screen::ReviewItem(id) => view! { <console::ReviewItemPage app=app id=id/> }.into_any(),
                Screen::History { id, back } => view! { <history::History app=app id=id back=*back/> }.into_any(),
                Screen::Organisation => view! { <org::Organisation app=app/> }.into_any(),
                Screen::RefusedRecords => view! { <refused::RefusedRecords app=app/> }.into_any(),
            }}
        </main>
    }
}

/// Why the store could not be opened, and what to do.
fn refusal(e: &ClientError) -> String {
    match e {
        // At open nothing was being saved: say what keeps the browser from keeping records,
        // in the person's terms, and the ways out.
        ClientError::BrowserRefused { reason } => format!(
            "This browser is not letting Fieldnotes keep records on this device ({}). \
             Fieldnotes keeps your notes here so they are safe with no signal. If this is a \
             private or incognito window, open Fieldnotes in a normal window; if the browser's \
             settings block sites from saving data, allow it for this site; if the device is \
             full, free some space. Then press Try again.",
            reason.trim_end_matches('.')
        ),
        _ => sentence(&e.to_string()),
    }
}

/// The always-visible status line: a live region, so a screen reader announces a change.
#[component]
fn StatusLine(app: App) -> impl IntoView {
    let open = move || app.screen.with(Screen::is_open);
    view! {
        <div
            id="status"
            class="status"
            role="status"
            aria-live="polite"
            data-connection=move || app.connection.get().as_str()
        >
            <div class="line">
                <p class="connection">{move || app.connection.get().message()}</p>
                <Show when=open>
                    <button
                        type="button"
                        id="sync-now"
                        class="quiet"
                        disabled=move || app.sync.get().syncing || app.connection.get() == Connection::Offline
                        on:click=move |_| app.sync()
                    >
                        "Sync now"
                    </button>
                </Show>
            </div>
            <Show when=open>
                <p id="sync-words">{move || app.sync.get().summary()}</p>
                <p class="problem">{move || app.sync.get().problem}</p>
                <Show when=move || app.sync.with(|s| s.held > 0)>
                    <div class="line">
                        <p class="refused">{move || app.sync.get().refused()}</p>
                        <button type="button" id="see-refused" class="quiet" on:click=move |_| app.screen.set(Screen::RefusedRecords)>
                            "See why"
                        </button>
                    </div>
                </Show>
            </Show>
        </div>
    }
}

/// The sign-in form.
#[component]
fn SignIn(app: App, username: Option<String>) -> impl IntoView {
    let answer = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let user_field = NodeRef::<leptos::html::Input>::new();
    let password_field = NodeRef::<leptos::html::Input>::new();
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let (Some(user), Some(password)) = (user_field.get(), password_field.get()) else {
            return;
        };
        let (user, password) = (user.value(), password.value());
        let Some(client) = device::client() else {
            return;
        };
        busy.set(true);
        answer.set(None);
        spawn_local(async move {
            match client.sign_in(user.trim(), &password, DEVICE_NAME).await {
                Ok(_) => app.opened().await,
                Err(e) => answer.set(Some(sentence(&e.to_string()))),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="card" id="sign-in" on:submit=submit>
            <h2>"Sign in"</h2>
            <label for="username">"Username"</label>
            <input
                id="username"
                name="username"
                type="text"
                autocomplete="username"
                autocapitalize="none"
                spellcheck="false"
                required
                node_ref=user_field
                prop:value=username.unwrap_or_default()
            />
            <PasswordField node_ref=password_field/>
            <button type="submit" disabled=move || busy.get()>
                {move || if busy.get() { "Signing in…" } else { "Sign in" }}
            </button>
            <p class="answer" role="alert">{move || answer.get()}</p>
        </form>
    }
}

/// The unlock form: the records stay sealed on the device until the password opens them.
#[component]
fn Unlock(app: App, name: String) -> impl IntoView {
    let answer = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let password_field = NodeRef::<leptos::html::Input>::new();
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let Some(password) = password_field.get().map(|field| field.value()) else {
            return;
        };
        let Some(client) = device::client() else {
            return;
        };
        busy.set(true);
        answer.set(None);
        spawn_local(async move {
            match client.unlock(&password).await {
                Ok(()) => app.opened().await,
                Err(e) => answer.set(Some(sentence(&e.to_string()))),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="card" id="unlock" on:submit=submit>
            <h2>"Welcome back, " {name}</h2>
            <p>"Your records are kept locked on this device. Enter your password to open them; no signal is needed."</p>
            <PasswordField node_ref=password_field/>
            <button type="submit" disabled=move || busy.get()>
                {move || if busy.get() { "Opening…" } else { "Open my records" }}
            </button>
            <p class="answer" role="alert">{move || answer.get()}</p>
        </form>
    }
}

#[component]
fn PasswordField(node_ref: NodeRef<leptos::html::Input>) -> impl IntoView {
    view! {
        <label for="password">"Password"</label>
        <input
            id="password"
            name="password"
            type="password"
            autocomplete="current-password"
            autocapitalize="none"
            spellcheck="false"
            required
            node_ref=node_ref
        />
    }
}

/// The caseload and the records on this device.
#[component]
fn Home(app: App) -> impl IntoView {
    let youth_worker = move || app.youth_worker();
    view! {
        <Show when=move || app.reviews()>
            <section class="card" id="console">
                <h2>"Manager's console"</h2>
                <div class="actions">
                    <button type="button" class="primary" id="open-review" on:click=move |_| app.screen.set(Screen::Review)>
                        "Review queue"
                    </button>
                    <button type="button" class="quiet" id="open-org" on:click=move |_| app.screen.set(Screen::Organisation)>
                        "Children, people and devices"
                    </button>
                </div>
            </section>
        </Show>
        <button type="button" id="new-note" class="primary" on:click=move |_| app.screen.set(Screen::NewNote(None))>
            "New visit note"
        </button>
        <section class="card" id="caseload">
            <h2>{move || if youth_worker() { "Young people referred to me" } else if app.reviews() { "My team's children" } else { "My children" }}</h2>
            <Show
                when=move || !app.children.get().is_empty()
                fallback=move || view! {
                    <p>
                        {if youth_worker() { "No young people are referred to you yet" } else { "No children are allocated to you yet" }}
                        ", or the list has not come from the server: it comes with the next sync."
                    </p>
                }
            >
                <ul class="rows">
                    <For each=move || app.children.get() key=|c| c.clone() let:child>
                        <li>
                            <button
                                type="button"
                                class="row"
                                id=format!("child-{}", child.id)
                                on:click={
                                    let id = child.id.clone();
                                    move |_| app.screen.set(Screen::Child(id.clone()))
                                }
                            >
                                <strong>{child.name}</strong>
                                <span class="meta">
                                    {match child.notes { 1 => "1 record".to_owned(), n => format!("{n} records") }}
                                    {child.last_contact.map(|at| format!(" · last {at}"))}
                                </span>
                                {waiting_words(child.waiting).map(|words| view! { <span class="meta waiting">{words}</span> })}
                            </button>
                        </li>
                    </For>
                </ul>
            </Show>
        </section>
        <section class="card" id="you">
            <h2>"You"</h2>
            <div class="actions">
                <button type="button" class="quiet" id="about-me-self" on:click=move |_| app.screen.set(Screen::AboutMe(Subject::Me))>
                    "About me"
                </button>
                <button type="button" class="quiet" id="my-card" on:click=move |_| app.screen.set(Screen::Card)>
                    "My contact card"
                </button>
            </div>
        </section>
        <section class="card" id="records">
            <h2>"Records on this device"</h2>
            <Show
                when=move || !app.records.get().is_empty()
                fallback=|| view! { <p>"Nothing recorded yet."</p> }
            >
                <ul class="rows">
                    <For each=move || app.records.get() key=|r| r.clone() let:record>
                        <li data-id=record.id.clone()>
                            <strong class="summary">{record.summary}</strong>
                            <span class="meta">{record.kind} " · " {record.child} " · " {record.when}</span>
                            {waiting_words(record.waiting).map(|words| view! { <span class="meta waiting">{words}</span> })}
                        </li>
                    </For>
                </ul>
            </Show>
        </section>
    }
}

/// A visit note already on the device, as the form edits it.
#[derive(Debug, Clone)]
struct Existing {
    id: String,
    note: NewVisitNote,
    status: NoteStatus,
    /// Why a manager deleted it, if they did: then it is only shown.
    deleted: Option<String>,
}

/// A visit note opened from a child's page: read from the device, then the form.
#[component]
fn EditNote(app: App, id: String) -> impl IntoView {
    let found = RwSignal::new(None::<Result<(Existing, Option<VisitDraft>), String>>);
    spawn_local(async move {
        let note = match device::client() {
            Some(client) => match client.get(&id).await {
                Ok(Some(Record::VisitNote(note))) => Ok(Existing {
                    deleted: client
                        .document(&id)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|d| d.deletion())
                        .map(|d| d.reason),
                    id: note.id,
                    note: note.content,
                    status: note.status,
                }),
                Ok(_) => Err("This note is no longer on this device.".to_owned()),
                // Not "gone": the device could not read it now.
                Err(e) => Err(format!(
                    "{} Nothing was changed: go back and open it again.",
                    sentence(&e.to_string())
                )),
            },
            None => Err("Your records are not open: sign in again.".to_owned()),
        };
        // A note on the device is changed by Save alone: a draft kept over it could put back
        // what others have changed since.
        found.set(Some(note.map(|n| (n, None))));
    });
    move || {
        match found.get() {
        None => view! { <p class="card">"Opening the note…"</p> }.into_any(),
        Some(Err(why)) => view! {
            <section class="card" role="alert">
                <p>{why}</p>
                <button type="button" class="quiet" on:click=move |_| app.screen.set(Screen::Home)>"Back to my children"</button>
            </section>
        }
        .into_any(),
        Some(Ok((existing, restored))) => {
            let child = Some(existing.note.child_id.clone());
            view! { <NewNote app=app child=child existing=existing restored=restored/> }.into_any()
        }
    }
    }
}

/// The draft name of the visit note form: the note's id, or `visit-note-new`.
fn note_form(id: Option<&str>) -> String {
    id.map_or_else(
        || "visit-note-new".to_owned(),
        |id| format!("visit-note-{id}"),
    )
}

/// The draft kept for `form`, if one is there and can be read.
async fn kept_draft(client: &fieldnotes_client::Client, form: &str) -> Option<VisitDraft> {
    let bytes = client.draft(form).await.ok().flatten()?;
    serde_json::from_slice(&bytes).ok()
}

/// A new visit note: what was typed in one and not saved comes back first.
#[component]
fn NewNoteScreen(app: App, child: Option<String>) -> impl IntoView {
    // The kept draft, and whether it is this form's: a note about the child the form is for
    // (any child in the caseload when opened from home). Another child's is not put in this
    // form, which then keeps nothing, so that draft is not written over.
    let restored = RwSignal::new(None::<(Option<VisitDraft>, Option<String>)>);
    let for_child = child.clone();
    spawn_local(async move {
        let kept = match device::client() {
            Some(client) => kept_draft(&client, &note_form(None)).await,
            None => None,
        };
        let known = |id: &str| {
            app.children
                .with_untracked(|c| c.iter().any(|c| c.id == id))
        };
        let found = match kept {
            Some(kept)
                if known(&kept.child_id)
                    && for_child.as_ref().is_none_or(|c| *c == kept.child_id) =>
            {
                (Some(kept), None)
            }
            Some(kept) => (None, Some(kept.child_id)),
            None => (None, None),
        };
        let _ = restored.try_set(Some(found));
    });
    move || {
        restored.get().map(|(restored, other_draft)| {
            let child = child.clone();
            view! { <NewNote app=app child=child restored=restored other_draft=other_draft/> }
        })
    }
}

/// The visit note form, for a new note or one on the device. A statutory visit asks whether
/// the child was seen, and seen alone, and if not alone the lawful reason; the child's wishes
/// and feelings are their own field. A draft can be saved, or saved and marked complete; a
/// completed or signed-off note is shown, not changed here.
#[component]
fn NewNote(
    app: App,
    child: Option<String>,
    #[prop(optional)] existing: Option<Existing>,
    /// What was typed and not saved last time, kept on the device.
    #[prop(optional)]
    restored: Option<Option<VisitDraft>>,
    /// A new note's draft about another child (its id), kept on the device and left alone.
    #[prop(optional)]
    other_draft: Option<Option<String>>,
) -> impl IntoView {
    let restored = restored.flatten();
    let other_draft = other_draft.flatten();
    let was_restored = restored.is_some();
    // Only a new note keeps a draft as it is typed, and not while another child's is kept.
    let keeper = if existing.is_none() && other_draft.is_none() {
        keep::Keeper::new(note_form(None))
    } else {
        keep::Keeper::inert()
    };
    // Back to the child's page when the note was started there.
    let back = child.clone().map_or(Screen::Home, Screen::Child);
    let cancel = back.clone();
    let (now, offset) = device::local_now();
    let draft = RwSignal::new(match (&existing, restored) {
        (_, Some(kept)) => kept,
        (Some(existing), None) => VisitDraft::from_note(&existing.note),
        (None, None) => VisitDraft {
            occurred_local: now,
            offset_minutes: offset,
            visit_kind: Some(VisitKind::StatutoryVisit),
            child_id: child.unwrap_or_else(|| {
                app.children
                    .get_untracked()
                    .first()
                    .map(|c| c.id.clone())
                    .unwrap_or_default()
            }),
            ..VisitDraft::default()
        },
    });
    let editing = existing.is_some();
    let problem = keeper.problem;
    let given_up = keeper.clone();
    // Kept as it is typed; not before the first change.
    let typing = keeper.clone();
    Effect::new(move |first: Option<()>| {
        let typed = draft.with(|d| serde_json::to_vec(d).ok());
        if first.is_some()
            && let Some(typed) = typed
        {
            typing.keep(typed);
        }
    });
    let deleted = existing.as_ref().and_then(|e| e.deleted.clone());
    let gone = deleted.is_some();
    let locked = existing
        .as_ref()
        .is_some_and(|e| e.status.is_locked() || e.deleted.is_some());
    let status_words = existing.as_ref().map(|e| e.status);
    let answer = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // A completed note a manager may sign off (the server checks it is theirs to sign).
    let to_sign = existing
        .as_ref()
        .filter(|e| e.status == NoteStatus::Completed)
        .map(|e| e.id.clone());
    let sign_back = back.clone();
    let sign_off = move |_| {
        let (Some(id), Some(client)) = (to_sign.clone(), device::client()) else {
            return;
        };
        act(app, sign_back.clone(), answer, busy, async move {
            client.sign_off(&id).await.map(drop)
        });
    };
    let can_sign = existing
        .as_ref()
        .is_some_and(|e| e.status == NoteStatus::Completed);
    // A locked note changes only by amendment, with a reason; a manager may delete a note
    // (one filed on the wrong child), with a reason.
    let amending = RwSignal::new(false);
    let deleting = RwSignal::new(false);
    let why = RwSignal::new(String::new());
    let was = existing.clone();
    let amend_back = back.clone();
    let amended = keeper.clone();
    let amend = Callback::new(move |()| {
        let (Some(was), Some(client)) = (was.clone(), device::client()) else {
            return;
        };
        let patch = match draft.get_untracked().to_patch(&was.note, false) {
            Ok(Some(patch)) => patch,
            Ok(None) => {
                return answer.set(Some(
                    "Nothing was changed: change the note, then save the amendment.".to_owned(),
                ));
            }
            Err(missing) => return answer.set(Some(missing.to_string())),
        };
        let reason = why.get_untracked();
        let amended = amended.clone();
        act(app, amend_back.clone(), answer, busy, async move {
            client
                .amend(&was.id, Patch::VisitNote(patch), &reason)
                .await?;
            amended.forget().await;
            Ok(())
        });
    });
    let doomed = existing.as_ref().map(|e| e.id.clone());
    let delete_back = back.clone();
    let delete = Callback::new(move |()| {
        let (Some(id), Some(client)) = (doomed.clone(), device::client()) else {
            return;
        };
        let reason = why.get_untracked();
        act(app, delete_back.clone(), answer, busy, async move {
            client.delete_record(&id, &reason).await.map(drop)
        });
    });
    // The amendment or deletion given up: the note opens again as it stands, with no reason
    // kept.
    let reopen = existing.as_ref().map(|e| e.id.clone());
    let keep_as_it_is = Callback::new(move |()| {
        if let Some(id) = reopen.clone() {
            app.screen.set(Screen::EditNote(id));
        }
    });
    let history_of = existing.as_ref().map(|e| e.id.clone());
    // Which button sent the form: "Save and mark complete" sets it.
    let complete = RwSignal::new(false);
    let statutory = move || draft.get().visit_kind == Some(VisitKind::StatutoryVisit);
    let seen = move || statutory() && draft.get().child_seen == Some(true);
    let not_alone = move || seen() && draft.get().seen_alone == Some(false);
    let saved = keeper.clone();
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let saved = saved.clone();
        let Some((_, author)) = app.person.get_untracked() else {
            return;
        };
        let draft = draft.get_untracked();
        let record = match change_of(
            existing.as_ref().map(|e| (e.id.as_str(), &e.note)),
            |was| draft.to_patch(was, complete.get_untracked()),
            Patch::VisitNote,
            || draft.to_note(&author).map(NewRecord::VisitNote),
        ) {
            Ok(Some(record)) => record,
            Ok(None) => {
                spawn_local(saved.forget());
                return app.screen.set(back.clone());
            }
            Err(missing) => return answer.set(Some(missing)),
        };
        send(app, back.clone(), record, Some(saved), busy, answer);
    };
    // A keystroke's time is taken as it is typed, before the draft is kept.
    let typist = StoredValue::new(keeper.clone());
    let text = move |set: fn(&mut VisitDraft, String)| {
        move |ev| {
            typist.with_value(keep::Keeper::typed);
            let value = event_target_value(&ev);
            draft.update(|d| set(d, value));
        }
    };
    view! {
        <form class="card" id="visit-note" on:submit=submit>
            <h2>{if editing { "Visit note" } else { "New visit note" }}</h2>
            {status_words.map(|status| view! { <p class="meta" id="note-status">{format!("Status: {}", crate::profile::status_label(status))}</p> })}
            {deleted.map(|why| view! { <p class="over" id="note-deleted">{format!("Deleted by a manager: {why}. It is kept with its history.")}</p> })}
            {other_draft.map(|other| {
                let name = app
                    .children
                    .with_untracked(|c| c.iter().find(|c| c.id == other).map(|c| c.name.clone()));
                match name {
                    Some(name) => view! {
                        <p class="hint" id="draft-elsewhere">
                            {format!("An unsaved note about {name} is kept on this device. This note is saved only when you press Save. ")}
                            <button type="button" class="quiet" id="open-kept-draft" on:click=move |_| app.screen.set(Screen::NewNote(Some(other.clone())))>
                                {format!("Open the note about {name}")}
                            </button>
                        </p>
                    }.into_any(),
                    None => view! {
                        <p class="hint" id="draft-elsewhere">
                            "An unsaved note about a child no longer in your caseload is kept on this device; it cannot be filed. "
                            <button type="button" class="quiet" id="drop-kept-draft" on:click=move |_| spawn_local(keep::Keeper::new(note_form(None)).forget())>
                                "Let it go"
                            </button>
                        </p>
                    }.into_any(),
                }
            })}
            {was_restored.then(|| view! {
                <p class="hint" id="draft-restored">
                    "What you were writing was kept on this device and is back in the form. Save it, or press Cancel to let it go."
                </p>
            })}
            <fieldset class="plain" disabled=move || locked && !amending.get()>
            <label for="child">"Child"</label>
            <select id="child" disabled=editing on:change=text(|d, v| d.child_id = v)>
                <For each=move || app.children.get() key=|c| c.id.clone() let:child>
                    <option value=child.id.clone() selected=child.id == draft.get_untracked().child_id>{child.name}</option>
                </For>
            </select>
            <label for="visit-kind">"Kind of contact"</label>
            <select
                id="visit-kind"
                on:change=text(|d, v| d.visit_kind = VisitKind::parse(&v))
            >
                {VisitKind::ALL.iter().map(|&kind| view! {
                    <option value=kind.as_str() selected=Some(kind) == draft.get_untracked().visit_kind>{visit_kind_label(kind)}</option>
                }).collect_view()}
            </select>
            <label for="occurred">"When"</label>
            <input
                id="occurred"
                type="datetime-local"
                required
                prop:value=draft.get_untracked().occurred_local
                on:input=text(|d, v| d.occurred_local = v)
            />
            <Show when=statutory>
                <YesNo id="seen" question="Was the child seen?" was=draft.get_untracked().child_seen answer=move |v| draft.update(|d| d.child_seen = Some(v))/>
            </Show>
            <Show when=seen>
                <YesNo id="alone" question="Was the child seen alone?" was=draft.get_untracked().seen_alone answer=move |v| draft.update(|d| d.seen_alone = Some(v))/>
            </Show>
            <Show when=not_alone>
                <label for="not-alone-reason">"The lawful reason they were not seen alone"</label>
                <select
                    id="not-alone-reason"
                    on:change=text(|d, v| d.not_alone_reason = NotAloneReason::parse(&v))
                >
                    <option value="">"Choose a reason"</option>
                    {NotAloneReason::ALL.iter().map(|&reason| view! {
                        <option value=reason.as_str() selected=Some(reason) == draft.get_untracked().not_alone_reason>{not_alone_label(reason)}</option>
                    }).collect_view()}
                </select>
            </Show>
            <label for="title">"Title"</label>
            <input id="title" type="text" required prop:value=draft.get_untracked().title on:input=text(|d, v| d.title = v)/>
            <label for="body">"What happened"</label>
            <textarea id="body" rows="6" required prop:value=draft.get_untracked().body on:input=text(|d, v| d.body = v)></textarea>
            <label for="wishes">"The child's wishes and feelings, in their own words"</label>
            <textarea id="wishes" rows="4" prop:value=draft.get_untracked().wishes_and_feelings on:input=text(|d, v| d.wishes_and_feelings = v)></textarea>
            </fieldset>
            <Show when=move || amending.get() || deleting.get()>
                <label for="why">
                    {move || if deleting.get() { "Why delete it (kept with the record; the note stays in its history)" } else { "Why amend it (kept with the record and seen by a manager)" }}
                </label>
                <input id="why" type="text" required on:input=move |ev| why.set(event_target_value(&ev))/>
                <div class="actions">
                    <Show when=move || amending.get()>
                        <button type="button" class="primary" id="save-amendment" disabled=move || busy.get() on:click=move |_| amend.run(())>
                            "Save the amendment"
                        </button>
                    </Show>
                    <Show when=move || deleting.get()>
                        <button type="button" class="primary danger" id="confirm-delete" disabled=move || busy.get() on:click=move |_| delete.run(())>
                            "Delete this note"
                        </button>
                    </Show>
                    <button type="button" class="quiet" id="note-keep" on:click=move |_| keep_as_it_is.run(())>
                        "Do not change it"
                    </button>
                </div>
            </Show>
            <p class="answer" role="alert">{move || answer.get()}</p>
            <p class="answer" role="alert" id="draft-problem">{move || problem.get()}</p>
            <div class="actions">
                <Show when=move || !locked>
                    <button type="submit" class="primary" id="save-note" disabled=move || busy.get() on:click=move |_| complete.set(false)>
                        "Save note"
                    </button>
                    <button type="submit" class="quiet" id="save-complete" disabled=move || busy.get() on:click=move |_| complete.set(true)>
                        "Save and mark complete"
                    </button>
                </Show>
                <Show when=move || can_sign && app.reviews() && !amending.get() && !deleting.get()>
                    <button type="button" class="primary" id="sign-off" disabled=move || busy.get() on:click=sign_off.clone()>
                        "Sign off"
                    </button>
                </Show>
                <Show when=move || locked && !gone && !amending.get() && !deleting.get()>
                    <button type="button" class="quiet" id="amend" on:click=move |_| amending.set(true)>
                        "Amend"
                    </button>
                </Show>
                <Show when=move || editing && !gone && app.reviews() && !amending.get() && !deleting.get()>
                    <button type="button" class="quiet" id="delete-note" on:click=move |_| deleting.set(true)>
                        "Delete"
                    </button>
                </Show>
                {history_of.map(|id| view! {
                    <button
                        type="button"
                        class="quiet"
                        id="note-history"
                        on:click=move |_| app.screen.set(Screen::History { id: id.clone(), back: Box::new(Screen::EditNote(id.clone())) })
                    >
                        "History"
                    </button>
                })}
                <button
                    type="button"
                    class="quiet"
                    id="note-back"
                    on:click=move |_| {
                        let (cancel, given_up) = (cancel.clone(), given_up.clone());
                        spawn_local(async move {
                            // Given up: what was typed goes.
                            given_up.forget().await;
                            app.screen.set(cancel);
                        });
                    }
                >
                    {if locked { "Back" } else { "Cancel" }}
                </button>
            </div>
            <p class="hint">
                {if locked {
                    "A completed note is locked: a change to it is an amendment, made with a reason and seen by a manager."
                } else {
                    SAVED_HINT
                }}
            </p>
        </form>
    }
}

/// A yes-or-no question as two radio buttons (`{id}-yes`, `{id}-no`).
#[component]
fn YesNo(
    id: &'static str,
    question: &'static str,
    /// The answer already given, if any.
    was: Option<bool>,
    answer: impl Fn(bool) + Copy + 'static,
) -> impl IntoView {
    view! {
        <fieldset class="yes-no">
            <legend>{question}</legend>
            <input type="radio" name=id id=format!("{id}-yes") checked=was == Some(true) on:change=move |_| answer(true)/>
            <label for=format!("{id}-yes")>"Yes"</label>
            <input type="radio" name=id id=format!("{id}-no") checked=was == Some(false) on:change=move |_| answer(false)/>
            <label for=format!("{id}-no")>"No"</label>
        </fieldset>
    }
}
