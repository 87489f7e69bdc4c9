//! The benchmark workloads W1 and W5 of `shared/bench/WORKLOADS.md` on the SDK in a browser:
//! the real `fieldnotes_client::Client` on wasm32 (its IndexedDB store, fetch to the server),
//! in headless Chromium, against the real server on 127.0.0.1. A benchmark, not a test: it
//! builds only with the feature `browser-workloads`, which `cargo xtask sdk-browser-bench`
//! turns on after starting the server; `cargo test` never builds it. It prints one JSON line
//! per run and a median line per workload, as `tests/benches/workloads.rs` does natively.
//!
//! The xtask hands over, at compile time: the server's address (`FIELDNOTES_BENCH_SERVER`),
//! its admin's username and password (`FIELDNOTES_BENCH_ADMIN`,
//! `FIELDNOTES_BENCH_ADMIN_PASSWORD`), N (`FIELDNOTES_BENCH_N`), the runs per workload
//! (`FIELDNOTES_BENCH_RUNS`) and the long outbox's length (`FIELDNOTES_BENCH_OUTBOX`).
//!
//! - **Set-up** (untimed, once): the admin adds team `pod-1`, its manager `mgr` and social
//!   worker `sw-a`; `mgr` adds 25 children and allocates them to `sw-a`; then `mgr`'s own
//!   device (another IndexedDB store) writes N visit notes from the same seeded generator as
//!   the native benchmark (`tests/src/fixtures.rs`) and pushes them.
//! - **W1 cold start**: a new device of `sw-a`, with an empty store, signs in (timed apart,
//!   with the SDK's cheap test key derivation) and syncs until it holds all N notes; every
//!   note is then read back in full from the store (untimed).
//! - **W5 local write**: a new device of `sw-a`, signed in, then with no network: it creates
//!   a note and edits it 100 times; the latency of each edit up to its durable IndexedDB
//!   commit (`durability: 'strict'`).
//! - **W5, long outbox**: the same, after the device has recorded `FIELDNOTES_BENCH_OUTBOX`
//!   changes (notes of 20 changes each) that wait to be sent.

#![cfg(target_arch = "wasm32")]

use std::error::Error;

use fieldnotes_client::{Client, PasswordKdf, RetryPolicy};
use fieldnotes_model::{Patch, Record, VisitNotePatch};
use fieldnotes_protocol::Role;
use fieldnotes_protocol::admin::{NewChild, NewTeam, NewUser};
use rand::rngs::StdRng;
use serde_json::{Value, json};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

/// The native benchmark's seeded generator of visit notes, so both measure the same notes.
#[allow(dead_code)]
#[path = "../../tests/src/fixtures.rs"]
mod fixtures;

wasm_bindgen_test_configure!(run_in_browser);

type Res<T> = Result<T, Box<dyn Error>>;

/// Every benchmark person's password.
const PASSWORD: &str = "correct horse battery staple";
const TEAM: &str = "pod-1";
/// The device under test's person, and the person whose other devices wrote the notes.
const WORKER: &str = "sw-a";
const MANAGER: &str = "mgr";
const CHILDREN: usize = 25;
/// Edits per W5 run.
const EDITS: usize = 100;
/// Changes per note in the long outbox (a create and 19 edits).
const CHANGES_PER_NOTE: usize = 20;
/// The manager's device pushes after this many notes, so its own outbox stays short.
const SEED_BATCH: usize = 250;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds, as finely as the page may see them.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn now_ms() -> f64;
    /// `performance.getEntriesByType('resource')`: one entry per `fetch` (and other loads).
    #[wasm_bindgen(js_namespace = performance, js_name = getEntriesByType)]
    fn resource_entries(kind: &str) -> js_sys::Array;
    /// `performance.clearResourceTimings()`.
    #[wasm_bindgen(js_namespace = performance, js_name = clearResourceTimings)]
    fn clear_resource_timings();
}

