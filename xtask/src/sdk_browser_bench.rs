//! `cargo xtask sdk-browser-bench`: the benchmark workloads W1 (cold start) and W5 (local
//! write, also with a long outbox) on the client SDK in headless Chromium: the real
//! `fieldnotes_client::Client` on wasm32, with its IndexedDB store and fetch, against the real
//! server on 127.0.0.1 (issue 11; the figures are in docs/PERFORMANCE.md).
//!
//! It starts the server (release) on a fresh SQLite database with an admin, allowing the
//! origin of the page `wasm-bindgen-test-runner` serves, then builds the SDK's benchmark
//! (`client-sdk/tests/browser_workloads.rs`, feature `browser-workloads`) for wasm32 in
//! release and runs it in Chromium. The benchmark sets up the organisation and N notes through
//! the server's API from other devices, then measures; it prints one JSON line per run and a
//! median line per workload, which are also kept in
//! `$CARGO_TARGET_DIR/sdk-browser-bench/results.jsonl`. A benchmark, not a test: neither
//! `cargo xtask test` nor CI runs it.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use anyhow::{Context as _, bail};
use fieldnotes_chromium::FLAGS;

use crate::workspace::{self, Workspace, step, write};
use crate::{browser, sdk_browser, test_server};

/// The benchmark's settings (`cargo xtask sdk-browser-bench --help`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Notes on the server for W1.
    pub n: usize,
    /// Runs of each workload (the medians are over these).
    pub runs: usize,
    /// Changes waiting to be sent before the long-outbox W5.
    pub outbox: usize,
}

/// How long the whole benchmark may run in the browser.
const TIMEOUT_SECS: &str = "3600";

/// Start the server, build the benchmark and run it in headless Chromium.
pub fn run_bench(settings: Settings) -> anyhow::Result<()> {
    if settings.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let ws = Workspace::find()?;
    workspace::ensure_wasm_target()?;
    let tools = browser::ensure()?;
    let runner = sdk_browser::ensure_runner(&ws)?;
    let dir = ws.target_dir.join("sdk-browser-bench");
    std::fs::create_dir_all(&dir)?;
    let capabilities = serde_json::json!({
        "goog:chromeOptions": { "binary": tools.chromium, "args": FLAGS },
    });
    write(
        &dir,
        "webdriver.json",
        &serde_json::to_vec_pretty(&capabilities)?,
    )?;

    // The runner serves the page from this address: the server must allow its origin.
    let page = format!("127.0.0.1:{}", test_server::free_port()?);
    let server = test_server::TestServer::start(&ws, &[format!("http://{page}")])?;

    step(&format!(
        "building the SDK's browser workloads (wasm32, release) and running them in headless \
         Chromium against {}",
        server.url
    ));
    let mut cargo = ws.cargo();
    cargo
        .args([
            "test",
            "--locked",
            "--release",
            "-p",
            "fieldnotes-client",
            "--target",
            workspace::WASM_TARGET,
            "--features",
            "browser-workloads",
            "--test",
            "browser_workloads",
            "--",
            "--nocapture",
        ])
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &runner)
        .env("CHROMEDRIVER", &tools.chromedriver)
        .env(
            "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
            dir.join("webdriver.json"),
        )
        .env("WASM_BINDGEN_TEST_TIMEOUT", TIMEOUT_SECS)
        .env("WASM_BINDGEN_TEST_ADDRESS", &page)
        .env("FIELDNOTES_BENCH_SERVER", &server.url)
        .env("FIELDNOTES_BENCH_ADMIN", &server.admin)
        .env("FIELDNOTES_BENCH_ADMIN_PASSWORD", &server.admin_password)
        .env("FIELDNOTES_BENCH_N", settings.n.to_string())
        .env("FIELDNOTES_BENCH_RUNS", settings.runs.to_string())
        .env("FIELDNOTES_BENCH_OUTBOX", settings.outbox.to_string())
        .stdout(Stdio::piped());
    let mut child = cargo.spawn().context("could not start cargo test")?;
    let stdout = child.stdout.take().context("cargo test has no stdout")?;
    // Everything the runner prints is passed on; the benchmark's JSON lines are also kept.
    let mut results = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(json) = json_line(&line) {
            results.extend_from_slice(json.as_bytes());
            results.push(b'\n');
        }
    }
    let status = child.wait()?;
    write(&dir, "results.jsonl", &results)?;
    if !status.success() {
        bail!("the browser benchmark failed ({status})");
    }
    let chromium = std::process::Command::new(&tools.chromium)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("\n{chromium}");
    step(&format!(
        "the benchmark's lines: {}",
        dir.join("results.jsonl").display()
    ));
    Ok(())
}

/// A benchmark line in the runner's output: a JSON object, possibly after a prefix.
fn json_line(line: &str) -> Option<&str> {
    let start = line.find('{')?;
    let json = line[start..].trim_end();
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .filter(|v| v.get("workload").is_some() || v.get("setup").is_some())
        .map(|_| json)
}
