//! The short plan form: a few points agreed with a young person, a review date and a planned
//! ending. The team's point limit is counted as the person types, and a plan past it cannot
//! be saved until a point is taken out. A plan already on the device opens filled, and an edit
//! sends only what changed. A plan is marked complete when it is agreed; then it is locked and
//! changes only by an amendment with a reason, and a manager signs it off.

use fieldnotes_model::{NewRecord, NewShortPlan, NoteStatus, Patch, Record, ShortPlanPatch};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{App, SAVED_HINT, Screen, act, change_of, send};
use crate::device;
use crate::plan::PlanDraft;
use crate::profile::status_label;
use crate::status::sentence;

/// A plan on the device, as the form edits it.
#[derive(Debug, Clone)]
struct Existing {
    id: String,
    plan: NewShortPlan,
    status: NoteStatus,
}

/// Read the plan `id` from the device.
async fn find(id: &str) -> Result<Existing, String> {
    let Some(client) = device::client() else {
        return Err("Your records are not open: sign in again.".to_owned());
    };
    match client.get(id).await {
        Ok(Some(Record::ShortPlan(plan))) => Ok(Existing {
            id: plan.id,
            plan: plan.content,
            status: plan.status,
        }),
        Ok(_) => Err("This plan is no longer on this device.".to_owned()),
        Err(e) => Err(format!(
            "{} Nothing was changed: go back and open it again.",
            sentence(&e.to_string())
        )),
    }
}