/// The page's `fetch`es to `server` since the resource timings were last cleared: how many,
/// and their total duration (ms) from the request's start to the answer's last byte. That is
/// time spent waiting on the server and the loopback; the rest of a sync is the device's.
/// (The server sends no `Timing-Allow-Origin`, so only start and end are visible.)
fn fetches_to(server: &str) -> (u32, f64) {
    let mut count = 0;
    let mut total = 0.0;
    for entry in resource_entries("resource").iter() {
        let field = |name: &str| js_sys::Reflect::get(&entry, &JsValue::from_str(name)).ok();
        let to_server = field("name")
            .and_then(|v| v.as_string())
            .is_some_and(|url| url.starts_with(server));
        if to_server {
            count += 1;
            total += field("duration")
                .and_then(|v| v.as_f64())
                .unwrap_or(f64::NAN);
        }
    }
    (count, total)
}

/// A compile-time setting from the xtask.
fn setting(name: &str, value: Option<&'static str>) -> Res<&'static str> {
    value.ok_or_else(|| {
        format!("{name} is not set: run the benchmark with `cargo xtask sdk-browser-bench`").into()
    })
}

fn number(name: &str, value: Option<&'static str>, default: usize) -> Res<usize> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|e| format!("{name}={v:?} is not a number: {e}").into()),
    }
}

struct Settings {
    server: &'static str,
    admin: &'static str,
    admin_password: &'static str,
    n: usize,
    runs: usize,
    outbox: usize,
}

impl Settings {
    fn read() -> Res<Self> {
        Ok(Settings {
            server: setting(
                "FIELDNOTES_BENCH_SERVER",
                option_env!("FIELDNOTES_BENCH_SERVER"),
            )?,
            admin: setting(
                "FIELDNOTES_BENCH_ADMIN",
                option_env!("FIELDNOTES_BENCH_ADMIN"),
            )?,
            admin_password: setting(
                "FIELDNOTES_BENCH_ADMIN_PASSWORD",
                option_env!("FIELDNOTES_BENCH_ADMIN_PASSWORD"),
            )?,
            n: number(
                "FIELDNOTES_BENCH_N",
                option_env!("FIELDNOTES_BENCH_N"),
                2000,
            )?,
            runs: number(
                "FIELDNOTES_BENCH_RUNS",
                option_env!("FIELDNOTES_BENCH_RUNS"),
                3,
            )?
            .max(1),
            outbox: number(
                "FIELDNOTES_BENCH_OUTBOX",
                option_env!("FIELDNOTES_BENCH_OUTBOX"),
                2000,
            )?,
        })
    }

    /// A device keeping its store in the IndexedDB database `store`, signed in as `user`
    /// online; also how long the sign-in took (ms).
    async fn device(&self, store: &str, user: &str, password: &str) -> Res<(Client, f64)> {
        let client = Client::builder(store)
            .server_url(self.server)
            .retry(RetryPolicy::none())
            .password_kdf(PasswordKdf::insecure_fast_for_tests())
            .open()
            .await?;
        let start = now_ms();
        client
            .sign_in(user, password, &format!("{user}'s benchmark browser"))
            .await?;
        Ok((client, now_ms() - start))
    }
}

/// The whole benchmark, in one page: set-up, then each workload `runs` times.
#[wasm_bindgen_test]
async fn workloads() {
    if let Err(e) = run().await {
        panic!("the browser benchmark failed: {e}");
    }
}

async fn run() -> Res<()> {
    let settings = Settings::read()?;
    set_up(&settings).await?;

    let mut w1_runs = Vec::with_capacity(settings.runs);
    for run in 1..=settings.runs {
        let line = w1(&settings, run).await?;
        console_log!("{line}");
        w1_runs.push(line);
    }
    console_log!(
        "{}",
        median_line(
            "W1",
            &w1_runs,
            &["wall_ms", "fetch_ms", "device_ms", "sign_in_ms"]
        )
    );

    for (workload, outbox) in [("W5", 0), ("W5 long outbox", settings.outbox)] {
        let mut runs = Vec::with_capacity(settings.runs);
        for run in 1..=settings.runs {
            let line = w5(&settings, workload, outbox, run).await?;
            console_log!("{line}");
            runs.push(line);
        }
        console_log!(
            "{}",
            median_line(workload, &runs, &["edit_p50_ms", "edit_p99_ms", "wall_ms"])
        );
    }
    Ok(())
}

