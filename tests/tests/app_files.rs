//! The server serves the field app's folder (`--app-dir`) at `/`: each file with its content
//! type, `Cache-Control: no-cache` and the page's content security policy; and the API answers
//! exactly as it does without the app.

use std::path::Path;

use fieldnotes_protocol::{ErrorBody, ErrorCode};
use fieldnotes_server::web::{APP_CACHE_CONTROL, APP_CONTENT_SECURITY_POLICY};
use fieldnotes_tests::server::test_config;
use fieldnotes_tests::{Backend, TestDb, TestServer};
use reqwest::StatusCode;

/// A folder shaped like `cargo xtask app`'s output, with small stand-in files.
fn app_folder() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    for (name, body) in [
        ("index.html", "<!doctype html><title>Fieldnotes</title>"),
        ("sw.js", "self.addEventListener('fetch', () => {});"),
        (
            "boot.js",
            "import init from './fieldnotes_app.js'; await init();",
        ),
        (
            "fieldnotes_app.js",
            "export default async function init() {}",
        ),
        ("fieldnotes_app_bg.wasm", "\0asm\u{1}\0\0\0"),
        ("manifest.webmanifest", r#"{"name": "Fieldnotes"}"#),
        ("app.css", "body { margin: 0; }"),
        ("icon-192.png", "\u{89}PNG"),
    ] {
        std::fs::write(dir.path().join(name), body)?;
    }
    Ok(dir)
}

async fn server(app_dir: Option<&Path>) -> anyhow::Result<(TestDb, TestServer)> {
    let db = TestDb::new(Backend::Sqlite).await?;
    let mut config = test_config(&db.url);
    config.app_dir = app_dir.map(Path::to_path_buf);
    config.validate()?;
    let server = TestServer::start_with_config(&config).await?;
    Ok((db, server))
}

fn header<'a>(answer: &'a reqwest::Response, name: &str) -> &'a str {
    answer
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("(none)")
}

/// Check the cache and policy headers an answer carries (`None`: no such header).
fn assert_app_headers(
    answer: &reqwest::Response,
    cache_control: &str,
    policy: Option<&str>,
    what: &str,
) {
    assert_eq!(header(answer, "cache-control"), cache_control, "{what}");
    assert_eq!(
        header(answer, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(
        header(answer, "content-security-policy"),
        policy.unwrap_or("(none)"),
        "{what}"
    );
}

#[tokio::test]
async fn each_file_is_sent_with_its_content_type_and_revalidated() -> anyhow::Result<()> {
    let dir = app_folder()?;
    let (_db, server) = server(Some(dir.path())).await?;
    let http = reqwest::Client::new();
    for (path, content_type) in [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/sw.js", "text/javascript"),
        ("/boot.js", "text/javascript"),
        ("/fieldnotes_app.js", "text/javascript"),
        ("/fieldnotes_app_bg.wasm", "application/wasm"),
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/app.css", "text/css"),
        ("/icon-192.png", "image/png"),
    ] {
        let answer = http.get(format!("{}{path}", server.url())).send().await?;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        assert!(
            header(&answer, "content-type").starts_with(content_type),
            "{path}: {}",
            header(&answer, "content-type")
        );
        assert_app_headers(
            &answer,
            APP_CACHE_CONTROL,
            Some(APP_CONTENT_SECURITY_POLICY),
            path,
        );
    }
    let page = http.get(server.url()).send().await?;
    let modified = header(&page, "last-modified").to_owned();
    assert_eq!(
        page.text().await?,
        "<!doctype html><title>Fieldnotes</title>"
    );
    // Asked again, an unchanged file is not sent again.
    let again = http
        .get(server.url())
        .header("if-modified-since", &modified)
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, "cache-control"), APP_CACHE_CONTROL);
    server.stop().await
}

#[tokio::test]
async fn the_wasm_is_sent_compressed_when_the_browser_asks() -> anyhow::Result<()> {
    let dir = app_folder()?;
    std::fs::write(
        dir.path().join("fieldnotes_app_bg.wasm"),
        vec![0u8; 64 * 1024],
    )?;
    let (_db, server) = server(Some(dir.path())).await?;
    // reqwest asks for gzip and undoes it; look at the raw answer instead.
    let http = reqwest::Client::builder().no_gzip().build()?;
    let answer = http
        .get(format!("{}/fieldnotes_app_bg.wasm", server.url()))
        .header("accept-encoding", "gzip")
        .send()
        .await?;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(header(&answer, "content-encoding"), "gzip");
    assert_eq!(header(&answer, "content-type"), "application/wasm");
    assert!(answer.bytes().await?.len() < 64 * 1024);
    server.stop().await
}

