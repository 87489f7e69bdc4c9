//! The console for managers and admins, in the same app: the review queue with its filters,
//! and one item with its sides side by side (who, on which device, when), settled by choosing
//! a side, writing the merged value, accepting or restoring an amendment, or dismissed with a
//! reason. The queue is the server's, so it needs a signal; the decision itself is written on
//! this device first, like any edit, then synced.

use std::collections::HashMap;

use fieldnotes_client::{ClientError, Resolution, ReviewQuery};
use fieldnotes_protocol::review::{ItemKind, ReviewItem, Side};
use fieldnotes_protocol::{DocKind, ReviewStatus};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::history::when;
use super::{App, Screen, act, from_server, history, kind_label};
use crate::device;
use crate::status::sentence;
use crate::words::{field_words, side_words, summary_words};

/// What each kind of item is, in a reviewer's words.
fn item_label(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Conflict => "Written differently on two devices",
        ItemKind::Amendment => "Amendment",
        ItemKind::PendingAmendment => "Changed after sign-off",
        ItemKind::PlanLimit => "Plan over the point limit",
        ItemKind::InvalidMerge => "Edits that break a rule together",
    }
}

fn status_label(status: ReviewStatus) -> &'static str {
    match status {
        ReviewStatus::Open => "Open",
        ReviewStatus::Resolved => "Resolved",
        ReviewStatus::Dismissed => "Dismissed",
    }
}

/// Why the queue could not be read, and what to do.
fn unreachable(e: &ClientError) -> String {
    from_server(e, "The review queue")
}

/// The children's names this device knows, for the queue's rows and filter.
fn child_names(app: App) -> HashMap<String, String> {
    app.children
        .get_untracked()
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect()
}

