//! The benchmark workloads of `shared/bench/WORKLOADS.md`, on the real server (a separate
//! process, so its memory is measured apart) and real clients, through a byte-counting proxy
//! on 127.0.0.1. Prints one JSON line per run and one median line per workload.
//!
//! ```text
//! cargo bench -p fieldnotes-tests --bench workloads -- --workload w1 --n 2000 --backend sqlite
//! cargo bench -p fieldnotes-tests --bench workloads -- --help
//! ```

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::time::Instant;

use anyhow::{Context, bail};
use fieldnotes_client::Client;
use fieldnotes_model::{Patch, VisitNotePatch};
use fieldnotes_protocol::PushDoc;
use fieldnotes_tests::bench::{self, backends, median, percentile, read_flags};
use fieldnotes_tests::fixtures::{rng, visit_note, words};
use fieldnotes_tests::org::seed_standard;
use fieldnotes_tests::wire::push_all;
use fieldnotes_tests::{Backend, CountingProxy, PASSWORD, RawDevice, ServerProcess, TestDb};
use rand::rngs::StdRng;
use serde_json::json;

const SERVER: &str = env!("CARGO_BIN_EXE_fieldnotes-test-server");

const HELP: &str = "\
Fieldnotes workload benchmark (see shared/bench/WORKLOADS.md)

usage: workloads [--workload w1|w2|w5|all] [--n N[,N...]] [--backend sqlite|postgres|both] [--runs R]

  --workload  which workload to run (default: all of w1, w2, w5)
  --n         documents per run; a comma-separated list gives the W4 scale curve (default 2000)
  --backend   server database (default: both); postgres uses $FIELDNOTES_TEST_PG_URL
  --runs      runs per setting; a median line follows them (default 3)
";

