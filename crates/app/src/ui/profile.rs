//! The "about me" form (for a child, in their words, or for the worker) and the worker's own
//! contact card, with a photo from the phone's camera made small on the device. Each opens
//! the record already on the device when there is one, and an edit sends only what changed.

use fieldnotes_client::ClientError;
use fieldnotes_model::{
    DocKind, NewAboutMe, NewContactCard, NewRecord, Patch, Record, SubjectKind,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{App, SAVED_HINT, Screen, Subject, change_of, send};
use crate::device;
use crate::profile::{AboutDraft, CardDraft, QUESTIONS, data_address, photo_size};
use crate::status::sentence;

/// Why a form cannot open: the device could not be read. Saving then would make a second
/// record beside the one it could not read, so the form stays closed.
fn unreadable(e: &ClientError) -> String {
    format!(
        "{} The form is not opened, so that nothing is written over what is there: go back \
         and try again.",
        sentence(&e.to_string())
    )
}

/// The "about me" profile of `kind` `id` on this device, with its record id.
async fn find_about(
    kind: SubjectKind,
    id: &str,
) -> Result<Option<(String, NewAboutMe)>, ClientError> {
    let Some(client) = device::client() else {
        return Ok(None);
    };
    for doc in client.list(Some(DocKind::AboutMe)).await? {
        if let Some(Record::AboutMe(about)) = client.get(&doc.id).await?
            && about.content.subject_kind == kind
            && about.content.subject_id == id
        {
            return Ok(Some((about.id, about.content)));
        }
    }
    Ok(None)
}

/// The contact card of the worker `worker_id` on this device, with its record id.
async fn find_card(worker_id: &str) -> Result<Option<(String, NewContactCard)>, ClientError> {
    let Some(client) = device::client() else {
        return Ok(None);
    };
    for doc in client.list(Some(DocKind::ContactCard)).await? {
        if let Some(Record::ContactCard(card)) = client.get(&doc.id).await?
            && card.content.worker_id == worker_id
        {
            return Ok(Some((card.id, card.content)));
        }
    }
    Ok(None)
}

/// One answer of the "about me" form, as a place in the draft.
type Answer = fn(&mut AboutDraft) -> &mut String;

/// "About me": four questions answered in the person's own words.
#[component]
pub fn AboutForm(app: App, subject: Subject) -> impl IntoView {
    let (kind, subject_id, back, heading, hint) = match &subject {
        Subject::Child { id, name } => (
            SubjectKind::Child,
            id.clone(),
            Screen::Child(id.clone()),
            format!("About me: {name}"),
            format!("Write the answers with {name}, in their own words."),
        ),
        Subject::Me => (
            SubjectKind::Worker,
            app.person
                .get_untracked()
                .map(|(_, id)| id)
                .unwrap_or_default(),
            Screen::Home,
            "About me: you".to_owned(),
            "What the children and families you work with may know about you.".to_owned(),
        ),
    };
    // `None` while the device is read; then the profile already there, if any.
    let existing = RwSignal::new(None::<Option<(String, NewAboutMe)>>);
    let draft = RwSignal::new(AboutDraft::default());
    let answer = RwSignal::new(None::<String>);
    {
        let subject_id = subject_id.clone();
        spawn_local(async move {
            match find_about(kind, &subject_id).await {
                Ok(found) => {
                    if let Some((_, profile)) = &found {
                        draft.set(AboutDraft::from_profile(profile));
                    }
                    existing.set(Some(found));
                }
                Err(e) => answer.set(Some(unreadable(&e))),
            }
        });
    }
    let busy = RwSignal::new(false);
    let cancel = back.clone();
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let Some(found) = existing.get_untracked() else {
            return;
        };
        let draft = draft.get_untracked();
        let record = match change_of(
            found.as_ref().map(|(id, was)| (id.as_str(), was)),
            |was| draft.to_patch(was),
            Patch::AboutMe,
            || draft.to_new(kind, &subject_id).map(NewRecord::AboutMe),
        ) {
            Ok(Some(record)) => record,
            Ok(None) => return app.screen.set(back.clone()),
            Err(missing) => return answer.set(Some(missing)),
        };
        send(app, back.clone(), record, None, busy, answer);
    };
    let fields: [(&str, Answer); 4] = [
        ("fun", |d| &mut d.fun),
        ("dislikes", |d| &mut d.dislikes),
        ("important", |d| &mut d.important),
        ("how-to-help", |d| &mut d.how_to_help),
    ];
    view! {
        <form class="card" id="about-me" on:submit=submit>
            <h2>{heading}</h2>
            <p class="hint">{hint}</p>
            <Show when=move || existing.with(Option::is_some) fallback=|| view! { <p>"Opening…"</p> }>
                {fields
                    .iter()
                    .zip(QUESTIONS)
                    .map(|(&(id, field), question)| {
                        let mut current = draft.get_untracked();
                        let value = field(&mut current).clone();
                        view! {
                            <label for=id>{question}</label>
                            <textarea
                                id=id
                                rows="3"
                                prop:value=value
                                on:input=move |ev| {
                                    let typed = event_target_value(&ev);
                                    draft.update(|d| *field(d) = typed);
                                }
                            ></textarea>
                        }
                    })
                    .collect_view()}
            </Show>
            <p class="answer" role="alert">{move || answer.get()}</p>
            <div class="actions">
                <button type="submit" class="primary" disabled=move || busy.get() || existing.with(Option::is_none)>
                    "Save about me"
                </button>
                <button type="button" class="quiet" on:click=move |_| app.screen.set(cancel.clone())>"Cancel"</button>
            </div>
            <p class="hint">{SAVED_HINT}</p>
        </form>
    }
}

