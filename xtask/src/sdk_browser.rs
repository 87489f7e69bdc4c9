//! `cargo xtask sdk-browser-test`: the client SDK's tests in real headless Chromium, through
//! `wasm-bindgen-test`: the store conformance suite (the guarantees of
//! `client-sdk/src/store/conformance.rs`) against the browser store (IndexedDB), and the sync
//! conformance suite (`client-sdk/src/conformance.rs`) over it against the real server.
//!
//! For the sync suite it starts `fieldnotes-server` on 127.0.0.1 ([`TestServer`]), with CORS
//! open to the test runner's page, whose address it fixes (`WASM_BINDGEN_TEST_ADDRESS`) so
//! that the origin is known before the server starts. The tests are built with the server's
//! address and its admin (`FIELDNOTES_CONFORMANCE_*`, read at compile time, so the SDK's
//! tests are rebuilt each run); the server is killed when they end, pass or fail.
//!
//! `cargo xtask test` (and so CI) runs it after the workspace's tests. It needs
//! `wasm-bindgen-test-runner`, which comes only with the `wasm-bindgen-cli` crate (a few
//! minutes to build), so it is found on PATH or installed here into `$CARGO_TARGET_DIR/tools`
//! once.

use std::path::{Path, PathBuf};
use std::process::Command;

use fieldnotes_chromium::FLAGS;

use crate::browser;
use crate::test_server::{self, TestServer};
use crate::workspace::{self, Workspace, run, step};

/// The wasm-bindgen release in Cargo.lock: the test runner must be the same one, exactly (as
/// the `wasm-bindgen-cli-support` pin in the workspace's Cargo.toml).
const WASM_BINDGEN_VERSION: &str = "0.2.130";
const RUNNER: &str = "wasm-bindgen-test-runner";

/// Start the server, build the SDK's tests for wasm32 and run them in headless Chromium.
pub fn run_suite(test_args: &[String]) -> anyhow::Result<()> {
    let ws = Workspace::find()?;
    workspace::ensure_wasm_target()?;
    let tools = browser::ensure()?;
    let runner = ensure_runner(&ws)?;
    // The runner starts ChromeDriver and asks it for Chromium with these capabilities (it adds
    // `headless` itself).
    let dir = ws.target_dir.join("sdk-browser");
    std::fs::create_dir_all(&dir)?;
    let capabilities = serde_json::json!({
        "goog:chromeOptions": { "binary": tools.chromium, "args": FLAGS },
    });
    workspace::write(
        &dir,
        "webdriver.json",
        &serde_json::to_vec_pretty(&capabilities)?,
    )?;
    // The runner's page, and so the origin the server lets call it.
    let page = format!("127.0.0.1:{}", test_server::free_port()?);
    let server = TestServer::start(&ws, &[format!("http://{page}")])?;
    step("running the SDK's conformance suites in headless Chromium");
    let mut cargo = ws.cargo();
    cargo
        .args([
            "test",
            "--locked",
            "-p",
            "fieldnotes-client",
            "--target",
            "wasm32-unknown-unknown",
            "--lib",
        ])
        .args(test_args)
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &runner)
        .env("CHROMEDRIVER", &tools.chromedriver)
        .env(
            "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
            dir.join("webdriver.json"),
        )
        .env("WASM_BINDGEN_TEST_ADDRESS", &page)
        .env("FIELDNOTES_CONFORMANCE_SERVER", &server.url)
        .env("FIELDNOTES_CONFORMANCE_ADMIN", &server.admin)
        .env(
            "FIELDNOTES_CONFORMANCE_ADMIN_PASSWORD",
            &server.admin_password,
        )
        // For the whole run, every test together.
        .env("WASM_BINDGEN_TEST_TIMEOUT", "600");
    let result = run(&mut cargo);
    drop(server);
    result
}

/// `wasm-bindgen-test-runner` of [`WASM_BINDGEN_VERSION`]: installed here before, or on PATH,
/// or installed now (with `cargo install`) into `$CARGO_TARGET_DIR/tools`.
pub(crate) fn ensure_runner(ws: &Workspace) -> anyhow::Result<PathBuf> {
    let root = ws.target_dir.join("tools");
    let installed = root.join("bin").join(RUNNER);
    for candidate in [installed.clone(), PathBuf::from(RUNNER)] {
        if version_of(&candidate).as_deref() == Some(WASM_BINDGEN_VERSION) {
            return Ok(candidate);
        }
    }
    step(&format!(
        "installing wasm-bindgen-cli {WASM_BINDGEN_VERSION} (for its test runner) into {}",
        root.display()
    ));
    let mut cargo = ws.cargo();
    cargo
        .args([
            "install",
            "wasm-bindgen-cli",
            "--version",
            WASM_BINDGEN_VERSION,
        ])
        .arg("--root")
        .arg(&root);
    run(&mut cargo)?;
    Ok(installed)
}

/// The version a wasm-bindgen program says it is (`wasm-bindgen-test-runner 0.2.130`).
fn version_of(program: &Path) -> Option<String> {
    let output = Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().nth(1).map(str::to_owned)
}
