//! The records the server refused, each with why and the ways out. A refused change is held on
//! the device, with every change of its record sent with it; the person can correct a note
//! that breaks a rule, or take back what was refused. What is taken back is kept first, sealed
//! on the device, and can be saved as a file.

use std::collections::BTreeMap;

use base64::Engine as _;
use fieldnotes_client::{HeldChange, WithdrawnExport};
use fieldnotes_model::Record;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{App, Screen, in_words, kind_label};
use crate::device;
use crate::note::headline;
use crate::status::sentence;

/// A refused record as the screen lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused {
    id: String,
    /// "Visit note: Visit in the car park".
    what: String,
    /// The server's reasons, each once.
    reasons: Vec<String>,
    /// A visit note that broke a rule of what it says, which the person can open and correct
    /// (for other refusals an edit would only be refused again).
    note: bool,
}

/// The refused records on this device, and what withdrawals kept.
async fn load() -> Result<(Vec<Refused>, Vec<WithdrawnExport>), String> {
    let client =
        device::client().ok_or_else(|| "Your records are not open: sign in again.".to_owned())?;
    let held: Vec<HeldChange> = client
        .held_changes()
        .await
        .map_err(|e| sentence(&e.to_string()))?;
    // Per record: the reasons, and whether what it says broke a rule (correctable).
    let mut by_record: BTreeMap<String, (Vec<String>, bool)> = BTreeMap::new();
    for change in held {
        let (reasons, correctable) = by_record.entry(change.doc_id).or_default();
        *correctable |= change.code == "invalid_document";
        if !reasons.contains(&change.reason) {
            reasons.push(change.reason);
        }
    }
    let mut refused = Vec::new();
    for (id, (reasons, correctable)) in by_record {
        let record = client.get(&id).await.ok().flatten();
        let (what, note) = match &record {
            Some(record) => {
                let kind = record.kind();
                (
                    format!(
                        "{}: {}",
                        kind_label(kind),
                        headline(kind, &record.summary())
                    ),
                    correctable && matches!(record, Record::VisitNote(_)),
                )
            }
            None => ("A record no longer on this device".to_owned(), false),
        };
        refused.push(Refused {
            id,
            what,
            reasons,
            note,
        });
    }
    let kept = client
        .withdrawn_exports()
        .await
        .map_err(|e| sentence(&e.to_string()))?;
    Ok((refused, kept))
}

/// A `data:` address a link can save as a file.
fn download_address(export: &WithdrawnExport) -> String {
    format!(
        "data:application/json;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(export.json.as_bytes())
    )
}

/// What a kept copy holds, in words: "Visit note: Visit in the car park, taken back on 4 Dec
/// 2026, 14:05" (the file's own name if the copy cannot be read).
fn export_words(export: &WithdrawnExport) -> String {
    let Ok(kept) = serde_json::from_str::<serde_json::Value>(&export.json) else {
        return export.name.clone();
    };
    let what = serde_json::from_value::<Record>(kept["record_as_it_stood"].clone())
        .map(|record| {
            let kind = record.kind();
            format!(
                "{}: {}",
                kind_label(kind),
                headline(kind, &record.summary())
            )
        })
        .unwrap_or_else(|_| "A record".to_owned());
    match kept["withdrawn_at_ms"].as_i64() {
        Some(ms) => format!("{what}, taken back on {}", device::local_time(ms, true)),
        None => what,
    }
}

/// The refused records screen.
#[component]
pub fn RefusedRecords(app: App) -> impl IntoView {
    let found = RwSignal::new(None::<Result<(Vec<Refused>, Vec<WithdrawnExport>), String>>);
    let notice = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let reread = move || {
        spawn_local(async move {
            let listed = load().await;
            let _ = found.try_set(Some(listed));
        });
    };
    reread();
    let take_back = move |id: String| {
        let Some(client) = device::client() else {
            return;
        };
        busy.set(true);
        spawn_local(async move {
            match client.withdraw(&id).await {
                Ok(done) => {
                    notice.set(Some(if done.record_removed {
                        "Taken back: the record is no longer on this device. What it said is kept below; save a copy if it is needed.".to_owned()
                    } else {
                        "Taken back: what was refused is undone on this device, and the rest is sent with the next sync. What it said is kept below; save a copy if it is needed.".to_owned()
                    }));
                    app.reload().await;
                    app.sync();
                }
                Err(e) => notice.set(Some(sentence(&e.to_string()))),
            }
            busy.set(false);
            reread();
        });
    };
    view! {
        <button type="button" class="quiet back" id="back-home" on:click=move |_| app.screen.set(Screen::Home)>
            "Back to my children"
        </button>
        <section class="card" id="refused-records">
            <h2>"Refused by the server"</h2>
            <p class="hint">
                "These records were not accepted. They are kept on this device, with everything changed in them since; nothing else waits on them."
            </p>
            <p class="notice" id="refused-notice" role="status">{move || notice.get()}</p>
            {move || match found.get() {
                None => view! { <p>"Reading this device…"</p> }.into_any(),
                Some(Err(why)) => view! { <p class="problem" role="alert">{why}</p> }.into_any(),
                Some(Ok((refused, kept))) => view! {
                    {if refused.is_empty() {
                        view! { <p id="refused-none">"Nothing is refused now."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="rows">
                                {refused.into_iter().map(|r| {
                                    let (open, back) = (r.id.clone(), r.id.clone());
                                    view! {
                                        <li data-id=r.id.clone()>
                                            <strong>{r.what}</strong>
                                            {r.reasons.into_iter().map(|why| view! { <span class="meta over">{sentence(&in_words(&why))}</span> }).collect_view()}
                                            <div class="actions">
                                                {r.note.then(|| view! {
                                                    <button type="button" class="primary" on:click=move |_| app.screen.set(Screen::EditNote(open.clone()))>
                                                        "Open it to correct it"
                                                    </button>
                                                })}
                                                <button type="button" class="quiet" id=format!("withdraw-{}", r.id) disabled=move || busy.get() on:click=move |_| take_back(back.clone())>
                                                    "Take back what was refused"
                                                </button>
                                            </div>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                    {(!kept.is_empty()).then(|| view! {
                        <h3>"Taken back, kept on this device"</h3>
                        <ul class="rows" id="withdrawn">
                            {kept.into_iter().rev().map(|export| {
                                let words = export_words(&export);
                                view! {
                                    <li>
                                        <p class="kept">{words.clone()}</p>
                                        <a class="download" href=download_address(&export) download=export.name.clone() aria-label=format!("Save a copy of {words}")>
                                            "Save a copy"
                                        </a>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    })}
                }.into_any(),
            }}
        </section>
    }
}
