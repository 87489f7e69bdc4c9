//! `cargo xtask`: the project's build steps, in Rust, with no npm (the alias is in
//! `.cargo/config.toml`).
//!
//! - `cargo xtask app` builds the field app (`crates/app`) for wasm32 in release, generates its
//!   JS glue with the `wasm-bindgen-cli-support` library and writes the whole app shell into
//!   `$CARGO_TARGET_DIR/app` (default `target/app`).
//! - `cargo xtask serve [-- SERVER FLAGS]` builds the app, then runs the server serving it.
//! - `cargo xtask test [-- CARGO TEST ARGS]` makes sure the wasm target, Chromium and
//!   ChromeDriver are there (and axe-core, fetched once with npm for the accessibility
//!   tests), builds the app, then runs `cargo test --workspace --locked` with
//!   `FIELDNOTES_APP_DIR` naming the built app, then the SDK's store conformance suite in
//!   Chromium (as `sdk-browser-test`).
//! - `cargo xtask browser-bench [--runs N]` builds `browser-bench/` and runs it in headless
//!   Chromium: the browser store's candidate engines and Argon2id (see its module).
//! - `cargo xtask sdk-browser-test [-- CARGO TEST ARGS]` runs the client SDK's store
//!   conformance suite against its browser store (IndexedDB) in headless Chromium, through
//!   `wasm-bindgen-test` (see its module). `cargo xtask test` runs it too.

mod app;
mod axe;
mod browser;
mod browser_bench;
mod icons;
mod sdk_browser;
mod sdk_browser_bench;
mod test_server;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fieldnotes_chromium::{CHROMEDRIVER, CHROMIUM};

/// Fieldnotes build steps.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the field app into $CARGO_TARGET_DIR/app (default target/app).
    App,
    /// Build the field app, then run the server (release) serving it; flags after `--` go to
    /// the server.
    Serve {
        #[arg(last = true)]
        server_args: Vec<String>,
    },
    /// Install what the tests need if it is missing, build the field app, then run every test
    /// (`cargo test --workspace --locked`, then the SDK's store conformance suite in headless
    /// Chromium); arguments after `--` go to the first `cargo test`.
    Test {
        #[arg(last = true)]
        test_args: Vec<String>,
    },
    /// Benchmark the browser store's candidate engines (IndexedDB; SQLite on OPFS in a
    /// dedicated worker) and Argon2id in headless Chromium, and print the figures.
    ///
    /// Builds browser-bench/ (its own workspace and lock file) for wasm32 in release, serves
    /// it on 127.0.0.1 and opens it in a fresh headless Chromium per run. Installs Chromium,
    /// and clang with llvm-ar (which compile SQLite for wasm32), with apt-get when missing and
    /// run as root. Prints each run, then a Markdown table of the medians for
    /// docs/PERFORMANCE.md; every figure goes to $CARGO_TARGET_DIR/browser-bench/results.json.
    /// A benchmark, not a test: neither `cargo xtask test` nor CI runs it.
    #[command(name = "browser-bench")]
    BrowserBench {
        /// How many runs, each in a fresh browser profile (the tables give their medians).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Run the client SDK's store conformance suite against the browser store (IndexedDB) in
    /// headless Chromium (`cargo test -p fieldnotes-client --target wasm32-unknown-unknown`
    /// with `wasm-bindgen-test-runner`, found on PATH or installed into
    /// $CARGO_TARGET_DIR/tools); arguments after `--` go to `cargo test`. `cargo xtask test`
    /// (and so CI) runs it after the workspace's tests.
    #[command(name = "sdk-browser-test")]
    SdkBrowserTest {
        #[arg(last = true)]
        test_args: Vec<String>,
    },
    /// Benchmark the client SDK in headless Chromium against the real server: W1 (cold start
    /// of a new device) and W5 (an edit's latency up to its durable IndexedDB write, also
    /// with a long outbox), and print the figures.
    ///
    /// Starts the server on 127.0.0.1 with a fresh SQLite database, builds the SDK's
    /// benchmark (`client-sdk/tests/browser_workloads.rs`) for wasm32 in release and runs it
    /// with `wasm-bindgen-test-runner`. Prints one JSON line per run and a median line per
    /// workload, also kept in $CARGO_TARGET_DIR/sdk-browser-bench/results.jsonl. A benchmark,
    /// not a test: neither `cargo xtask test` nor CI runs it.
    #[command(name = "sdk-browser-bench")]
    SdkBrowserBench {
        /// Notes on the server for W1 (written by the manager's other device).
        #[arg(long, default_value_t = 2000)]
        n: usize,
        /// Runs of each workload (the median lines are over these).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Changes waiting to be sent before the long-outbox W5.
        #[arg(long, default_value_t = 2000)]
        outbox: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::App => workspace::Workspace::find().and_then(|ws| app::build(&ws).map(drop)),
        Command::Serve { server_args } => serve(&server_args),
        Command::Test { test_args } => test(&test_args),
        Command::BrowserBench { runs } => browser_bench::run_bench(runs),
        Command::SdkBrowserTest { test_args } => sdk_browser::run_suite(&test_args),
        Command::SdkBrowserBench { n, runs, outbox } => {
            sdk_browser_bench::run_bench(sdk_browser_bench::Settings { n, runs, outbox })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask serve`.
fn serve(server_args: &[String]) -> anyhow::Result<()> {
    let ws = workspace::Workspace::find()?;
    let built = app::build(&ws)?;
    workspace::step("starting the server (release build), serving the app");
    let mut cargo = ws.cargo();
    cargo
        .args([
            "run",
            "--locked",
            "--release",
            "-p",
            "fieldnotes-server",
            "--",
        ])
        .arg("--app-dir")
        .arg(&built.dir)
        .args(server_args);
    workspace::run(&mut cargo)
}

/// `cargo xtask test`.
fn test(test_args: &[String]) -> anyhow::Result<()> {
    let ws = workspace::Workspace::find()?;
    workspace::ensure_wasm_target()?;
    let tools = browser::ensure()?;
    let axe = axe::ensure(&ws)?;
    let built = app::build(&ws)?;
    workspace::step("running the tests: cargo test --workspace --locked --no-fail-fast");
    let mut cargo = ws.cargo();
    cargo
        .args(["test", "--workspace", "--locked", "--no-fail-fast"])
        .args(test_args)
        .env(app::APP_DIR_VAR, &built.dir)
        .env(CHROMIUM.var, &tools.chromium)
        .env(CHROMEDRIVER.var, &tools.chromedriver)
        .env(axe::AXE_VAR, &axe);
    let workspace_tests = workspace::run(&mut cargo);
    // The browser store's conformance suite runs even when a test above failed, so that one
    // run reports both; either failing fails the whole.
    let browser_store = sdk_browser::run_suite(&[]);
    workspace_tests.and(browser_store)
}
