//! A child's page: their "about me", their notes in time order (newest first), their short
//! plans, and the contact cards of the workers who work with them (their social worker, and
//! whoever wrote a record about them). Everything is read from the device, so the page opens
//! with no signal.

use std::collections::BTreeSet;

use fieldnotes_model::{DocKind, NewAboutMe, Record};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{App, Screen, Subject};
use crate::device;
use crate::note::visit_kind_label;
use crate::profile::status_label;

/// A note's line on the page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct NoteLine {
    id: String,
    title: String,
    /// "Statutory visit · 3 Dec 2026, 10:30 · Draft".
    what: String,
    /// When it happened, ms since the epoch, for the order.
    at: i64,
}

/// A short plan's lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PlanLine {
    id: String,
    child_id: String,
    points: Vec<String>,
    dates: String,
}

/// A worker's contact card as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CardView {
    worker_id: String,
    name: String,
    things: Vec<String>,
    reach: String,
    /// The photo as a `data:` address.
    photo: Option<String>,
}

/// What the page shows, read from the device.
#[derive(Debug, Clone, Default)]
struct ChildView {
    about: Option<NewAboutMe>,
    notes: Vec<NoteLine>,
    plans: Vec<PlanLine>,
    cards: Vec<CardView>,
}

/// Read the child's records from the device.
async fn load(child_id: &str, case_holder: Option<String>) -> ChildView {
    let mut view = ChildView::default();
    let Some(client) = device::client() else {
        return view;
    };
    let mut workers: BTreeSet<String> = case_holder.into_iter().collect();
    let listed = client.list(None).await.unwrap_or_default();
    for doc in listed
        .iter()
        .filter(|d| d.child_id.as_deref() == Some(child_id))
    {
        // A record a manager deleted stays on the device with its history, shown as deleted.
        let deleted = match client.document(&doc.id).await {
            Ok(Some(document)) => document.deletion(),
            _ => None,
        };
        match client.get(&doc.id).await {
            Ok(Some(Record::VisitNote(note))) => {
                let at = device::parse_time(&note.content.occurred_at);
                workers.insert(note.content.author.clone());
                view.notes.push(NoteLine {
                    id: note.id,
                    title: note.content.title,
                    what: format!(
                        "{} · {} · {}",
                        visit_kind_label(note.content.visit_kind),
                        at.map_or_else(
                            || note.content.occurred_at.clone(),
                            |ms| device::local_time(ms, true)
                        ),
                        deleted.map_or_else(
                            || status_label(note.status).to_owned(),
                            |d| format!("Deleted by a manager: {}", d.reason)
                        )
                    ),
                    at: at.unwrap_or(doc.updated_at_ms),
                });
            }
            Ok(Some(Record::AboutMe(about))) => view.about = Some(about.content),
            Ok(Some(Record::ShortPlan(plan))) => {
                workers.insert(plan.content.author.clone());
                let mut dates = Vec::new();
                if let Some(review) = &plan.content.review_on {
                    dates.push(format!("review {}", device::local_date(review)));
                }
                if let Some(end) = &plan.content.planned_end {
                    dates.push(format!("planned ending {}", device::local_date(end)));
                }
                dates.push(status_label(plan.status).to_owned());
                view.plans.push(PlanLine {
                    id: plan.id,
                    child_id: plan.content.child_id,
                    points: plan.content.points,
                    dates: dates.join(" · "),
                });
            }
            _ => {}
        }
    }
    view.notes.sort_by_key(|n| std::cmp::Reverse(n.at));
    for doc in client
        .list(Some(DocKind::ContactCard))
        .await
        .unwrap_or_default()
    {
        if let Ok(Some(Record::ContactCard(card))) = client.get(&doc.id).await {
            let card = card.content;
            if workers.contains(&card.worker_id) {
                view.cards.push(CardView {
                    worker_id: card.worker_id.clone(),
                    photo: card.picture.as_ref().map(crate::profile::data_address),
                    reach: [card.how_to_reach, card.when_to_reach]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" · "),
                    things: card.three_things,
                    name: card.display_name,
                });
            }
        }
    }
    view
}

