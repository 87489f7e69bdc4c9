//! A record's history, from the server: every version, newest first, with who made it, on
//! which device and when, what it changed and an amendment's reason; and, for a version that
//! changed text, a word diff against the version before it.

use fieldnotes_protocol::review::{DiffSpanView, VersionView};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{App, Screen, from_server};
use crate::device;
use crate::words::field_words;

/// The fields whose changes are shown word by word.
const TEXT_FIELDS: [&str; 3] = ["body", "wishes_and_feelings", "title"];

/// The first text field `changed` names, if any.
pub fn text_field(changed: &[String]) -> Option<&'static str> {
    TEXT_FIELDS
        .into_iter()
        .find(|f| changed.iter().any(|c| c == f))
}

/// Why the server could not be asked, and what to do.
fn unreachable(e: &fieldnotes_client::ClientError) -> String {
    from_server(e, "A record's history")
}

/// An RFC 3339 time as the device's local date and time.
pub fn when(rfc3339: &str) -> String {
    device::parse_time(rfc3339)
        .map_or_else(|| rfc3339.to_owned(), |ms| device::local_time(ms, true))
}

/// The history of the record `id`; `back` is where the person came from.
#[component]
pub fn History(app: App, id: String, back: Screen) -> impl IntoView {
    let versions = RwSignal::new(None::<Result<Vec<VersionView>, String>>);
    {
        let id = id.clone();
        spawn_local(async move {
            let Some(client) = device::client() else {
                return;
            };
            let found = client.history(&id).await.map_err(|e| unreachable(&e));
            let _ = versions.try_set(Some(found));
        });
    }
    view! {
        <button type="button" class="quiet back" id="history-back" on:click=move |_| app.screen.set(back.clone())>
            "Back"
        </button>
        <section class="card" id="history">
            <h2>"History"</h2>
            {move || match versions.get() {
                None => view! { <p>"Asking the server…"</p> }.into_any(),
                Some(Err(why)) => view! { <p class="problem" role="alert">{why}</p> }.into_any(),
                Some(Ok(list)) => {
                    let doc = id.clone();
                    // Newest first, each with the version before it.
                    let shown: Vec<(usize, VersionView, Option<String>)> = list
                        .iter()
                        .enumerate()
                        .rev()
                        .map(|(i, v)| (i, v.clone(), i.checked_sub(1).and_then(|p| list.get(p)).map(|p| p.change.clone())))
                        .collect();
                    view! {
                        <ol class="rows versions">
                            {shown.into_iter().map(|(i, version, before)| {
                                let doc = doc.clone();
                                view! { <Version doc=doc number=i + 1 version=version before=before/> }
                            }).collect_view()}
                        </ol>
                    }.into_any()
                }
            }}
        </section>
    }
}

/// One version's line, with its word diff on request.
#[component]
fn Version(
    doc: String,
    number: usize,
    version: VersionView,
    before: Option<String>,
) -> impl IntoView {
    let who = version
        .user_name
        .clone()
        .or(version.user_id.clone())
        .unwrap_or_else(|| "someone this server does not know".to_owned());
    let on = version
        .device_name
        .clone()
        .or(version.device_id.clone())
        .map(|d| format!(" on {d}"))
        .unwrap_or_default();
    let at = when(
        version
            .received_at
            .as_deref()
            .unwrap_or(&version.device_time),
    );
    let changed = if version.changed.is_empty() {
        "created".to_owned()
    } else {
        format!(
            "changed {}",
            version
                .changed
                .iter()
                .map(|f| field_words(f))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let field = text_field(&version.changed);
    let open = RwSignal::new(false);
    let to = version.change.clone();
    view! {
        <li class="version" data-change=version.change.clone()>
            <strong>{format!("Version {number}: {changed}")}</strong>
            <span class="meta">{format!("{who}{on} · {at}")}</span>
            {version.amendment.clone().map(|r| view! { <span class="meta">{format!("Amended: {r}")}</span> })}
            {match (field, before) {
                (Some(field), Some(from)) => view! {
                    <button type="button" class="quiet" id=format!("diff-{number}") on:click=move |_| open.update(|o| *o = !*o)>
                        {move || if open.get() { "Hide what changed" } else { "Show what changed" }}
                    </button>
                    <Show when=move || open.get()>
                        <WordDiff doc=doc.clone() from=from.clone() to=to.clone() field=field/>
                    </Show>
                }.into_any(),
                _ => ().into_any(),
            }}
        </li>
    }
}

/// A word diff of `field` between two versions: removed words struck through, added words
/// underlined, each also said in words for a screen reader.
#[component]
pub fn WordDiff(doc: String, from: String, to: String, field: &'static str) -> impl IntoView {
    let spans = RwSignal::new(None::<Result<Vec<DiffSpanView>, String>>);
    spawn_local(async move {
        let Some(client) = device::client() else {
            return;
        };
        let found = client
            .diff(&doc, &from, &to, Some(field))
            .await
            .map_err(|e| unreachable(&e));
        let _ = spans.try_set(Some(found));
    });
    view! {
        <div class="diff">
            <p class="meta">{format!("What changed in {}:", field_words(field))}</p>
            {move || match spans.get() {
                None => view! { <p>"Asking the server…"</p> }.into_any(),
                Some(Err(why)) => view! { <p class="problem">{why}</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <p class="words">
                        {list.into_iter().map(|span| match span {
                            DiffSpanView::Same(t) => view! { <span>{t}</span> }.into_any(),
                            DiffSpanView::Added(t) => view! { <ins><span class="sr-only">"[added: "</span>{t}<span class="sr-only">"]"</span></ins> }.into_any(),
                            DiffSpanView::Removed(t) => view! { <del><span class="sr-only">"[removed: "</span>{t}<span class="sr-only">"]"</span></del> }.into_any(),
                        }).collect_view()}
                    </p>
                }.into_any(),
            }}
        </div>
    }
}
