//! Helpers for the CLI tests: a device (data folder and password) that runs the real
//! `fieldnotes` binary, and a server with the standard team.

// Each test file uses its own part of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Output, Stdio};

use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer};
use tokio::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_fieldnotes");
/// Nothing listens on the discard port.
pub const DOWN: &str = "http://127.0.0.1:9";
/// A password the server accepts for people the admin adds (at least 10 characters).
pub const NEW_PASSWORD: &str = "a brand new password";

/// One device: a data folder, and the password its CLI processes unlock with.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub password: String,
}

impl Device {
    pub fn new() -> Device {
        Device::with_password(PASSWORD)
    }

    pub fn with_password(password: &str) -> Device {
        Device {
            dir: tempfile::tempdir().unwrap(),
            password: password.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub async fn run(&self, server: &str, args: &[&str]) -> Output {
        self.run_env(server, &[], args).await
    }

    /// Run with extra environment (which may override the password).
    pub async fn run_env(&self, server: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("FIELDNOTES_DATA_DIR", self.path())
            .env("FIELDNOTES_SERVER", server)
            .env("FIELDNOTES_PASSWORD", &self.password)
            .env("FIELDNOTES_INSECURE_FAST_KDF", "1")
            .env_remove("FIELDNOTES_LOG")
            .env_remove("FIELDNOTES_USERNAME")
            .env_remove("FIELDNOTES_NEW_PASSWORD")
            .stdin(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().await.expect("the fieldnotes binary runs")
    }

    /// Run and insist it succeeds.
    pub async fn ok(&self, server: &str, args: &[&str]) -> Output {
        let out = self.run(server, args).await;
        assert!(
            out.status.success(),
            "{args:?} failed ({:?}): {}",
            out.status.code(),
            stderr(&out)
        );
        out
    }

    /// Run and insist it fails with exit code `code`, saying `needle` (see [`assert_fails`]).
    pub async fn fails(&self, server: &str, args: &[&str], code: i32, needle: &str) -> Output {
        let out = self.run(server, args).await;
        assert_fails(&out, code, needle);
        out
    }

    pub async fn login(&self, server: &str, username: &str) -> Output {
        let out = self.ok(server, &["login", "--username", username]).await;
        assert!(stdout(&out).contains("(online)"), "{}", stdout(&out));
        out
    }

    /// A new device with `username` signed in on it (online).
    pub async fn signed_in(server: &str, username: &str) -> Device {
        let device = Device::new();
        device.login(server, username).await;
        device
    }

    /// Record one document and return its id.
    pub async fn record(&self, server: &str, args: &[&str]) -> String {
        let out = self.ok(server, args).await;
        assert!(stderr(&out).contains("saved"), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    }

    /// Record a visit note about `child` titled `title` (see [`note_args`]) and return its id.
    pub async fn new_note(&self, server: &str, child: &str, title: &str) -> String {
        self.record(server, &note_args(child, title)).await
    }

    /// The ids (and child ids) of the documents `list --json` shows.
    pub async fn listed(&self, server: &str) -> Vec<(String, Option<String>)> {
        let out = self.ok(server, &["list", "--json"]).await;
        stdout(&out)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["id"].as_str().unwrap().to_owned(),
                    v["child_id"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A social worker (sw-a) and their manager (mgr), each signed in on a device of their own.
pub async fn worker_and_manager(server: &str) -> (Device, Device) {
    (
        Device::signed_in(server, "sw-a").await,
        Device::signed_in(server, "mgr").await,
    )
}

/// A fresh SQLite database and a server on it with the standard team (see `Org::standard`),
/// and the server's URL.
pub async fn standard_server(children: usize) -> (TestDb, TestServer, String) {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let server = TestServer::start(&db.url).await.unwrap();
    server.org().standard(children).await.unwrap();
    let url = server.url();
    (db, server, url)
}

pub fn note_args<'a>(child: &'a str, title: &'a str) -> Vec<&'a str> {
    vec![
        "note",
        "new",
        "--child",
        child,
        "--kind",
        "home_visit",
        "--title",
        title,
        "--body",
        "We talked about school.",
    ]
}

/// `plan new` for `child` with one point.
pub fn plan_args<'a>(child: &'a str, point: &'a str) -> Vec<&'a str> {
    vec!["plan", "new", "--child", child, "--point", point]
}

pub fn assert_fails(out: &Output, code: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(
        stderr(out).contains(needle),
        "wanted {needle:?}: {}",
        stderr(out)
    );
}

/// `text` (what a command printed) contains `needle`; shows the text if not.
#[track_caller]
pub fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "no {needle:?} in:\n{text}");
}

/// `text` (what a command printed) does not contain `needle`; shows the text if it does.
#[track_caller]
pub fn assert_lacks(text: &str, needle: &str) {
    assert!(!text.contains(needle), "{needle:?} in:\n{text}");
}