/// Two servers, one serving the app and one not, to compare their answers.
struct WithAndWithout {
    with_app: TestServer,
    without_app: TestServer,
    _kept: (tempfile::TempDir, TestDb, TestDb),
}

impl WithAndWithout {
    async fn start() -> anyhow::Result<Self> {
        let dir = app_folder()?;
        let (with_db, with_app) = server(Some(dir.path())).await?;
        let (without_db, without_app) = server(None).await?;
        Ok(Self {
            with_app,
            without_app,
            _kept: (dir, with_db, without_db),
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.with_app.stop().await?;
        self.without_app.stop().await
    }
}

#[tokio::test]
async fn the_api_answers_as_without_the_app() -> anyhow::Result<()> {
    let servers = WithAndWithout::start().await?;
    let http = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/healthz"),
        (reqwest::Method::GET, "/v1/me"),
        (reqwest::Method::POST, "/v1/sync"),
        (reqwest::Method::GET, "/v1/sync"),
        (reqwest::Method::GET, "/v1/no-such-endpoint"),
    ] {
        let [with, without] = [&servers.with_app, &servers.without_app].map(|server| {
            http.request(method.clone(), format!("{}{path}", server.url()))
                .send()
        });
        let (with, without) = (with.await?, without.await?);
        assert_eq!(with.status(), without.status(), "{method} {path}");
        assert_app_headers(&with, "no-store", None, &format!("{method} {path}"));
    }
    servers.stop().await
}

#[tokio::test]
async fn a_path_that_is_neither_an_endpoint_nor_a_file_is_not_found() -> anyhow::Result<()> {
    let servers = WithAndWithout::start().await?;
    let (with_app, without_app) = (servers.with_app.url(), servers.without_app.url());
    let http = reqwest::Client::new();
    for (method, url) in [
        (reqwest::Method::GET, format!("{with_app}/no-such-file.js")),
        (
            reqwest::Method::GET,
            format!("{with_app}/assets/missing.png"),
        ),
        (reqwest::Method::POST, format!("{with_app}/index.html")),
        (reqwest::Method::GET, format!("{without_app}/")),
        (reqwest::Method::GET, format!("{without_app}/index.html")),
    ] {
        let answer = http.request(method.clone(), &url).send().await?;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{method} {url}");
        let body: ErrorBody = answer.json().await?;
        assert_eq!(
            body.error_code(),
            Some(ErrorCode::NotFound),
            "{method} {url}"
        );
    }
    servers.stop().await
}

/// A page served from another address may call the API only when its origin was named with
/// `--cors-origin`: its preflight is answered with the methods and headers the SDK uses, and
/// its calls carry `Access-Control-Allow-Origin`; any other origin gets no such header, so the
/// browser keeps the answer from the page.
#[tokio::test]
async fn only_a_named_origin_may_call_the_api_from_a_browser() -> anyhow::Result<()> {
    const NAMED: &str = "http://127.0.0.1:8123";
    let db = TestDb::new(Backend::Sqlite).await?;
    let mut config = test_config(&db.url);
    config.cors_origin = vec![reqwest::header::HeaderValue::from_static(NAMED)];
    config.validate()?;
    let named = TestServer::start_with_config(&config).await?;
    let (_db, unnamed) = server(None).await?;
    let http = reqwest::Client::new();
    let preflight = |base: String, origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, format!("{base}/v1/sync"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,content-encoding",
            )
            .send()
    };

    let answer = preflight(named.url(), NAMED).await?;
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(header(&answer, "access-control-allow-origin"), NAMED);
    let allowed = header(&answer, "access-control-allow-headers").to_ascii_lowercase();
    for name in ["authorization", "content-type", "content-encoding"] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
    assert!(header(&answer, "access-control-allow-methods").contains("POST"));
    assert_eq!(
        header(&answer, "access-control-allow-credentials"),
        "(none)"
    );

    // A plain call from the named origin is readable by its page.
    let answer = http
        .get(format!("{}/healthz", named.url()))
        .header("origin", NAMED)
        .send()
        .await?;
    assert_eq!(header(&answer, "access-control-allow-origin"), NAMED);

    // Another origin, or any origin where none was named: nothing allows the page to read.
    for (base, origin) in [
        (named.url(), "http://127.0.0.1:9999"),
        (unnamed.url(), NAMED),
    ] {
        let answer = preflight(base.clone(), origin).await?;
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            "(none)",
            "{origin} calling {base}"
        );
    }
    Ok(())
}
