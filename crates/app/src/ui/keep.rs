//! Keeping a form's draft on the device as the person types, so a reload, a closed tab or a
//! flat battery loses nothing of what they wrote. One write at a time, the latest text always
//! written last. Each keystroke's time from typed to durable is measured with the browser's
//! User Timing (`performance.measure("fieldnotes:typed-to-kept")`), which the app benchmark
//! reads.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gloo_timers::future::sleep;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast as _;

use crate::device;
use crate::status::sentence;

/// The name of the measure of one keystroke, from typed to kept.
pub const TYPED_TO_KEPT: &str = "fieldnotes:typed-to-kept";

/// What a keeper holds. It outlives the form (a save leaves the screen before the draft is
/// forgotten), so it is not the form's reactive state.
#[derive(Debug, Default)]
struct State {
    form: String,
    /// The latest draft not yet written.
    latest: Option<Vec<u8>>,
    /// When each keystroke not yet in a write was typed (ms, the page's clock).
    typed: Vec<f64>,
    writing: bool,
    /// Saved or given up: nothing more is kept.
    closed: bool,
}

/// A form's draft keeper.
#[derive(Debug, Clone)]
pub struct Keeper {
    state: Arc<Mutex<State>>,
    /// Why what is typed cannot be kept, when it cannot.
    pub problem: RwSignal<Option<String>>,
}

fn now() -> f64 {
    window().performance().map_or(0.0, |p| p.now())
}

/// Record one keystroke's time from `typed` to now.
fn measure(typed: f64) {
    let Some(performance) = window().performance() else {
        return;
    };
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"start".into(), &typed.into());
    if let Ok(measure) = js_sys::Reflect::get(&performance, &"measure".into())
        && let Ok(measure) = measure.dyn_into::<js_sys::Function>()
    {
        let _ = measure.call2(&performance, &TYPED_TO_KEPT.into(), &options);
    }
}

impl Keeper {
    /// A keeper for the form named `form` (the SDK's draft name).
    pub fn new(form: String) -> Self {
        Keeper {
            state: Arc::new(Mutex::new(State {
                form,
                ..State::default()
            })),
            problem: RwSignal::new(None),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // The page has one thread: the lock is never held across an await, nor poisoned
        // but by a panic, after which the state is still whole.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// A keeper that keeps nothing (a form whose typing is saved by Save alone).
    pub fn inert() -> Self {
        let keeper = Keeper::new(String::new());
        keeper.with(|s| s.closed = true);
        keeper
    }

    /// A key was pressed now: its time, for the measure of when it is kept.
    pub fn typed(&self) {
        let at = now();
        self.with(|s| {
            if !s.closed {
                s.typed.push(at);
            }
        });
    }

    /// The form changed: keep `draft` (the form as it is now). A change that came with no
    /// keystroke ([`Keeper::typed`]), a tap, is timed from now.
    pub fn keep(&self, draft: Vec<u8>) {
        let start = self.with(|s| {
            if s.closed {
                return false;
            }
            if s.typed.is_empty() {
                s.typed.push(now());
            }
            s.latest = Some(draft);
            !std::mem::replace(&mut s.writing, true)
        });
        if start {
            spawn_local(self.clone().write());
        }
    }

    async fn write(self) {
        loop {
            let next = self.with(|s| {
                let draft = s.latest.take();
                if draft.is_none() {
                    s.writing = false;
                }
                draft.map(|d| (d, std::mem::take(&mut s.typed), s.form.clone()))
            });
            let Some((draft, covered, form)) = next else {
                return;
            };
            let Some(client) = device::client() else {
                self.with(|s| s.writing = false);
                return;
            };
            match client.keep_draft(&form, &draft).await {
                Ok(()) => {
                    covered.into_iter().for_each(measure);
                    let _ = self.problem.try_set(None);
                }
                Err(e) => {
                    let _ = self.problem.try_set(Some(format!(
                        "What you are typing could not be kept on this device yet: {} Keep the \
                         page open and press Save when you can.",
                        sentence(&e.to_string())
                    )));
                }
            }
        }
    }

    /// The form was saved or given up: keep nothing more, and forget the draft once the last
    /// write is done.
    pub async fn forget(self) {
        let (form, inert) = self.with(|s| {
            let inert = s.form.is_empty();
            s.closed = true;
            s.latest = None;
            (s.form.clone(), inert)
        });
        if inert {
            return;
        }
        while self.with(|s| s.writing) {
            sleep(Duration::from_millis(10)).await;
        }
        if let Some(client) = device::client() {
            let _ = client.drop_draft(&form).await;
        }
    }
}
