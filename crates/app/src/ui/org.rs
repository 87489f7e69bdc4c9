//! The organisation, for managers and admins: the team's children and who works with them
//! (allocate to a social worker, refer to a youth worker), the people, and for admins the
//! teams (with their plan point limit), the devices (with revoke) and the quarantine with the
//! reason for each entry; and the audit log, searched by child and by person. All of it is
//! the server's, so it needs a signal; everything is named as people know it.

use std::collections::HashMap;

use fieldnotes_client::{AuditQuery, ClientError};
use fieldnotes_model::rules::WriterRole as Role;
use fieldnotes_protocol::QuarantineItem;
use fieldnotes_protocol::admin::{AuditEntry, Device, NewReferral, Team, TeamPatch};
use fieldnotes_protocol::auth::Colleague;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::history::when;
use super::{App, Screen, from_server};
use crate::device;
use crate::status::sentence;

fn role_words(role: Role) -> &'static str {
    match role {
        Role::SocialWorker => "Social worker",
        Role::YouthWorker => "Youth worker",
        Role::Manager => "Manager",
        Role::Admin => "Admin",
    }
}

/// Why the server could not be asked, and what to do.
fn problem(e: &ClientError) -> String {
    from_server(e, "This part of the console")
}

/// What the organisation screen shows, read from the server.
#[derive(Debug, Clone, Default)]
struct Org {
    people: Vec<Colleague>,
    teams: Vec<Team>,
    devices: Vec<Device>,
    quarantine: Vec<QuarantineItem>,
}

impl Org {
    fn name_of(&self, user_id: &str) -> String {
        self.people
            .iter()
            .find(|p| p.user_id == user_id)
            .map_or_else(|| user_id.to_owned(), |p| p.display_name.clone())
    }

    fn with_role(&self, role: Role) -> Vec<Colleague> {
        self.people
            .iter()
            .filter(|p| p.role == role)
            .cloned()
            .collect()
    }
}

async fn load(admin: bool) -> Result<Org, String> {
    let client =
        device::client().ok_or_else(|| "Your records are not open: sign in again.".to_owned())?;
    let mut org = Org {
        people: client.team_people().await.map_err(|e| problem(&e))?,
        ..Org::default()
    };
    if admin {
        org.teams = client.teams().await.map_err(|e| problem(&e))?;
        org.devices = client.devices(None).await.map_err(|e| problem(&e))?;
        org.quarantine = client
            .quarantine(None, 50)
            .await
            .map_err(|e| problem(&e))?
            .items;
    }
    Ok(org)
}

/// The organisation screen.
#[component]
pub fn Organisation(app: App) -> impl IntoView {
    let admin = app.role.get_untracked() == Some(Role::Admin);
    let org = RwSignal::new(None::<Result<Org, String>>);
    // What the last action did: kept here, as reading the organisation again redraws the
    // sections below.
    let notice = RwSignal::new(None::<String>);
    // The notice is at the top: go there when it says something new.
    Effect::new(move |_| {
        if notice.with(Option::is_some) {
            window().scroll_to_with_x_and_y(0.0, 0.0);
        }
    });
    let reread = move || {
        spawn_local(async move {
            let found = load(admin).await;
            let _ = org.try_set(Some(found));
        });
    };
    reread();
    view! {
        <button type="button" class="quiet back" id="back-home" on:click=move |_| app.screen.set(Screen::Home)>
            "Back to the children"
        </button>
        <p class="card notice" id="org-notice" role="status">{move || notice.get()}</p>
        {move || match org.get() {
            None => view! { <p class="card">"Asking the server…"</p> }.into_any(),
            Some(Err(why)) => view! { <p class="card problem" role="alert">{why}</p> }.into_any(),
            Some(Ok(found)) => view! {
                <Children app=app org=found.clone() answer=notice/>
                <People org=found.clone()/>
                <Audit app=app org=found.clone()/>
                {admin.then(|| view! {
                    <Teams org=found.clone() reread=reread answer=notice/>
                    <Devices org=found.clone() reread=reread answer=notice/>
                    <Quarantine org=found.clone()/>
                })}
            }.into_any(),
        }}
    }
}