/// The organisation (team, manager, worker, 25 children allocated to the worker) and the N
/// notes the manager's other device wrote, on the server. Untimed.
async fn set_up(settings: &Settings) -> Res<()> {
    let start = now_ms();
    let (admin, _) = settings
        .device("bench-admin", settings.admin, settings.admin_password)
        .await?;
    admin
        .create_team(&NewTeam {
            team_id: TEAM.to_owned(),
            name: "Team pod-1".to_owned(),
            pod_read_access: false,
            plan_point_limit: None,
        })
        .await?;
    for (user, role) in [(MANAGER, Role::Manager), (WORKER, Role::SocialWorker)] {
        admin
            .create_user(&NewUser {
                user_id: None,
                username: user.to_owned(),
                display_name: format!("{user} (benchmark)"),
                role,
                team_id: Some(TEAM.to_owned()),
                password: Some(PASSWORD.to_owned()),
                external_subject: None,
            })
            .await?;
    }
    admin.close().await;

    let (manager, _) = settings.device("bench-mgr", MANAGER, PASSWORD).await?;
    for i in 0..CHILDREN {
        let child = format!("child-{i:02}");
        manager
            .create_child(&NewChild {
                child_id: child.clone(),
                display_name: format!("Child {child}"),
                team_id: TEAM.to_owned(),
            })
            .await?;
        manager.allocate(&child, WORKER).await?;
    }
    // The native benchmark's notes (same seed, same generator), written by the manager.
    let mut rng = fixtures::rng(1);
    for i in 0..settings.n {
        manager
            .create(fixtures::visit_note(&mut rng, i, MANAGER))
            .await?;
        if (i + 1) % SEED_BATCH == 0 || i + 1 == settings.n {
            let report = manager.sync().await?;
            if !report.protocol.refused.is_empty() {
                return Err(format!("seeding: refused {:?}", report.protocol.refused).into());
            }
        }
    }
    let waiting = manager.pending_changes().await?;
    if waiting != 0 {
        return Err(format!("seeding: {waiting} changes were not sent").into());
    }
    manager.close().await;
    console_log!(
        "{}",
        json!({ "setup": "seeded", "n": settings.n, "ms": round(now_ms() - start) })
    );
    Ok(())
}

/// W1 cold start: a new device with an empty store syncs until it holds all N notes.
async fn w1(settings: &Settings, run: usize) -> Res<Value> {
    let (client, sign_in_ms) = settings
        .device(&format!("bench-w1-{run}"), WORKER, PASSWORD)
        .await?;
    clear_resource_timings();
    let start = now_ms();
    let report = client.sync().await?;
    let wall_ms = now_ms() - start;
    let (fetches, fetch_ms) = fetches_to(settings.server);
    let memory_mib = wasm_memory_mib();

    let held = client.list(None).await?;
    if held.len() != settings.n {
        return Err(format!(
            "W1: the device holds {} notes, not {}",
            held.len(),
            settings.n
        )
        .into());
    }
    // Untimed: every note is there in full, readable from the local store alone.
    for doc in &held {
        match client.get(&doc.id).await? {
            Some(Record::VisitNote(note)) if note.content.body.len() >= 1000 => {}
            other => return Err(format!("W1: {} is not held in full: {other:?}", doc.id).into()),
        }
    }
    client.close().await;
    Ok(json!({
        "workload": "W1",
        "run": run,
        "n": settings.n,
        "backend": "sqlite",
        "client": "chromium",
        "wall_ms": round(wall_ms),
        "round_trips": report.protocol.round_trips,
        "pulled_docs": report.protocol.pulled_docs,
        "fetches": fetches,
        "fetch_ms": round(fetch_ms),
        "device_ms": round(wall_ms - fetch_ms),
        "sign_in_ms": round(sign_in_ms),
        "wasm_memory_mib": round(memory_mib),
    }))
}