/// A child's page.
#[component]
pub fn ChildPage(app: App, id: String) -> impl IntoView {
    let row = app
        .children
        .get_untracked()
        .into_iter()
        .find(|c| c.id == id);
    let name = row
        .as_ref()
        .map_or_else(|| "A child".to_owned(), |c| c.name.clone());
    let case_holder = row.and_then(|c| c.case_holder);
    let page = RwSignal::new(None::<ChildView>);
    {
        // Read again whenever the records on the device change (a save, or what a sync
        // brought), so the page follows the device's work with no tap.
        let id = id.clone();
        Effect::new(move |_| {
            app.records.track();
            let (id, case_holder) = (id.clone(), case_holder.clone());
            spawn_local(async move {
                // The page may have been left while the device was read.
                let _ = page.try_set(Some(load(&id, case_holder).await));
            });
        });
    }
    let about_subject = Subject::Child {
        id: id.clone(),
        name: name.clone(),
    };
    let note_child = id.clone();
    let plan_child = id.clone();
    let limit = app.plan_limit;
    view! {
        <button type="button" class="quiet back" id="back-home" on:click=move |_| app.screen.set(Screen::Home)>
            {move || if app.youth_worker() { "Back to my young people" } else { "Back to my children" }}
        </button>
        <section class="card" id="child-page" data-child=id.clone()>
            <h2>{name.clone()}</h2>
            <div class="actions">
                <button type="button" class="primary" id="new-note-for-child" on:click=move |_| app.screen.set(Screen::NewNote(Some(note_child.clone())))>
                    "New visit note"
                </button>
                <button type="button" class="quiet" id="child-about-me" on:click=move |_| app.screen.set(Screen::AboutMe(about_subject.clone()))>
                    "About me"
                </button>
                <button
                    type="button"
                    class="quiet"
                    id="new-plan"
                    on:click=move |_| app.screen.set(Screen::Plan { child: plan_child.clone(), id: None })
                >
                    "New short plan"
                </button>
            </div>
        </section>
        <Show
            when=move || page.with(Option::is_some)
            fallback=|| view! { <p class="card">"Opening the records…"</p> }
        >
            <section class="card" id="child-about">
                <h2>"About me"</h2>
                {move || match page.get().and_then(|p| p.about) {
                    Some(about) => view! { <Answers about=about/> }.into_any(),
                    None => view! { <p>"Nothing written yet. \"About me\" is written with the child, in their words."</p> }.into_any(),
                }}
            </section>
            <section class="card" id="child-notes">
                <h2>"Notes"</h2>
                <Show
                    when=move || page.with(|p| p.as_ref().is_some_and(|p| !p.notes.is_empty()))
                    fallback=|| view! { <p>"No notes on this device yet."</p> }
                >
                    <ul class="rows">
                        <For each=move || page.get().map(|p| p.notes).unwrap_or_default() key=|n| n.clone() let:note>
                            <li data-id=note.id.clone()>
                                <button
                                    type="button"
                                    class="row"
                                    id=format!("note-{}", note.id)
                                    on:click={
                                        let id = note.id.clone();
                                        move |_| app.screen.set(Screen::EditNote(id.clone()))
                                    }
                                >
                                    <strong class="summary">{note.title}</strong>
                                    <span class="meta">{note.what}</span>
                                </button>
                            </li>
                        </For>
                    </ul>
                </Show>
            </section>
            <section class="card" id="child-plans">
                <h2>"Short plans"</h2>
                <Show
                    when=move || page.with(|p| p.as_ref().is_some_and(|p| !p.plans.is_empty()))
                    fallback=|| view! { <p>"No short plans."</p> }
                >
                    <For each=move || page.get().map(|p| p.plans).unwrap_or_default() key=|p| p.clone() let:plan>
                        <div class="plan" data-id=plan.id.clone()>
                            <ol>{plan.points.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}</ol>
                            <span class="meta">{plan.dates}</span>
                            {(plan.points.len() > limit.get_untracked()).then(|| view! {
                                <p class="over" id=format!("plan-over-{}", plan.id)>
                                    {format!(
                                        "{} points, more than your team's {}: points were added on two devices at once. \
                                         A manager is asked to review it, and may keep it as it is; you can open the plan and take one out.",
                                        plan.points.len(),
                                        limit.get_untracked()
                                    )}
                                </p>
                            })}
                            <button
                                type="button"
                                class="quiet"
                                id=format!("plan-{}", plan.id)
                                on:click={
                                    let (child, id) = (plan.child_id.clone(), plan.id.clone());
                                    move |_| app.screen.set(Screen::Plan { child: child.clone(), id: Some(id.clone()) })
                                }
                            >
                                "Open plan"
                            </button>
                        </div>
                    </For>
                </Show>
            </section>
            <section class="card" id="child-workers">
                <h2>"Workers"</h2>
                <Show
                    when=move || page.with(|p| p.as_ref().is_some_and(|p| !p.cards.is_empty()))
                    fallback=|| view! { <p>"No contact cards of this child's workers on this device yet."</p> }
                >
                    <ul class="rows">
                        <For each=move || page.get().map(|p| p.cards).unwrap_or_default() key=|c| c.clone() let:card>
                            <li class="contact" data-worker=card.worker_id.clone()>
                                {card.photo.map(|src| view! { <img class="photo" src=src alt=format!("Photo of {}", card.name)/> })}
                                <div>
                                    <strong>{card.name.clone()}</strong>
                                    <ul class="things">{card.things.into_iter().map(|t| view! { <li>{t}</li> }).collect_view()}</ul>
                                    <span class="meta">{card.reach}</span>
                                </div>
                            </li>
                        </For>
                    </ul>
                </Show>
            </section>
        </Show>
    }
}

/// The four answers of a profile, each under its question; unanswered ones are left out.
#[component]
pub fn Answers(about: NewAboutMe) -> impl IntoView {
    let answered: Vec<(&'static str, String)> = crate::profile::QUESTIONS
        .iter()
        .zip([
            about.fun,
            about.dislikes,
            about.important,
            about.how_to_help,
        ])
        .filter(|(_, answer)| !answer.is_empty())
        .map(|(q, answer)| (*q, answer))
        .collect();
    view! {
        <dl class="answers">
            {answered.into_iter().map(|(q, a)| view! { <dt>{q}</dt><dd>{a}</dd> }).collect_view()}
        </dl>
    }
}
