//! The review queue with many items: 10,000 items over 4 teams and 100 children, listed and
//! filtered through the real HTTP API (`GET /v1/review`) by an admin (everything) and by a
//! team's manager (their team only). Each query shape is asked many times; the benchmark
//! prints its p50, p99 and worst latency, one JSON line per shape and run, then a line per
//! shape with the medians over the runs.
//!
//! Every answer is checked against the item ids the seed says it must hold (filters, order,
//! page), so a fast empty or wrong answer fails the benchmark instead of looking good.
//!
//! ```text
//! cargo bench -p fieldnotes-tests --bench review_queue -- --backend both --runs 3
//! cargo bench -p fieldnotes-tests --bench review_queue -- --help
//! ```

// Test code: a failed unwrap is a failed benchmark, and sizes here are small.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use fieldnotes_protocol::review::Decision;
use fieldnotes_protocol::{ReviewStatus, Role};
use fieldnotes_server::SharedStore;
use fieldnotes_store::directory::Actor;
use fieldnotes_store::review::{NewReviewItem, ReviewFinding};
use fieldnotes_tests::bench::{self, backends, median, percentile, read_flags};
use fieldnotes_tests::fixtures::{rng, words};
use fieldnotes_tests::org::now_ms;
use fieldnotes_tests::{Backend, RawDevice, TestServer};
use rand::RngExt as _;
use rand::rngs::StdRng;
use serde_json::json;

const HELP: &str = "\
Fieldnotes review queue benchmark: list and filter many review items through GET /v1/review

usage: review_queue [--backend sqlite|postgres|both] [--runs R] [--items N] [--requests K]
                    [--budget-ms MS]

  --backend    server database (default: both); postgres uses $FIELDNOTES_TEST_PG_URL
  --runs       runs per backend, each on a freshly seeded database; a median line per query
               shape follows them (default 3)
  --items      review items to seed (default 10000)
  --requests   timed requests per query shape and run, after 10 untimed ones (default 200)
  --budget-ms  the p99 each shape must stay under; the benchmark exits with status 1 when a
               median p99 is over it (default 50)
";

const TEAMS: usize = 4;
const CHILDREN_PER_TEAM: usize = 25;
/// Items are raised over the last 30 days, oldest first (so item ids follow time, as they do
/// when pushes raise them).
const HOURS: usize = 720;
const WARMUP: usize = 10;
const PAGE: usize = 100;

/// Item kinds and how often each is raised (out of 100).
const ITEM_KINDS: &[(&str, u32)] = &[
    ("conflict", 50),
    ("amendment", 20),
    ("pending_amendment", 15),
    ("plan_limit", 10),
    ("invalid_merge", 5),
];
/// Document kinds of the items that are not plan limits (which are always short plans).
const DOC_KINDS: &[(&str, u32)] = &[
    ("visit_note", 60),
    ("short_plan", 15),
    ("about_me", 15),
    ("contact_card", 10),
];
const FIELDS: &[&str] = &[
    "title",
    "body",
    "occurred_at",
    "tags",
    "wishes_and_feelings",
];