/// The review queue, with filters.
#[component]
pub fn ReviewQueue(app: App) -> impl IntoView {
    let status = RwSignal::new("open".to_owned());
    let item_kind = RwSignal::new(String::new());
    let child = RwSignal::new(String::new());
    let items = RwSignal::new(None::<Result<Vec<ReviewItem>, String>>);
    let names = child_names(app);
    let children = app.children.get_untracked();
    Effect::new(move |_| {
        let query = ReviewQuery {
            status: Some(status.get()),
            item: Some(item_kind.get()).filter(|k| !k.is_empty()),
            child: Some(child.get()).filter(|c| !c.is_empty()),
            ..ReviewQuery::default()
        };
        items.set(None);
        spawn_local(async move {
            let Some(client) = device::client() else {
                return;
            };
            let listed = client
                .review_items(&query)
                .await
                .map_err(|e| unreachable(&e));
            let _ = items.try_set(Some(listed));
        });
    });
    let pick = move |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    view! {
        <button type="button" class="quiet back" id="back-home" on:click=move |_| app.screen.set(Screen::Home)>
            "Back to the children"
        </button>
        <section class="card" id="review-queue">
            <h2>"Review queue"</h2>
            <p class="hint">"What two devices wrote differently, changes after sign-off, and plans over the limit: each waits for a person to decide."</p>
            <div class="filters">
                <div>
                    <label for="review-status">"Show"</label>
                    <select id="review-status" on:change=pick(status)>
                        <option value="open" selected>"Open"</option>
                        <option value="resolved">"Resolved"</option>
                        <option value="dismissed">"Dismissed"</option>
                        <option value="all">"All"</option>
                    </select>
                </div>
                <div>
                    <label for="review-kind">"Kind"</label>
                    <select id="review-kind" on:change=pick(item_kind)>
                        <option value="">"Every kind"</option>
                        {ItemKind::ALL.iter().map(|&k| view! { <option value=k.as_str()>{item_label(k)}</option> }).collect_view()}
                    </select>
                </div>
                <div>
                    <label for="review-child">"Child"</label>
                    <select id="review-child" on:change=pick(child)>
                        <option value="">"Every child"</option>
                        {children.into_iter().map(|c| view! { <option value=c.id>{c.name}</option> }).collect_view()}
                    </select>
                </div>
            </div>
            {move || match items.get() {
                None => view! { <p>"Asking the server…"</p> }.into_any(),
                Some(Err(why)) => view! { <p class="problem" role="alert">{why}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p id="review-empty">"Nothing to review."</p> }.into_any(),
                Some(Ok(list)) => {
                    let names = names.clone();
                    view! {
                        <ul class="rows">
                            {list.into_iter().map(|item| {
                                let child = item.child_id.as_ref().map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()));
                                let id = item.item_id;
                                view! {
                                    <li>
                                        <button type="button" class="row" id=format!("review-item-{id}") on:click=move |_| app.screen.set(Screen::ReviewItem(id))>
                                            <strong>{item_label(item.item_kind)} ": " {record_words(item.doc_kind, &item.field)}</strong>
                                            <span class="meta">
                                                {child.map(|c| format!("{c} · "))}
                                                {device::local_time(item.created_at.ms(), true)}
                                                {format!(" · {}", status_label(item.status))}
                                            </span>
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }
            }}
        </section>
    }
}

/// "Visit note, title": the record and the field at issue.
fn record_words(kind: DocKind, field: &str) -> String {
    let field = match field {
        "" => String::new(),
        other => format!(", {}", field_words(other)),
    };
    format!("{}{field}", kind_label(kind).to_lowercase())
}

/// One review item: both sides, and the ways to settle it.
#[component]
pub fn ReviewItemPage(app: App, id: i64) -> impl IntoView {
    let item = RwSignal::new(None::<Result<ReviewItem, String>>);
    let merged = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let answer = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let names = child_names(app);
    // For an amendment: the text field it changed, between the version before and after.
    let changed_text = RwSignal::new(None::<(String, String, &'static str)>);
    spawn_local(async move {
        let Some(client) = device::client() else {
            return;
        };
        let found = client.review_item(id).await.map_err(|e| unreachable(&e));
        if let Ok(found) = &found {
            merged.set(first_merged_value(found));
            if matches!(
                found.item_kind,
                ItemKind::Amendment | ItemKind::PendingAmendment
            ) && let (Some(first), Some(last)) = (found.sides.first(), found.sides.last())
                && first.change != last.change
                && let Ok(versions) = client.history(&found.doc_id).await
                && let Some(field) = versions
                    .iter()
                    .find(|v| v.change == last.change)
                    .and_then(|v| history::text_field(&v.changed))
            {
                let _ =
                    changed_text.try_set(Some((first.change.clone(), last.change.clone(), field)));
            }
        }
        let _ = item.try_set(Some(found));
    });
    // Settle the item one way or another, then back to the queue.
    let decide = move |resolution: Option<Resolution>| {
        let why = reason.get_untracked();
        if let Err(e) = fieldnotes_model::validate::check_reason(&why) {
            answer.set(Some(format!(
                "{}: it is kept with the decision.",
                sentence(&e.message).trim_end_matches('.')
            )));
            return;
        }
        let Some(client) = device::client() else {
            return;
        };
        act(app, Screen::Review, answer, busy, async move {
            match resolution {
                Some(resolution) => client.resolve_review(id, resolution, &why).await,
                None => client.dismiss_review(id, &why).await,
            }
            .map(drop)
        });
    };
    view! {
        <button type="button" class="quiet back" id="back-review" on:click=move |_| app.screen.set(Screen::Review)>
            "Back to the review queue"
        </button>
        {move || match item.get() {
            None => view! { <p class="card">"Asking the server…"</p> }.into_any(),
            Some(Err(why)) => view! { <p class="card problem" role="alert">{why}</p> }.into_any(),
            Some(Ok(item)) => {
                let child = item.child_id.as_ref().map(|c| names.get(c).cloned().unwrap_or_else(|| c.clone()));
                let open = item.status == ReviewStatus::Open;
                let kind = item.item_kind;
                let amendment = matches!(kind, ItemKind::Amendment | ItemKind::PendingAmendment);
                let choosable = kind == ItemKind::Conflict;
                let decision = item.decision.clone();
                let doc_id = item.doc_id.clone();
                view! {
                    <section class="card" id="review-item" data-kind=kind.as_str()>
                        <h2>{item_label(kind)}</h2>
                        <p class="meta">
                            {child.map(|c| format!("{c} · "))}
                            {record_words(item.doc_kind, &item.field)}
                            {format!(" · {}", status_label(item.status))}
                        </p>
                        <p id="review-summary">{summary_words(kind, &item.summary)}</p>
                        <ol class="sides">
                            {item.sides.iter().enumerate().map(|(i, side)| {
                                let value = side.value.clone();
                                view! {
                                    <li class="side" id=format!("side-{i}")>
                                        <SideFacts side=side.clone() kind=kind/>
                                        <Show when=move || open && choosable>
                                            <button
                                                type="button"
                                                class="quiet"
                                                id=format!("choose-{i}")
                                                disabled=move || busy.get()
                                                on:click={
                                                    let value = value.clone();
                                                    move |_| decide(Some(Resolution::Value(value.clone())))
                                                }
                                            >
                                                "Keep this one"
                                            </button>
                                        </Show>
                                    </li>
                                }
                            }).collect_view()}
                        </ol>
                        {move || changed_text.get().map(|(from, to, field)| view! {
                            <history::WordDiff doc=doc_id.clone() from=from to=to field=field/>
                        })}
                        <button
                            type="button"
                            class="quiet"
                            id="item-history"
                            on:click={
                                let doc = item.doc_id.clone();
                                move |_| app.screen.set(Screen::History { id: doc.clone(), back: Box::new(Screen::ReviewItem(id)) })
                            }
                        >
                            "History of this record"
                        </button>
                        {decision.map(|d| view! {
                            <p id="review-decision">
                                {format!("{}: {}", status_label(d.action), d.reason.unwrap_or_default())}
                                {d.value.map(|v| format!(" — the record now says: {v}"))}
                            </p>
                        })}
                    </section>
                    <Show when=move || open>
                        <section class="card" id="review-decide">
                            <h2>"Decide"</h2>
                            <label for="review-reason">"Why (kept with the decision)"</label>
                            <input id="review-reason" type="text" required on:input=move |ev| reason.set(event_target_value(&ev))/>
                            {(!amendment).then(|| view! {
                                <label for="merged-value">
                                    {if kind == ItemKind::PlanLimit { "The points to keep, one a line" } else { "Or write the value the record should hold" }}
                                </label>
                                <textarea id="merged-value" rows="4" prop:value=merged.get_untracked() on:input=move |ev| merged.set(event_target_value(&ev))></textarea>
                            })}
                            <p class="answer" role="alert">{move || answer.get()}</p>
                            <div class="actions">
                                {if amendment {
                                    view! {
                                        <button type="button" class="primary" id="accept" disabled=move || busy.get() on:click=move |_| decide(Some(Resolution::Accept))>
                                            "Accept the change"
                                        </button>
                                        <button type="button" class="quiet" id="restore" disabled=move || busy.get() on:click=move |_| decide(Some(Resolution::Restore))>
                                            "Put it back as it was"
                                        </button>
                                    }.into_any()
                                } else {
                                    view! {
                                        <button type="button" class="primary" id="use-merged" disabled=move || busy.get() on:click=move |_| decide(Some(Resolution::Value(merged.get_untracked())))>
                                            "Use this text"
                                        </button>
                                    }.into_any()
                                }}
                                <button type="button" class="quiet" id="dismiss" disabled=move || busy.get() on:click=move |_| decide(None)>
                                    "Dismiss: nothing needs changing"
                                </button>
                            </div>
                        </section>
                    </Show>
                }.into_any()
            }
        }}
    }
}

/// The value the "write it" box starts with: a plan's points one a line, or the value the
/// record shows now.
fn first_merged_value(item: &ReviewItem) -> String {
    if item.item_kind == ItemKind::PlanLimit {
        return item
            .sides
            .iter()
            .map(|s| s.value.as_str())
            .collect::<Vec<_>>()
            .join("\n");
    }
    item.sides
        .iter()
        .find(|s| s.shown)
        .or_else(|| item.sides.first())
        .map(|s| s.value.clone())
        .unwrap_or_default()
}

/// One side: the value, who wrote it, on which device, and when.
#[component]
fn SideFacts(side: Side, kind: ItemKind) -> impl IntoView {
    let who = side
        .user_name
        .clone()
        .or(side.user_id.clone())
        .unwrap_or_else(|| "Not known to this server".to_owned());
    view! {
        <p class="value">{side_words(kind, &side.value)}</p>
        {side.shown.then(|| view! { <span class="badge">"The record shows this now"</span> })}
        <dl class="facts">
            <dt>"By"</dt><dd class="by">{who}</dd>
            {side.device_name.clone().or(side.device_id.clone()).map(|d| view! { <dt>"On"</dt><dd class="device">{d}</dd> })}
            {(!side.device_time.is_empty()).then(|| view! { <dt>"Written"</dt><dd>{when(&side.device_time)}</dd> })}
            {side.received_at.as_deref().map(|at| view! { <dt>"Received"</dt><dd>{when(at)}</dd> })}
            {side.reason.map(|r| view! { <dt>"Reason"</dt><dd>{r}</dd> })}
        </dl>
    }
}