struct Args {
    workloads: Vec<String>,
    ns: Vec<usize>,
    backends: Vec<Backend>,
    runs: usize,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        workloads: vec!["w1".into(), "w2".into(), "w5".into()],
        ns: vec![2000],
        backends: vec![Backend::Sqlite, Backend::Postgres],
        runs: 3,
    };
    let wanted = read_flags(HELP, |flag, value| {
        match flag {
            "--workload" => {
                let v = value()?;
                args.workloads = match v.as_str() {
                    "all" => vec!["w1".into(), "w2".into(), "w5".into()],
                    "w1" | "w2" | "w5" => vec![v],
                    other => bail!("unknown workload {other:?}: use w1, w2, w5 or all"),
                };
            }
            "--n" => {
                args.ns = value()?
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse::<usize>()
                            .with_context(|| format!("--n {n:?} is not a number"))
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            "--backend" => args.backends = backends(&value()?)?,
            "--runs" => args.runs = value()?.parse().context("--runs must be a number")?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if !wanted {
        return Ok(None);
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(Some(args))
}

/// Peak resident set size of a process in MiB, from /proc (VmHWM).
fn peak_rss_mb(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time a process has used so far (user and system), in ms, from /proc: a figure the
/// machine's other load disturbs far less than wall time. NaN when it cannot be read.
fn cpu_ms(pid: &str) -> f64 {
    // The fields after the command name (which may hold spaces) start with the state; utime
    // and stime are the 12th and 13th of them, in clock ticks (100 a second on Linux).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
            Some((ticks(11)? + ticks(12)?) * 10.0)
        })
        .unwrap_or(f64::NAN)
}

/// Reset a process's peak RSS so the next reading covers only the measured phase.
fn reset_peak_rss(pid: &str) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

struct Figures {
    wall_ms: f64,
    bytes: u64,
    round_trips: u64,
    client_peak_rss_mb: f64,
    server_peak_rss_mb: f64,
    extra: serde_json::Value,
}

/// A database with one caseload: team pod-1, its manager `mgr`, and 25 children allocated to
/// the social worker `sw-a` (the device under test). Not measured.
async fn seed_org(db: &TestDb) -> anyhow::Result<()> {
    seed_standard(&db.url, 25).await
}

/// The team manager's other devices write `n` notes to the server (not measured).
async fn seed_server(url: &str, n: usize, seed: u64) -> anyhow::Result<()> {
    let mut r = rng(seed);
    let mut batch: Vec<PushDoc> = Vec::new();
    let writer = RawDevice::login(url, "mgr", PASSWORD).await?;
    for i in 0..n {
        let mut doc = writer.create(visit_note(&mut r, i, "mgr"))?;
        batch.push(push_all(&mut doc));
        if batch.len() == 500 || i + 1 == n {
            let response = writer.push(std::mem::take(&mut batch)).await?;
            if let Some(refused) = response
                .results
                .iter()
                .find(|r| !matches!(r.outcome, fieldnotes_protocol::PushOutcome::Accepted { .. }))
            {
                bail!("seeding: the server refused {refused:?}");
            }
        }
    }
    Ok(())
}

/// A device for `sw-a` with an empty store, signed in (untimed: sign-in is not sync).
async fn signed_in(dir: &tempfile::TempDir, url: &str) -> anyhow::Result<Client> {
    fieldnotes_tests::client::signed_in(dir.path(), url, "sw-a").await
}

/// The served database of W1 and W2 (not measured): the caseload, `n` notes the manager's
/// other devices wrote (from `seed`), the server as a process of its own, and a proxy counting
/// the bytes to it.
struct Stage {
    proxy: CountingProxy,
    server: ServerProcess,
    _db: TestDb,
}

impl Stage {
    async fn new(backend: Backend, n: usize, seed: u64) -> anyhow::Result<Stage> {
        let db = TestDb::new(backend).await?;
        seed_org(&db).await?;
        let server = ServerProcess::start(SERVER, &db.url)?;
        seed_server(&server.url(), n, seed).await?;
        let proxy = CountingProxy::start(server.addr).await?;
        Ok(Stage {
            proxy,
            server,
            _db: db,
        })
    }

    /// The measured phase starts: bytes are counted from zero and both processes' peak memory
    /// from now. The server's process id.
    fn start_measuring(&self) -> String {
        self.proxy.reset();
        let server_pid = self.server.pid().to_string();
        reset_peak_rss("self");
        reset_peak_rss(&server_pid);
        server_pid
    }
}

/// W1 cold start: a new device with an empty store syncs until it holds all `n` notes.
async fn w1(backend: Backend, n: usize) -> anyhow::Result<Figures> {
    let stage = Stage::new(backend, n, 1).await?;
    let proxy = &stage.proxy;
    let dir = tempfile::tempdir()?;
    let client = signed_in(&dir, &proxy.url()).await?;
    let server_pid = stage.start_measuring();

    let cpu = (cpu_ms("self"), cpu_ms(&server_pid));
    let start = Instant::now();
    let report = client.sync().await?;
    let wall = start.elapsed();
    let cpu = (cpu_ms("self") - cpu.0, cpu_ms(&server_pid) - cpu.1);

    let held = client.list(None).await?;
    if held.len() != n {
        bail!("W1: the device holds {} notes, expected {n}", held.len());
    }
    // Untimed: every note is there in full, readable from the local store alone.
    for doc in &held {
        match client.get(&doc.id).await? {
            Some(fieldnotes_model::Record::VisitNote(note)) if note.content.body.len() >= 1000 => {}
            other => bail!("W1: {} is not held in full: {other:?}", doc.id),
        }
    }
    Ok(Figures {
        wall_ms: wall.as_secs_f64() * 1000.0,
        bytes: proxy.total_bytes(),
        round_trips: report.protocol.round_trips as u64,
        client_peak_rss_mb: peak_rss_mb("self"),
        server_peak_rss_mb: peak_rss_mb(&server_pid),
        extra: json!({ "client_cpu_ms": cpu.0, "server_cpu_ms": cpu.1 }),
    })
}

/// W2 reconnect: A and B hold the same `n` notes. A, offline, edits 10%; B, online, edits a
/// different 10%. Measured: from A's reconnection until A and B hold identical heads.
async fn w2(backend: Backend, n: usize) -> anyhow::Result<Figures> {
    let stage = Stage::new(backend, n, 2).await?;
    let proxy = &stage.proxy;
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    // The worker's laptop and phone.
    let a = signed_in(&dir_a, &proxy.url()).await?;
    let b = signed_in(&dir_b, &proxy.url()).await?;
    a.sync().await?;
    b.sync().await?;
    let mut ids: Vec<String> = a.list(None).await?.into_iter().map(|d| d.id).collect();
    ids.sort();

    let tenth = n / 10;
    let mut r = rng(22);
    let mut moved_bytes = 0u64;
    edit_tenth(&a, &ids[..tenth], &mut r).await?;
    edit_tenth(&b, &ids[tenth..2 * tenth], &mut r).await?;
    // Each edited note has one new change; A's go up and down once, B's go down once (B's
    // own upload happens while it is online, before A reconnects).
    moved_bytes += latest_change_bytes(&a, &ids[..tenth]).await? * 2;
    b.sync().await?;
    moved_bytes += latest_change_bytes(&b, &ids[tenth..2 * tenth]).await?;
    let server_pid = stage.start_measuring();

    // A's sync pushes its edits and pulls B's; B's sync pulls A's. Timed apart, so a change
    // in the figure can be placed on the push or on the pull.
    let cpu = (cpu_ms("self"), cpu_ms(&server_pid));
    let start = Instant::now();
    let report_a = a.sync().await?;
    let a_done = start.elapsed();
    let report_b = b.sync().await?;
    let wall = start.elapsed();
    let cpu = (cpu_ms("self") - cpu.0, cpu_ms(&server_pid) - cpu.1);

    for id in &ids {
        if a.heads(id).await? != b.heads(id).await? {
            bail!("W2: A and B differ on {id}");
        }
    }
    let bytes = proxy.total_bytes();
    Ok(Figures {
        wall_ms: wall.as_secs_f64() * 1000.0,
        bytes,
        round_trips: (report_a.protocol.round_trips + report_b.protocol.round_trips) as u64,
        client_peak_rss_mb: peak_rss_mb("self"),
        server_peak_rss_mb: peak_rss_mb(&server_pid),
        extra: json!({
            "change_bytes_moved": moved_bytes,
            "bytes_per_change_byte": bytes as f64 / moved_bytes.max(1) as f64,
            "a_push_and_pull_ms": a_done.as_secs_f64() * 1000.0,
            "b_pull_ms": (wall - a_done).as_secs_f64() * 1000.0,
            "client_cpu_ms": cpu.0,
            "server_cpu_ms": cpu.1,
        }),
    })
}

/// W2's edits on one device: each note gets a new title and 300 more characters of body.
async fn edit_tenth(device: &Client, ids: &[String], r: &mut StdRng) -> anyhow::Result<()> {
    for id in ids {
        let body = match device.get(id).await? {
            Some(fieldnotes_model::Record::VisitNote(note)) => note.content.body,
            _ => bail!("W2: {id} is not a visit note"),
        };
        let patch = VisitNotePatch {
            title: Some(words(r, 40).chars().take(40).collect()),
            body: Some(format!("{body} {}", words(r, 300))),
            ..Default::default()
        };
        device.edit(id, Patch::VisitNote(patch)).await?;
    }
    Ok(())
}

/// Total size of the latest change of each of these notes.
async fn latest_change_bytes(b: &Client, ids: &[String]) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for id in ids {
        let mut doc = b.document(id).await?.context("B lost a note")?;
        let changes = doc.all_changes();
        total += changes.last().map_or(0, |c| c.bytes.len() as u64);
    }
    Ok(total)
}

/// W5 local write: offline, create a note and edit it 100 times; latency of each edit
/// including its durable local write (and its encryption).
async fn w5(backend: Backend, _n: usize) -> anyhow::Result<Figures> {
    let db = TestDb::new(backend).await?;
    seed_org(&db).await?;
    let dir = tempfile::tempdir()?;
    let client = {
        // Signed in once online; then the device is offline for the measured part.
        let server = ServerProcess::start(SERVER, &db.url)?;
        let client = signed_in(&dir, &server.url()).await?;
        server.kill()?;
        client
    };
    let mut r = rng(5);
    reset_peak_rss("self");
    let start = Instant::now();
    let id = client.create(visit_note(&mut r, 0, "sw-a")).await?;
    let mut latencies = Vec::with_capacity(100);
    let mut body = match client.get(&id).await? {
        Some(fieldnotes_model::Record::VisitNote(note)) => note.content.body,
        _ => bail!("W5: not a visit note"),
    };
    for _ in 0..100 {
        body.push(' ');
        body.push_str(&words(&mut r, 20));
        let patch = VisitNotePatch {
            body: Some(body.clone()),
            ..Default::default()
        };
        let t = Instant::now();
        client.edit(&id, Patch::VisitNote(patch)).await?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let wall = start.elapsed();
    latencies.sort_by(f64::total_cmp);
    Ok(Figures {
        wall_ms: wall.as_secs_f64() * 1000.0,
        bytes: 0,
        round_trips: 0,
        client_peak_rss_mb: peak_rss_mb("self"),
        server_peak_rss_mb: 0.0,
        extra: json!({
            "edits": 100,
            "edit_p50_ms": percentile(&latencies, 0.50),
            "edit_p99_ms": percentile(&latencies, 0.99),
            "edit_max_ms": latencies.last().copied().unwrap_or(f64::NAN),
        }),
    })
}

fn line(workload: &str, n: usize, backend: Backend, f: &Figures) -> serde_json::Value {
    let mut v = json!({
        "workload": workload,
        "n": n,
        "backend": backend.to_string(),
        "wall_ms": (f.wall_ms * 10.0).round() / 10.0,
        "bytes": f.bytes,
        "round_trips": f.round_trips,
        "client_peak_rss_mb": (f.client_peak_rss_mb * 10.0).round() / 10.0,
        "server_peak_rss_mb": (f.server_peak_rss_mb * 10.0).round() / 10.0,
    });
    if let (Some(obj), Some(extra)) = (v.as_object_mut(), f.extra.as_object()) {
        for (k, val) in extra {
            obj.insert(k.clone(), val.clone());
        }
    }
    v
}

async fn run(args: Args) -> anyhow::Result<()> {
    for workload in &args.workloads {
        for &backend in &args.backends {
            // W5 never touches the server: run it once, not per backend.
            if workload == "w5" && backend == Backend::Postgres && args.backends.len() > 1 {
                continue;
            }
            for &n in &args.ns {
                let mut runs = Vec::new();
                for _ in 0..args.runs {
                    let figures = match workload.as_str() {
                        "w1" => w1(backend, n).await?,
                        "w2" => w2(backend, n).await?,
                        _ => w5(backend, n).await?,
                    };
                    println!("{}", line(workload, n, backend, &figures));
                    runs.push(figures);
                }
                let mut wall: Vec<f64> = runs.iter().map(|f| f.wall_ms).collect();
                let mut summary = line(workload, n, backend, &runs[0]);
                summary["stat"] = json!(format!("median of {}", runs.len()));
                summary["wall_ms"] = json!((median(&mut wall) * 10.0).round() / 10.0);
                for key in [
                    "edit_p50_ms",
                    "edit_p99_ms",
                    "bytes_per_change_byte",
                    "a_push_and_pull_ms",
                    "b_pull_ms",
                    "client_cpu_ms",
                    "server_cpu_ms",
                ] {
                    let mut values: Vec<f64> =
                        runs.iter().filter_map(|f| f.extra[key].as_f64()).collect();
                    if !values.is_empty() {
                        summary[key] = json!(median(&mut values));
                    }
                }
                let mut bytes: Vec<f64> = runs.iter().map(|f| f.bytes as f64).collect();
                summary["bytes"] = json!(median(&mut bytes) as u64);
                println!("{summary}");
            }
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    bench::main(HELP, parse_args(), run)
}
