//! The shell's components: a header, the status line under it (both stay on screen while the
//! page scrolls) and the sign-in form.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::status::{Connection, SIGN_IN_NOT_READY};

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <div class="top">
            <header class="bar">
                <h1>"Fieldnotes"</h1>
            </header>
            <StatusLine/>
        </div>
        <main>
            <SignIn/>
        </main>
    }
}

/// The always-visible status line: a live region, so a screen reader announces a change.
#[component]
fn StatusLine() -> impl IntoView {
    let connection = RwSignal::new(Connection::from_online(window().navigator().on_line()));
    // The listeners live as long as the page: the status line is never unmounted.
    let _online = window_event_listener(leptos::ev::online, move |_| {
        connection.set(Connection::Online);
    });
    let _offline = window_event_listener(leptos::ev::offline, move |_| {
        connection.set(Connection::Offline);
    });
    view! {
        <p
            id="status"
            class="status"
            role="status"
            aria-live="polite"
            data-connection=move || connection.get().as_str()
        >
            {move || connection.get().message()}
        </p>
    }
}

/// The sign-in form. It has its fields and labels, and says plainly that it cannot sign in yet.
#[component]
fn SignIn() -> impl IntoView {
    let answer = RwSignal::new(None::<&'static str>);
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        answer.set(Some(SIGN_IN_NOT_READY));
    };
    view! {
        <form class="card" id="sign-in" on:submit=submit>
            <h2>"Sign in"</h2>
            <Field id="username" label="Username" kind="text" autocomplete="username"/>
            <Field
                id="password"
                label="Password"
                kind="password"
                autocomplete="current-password"
            />
            <button type="submit">"Sign in"</button>
            <p class="answer" role="alert">{move || answer.get()}</p>
        </form>
    }
}

/// A required text field with its label (the field's `id` is also its `name`). Names and
/// passwords are taken as typed: no capitals added, no spelling checked.
#[component]
fn Field(
    id: &'static str,
    label: &'static str,
    /// The input's `type`.
    kind: &'static str,
    autocomplete: &'static str,
) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <input
            id=id
            name=id
            type=kind
            autocomplete=autocomplete
            autocapitalize="none"
            spellcheck="false"
            required
        />
    }
}