/// The worker's own contact card, for the children they work with: a name, a photo, three
/// things about them, and how and when to reach them.
#[component]
pub fn CardForm(app: App) -> impl IntoView {
    let (my_name, my_id) = app.person.get_untracked().unwrap_or_default();
    let existing = RwSignal::new(None::<Option<(String, NewContactCard)>>);
    let draft = RwSignal::new(CardDraft {
        display_name: my_name,
        ..CardDraft::default()
    });
    let answer = RwSignal::new(None::<String>);
    {
        let my_id = my_id.clone();
        spawn_local(async move {
            match find_card(&my_id).await {
                Ok(found) => {
                    if let Some((_, card)) = &found {
                        draft.set(CardDraft::from_card(card));
                    }
                    existing.set(Some(found));
                }
                Err(e) => answer.set(Some(unreadable(&e))),
            }
        });
    }
    let photo_words = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let Some(found) = existing.get_untracked() else {
            return;
        };
        let draft = draft.get_untracked();
        let record = match change_of(
            found.as_ref().map(|(id, was)| (id.as_str(), was)),
            |was| draft.to_patch(was),
            Patch::ContactCard,
            || draft.to_new(&my_id).map(NewRecord::ContactCard),
        ) {
            Ok(Some(record)) => record,
            Ok(None) => return app.screen.set(Screen::Home),
            Err(missing) => return answer.set(Some(missing)),
        };
        send(app, Screen::Home, record, None, busy, answer);
    };
    let chosen = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|files| files.get(0)) else {
            return;
        };
        photo_words.set(Some("Making the photo smaller…".to_owned()));
        busy.set(true);
        spawn_local(async move {
            match crate::photo::shrink(&file).await {
                Ok(shrunk) => {
                    photo_words.set(Some(format!(
                        "Photo ready: {}. Where and when it was taken, and the camera's \
                         details, were removed.",
                        photo_size(shrunk.width, shrunk.height, shrunk.picture.bytes.len())
                    )));
                    draft.update(|d| d.picture = Some(shrunk.picture));
                }
                Err(why) => photo_words.set(Some(why)),
            }
            busy.set(false);
            // The same photo chosen again is a change again.
            input.set_value("");
        });
    };
    let text = move |set: fn(&mut CardDraft, String)| {
        move |ev| {
            let value = event_target_value(&ev);
            draft.update(|d| set(d, value));
        }
    };
    view! {
        <form class="card" id="contact-card" on:submit=submit>
            <h2>"My contact card"</h2>
            <p class="hint">"What the children you work with see about you."</p>
            <Show when=move || existing.with(Option::is_some) fallback=|| view! { <p>"Opening…"</p> }>
                <label for="display-name">"The name children know you by"</label>
                <input
                    id="display-name"
                    type="text"
                    required
                    maxlength="200"
                    prop:value=draft.get_untracked().display_name
                    on:input=text(|d, v| d.display_name = v)
                />
                <label for="photo">"Photo"</label>
                {move || draft.get().picture.map(|p| view! {
                    <img class="photo large" id="photo-preview" src=data_address(&p) alt="Your photo, as it will be kept"/>
                })}
                <input id="photo" type="file" accept="image/*" capture="user" on:change=chosen/>
                <p class="hint" id="photo-words" aria-live="polite">{move || photo_words.get()}</p>
                <Show when=move || draft.with(|d| d.picture.is_some())>
                    <button
                        type="button"
                        class="quiet"
                        id="remove-photo"
                        on:click=move |_| {
                            draft.update(|d| d.picture = None);
                            photo_words.set(Some("The photo will be removed when you save.".to_owned()));
                        }
                    >
                        "Remove the photo"
                    </button>
                </Show>
                <fieldset class="things">
                    <legend>"Three things about me"</legend>
                    {(0..3usize).map(|i| view! {
                        <label for=format!("thing-{i}")>{format!("Thing {}", i + 1)}</label>
                        <input
                            id=format!("thing-{i}")
                            type="text"
                            maxlength="200"
                            prop:value=draft.get_untracked().three_things[i].clone()
                            on:input=move |ev| {
                                let value = event_target_value(&ev);
                                draft.update(|d| d.three_things[i] = value);
                            }
                        />
                    }).collect_view()}
                </fieldset>
                <label for="how-to-reach">"How to reach me"</label>
                <textarea id="how-to-reach" rows="2" prop:value=draft.get_untracked().how_to_reach on:input=text(|d, v| d.how_to_reach = v)></textarea>
                <label for="when-to-reach">"When to reach me"</label>
                <textarea id="when-to-reach" rows="2" prop:value=draft.get_untracked().when_to_reach on:input=text(|d, v| d.when_to_reach = v)></textarea>
            </Show>
            <p class="answer" role="alert">{move || answer.get()}</p>
            <div class="actions">
                <button type="submit" class="primary" disabled=move || busy.get() || existing.with(Option::is_none)>
                    "Save my card"
                </button>
                <button type="button" class="quiet" on:click=move |_| app.screen.set(Screen::Home)>"Cancel"</button>
            </div>
            <p class="hint">{SAVED_HINT}</p>
        </form>
    }
}