/// W5 local write, after `outbox` changes were recorded and left unsent: a note created and
/// edited 100 times, each edit timed up to its durable commit.
async fn w5(settings: &Settings, workload: &str, outbox: usize, run: usize) -> Res<Value> {
    let store = format!("bench-w5-{outbox}-{run}");
    let (client, _) = settings.device(&store, WORKER, PASSWORD).await?;
    // From here on the device makes no network call: creating and editing are local.
    let fill_start = now_ms();
    let mut rng = fixtures::rng(50 + run as u64);
    for i in 0..outbox.div_ceil(CHANGES_PER_NOTE) {
        let (id, mut body) = create(&client, &mut rng, i).await?;
        for _ in 1..CHANGES_PER_NOTE {
            append(&client, &id, &mut body, &mut rng).await?;
        }
    }
    let fill_ms = now_ms() - fill_start;
    let waiting = client.pending_changes().await?;

    let mut rng = fixtures::rng(5);
    let start = now_ms();
    let (id, mut body) = create(&client, &mut rng, 0).await?;
    let mut latencies = Vec::with_capacity(EDITS);
    for _ in 0..EDITS {
        latencies.push(append(&client, &id, &mut body, &mut rng).await?);
    }
    let wall_ms = now_ms() - start;
    client.close().await;
    latencies.sort_by(f64::total_cmp);
    Ok(json!({
        "workload": workload,
        "run": run,
        "client": "chromium",
        "outbox_before": waiting,
        "fill_ms": round(fill_ms),
        "edits": EDITS,
        "wall_ms": round(wall_ms),
        "edit_p50_ms": round(percentile(&latencies, 0.50)),
        "edit_p99_ms": round(percentile(&latencies, 0.99)),
        "edit_max_ms": round(latencies.last().copied().unwrap_or(f64::NAN)),
    }))
}

/// Record a visit note (the generator's `index`th) as the worker; its id and body.
async fn create(client: &Client, rng: &mut StdRng, index: usize) -> Res<(String, String)> {
    let id = client
        .create(fixtures::visit_note(rng, index, WORKER))
        .await?;
    match client.get(&id).await? {
        Some(Record::VisitNote(note)) => Ok((id, note.content.body)),
        other => Err(format!("{id} is not a visit note: {other:?}").into()),
    }
}

/// Append about 20 characters of words to a note's `body` (kept by the caller, as an editor
/// holds it), as the native W5 does; the edit's latency up to its durable commit (ms).
async fn append(client: &Client, id: &str, body: &mut String, rng: &mut StdRng) -> Res<f64> {
    body.push(' ');
    body.push_str(&fixtures::words(rng, 20));
    let patch = Patch::VisitNote(VisitNotePatch {
        body: Some(body.clone()),
        ..Default::default()
    });
    let start = now_ms();
    client.edit(id, patch).await?;
    Ok(now_ms() - start)
}

/// The size of this page's wasm memory, in MiB (it only grows).
fn wasm_memory_mib() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map(|m| {
            m.buffer()
                .dyn_into::<js_sys::ArrayBuffer>()
                .map_or(f64::NAN, |b| f64::from(b.byte_length()))
        })
        .map_or(f64::NAN, |bytes| bytes / (1024.0 * 1024.0))
}

/// A line of the medians of `keys` over `runs`.
fn median_line(workload: &str, runs: &[Value], keys: &[&str]) -> Value {
    let mut line = json!({ "workload": workload, "stat": format!("median of {}", runs.len()) });
    for key in keys {
        let mut values: Vec<f64> = runs.iter().filter_map(|r| r[*key].as_f64()).collect();
        values.sort_by(f64::total_cmp);
        if let Some(median) = values.get(values.len() / 2) {
            line[*key] = json!(*median);
        }
    }
    line
}

/// The value at rank `p` (0 to 1) of `sorted`, as the native benchmark ranks it.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}