/// What the children's section does for a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChildAct {
    Allocate,
    Refer,
}

/// The children and who works with them; allocate and refer.
#[component]
fn Children(app: App, org: Org, answer: RwSignal<Option<String>>) -> impl IntoView {
    let children = app.children.get_untracked();
    // The rows follow the device's list of children (read again after each action), so the
    // form below is not redrawn under the person's hand.
    let names = org.clone();
    let rows = move || -> Vec<(String, String)> {
        app.children
            .get()
            .iter()
            .map(|c| {
                let holder = c.case_holder.as_deref().map_or_else(
                    || "no social worker".to_owned(),
                    |h| format!("social worker: {}", names.name_of(h)),
                );
                (c.name.clone(), holder)
            })
            .collect()
    };
    let child = RwSignal::new(children.first().map(|c| c.id.clone()).unwrap_or_default());
    let worker = RwSignal::new(String::new());
    let youth = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let names: HashMap<String, String> = children
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    let run = Callback::new(move |what: ChildAct| {
        let (Some(client), child_id) = (device::client(), child.get_untracked()) else {
            return;
        };
        let name = names
            .get(&child_id)
            .cloned()
            .unwrap_or_else(|| child_id.clone());
        busy.set(true);
        answer.set(None);
        let (worker, youth, until) = (
            worker.get_untracked(),
            youth.get_untracked(),
            until.get_untracked(),
        );
        spawn_local(async move {
            let done = if what == ChildAct::Allocate {
                client
                    .allocate(&child_id, &worker)
                    .await
                    .map(|_| format!("{name} is allocated."))
            } else {
                let referral = NewReferral {
                    youth_worker_id: youth,
                    starts_on: None,
                    planned_end: until,
                };
                client.refer(&child_id, &referral).await.map(|r| {
                    format!(
                        "{name} is referred until {}.",
                        device::local_date(&r.planned_end)
                    )
                })
            };
            match done {
                Ok(words) => {
                    answer.set(Some(words));
                    let _ = client.children().await;
                    app.reload().await;
                }
                Err(e) => answer.set(Some(sentence(&e.to_string()))),
            }
            busy.set(false);
        });
    });
    let pick = move |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    let social_workers = org.with_role(Role::SocialWorker);
    let youth_workers = org.with_role(Role::YouthWorker);
    view! {
        <section class="card" id="org-children">
            <h2>"Children and their workers"</h2>
            <ul class="rows">
                {move || rows().into_iter().map(|(name, holder)| view! {
                    <li><strong>{name}</strong><span class="meta">{holder}</span></li>
                }).collect_view()}
            </ul>
            <label for="org-child">"Child"</label>
            <select id="org-child" on:change=pick(child)>
                {children.iter().map(|c| view! { <option value=c.id.clone()>{c.name.clone()}</option> }).collect_view()}
            </select>
            <label for="org-worker">"Allocate to a social worker"</label>
            <select id="org-worker" on:change=pick(worker)>
                <option value="">"Choose a social worker"</option>
                {social_workers.into_iter().map(|p| view! { <option value=p.user_id>{p.display_name}</option> }).collect_view()}
            </select>
            <button type="button" class="quiet" id="allocate" disabled=move || busy.get() || worker.get().is_empty() on:click=move |_| run.run(ChildAct::Allocate)>
                "Allocate"
            </button>
            <label for="org-youth">"Refer to a youth worker"</label>
            <select id="org-youth" on:change=pick(youth)>
                <option value="">"Choose a youth worker"</option>
                {youth_workers.into_iter().map(|p| view! { <option value=p.user_id>{p.display_name}</option> }).collect_view()}
            </select>
            <label for="org-until">"Planned ending"</label>
            <input id="org-until" type="date" on:input=pick(until)/>
            <button type="button" class="quiet" id="refer" disabled=move || busy.get() || youth.get().is_empty() || until.get().is_empty() on:click=move |_| run.run(ChildAct::Refer)>
                "Refer"
            </button>
        </section>
    }
}