struct Args {
    backends: Vec<Backend>,
    runs: usize,
    items: usize,
    requests: usize,
    budget_ms: f64,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        backends: vec![Backend::Sqlite, Backend::Postgres],
        runs: 3,
        items: 10_000,
        requests: 200,
        budget_ms: 50.0,
    };
    let wanted = read_flags(HELP, |flag, value| {
        match flag {
            "--backend" => args.backends = backends(&value()?)?,
            "--runs" => args.runs = value()?.parse().context("--runs: a number")?,
            "--items" => args.items = value()?.parse().context("--items: a number")?,
            "--requests" => args.requests = value()?.parse().context("--requests: a number")?,
            "--budget-ms" => {
                args.budget_ms = value()?.parse().context("--budget-ms: a number")?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if !wanted {
        return Ok(None);
    }
    ensure!(args.runs >= 1, "--runs must be at least 1");
    ensure!(args.requests >= 1, "--requests must be at least 1");
    ensure!(
        args.items >= 2000,
        "--items must be at least 2000 (the query shapes need full pages)"
    );
    Ok(Some(args))
}

/// What the seed wrote for one item: everything a filter can look at.
#[derive(Debug, Clone)]
struct Seeded {
    id: i64,
    team: String,
    child: String,
    doc_kind: &'static str,
    item_kind: &'static str,
    status: &'static str,
    /// Whole hours before the seed's clock; the item was raised half an hour before that, so
    /// an hour filter asked within 30 minutes of seeding never lands on an item's edge.
    age_hours: usize,
}

/// One query shape: the filters `GET /v1/review` takes.
#[derive(Debug, Clone, Default)]
struct Query {
    status: Option<&'static str>,
    team: Option<String>,
    child: Option<String>,
    doc_kind: Option<&'static str>,
    item_kind: Option<&'static str>,
    older_than_hours: Option<usize>,
    newer_than_hours: Option<usize>,
    after: Option<i64>,
}

impl Query {
    fn path(&self) -> String {
        let mut path = format!("/v1/review?limit={PAGE}");
        let mut add = |key: &str, value: &dyn std::fmt::Display| {
            let _ = write!(path, "&{key}={value}");
        };
        if let Some(v) = self.status {
            add("status", &v);
        }
        if let Some(v) = &self.team {
            add("team", v);
        }
        if let Some(v) = &self.child {
            add("child", v);
        }
        if let Some(v) = self.doc_kind {
            add("kind", &v);
        }
        if let Some(v) = self.item_kind {
            add("item", &v);
        }
        if let Some(v) = self.older_than_hours {
            add("older_than_hours", &v);
        }
        if let Some(v) = self.newer_than_hours {
            add("newer_than_hours", &v);
        }
        if let Some(v) = self.after {
            add("after", &v);
        }
        path
    }

    /// Whether `item` is in the answer to this query asked by someone restricted to
    /// `own_team` (a manager) or not (an admin), before paging.
    fn selects(&self, item: &Seeded, own_team: Option<&str>) -> bool {
        let status = self.status.unwrap_or("open");
        (status == "all" || item.status == status)
            && own_team.is_none_or(|t| item.team == t)
            && self.team.as_deref().is_none_or(|t| item.team == t)
            && self.child.as_deref().is_none_or(|c| item.child == c)
            && self.doc_kind.is_none_or(|k| item.doc_kind == k)
            && self.item_kind.is_none_or(|k| item.item_kind == k)
            && self.older_than_hours.is_none_or(|h| item.age_hours >= h)
            && self.newer_than_hours.is_none_or(|h| item.age_hours < h)
    }

    /// All matching ids (ignoring the page), oldest first.
    fn matching(&self, seed: &[Seeded], own_team: Option<&str>) -> Vec<i64> {
        seed.iter()
            .filter(|item| self.selects(item, own_team))
            .map(|item| item.id)
            .collect()
    }

    /// The page the server must answer.
    fn expected_page(&self, seed: &[Seeded], own_team: Option<&str>) -> Vec<i64> {
        self.matching(seed, own_team)
            .into_iter()
            .filter(|id| self.after.is_none_or(|after| *id > after))
            .take(PAGE)
            .collect()
    }
}

fn pick<T: Copy>(r: &mut StdRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = r.random_range(0..total);
    for (value, weight) in weighted {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    weighted[weighted.len() - 1].0
}

fn hex(r: &mut StdRng, bytes: usize) -> String {
    (0..bytes).fold(String::with_capacity(bytes * 2), |mut s, _| {
        let _ = write!(s, "{:02x}", r.random::<u8>());
        s
    })
}

fn rfc3339(ms: i64) -> anyhow::Result<String> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)?;
    Ok(at.format(&time::format_description::well_known::Rfc3339)?)
}

/// A worker's signed-in device: the sides of a team's items are theirs.
struct Writer {
    device_id: String,
    actor: String,
}

/// Seed people, devices and `n` items (not measured). Returns what was seeded, item ids in
/// order, and the admin's and pod-1 manager's signed-in devices.
async fn seed(
    server: &TestServer,
    n: usize,
    seed_value: u64,
) -> anyhow::Result<(Vec<Seeded>, RawDevice, RawDevice)> {
    let writers = seed_writers(server).await?;
    let store = &server.state.store;
    let mut r = rng(seed_value);
    let seed_now = now_ms();
    let mut seeded: Vec<Seeded> = Vec::with_capacity(n);
    for i in 0..n {
        let age_hours = HOURS - 1 - i * HOURS / n;
        let item = seed_item(store, &writers, &mut r, age_hours, seed_now).await?;
        if let Some(last) = seeded.last() {
            ensure!(item.id > last.id, "item {i} was not recorded as a new item");
        }
        seeded.push(item);
    }
    decide_a_fifth(store, &mut seeded, &mut r, seed_now).await?;
    let admin = server.device("admin").await?;
    let mgr = server.device("mgr").await?;
    Ok((seeded, admin, mgr))
}

/// The teams, their people and children, and each team's two workers signed in (the writers
/// of its items' sides).
async fn seed_writers(server: &TestServer) -> anyhow::Result<Vec<Vec<Writer>>> {
    let org = server.org();
    // pod-1 with admin, mgr, sw-a, sw-b, yw and child-00..child-24.
    org.standard(CHILDREN_PER_TEAM).await?;
    let mut writers: Vec<Vec<Writer>> = Vec::new();
    for t in 0..TEAMS {
        let team = format!("pod-{}", t + 1);
        let workers = if t == 0 {
            vec!["sw-a".to_owned(), "sw-b".to_owned()]
        } else {
            org.team(&team, false).await?;
            org.person(&format!("mgr-{}", t + 1), Role::Manager, Some(&team))
                .await?;
            let workers = vec![format!("sw-{}a", t + 1), format!("sw-{}b", t + 1)];
            for w in &workers {
                org.person(w, Role::SocialWorker, Some(&team)).await?;
            }
            for c in 0..CHILDREN_PER_TEAM {
                org.child(&format!("child-{:02}", t * CHILDREN_PER_TEAM + c), &team)
                    .await?;
            }
            workers
        };
        let mut devices = Vec::new();
        for w in workers {
            let device = server.device(&w).await?;
            devices.push(Writer {
                device_id: device.device_id().to_owned(),
                actor: device.actor.to_hex_string(),
            });
        }
        writers.push(devices);
    }
    Ok(writers)
}

/// One random item raised `age_hours` and a half before `seed_now`, recorded in `store`.
async fn seed_item(
    store: &SharedStore,
    writers: &[Vec<Writer>],
    r: &mut StdRng,
    age_hours: usize,
    seed_now: i64,
) -> anyhow::Result<Seeded> {
    let child_index = r.random_range(0..TEAMS * CHILDREN_PER_TEAM);
    let team_index = child_index / CHILDREN_PER_TEAM;
    let item_kind = pick(r, ITEM_KINDS);
    let doc_kind = if item_kind == "plan_limit" {
        "short_plan"
    } else {
        pick(r, DOC_KINDS)
    };
    let field = match item_kind {
        "plan_limit" => "points",
        "invalid_merge" => "",
        _ => FIELDS[r.random_range(0..FIELDS.len())],
    };
    let at_ms = seed_now - age_hours as i64 * 3_600_000 - 1_800_000;
    let team_writers = &writers[team_index];
    let sides = sides(r, team_writers, field, item_kind, at_ms)?;
    let child = format!("child-{child_index:02}");
    let id = store
        .record_review(&NewReviewItem {
            // One document per item: no two items share (document, kind, field).
            doc_id: format!("{}", uuid::Uuid::from_u128(r.random())),
            doc_kind: doc_kind.parse()?,
            child_id: Some(child.clone()),
            finding: ReviewFinding {
                item_kind: item_kind.parse()?,
                field: field.to_owned(),
                summary: format!("{doc_kind} {field}: {}", words(r, 50)),
                sides: serde_json::Value::Array(sides),
                seen_heads: vec![hex(r, 32)],
            },
            device_id: Some(team_writers[1].device_id.clone()),
            at_ms,
        })
        .await?;
    Ok(Seeded {
        id,
        team: format!("pod-{}", team_index + 1),
        child,
        doc_kind,
        item_kind,
        status: "open",
        age_hours,
    })
}

/// An item's sides, one per writer of its team, the first shown.
fn sides(
    r: &mut StdRng,
    writers: &[Writer],
    field: &str,
    item_kind: &str,
    at_ms: i64,
) -> anyhow::Result<Vec<serde_json::Value>> {
    writers
        .iter()
        .enumerate()
        .map(|(k, w)| {
            let len = if field == "body" { 400 } else { 40 };
            let mut side = json!({
                "value": words(r, len),
                "change": hex(r, 32),
                "actor": w.actor,
                "device_time": rfc3339(at_ms - 60_000 * (k as i64 + 1))?,
                "shown": k == 0,
            });
            if item_kind == "amendment" {
                side["reason"] = json!(words(r, 60));
            }
            Ok(side)
        })
        .collect()
}

/// A fifth of the queue decided, at random through it.
async fn decide_a_fifth(
    store: &SharedStore,
    seeded: &mut [Seeded],
    r: &mut StdRng,
    seed_now: i64,
) -> anyhow::Result<()> {
    let admin_actor = Actor {
        user_id: Some("admin".to_owned()),
        device_id: None,
        at_ms: seed_now,
    };
    for item in seeded {
        if r.random_range(0..5) == 0 {
            let decision = Decision {
                action: ReviewStatus::Resolved,
                value: Some(words(r, 40)),
                change: Some(hex(r, 32)),
                reason: None,
            };
            store
                .decide_review(item.id, &decision, &admin_actor)
                .await?;
            item.status = "resolved";
        }
    }
    Ok(())
}

/// One measured shape: who asks what.
struct Shape {
    name: &'static str,
    /// `admin` (all teams) or `manager` (pod-1 only).
    who: &'static str,
    query: Query,
}

/// The queries a reviewer makes. Deep pages start 150 items from the end of the queue they
/// page through, so they hold a full page.
fn shapes(seed: &[Seeded]) -> Vec<Shape> {
    let deep = |own_team: Option<&str>| {
        let open = Query::default().matching(seed, own_team);
        Some(open[open.len().saturating_sub(PAGE + PAGE / 2)])
    };
    let q = Query::default;
    let mut out = Vec::new();
    for (who, own_team, team_child) in [
        ("admin", None, "child-57"),
        ("manager", Some("pod-1"), "child-07"),
    ] {
        let mut add = |name, query| out.push(Shape { name, who, query });
        add("open first page", q());
        if who == "admin" {
            add(
                "team",
                Query {
                    team: Some("pod-3".to_owned()),
                    ..q()
                },
            );
        }
        add(
            "child",
            Query {
                child: Some(team_child.to_owned()),
                ..q()
            },
        );
        add(
            "item kind (invalid_merge, 5%)",
            Query {
                item_kind: Some("invalid_merge"),
                ..q()
            },
        );
        add(
            "doc kind (short_plan)",
            Query {
                doc_kind: Some("short_plan"),
                ..q()
            },
        );
        add(
            "older than 21 days",
            Query {
                older_than_hours: Some(504),
                ..q()
            },
        );
        add(
            "newer than 24 h",
            Query {
                newer_than_hours: Some(24),
                ..q()
            },
        );
        if who == "admin" {
            add(
                "team + item kind + older than 7 days",
                Query {
                    team: Some("pod-2".to_owned()),
                    item_kind: Some("conflict"),
                    older_than_hours: Some(168),
                    ..q()
                },
            );
            add(
                "resolved",
                Query {
                    status: Some("resolved"),
                    ..q()
                },
            );
        }
        add(
            "deep page (after)",
            Query {
                after: deep(own_team),
                ..q()
            },
        );
    }
    out
}

struct Figures {
    items: usize,
    matching: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// The item ids of an answer, after checking it succeeded.
fn answer_ids(answer: &fieldnotes_tests::wire::RawAnswer) -> anyhow::Result<Vec<i64>> {
    let listing: serde_json::Value = answer.json()?;
    listing["items"]
        .as_array()
        .context("the answer has no items array")?
        .iter()
        .map(|item| item["item_id"].as_i64().context("an item without an id"))
        .collect()
}

async fn measure(
    device: &RawDevice,
    shape: &Shape,
    seed: &[Seeded],
    requests: usize,
) -> anyhow::Result<Figures> {
    let own_team = (shape.who == "manager").then_some("pod-1");
    let expected = shape.query.expected_page(seed, own_team);
    ensure!(
        !expected.is_empty(),
        "{} / {}: the seed has no items for this query",
        shape.who,
        shape.name
    );
    let path = shape.query.path();
    let mut latencies = Vec::with_capacity(requests);
    for i in 0..WARMUP + requests {
        let start = Instant::now();
        let answer = device.get(&path).await?;
        let elapsed = start.elapsed();
        let ids = answer_ids(&answer).with_context(|| format!("GET {path}"))?;
        if ids != expected {
            bail!(
                "GET {path} as {}: {} items {:?}.. but the seed says {} items {:?}..",
                shape.who,
                ids.len(),
                &ids[..ids.len().min(5)],
                expected.len(),
                &expected[..expected.len().min(5)]
            );
        }
        if i >= WARMUP {
            latencies.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Figures {
        items: expected.len(),
        matching: shape.query.matching(seed, own_team).len(),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
    })
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Print one JSON line of run `run` (counted from 0) on `backend`: `fields` and which run.
fn print_run_line(backend: Backend, run: usize, mut fields: serde_json::Value) {
    fields["bench"] = json!("review_queue");
    fields["backend"] = json!(backend.to_string());
    fields["run"] = json!(run + 1);
    println!("{fields}");
}

/// One run: a fresh database, seeded, then every shape measured.
async fn run_once(
    backend: Backend,
    args: &Args,
    run: usize,
) -> anyhow::Result<Vec<(String, String, String, Figures)>> {
    let (_db, server) = TestServer::fresh(backend).await?;
    let seed_start = Instant::now();
    let (seeded, admin, mgr) = seed(&server, args.items, 7 + run as u64).await?;
    let open = seeded.iter().filter(|i| i.status == "open").count();
    print_run_line(
        backend,
        run,
        json!({
            "seeded_items": seeded.len(),
            "open": open,
            "resolved": seeded.len() - open,
            "seed_ms": seed_start.elapsed().as_millis() as u64,
        }),
    );
    let mut out = Vec::new();
    for shape in shapes(&seeded) {
        let device = if shape.who == "admin" { &admin } else { &mgr };
        let f = measure(device, &shape, &seeded, args.requests).await?;
        print_run_line(
            backend,
            run,
            json!({
                "who": shape.who,
                "shape": shape.name,
                "path": shape.query.path(),
                "items": f.items,
                "matching": f.matching,
                "requests": args.requests,
                "p50_ms": round2(f.p50_ms),
                "p99_ms": round2(f.p99_ms),
                "max_ms": round2(f.max_ms),
            }),
        );
        out.push((
            shape.who.to_owned(),
            shape.name.to_owned(),
            shape.query.path(),
            f,
        ));
    }
    server.stop().await?;
    Ok(out)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut within = true;
    for &backend in &args.backends {
        let mut runs = Vec::new();
        for run in 0..args.runs {
            runs.push(run_once(backend, &args, run).await?);
        }
        for (k, (who, name, path, first)) in runs[0].iter().enumerate() {
            let stat = |get: fn(&Figures) -> f64| {
                let mut values: Vec<f64> = runs.iter().map(|r| get(&r[k].3)).collect();
                round2(median(&mut values))
            };
            let p99 = stat(|f| f.p99_ms);
            let ok = p99 < args.budget_ms;
            within &= ok;
            println!(
                "{}",
                json!({
                    "bench": "review_queue",
                    "stat": format!("median of {}", runs.len()),
                    "backend": backend.to_string(),
                    "who": who,
                    "shape": name,
                    "path": path,
                    "items": first.items,
                    "matching": first.matching,
                    "p50_ms": stat(|f| f.p50_ms),
                    "p99_ms": p99,
                    "max_ms": stat(|f| f.max_ms),
                    "budget_ms": args.budget_ms,
                    "within_budget": ok,
                })
            );
        }
    }
    ensure!(
        within,
        "a median p99 is over the {} ms budget",
        args.budget_ms
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    bench::main(HELP, parse_args(), run)
}
