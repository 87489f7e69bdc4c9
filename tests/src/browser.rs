//! Real headless Chromium for the browser tests, driven over WebDriver: a chromedriver of the
//! test's own on an ephemeral 127.0.0.1 port, Chromium with a fresh profile folder, and
//! fantoccini. Each [`Browser`] is separate, so browser tests run in parallel, each against a
//! server of its own.
//!
//! Chromium and ChromeDriver come from Debian's packages (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; `FIELDNOTES_CHROMIUM` and `FIELDNOTES_CHROMEDRIVER` name others;
//! `fieldnotes-chromium` holds these and the flags, shared with `cargo xtask`),
//! and the app from `cargo xtask app` (`FIELDNOTES_APP_DIR`). `cargo xtask test` sees to all
//! three. A browser test never skips: without them it fails and says to run `cargo xtask test`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use fieldnotes_chromium::{CHROMEDRIVER, CHROMIUM, FLAGS, Program};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The variable naming the built app's folder (the server's `--app-dir` reads the same one).
pub const APP_DIR_VAR: &str = "FIELDNOTES_APP_DIR";

/// What to do when something the browser tests need is missing.
const RUN_XTASK: &str = "run the tests with `cargo xtask test`: it installs Chromium and \
    ChromeDriver if they are missing (as root, from Debian's packages chromium and \
    chromium-driver) and builds the app";

/// How long a wait for the page lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// The built app's folder, from [`APP_DIR_VAR`].
pub fn app_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os(APP_DIR_VAR)
        .map(PathBuf::from)
        .with_context(|| {
            format!("{APP_DIR_VAR} is not set, so there is no app to test: {RUN_XTASK}")
        })?;
    if !dir.join("index.html").is_file() {
        bail!(
            "{APP_DIR_VAR}={} holds no built app: {RUN_XTASK}",
            dir.display()
        );
    }
    Ok(dir)
}

/// Where the tests save screenshots: `docs/screenshots`, committed with the code.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
}

/// The size of the page's viewport, in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
}

impl Viewport {
    /// A phone held upright.
    pub const PHONE: Viewport = Viewport {
        width: 360,
        height: 640,
    };
    /// A school laptop.
    pub const LAPTOP: Viewport = Viewport {
        width: 1280,
        height: 800,
    };

    /// Emulated as a phone: touch, and the page's `<meta name="viewport">` honoured.
    fn is_phone(self) -> bool {
        self.width < 600
    }
}

impl fmt::Display for Viewport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// Whether Chromium lets sites keep data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    Allowed,
    Refused,
}

/// One headless Chromium with its own chromedriver and profile folder.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    /// chromedriver, leading a process group of its own that holds Chromium too.
    driver: Child,
    viewport: Viewport,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver and Chromium, with the page's viewport `viewport`.
    pub async fn start(viewport: Viewport) -> anyhow::Result<Browser> {
        Browser::launch(viewport, Storage::Allowed, None).await
    }

    /// Start Chromium with its profile (every site's storage) in the folder `profile`: on a
    /// small disk of the test's own, a full disk is a full phone.
    pub async fn start_with_profile_in(
        viewport: Viewport,
        profile: &Path,
    ) -> anyhow::Result<Browser> {
        Browser::launch(viewport, Storage::Allowed, Some(profile)).await
    }

    /// Start a Chromium whose settings let no site keep data (Chromium's "Don't allow sites
    /// to save data", as a person, a managed laptop's policy or a locked-down kiosk sets it):
    /// IndexedDB, local storage and service workers are all refused.
    pub async fn start_refusing_storage(viewport: Viewport) -> anyhow::Result<Browser> {
        Browser::launch(viewport, Storage::Refused, None).await
    }

    async fn launch(
        viewport: Viewport,
        storage: Storage,
        profile_in: Option<&Path>,
    ) -> anyhow::Result<Browser> {
        let chromium = program(CHROMIUM)?;
        let profile = match profile_in {
            Some(dir) => tempfile::tempdir_in(dir)?,
            None => tempfile::tempdir()?,
        };
        if storage == Storage::Refused {
            // The setting lives in the profile's preferences, read as Chromium starts.
            let default = profile.path().join("Default");
            std::fs::create_dir_all(&default)?;
            std::fs::write(
                default.join("Preferences"),
                json!({ "profile": { "default_content_setting_values": { "cookies": 2 } } })
                    .to_string(),
            )?;
        }
        let (driver, port) = start_driver(&program(CHROMEDRIVER)?).await?;
        let mut args: Vec<String> = FLAGS.iter().map(|&flag| flag.to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!(
            "--window-size={},{}",
            viewport.width, viewport.height
        ));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        // Keep the page's console, for the message of a failed wait.
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("starting Chromium through chromedriver")?;
        let browser = Browser {
            client,
            driver,
            viewport,
            _profile: profile,
        };
        browser
            .cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({
                    "width": viewport.width,
                    "height": viewport.height,
                    "deviceScaleFactor": 1,
                    "mobile": viewport.is_phone(),
                }),
            )
            .await?;
        Ok(browser)
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn viewport(&self) -> Viewport {
        self.viewport
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        Ok(self.client.goto(url).await?)
    }

    pub async fn reload(&self) -> anyhow::Result<()> {
        Ok(self.client.refresh().await?)
    }

    /// Run `script` (a function body: `return ...`) in the page and give back its result.
    pub async fn eval(&self, script: &str) -> anyhow::Result<Value> {
        Ok(self.client.execute(script, Vec::new()).await?)
    }

    /// Wait for the promise `promise` (an expression) in the page and give back its value.
    pub async fn eval_async(&self, promise: &str) -> anyhow::Result<Value> {
        let script = format!(
            "const done = arguments[arguments.length - 1];\
             Promise.resolve({promise}).then(done, (e) => done({{ error: String(e) }}));"
        );
        Ok(self.client.execute_async(&script, Vec::new()).await?)
    }

    /// Wait until the expression `condition` is true in the page; after [`WAIT`] fail, saying
    /// `what` was awaited and what the page shows.
    pub async fn wait_for(&self, what: &str, condition: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        let script = format!("try {{ return !!({condition}); }} catch (e) {{ return false; }}");
        while Instant::now() < deadline {
            // A page being reloaded cannot run scripts for a moment: try again.
            if let Ok(Value::Bool(true)) = self.eval(&script).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let shown = self.text("body").await.unwrap_or_else(|e| format!("({e})"));
        let console = self
            .console()
            .await
            .unwrap_or_else(|e| vec![format!("({e})")]);
        bail!("waited {WAIT:?} for {what}; the page shows {shown:?}; its console: {console:#?}")
    }

    /// The text of the first element `css` selects.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("finding {css}"))?;
        Ok(element.text().await?)
    }

    /// Cut the page's network (`offline`), or give it back: Chromium's own network emulation
    /// (DevTools' "Offline"), so `navigator.onLine` turns false, the `offline` event fires and
    /// the page's requests fail as with no signal. It covers the page's requests, not the
    /// service worker's own fetches; to be sure nothing is reached, also stop the server.
    pub async fn set_offline(&self, offline: bool) -> anyhow::Result<()> {
        self.cdp("Network.enable", json!({})).await?;
        self.cdp(
            "Network.emulateNetworkConditions",
            json!({
                "offline": offline,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": -1,
            }),
        )
        .await?;
        Ok(())
    }

    /// Send a Chrome DevTools Protocol command to the page (chromedriver's `goog/cdp/execute`).
    pub async fn cdp(&self, command: &str, params: Value) -> anyhow::Result<Value> {
        let body = json!({ "cmd": command, "params": params });
        self.client
            .issue_cmd(DriverCommand::post("goog/cdp/execute", body))
            .await
            .with_context(|| format!("DevTools command {command}"))
    }

    /// What the page has written to its console since the last call (errors included), one
    /// line per entry.
    pub async fn console(&self) -> anyhow::Result<Vec<String>> {
        let entries = self
            .client
            .issue_cmd(DriverCommand::post("se/log", json!({ "type": "browser" })))
            .await
            .context("reading the browser's console")?;
        Ok(entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| format!("{} {}", entry["level"], entry["message"]))
            .collect())
    }

    /// Save the page as `docs/screenshots/<name>-<width>x<height>.png`; gives back the path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}-{}.png", self.viewport));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// End the session (chromedriver closes Chromium), then chromedriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let closed = self.client.clone().close().await;
        self.driver.kill().await?;
        Ok(closed?)
    }
}