/// The people of the team (everyone, for an admin in no team).
#[component]
fn People(org: Org) -> impl IntoView {
    view! {
        <section class="card" id="org-people">
            <h2>"People"</h2>
            <ul class="rows">
                {org.people.into_iter().map(|p| view! {
                    <li>
                        <strong>{p.display_name}</strong>
                        <span class="meta">{role_words(p.role)} {p.team_id.map(|t| format!(" · team {t}"))}</span>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

/// The audit log, searched by child and by person.
#[component]
fn Audit(app: App, org: Org) -> impl IntoView {
    let child = RwSignal::new(String::new());
    let person = RwSignal::new(String::new());
    let found = RwSignal::new(None::<Result<Vec<AuditEntry>, String>>);
    let names = org.clone();
    let child_names: HashMap<String, String> = app
        .children
        .get_untracked()
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let search = move |_| {
        let Some(client) = device::client() else {
            return;
        };
        let query = AuditQuery {
            child: Some(child.get_untracked()).filter(|c| !c.is_empty()),
            user: Some(person.get_untracked()).filter(|p| !p.is_empty()),
            ..AuditQuery::default()
        };
        found.set(None);
        spawn_local(async move {
            let listed = client.audit(&query).await.map_err(|e| problem(&e));
            let _ = found.try_set(Some(listed));
        });
    };
    let pick = move |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    view! {
        <section class="card" id="org-audit">
            <h2>"Audit log"</h2>
            <div class="filters">
                <div>
                    <label for="audit-child">"About the child"</label>
                    <select id="audit-child" on:change=pick(child)>
                        <option value="">"Any child"</option>
                        {app.children.get_untracked().into_iter().map(|c| view! { <option value=c.id>{c.name}</option> }).collect_view()}
                    </select>
                </div>
                <div>
                    <label for="audit-person">"By the person"</label>
                    <select id="audit-person" on:change=pick(person)>
                        <option value="">"Anyone"</option>
                        {org.people.iter().map(|p| view! { <option value=p.user_id.clone()>{p.display_name.clone()}</option> }).collect_view()}
                    </select>
                </div>
            </div>
            <button type="button" class="quiet" id="audit-search" on:click=search>"Search the log"</button>
            {move || found.get().map(|listed| match listed {
                Err(why) => view! { <p class="problem" role="alert">{why}</p> }.into_any(),
                Ok(entries) if entries.is_empty() => view! { <p id="audit-none">"Nothing in the log for that."</p> }.into_any(),
                Ok(entries) => view! {
                    <ul class="rows" id="audit-entries">
                        {entries.into_iter().map(|e| {
                            let who = e.user_id.as_deref().map_or_else(|| "the system".to_owned(), |u| names.name_of(u));
                            let about = e.child_id.as_ref().map(|c| format!(" · {}", child_names.get(c).cloned().unwrap_or_else(|| c.clone())));
                            view! {
                                <li>
                                    <strong>{e.action.replace('_', " ")}</strong>
                                    <span class="meta">{format!("{who} · {}", device::local_time(e.at.ms(), true))}{about}</span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            })}
        </section>
    }
}

/// The teams, each with its plan point limit (admins).
#[component]
fn Teams(
    org: Org,
    reread: impl Fn() + Copy + Send + Sync + 'static,
    answer: RwSignal<Option<String>>,
) -> impl IntoView {
    view! {
        <section class="card" id="org-teams">
            <h2>"Teams"</h2>
            <ul class="rows">
                {org.teams.into_iter().map(|team| {
                    let limit = RwSignal::new(team.plan_point_limit.to_string());
                    let id = team.team_id.clone();
                    let field = format!("limit-{}", team.team_id);
                    let save = move |_| {
                        let Some(client) = device::client() else { return };
                        let Ok(n) = limit.get_untracked().trim().parse::<u32>() else {
                            answer.set(Some("Give the limit as a number from 1 to 20.".to_owned()));
                            return;
                        };
                        let id = id.clone();
                        spawn_local(async move {
                            let patch = TeamPatch { plan_point_limit: Some(n), ..TeamPatch::default() };
                            match client.update_team(&id, &patch).await {
                                Ok(team) => {
                                    answer.set(Some(format!("{}'s short plans now have at most {} points.", team.name, team.plan_point_limit)));
                                    reread();
                                }
                                Err(e) => answer.set(Some(sentence(&e.to_string()))),
                            }
                        });
                    };
                    view! {
                        <li>
                            <strong>{team.name}</strong>
                            <span class="meta">{if team.pod_read_access { "Everyone in the team can read its cases" } else { "Each worker reads their own cases" }}</span>
                            <label for=field.clone()>"Most points in a short plan"</label>
                            <input id=field type="number" min="1" max="20" inputmode="numeric" prop:value=limit.get_untracked() on:input=move |ev| limit.set(event_target_value(&ev))/>
                            <button type="button" class="quiet" on:click=save>"Save the limit"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

/// Every device, with its person and last sync; a device can be revoked (admins).
#[component]
fn Devices(
    org: Org,
    reread: impl Fn() + Copy + Send + Sync + 'static,
    answer: RwSignal<Option<String>>,
) -> impl IntoView {
    let confirming = RwSignal::new(None::<String>);
    let names = org.clone();
    view! {
        <section class="card" id="org-devices">
            <h2>"Devices"</h2>
            <ul class="rows">
                {org.devices.into_iter().map(|d| {
                    let id = d.device_id.clone();
                    let asked = id.clone();
                    let confirm_id = id.clone();
                    let facts = format!(
                        "{} · {}{}",
                        names.name_of(&d.user_id),
                        d.last_sync_at.map_or_else(|| "never synced".to_owned(), |t| format!("last synced {}", device::local_time(t.ms(), true))),
                        if d.pending_review > 0 { format!(" · {} waiting for review", d.pending_review) } else { String::new() }
                    );
                    let label = d.name.clone();
                    let revoke = move |_| {
                        let Some(client) = device::client() else { return };
                        let id = id.clone();
                        let label = label.clone();
                        spawn_local(async move {
                            match client.revoke_device(&id).await {
                                Ok(_) => {
                                    answer.set(Some(format!("{label} is revoked: it can no longer sync, and its person signs in again elsewhere.")));
                                    confirming.set(None);
                                    reread();
                                }
                                Err(e) => answer.set(Some(sentence(&e.to_string()))),
                            }
                        });
                    };
                    view! {
                        <li data-device=d.device_id.clone()>
                            <strong>{d.name.clone()}</strong>
                            <span class="meta">{facts}</span>
                            {match d.revoked_at {
                                Some(at) => view! { <span class="meta">{format!("Revoked {}", device::local_time(at.ms(), true))}</span> }.into_any(),
                                None => view! {
                                    <Show
                                        when=move || confirming.get().as_deref() == Some(confirm_id.as_str())
                                        fallback={
                                            let asked = asked.clone();
                                            move || {
                                                let asked = asked.clone();
                                                view! { <button type="button" class="quiet" on:click=move |_| confirming.set(Some(asked.clone()))>"Revoke"</button> }
                                            }
                                        }
                                    >
                                        <button type="button" class="primary danger" on:click=revoke.clone()>"Yes, revoke this device"</button>
                                        <button type="button" class="quiet" on:click=move |_| confirming.set(None)>"Keep it"</button>
                                    </Show>
                                }.into_any(),
                            }}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

/// What the server would not apply, each with why (admins).
#[component]
fn Quarantine(org: Org) -> impl IntoView {
    let names: HashMap<String, String> = org
        .devices
        .iter()
        .map(|d| {
            (
                d.device_id.clone(),
                format!("{} ({})", d.name, org.name_of(&d.user_id)),
            )
        })
        .collect();
    view! {
        <section class="card" id="org-quarantine">
            <h2>"Quarantine"</h2>
            {if org.quarantine.is_empty() {
                view! { <p>"Nothing is in quarantine."</p> }.into_any()
            } else {
                view! {
                    <ul class="rows">
                        {org.quarantine.into_iter().map(|q| {
                            let from = q.device_id.as_ref().map_or_else(|| "a device that did not say".to_owned(), |d| names.get(d).cloned().unwrap_or_else(|| d.clone()));
                            view! {
                                <li>
                                    <strong>{q.reason}</strong>
                                    <span class="meta">{format!("{} · from {from} · {}", q.code.replace('_', " "), when(&q.received_at))}</span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
