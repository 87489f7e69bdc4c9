//! `cargo xtask browser-bench`: the client SDK's store operations on IndexedDB and on SQLite
//! over OPFS, and Argon2id, measured in headless Chromium (issue 11; the figures are in
//! docs/PERFORMANCE.md and the choice in docs/ARCHITECTURE.md).
//!
//! It builds `browser-bench/` (a workspace of its own) for wasm32 in release, generates the JS
//! glue, serves the page on 127.0.0.1 with a small server of its own, and opens it in a fresh
//! headless Chromium once per run. The page POSTs its figures back; the xtask prints each run
//! and the medians.

mod http;
mod report;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::browser;
use crate::workspace::{WASM_TARGET, Workspace, ensure_wasm_target, run, step, write};
use http::Report;

/// The benchmark's folder, relative to the workspace root.
const CRATE_DIR: &str = "browser-bench";
/// The wasm the page runs, and the size probes (baseline first).
const BENCH: &str = "fieldnotes_browser_bench";
const PROBES: [(&str, &str); 3] = [
    ("none (baseline)", "fieldnotes_bench_weight_base"),
    ("IndexedDB", "fieldnotes_bench_weight_idb"),
    ("SQLite on OPFS", "fieldnotes_bench_weight_sqlite"),
];
const STATIC_FILES: [&str; 3] = ["index.html", "bench.js", "worker.js"];
/// How long one run may take before it counts as failed.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// The Debian packages that compile SQLite's C for wasm32.
const C_PACKAGES: [&str; 2] = ["clang", "llvm"];

/// Build, run `runs` times, and print the figures.
pub fn run_bench(runs: usize) -> anyhow::Result<()> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let ws = Workspace::find()?;
    ensure_wasm_target()?;
    ensure_clang()?;
    let tools = browser::ensure()?;
    let out = ws.target_dir.join(CRATE_DIR);
    let site = build(&ws, &out)?;
    let sizes = probe_sizes(&out)?;
    let chromium_version = version_of(&tools.chromium)?;
    let server = http::start(site)?;
    let mut all = Vec::with_capacity(runs);
    for n in 1..=runs {
        step(&format!("run {n} of {runs} in headless Chromium"));
        let reports = run_once(&tools.chromium, &server, &out.join(format!("profile-{n}")))?;
        report::print_run(n, &reports)?;
        all.push(reports);
    }
    let summary = report::summary(&all)?;
    let results = serde_json::json!({
        "chromium": chromium_version,
        "sizes": report::sizes_json(&sizes),
        "runs": all.iter().map(|r| serde_json::json!(r)).collect::<Vec<_>>(),
    });
    write(
        &out,
        "results.json",
        serde_json::to_string_pretty(&results)?.as_bytes(),
    )?;
    println!("\nChromium: {chromium_version}");
    println!("{}", report::sizes_table(&sizes));
    println!("{summary}");
    step(&format!(
        "every figure of every run: {}",
        out.join("results.json").display()
    ));
    Ok(())
}

/// SQLite's C is compiled with clang (and archived with llvm-ar) for wasm32.
fn ensure_clang() -> anyhow::Result<()> {
    let found = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if found("clang") && found("llvm-ar") {
        return Ok(());
    }
    browser::apt_install(&C_PACKAGES, || {
        format!(
            "clang and llvm-ar are needed to compile SQLite for wasm32: install them with \
             `sudo apt-get install -y {}`",
            C_PACKAGES.join(" ")
        )
    })
}

/// One cargo build of the benchmark's workspace, then the JS glue of each wasm; gives the
/// folder the page is served from.
fn build(ws: &Workspace, out: &Path) -> anyhow::Result<PathBuf> {
    step(&format!(
        "building {CRATE_DIR}/ for {WASM_TARGET} (release, the field app's size settings)"
    ));
    let manifest = ws.root.join(CRATE_DIR).join("Cargo.toml");
    let mut cargo = ws.cargo();
    cargo
        .args([
            "build",
            "--locked",
            "--release",
            "--workspace",
            "--target",
            WASM_TARGET,
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(out)
        .env("CC_wasm32_unknown_unknown", "clang")
        .env("AR_wasm32_unknown_unknown", "llvm-ar");
    run(&mut cargo)?;
    step("generating the JS glue (wasm-bindgen-cli-support)");
    let site = out.join("site");
    glue(out, BENCH, &site)?;
    for (_, stem) in PROBES {
        glue(out, stem, &out.join("probes").join(stem))?;
    }
    for name in STATIC_FILES {
        let from = ws.root.join(CRATE_DIR).join("static").join(name);
        std::fs::copy(&from, site.join(name))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(site)
}

/// Generate `stem`'s JS glue into `dir` (emptied first).
fn glue(out: &Path, stem: &str, dir: &Path) -> anyhow::Result<()> {
    let wasm = out
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{stem}.wasm"));
    crate::app::glue(&wasm, dir)
}

/// The gzip size of each probe's wasm and JS.
fn probe_sizes(out: &Path) -> anyhow::Result<Vec<report::Size>> {
    PROBES
        .iter()
        .map(|&(engine, stem)| {
            let dir = out.join("probes").join(stem);
            let wasm = std::fs::read(dir.join(format!("{stem}_bg.wasm")))?;
            let js = std::fs::read(dir.join(format!("{stem}.js")))?;
            Ok(report::Size {
                engine: engine.to_owned(),
                wasm: wasm.len(),
                wasm_gzip: crate::app::gzip_len(&wasm)?,
                js: js.len(),
                js_gzip: crate::app::gzip_len(&js)?,
            })
        })
        .collect()
}

fn version_of(program: &Path) -> anyhow::Result<String> {
    let output = Command::new(program)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", program.display()))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// One run: a fresh profile, the page until it reports done; gives each phase's figures.
fn run_once(
    chromium: &Path,
    server: &http::Server,
    profile: &Path,
) -> anyhow::Result<Vec<serde_json::Value>> {
    if profile.exists() {
        std::fs::remove_dir_all(profile)?;
    }
    std::fs::create_dir_all(profile)?;
    let url = format!("http://127.0.0.1:{}/index.html?phase=write", server.port);
    let browser = Browser::start(chromium, profile, &url)?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut phases = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match server.reports.recv_timeout(left) {
            Ok(Report::Result(value)) => phases.push(value),
            Ok(Report::Done) => break,
            Ok(Report::Error(error)) => bail!("the benchmark page failed: {error}"),
            Err(_) => bail!("the benchmark page did not finish within {RUN_TIMEOUT:?}"),
        }
    }
    drop(browser);
    std::fs::remove_dir_all(profile)?;
    Ok(phases)
}

/// Headless Chromium, leading a process group of its own, ended (group and all) on drop.
#[derive(Debug)]
struct Browser(Child);

impl Browser {
    fn start(chromium: &Path, profile: &Path, url: &str) -> anyhow::Result<Browser> {
        use std::os::unix::process::CommandExt as _;
        let child = Command::new(chromium)
            .args(fieldnotes_chromium::FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", chromium.display()))?;
        Ok(Browser(child))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}