impl Drop for Browser {
    /// A test that fails leaves no browser behind: chromedriver's whole process group goes.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Where `which` is; an error saying how to get it when it is missing.
fn program(which: Program) -> anyhow::Result<PathBuf> {
    let path = which.path();
    if !path.is_file() {
        bail!(
            "{} not found (set {} to use another): {RUN_XTASK}",
            path.display(),
            which.var
        );
    }
    Ok(path)
}

/// Start chromedriver on a port the system picks, and read that port from what it prints.
async fn start_driver(chromedriver: &Path) -> anyhow::Result<(Child, u16)> {
    let mut driver = Command::new(chromedriver)
        .args(["--port=0", "--log-level=WARNING"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", chromedriver.display()))?;
    let stdout = driver.stdout.take().context("chromedriver has no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(port) = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
            {
                return Ok(port);
            }
        }
        bail!("chromedriver exited before it listened")
    })
    .await
    .context("chromedriver did not say which port it listens on")??;
    // Keep reading, so chromedriver never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((driver, port))
}

/// A chromedriver command WebDriver does not define: `POST /session/{id}/<path>`.
#[derive(Debug)]
struct DriverCommand {
    path: &'static str,
    body: Value,
}

impl DriverCommand {
    fn post(path: &'static str, body: Value) -> Self {
        Self { path, body }
    }
}

impl WebDriverCompatibleCommand for DriverCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        // Without a session chromedriver answers "invalid session id", which names the fault.
        let session = session_id.unwrap_or("none");
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// The variable naming axe-core's `axe.min.js` (`cargo xtask test` fetches it once with npm).
pub const AXE_VAR: &str = "FIELDNOTES_AXE_JS";

/// The accessibility rules' failures of the impacts a person is stopped by: serious and
/// critical.
const SERIOUS: &str = "axe.run(document, { resultTypes: ['violations'] }).then((r) => \
    r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => \
    ({ rule: v.id, impact: v.impact, help: v.help, where: v.nodes.map((n) => n.target.join(' ')) })))";

impl Browser {
    /// Run axe-core in the page as it is now and give back its serious and critical
    /// violations (rule, impact, help and the elements), empty when there are none.
    pub async fn serious_accessibility_failures(&self) -> anyhow::Result<Vec<Value>> {
        let loaded = self.eval("return typeof window.axe === 'object';").await?;
        if loaded != Value::Bool(true) {
            let path = std::env::var_os(AXE_VAR)
                .map(PathBuf::from)
                .with_context(|| {
                    format!("{AXE_VAR} is not set, so axe-core cannot be run: {RUN_XTASK}")
                })?;
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("{AXE_VAR}={}: {RUN_XTASK}", path.display()))?;
            self.eval(&format!("{source}\n;return typeof window.axe;"))
                .await?;
        }
        match self.eval_async(SERIOUS).await? {
            Value::Array(failures) => Ok(failures),
            other => bail!("axe-core did not run: {other}"),
        }
    }
}