/// A new short plan for `child`, or the plan `id` on this device.
#[component]
pub fn PlanForm(app: App, child: String, id: Option<String>) -> impl IntoView {
    let back = Screen::Child(child.clone());
    // `None` while the device is read: the form stays closed until then.
    let existing = RwSignal::new(if id.is_some() { None } else { Some(None) });
    let draft = RwSignal::new(PlanDraft::default());
    let answer = RwSignal::new(None::<String>);
    if let Some(id) = id.clone() {
        spawn_local(async move {
            match find(&id).await {
                Ok(found) => {
                    draft.set(PlanDraft::from_plan(&found.plan));
                    existing.set(Some(Some(found)));
                }
                Err(why) => answer.set(Some(why)),
            }
        });
    }
    let limit = move || app.plan_limit.get();
    let tally = move || draft.with(|d| d.tally(limit()));
    let locked = move || {
        existing.with(|e| {
            e.as_ref()
                .and_then(Option::as_ref)
                .is_some_and(|e| e.status.is_locked())
        })
    };
    let status_is = move |wanted: NoteStatus| {
        existing.with(|e| {
            e.as_ref()
                .and_then(Option::as_ref)
                .is_some_and(|e| e.status == wanted)
        })
    };
    // Only the plan's author marks it complete (a new plan is the person's own).
    let mine = move || {
        let me = app.person.with(|p| p.as_ref().map(|(_, id)| id.clone()));
        existing.with(|e| match e {
            Some(Some(found)) => me.as_deref() == Some(found.plan.author.as_str()),
            _ => true,
        })
    };
    let busy = RwSignal::new(false);
    // Which button sent the form: "Save and mark complete" sets it.
    let complete = RwSignal::new(false);
    let amending = RwSignal::new(false);
    let why = RwSignal::new(String::new());
    let cancel = back.clone();
    let new_back = back.clone();
    let amend_back = StoredValue::new(back.clone());
    let sign_back = StoredValue::new(back.clone());
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let (Some(found), Some((_, author))) =
            (existing.get_untracked(), app.person.get_untracked())
        else {
            return;
        };
        let draft = draft.get_untracked();
        let limit = app.plan_limit.get_untracked();
        let complete = complete.get_untracked();
        let record = match change_of(
            found.as_ref().map(|e| (e.id.as_str(), &e.plan)),
            |was| draft.to_patch(was, limit, complete),
            Patch::ShortPlan,
            || {
                draft
                    .to_new(&child, &author, limit)
                    .map(NewRecord::ShortPlan)
            },
        ) {
            Ok(Some(record)) => record,
            Ok(None) => return app.screen.set(back.clone()),
            Err(missing) => return answer.set(Some(missing)),
        };
        match (record, complete, device::client()) {
            // A new plan agreed and complete at once: recorded, then marked complete. Once it
            // is recorded the form holds it, so trying again cannot record it twice.
            (Ok(NewRecord::ShortPlan(plan)), true, Some(client)) => {
                if let Err(missing) = draft.completable() {
                    return answer.set(Some(missing.to_string()));
                }
                act(app, new_back.clone(), answer, busy, async move {
                    let id = client.create(NewRecord::ShortPlan(plan.clone())).await?;
                    existing.set(Some(Some(Existing {
                        id: id.clone(),
                        plan,
                        status: NoteStatus::Draft,
                    })));
                    let done = ShortPlanPatch {
                        status: Some(NoteStatus::Completed),
                        ..ShortPlanPatch::default()
                    };
                    client.edit(&id, Patch::ShortPlan(done)).await
                });
            }
            (record, _, _) => send(app, back.clone(), record, None, busy, answer),
        }
    };
    // A locked plan changes only by an amendment, with a reason.
    let amend = move |_| {
        let (Some(Some(found)), Some(client)) = (existing.get_untracked(), device::client()) else {
            return;
        };
        let limit = app.plan_limit.get_untracked();
        let patch = match draft.get_untracked().to_patch(&found.plan, limit, false) {
            Ok(Some(patch)) => patch,
            Ok(None) => {
                return answer.set(Some(
                    "Nothing was changed: change the plan, then save the amendment.".to_owned(),
                ));
            }
            Err(missing) => return answer.set(Some(missing.to_string())),
        };
        let reason = why.get_untracked();
        act(app, amend_back.get_value(), answer, busy, async move {
            client
                .amend(&found.id, Patch::ShortPlan(patch), &reason)
                .await
                .map(drop)
        });
    };
    let sign_off = move |_| {
        let (Some(Some(found)), Some(client)) = (existing.get_untracked(), device::client()) else {
            return;
        };
        act(app, sign_back.get_value(), answer, busy, async move {
            client.sign_off(&found.id).await.map(drop)
        });
    };
    // The amendment given up: the plan opens again as it stands, with no reason kept.
    let keep_as_it_is = move |_| {
        if let Some(Some(found)) = existing.get_untracked() {
            app.screen.set(Screen::Plan {
                child: found.plan.child_id,
                id: Some(found.id),
            });
        }
    };
    let history = move |_| {
        if let Some(Some(found)) = existing.get_untracked() {
            app.screen.set(Screen::History {
                id: found.id.clone(),
                back: Box::new(Screen::Plan {
                    child: found.plan.child_id.clone(),
                    id: Some(found.id),
                }),
            });
        }
    };
    let date = move |set: fn(&mut PlanDraft, String)| {
        move |ev| {
            let value = event_target_value(&ev);
            draft.update(|d| set(d, value));
        }
    };
    let status = move || {
        existing.with(|e| {
            e.as_ref()
                .and_then(Option::as_ref)
                .map(|e| format!("Status: {}", status_label(e.status)))
        })
    };
    view! {
        <form class="card" id="short-plan" on:submit=submit>
            <h2>{if id.is_some() { "Short plan" } else { "New short plan" }}</h2>
            <p class="meta" id="plan-status">{status}</p>
            <Show when=move || existing.with(Option::is_some) fallback=|| view! { <p>"Opening…"</p> }>
                <fieldset class="plain" disabled=move || locked() && !amending.get()>
                    <label for="points">"The points you agreed, one a line"</label>
                    <textarea
                        id="points"
                        rows="5"
                        aria-describedby="points-tally"
                        prop:value=draft.get_untracked().points
                        on:input=move |ev| {
                            let typed = event_target_value(&ev);
                            draft.update(|d| d.points = typed);
                        }
                    ></textarea>
                    <p
                        id="points-tally"
                        class="tally"
                        class:over=move || tally().over
                        aria-live="polite"
                    >
                        {move || tally().words}
                    </p>
                    <label for="review-on">"Review on"</label>
                    <input id="review-on" type="date" prop:value=draft.get_untracked().review_on on:input=date(|d, v| d.review_on = v)/>
                    <label for="planned-end">"Planned ending"</label>
                    <input id="planned-end" type="date" prop:value=draft.get_untracked().planned_end on:input=date(|d, v| d.planned_end = v)/>
                </fieldset>
            </Show>
            <Show when=move || amending.get()>
                <label for="plan-why">"Why amend it (kept with the plan and seen by a manager)"</label>
                <input id="plan-why" type="text" required on:input=move |ev| why.set(event_target_value(&ev))/>
                <div class="actions">
                    <button type="button" class="primary" id="save-plan-amendment" disabled=move || busy.get() || tally().over on:click=amend>
                        "Save the amendment"
                    </button>
                    <button type="button" class="quiet" id="plan-keep" on:click=keep_as_it_is>
                        "Do not change it"
                    </button>
                </div>
            </Show>
            <p class="answer" role="alert">{move || answer.get()}</p>
            <div class="actions">
                <Show when=move || !locked()>
                    <button
                        type="submit"
                        class="primary"
                        id="save-plan"
                        disabled=move || busy.get() || existing.with(Option::is_none) || tally().over
                        on:click=move |_| complete.set(false)
                    >
                        "Save plan"
                    </button>
                    <Show when=mine>
                    <button
                        type="submit"
                        class="quiet"
                        id="save-plan-complete"
                        disabled=move || busy.get() || existing.with(Option::is_none) || tally().over
                        on:click=move |_| complete.set(true)
                    >
                        "Save and mark complete"
                    </button>
                    </Show>
                </Show>
                <Show when=move || status_is(NoteStatus::Completed) && app.reviews() && !amending.get()>
                    <button type="button" class="primary" id="sign-off-plan" disabled=move || busy.get() on:click=sign_off>
                        "Sign off"
                    </button>
                </Show>
                <Show when=move || locked() && !amending.get()>
                    <button type="button" class="quiet" id="amend-plan" disabled=move || busy.get() on:click=move |_| amending.set(true)>
                        "Amend"
                    </button>
                </Show>
                <Show when=move || existing.with(|e| matches!(e, Some(Some(_))))>
                    <button type="button" class="quiet" id="plan-history" disabled=move || busy.get() on:click=history>
                        "History"
                    </button>
                </Show>
                <button type="button" class="quiet" id="plan-back" on:click=move |_| app.screen.set(cancel.clone())>
                    {move || if locked() { "Back" } else { "Cancel" }}
                </button>
            </div>
            <p class="hint">
                {move || if locked() {
                    "A completed plan is locked: a change to it is an amendment, made with a reason and seen by a manager."
                } else {
                    SAVED_HINT
                }}
            </p>
        </form>
    }
}
