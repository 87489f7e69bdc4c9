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
            <label for="username">"Username"</label>
            <input
                id="username"
                name="username"
                type="text"
                autocomplete="username"
                autocapitalize="none"
                spellcheck="false"
                required
            />
            <label for="password">"Password"</label>
            <input
                id="password"
                name="password"
                type="password"
                autocomplete="current-password"
                required
            />
            <button type="submit">"Sign in"</button>
            <p class="answer" role="alert">{move || answer.get()}</p>
        </form>
    }
}
