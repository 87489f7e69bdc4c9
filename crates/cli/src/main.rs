//! `fieldnotes`: record, read and sync field notes from a terminal, and run the team's
//! administration (teams, people, devices, children, allocations, referrals, audit).
//!
//! Everything is written to the device's local store first, encrypted; `fieldnotes sync` sends
//! it when there is a connection. `fieldnotes login` signs in (online the first time, offline
//! afterwards); every later command that touches records unlocks the store with the password
//! (FIELDNOTES_PASSWORD, else a prompt that does not echo): the key is never written to disk.
//!
//! Exit codes:
//!
//! * 0: done.
//! * 1: an error; the message says what to do. Includes: not signed in (run `fieldnotes
//!   login`), a wrong password, a change this device refuses before saving it because the
//!   server would (a deletion or sign-off by someone who is not a manager, an edit to a locked
//!   record, a child not theirs), a sync that leaves changes the server refused held on the
//!   device (`fieldnotes status` gives the way out), and a device revoked by an administrator
//!   (its records have been removed).
//! * 2: a usage error (clap's, or a combination of flags the command cannot act on).
//! * 75 (EX_TEMPFAIL): the server could not be reached (by sync, an admin command, or a sign-in
//!   that needs it), or its own storage failed (full, read-only: the message says which).
//!   Nothing is lost; recorded work stays on the device and is sent by the next sync.
//!
//! A damaged store (empty, overwritten, corrupt) is refused by every command with exit code 1
//! and a message naming the damage; `fieldnotes doctor` says what can be saved and how to carry
//! on, and `fieldnotes import` queues what it saved.
//! * 77 (EX_NOPERM): the server needs the person to sign in again, or refused the sign-in (or
//!   this device can only be opened after a sign-in with the password): run `fieldnotes login`
//!   while connected.

mod admin;
mod admin_args;
mod args;
mod doctor;
mod lifecycle;
mod output;
mod records;
mod review;
mod review_args;
mod session;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Parser;
use fieldnotes_client::{Client, ClientError, PasswordKdf};
use fieldnotes_protocol::auth::UserInfo;

use args::{Cli, Command};

/// A usage error found after parsing (exit code 2).
const EXIT_USAGE: u8 = 2;
/// The server could not be reached: nothing failed on the device, try again later (sysexits'
/// EX_TEMPFAIL).
pub(crate) const EXIT_OFFLINE: u8 = 75;
/// The server needs a new sign-in, or refused one (sysexits' EX_NOPERM).
pub(crate) const EXIT_SIGN_IN: u8 = 77;

/// Hidden, for tests only: when set to `1`, the key derived from the password at sign-in uses
/// [`PasswordKdf::insecure_fast_for_tests`] (tiny Argon2 cost) instead of the real one, so a
/// test suite can sign in dozens of times. Never set it for real use: it makes a copied store
/// cheap to attack. Not shown in `--help`.
const INSECURE_FAST_KDF_ENV: &str = "FIELDNOTES_INSECURE_FAST_KDF";

/// An error the person fixes by changing the command line (exit code 2).
#[derive(Debug)]
pub(crate) struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// An error whose exit code the command chose (for an SDK error that means different things in
/// different commands).
#[derive(Debug)]
pub(crate) struct WithCode {
    pub code: u8,
    pub error: anyhow::Error,
}

impl std::fmt::Display for WithCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for WithCode {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = if cli.verbose { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FIELDNOTES_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

/// Print an error and choose its exit code.
fn report(e: &anyhow::Error) -> ExitCode {
    if let Some(with) = e.downcast_ref::<WithCode>() {
        eprintln!("error: {with}");
        return ExitCode::from(with.code);
    }
    let client = e.chain().find_map(|c| c.downcast_ref::<ClientError>());
    if e.chain().any(|c| c.downcast_ref::<Usage>().is_some()) {
        eprintln!("error: {e:#}");
        return ExitCode::from(EXIT_USAGE);
    }
    match client {
        Some(ClientError::SignedOut) => {
            eprintln!("error: {}", session::NOT_SIGNED_IN);
            ExitCode::FAILURE
        }
        Some(c) if c.is_retryable() => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_OFFLINE)
        }
        Some(
            ClientError::SignInRequired { .. }
            | ClientError::SignInRefused { .. }
            | ClientError::OfflineSignInUnavailable { .. },
        ) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_SIGN_IN)
        }
        _ => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dir = data_dir(cli.data_dir)?;
    // The store check works on a folder whose store cannot be opened.
    if let Command::Doctor(a) = &cli.command {
        return doctor::doctor(&dir, a, cli.server.as_deref()).await;
    }
    let mut builder = Client::builder(&dir);
    // An import carries on as the device whose changes it holds.
    let import = match &cli.command {
        Command::Import(a) => Some(fieldnotes_client::Export::read_from(&a.file)?),
        _ => None,
    };
    if let Some(export) = &import {
        builder = builder.device_identity(&export.device_id, &export.actor_id);
        if cli.server.is_none()
            && let Some(url) = &export.server_url
        {
            builder = builder.server_url(url);
        }
    }
    if let Some(server) = &cli.server {
        builder = builder.server_url(server);
    }
    if std::env::var(INSECURE_FAST_KDF_ENV).is_ok_and(|v| v == "1") {
        builder = builder.password_kdf(PasswordKdf::insecure_fast_for_tests());
    }
    let client = builder.open().await?;
    let json = cli.json;
    let result = command(&client, cli.command, import, json).await;
    // Fold the write-ahead log into the store file before the process ends.
    client.close().await;
    result
}

async fn command(
    client: &Client,
    command: Command,
    import: Option<fieldnotes_client::Export>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Login(a) => session::login(client, a, json).await,
        Command::Logout => session::logout(client).await,
        Command::Whoami => session::whoami(client, json).await,
        Command::Status(a) => records::status(client, a.refused, json).await,
        Command::Import(a) => match import {
            Some(export) => doctor::import(client, &a.file, &export).await,
            None => bail!("no export to import"),
        },
        Command::Doctor(_) => bail!("doctor runs before the store is opened"),
        command => {
            let user = session::unlock(client).await?;
            unlocked(client, &user, command, json).await
        }
    }
}

/// A command that needs the store unlocked, run for the signed-in `user`.
async fn unlocked(
    client: &Client,
    user: &UserInfo,
    command: Command,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Admin { command } => admin::admin(client, command, json).await,
        Command::Child { command } => admin::child(client, command, json).await,
        Command::Access { command } => admin::access(client, command, json).await,
        Command::Audit(a) => admin::audit(client, a, json).await,
        Command::Review { command } => review::review(client, command, json).await,
        Command::History(a) => lifecycle::history(client, a, json).await,
        Command::Diff(a) => lifecycle::diff(client, a, json).await,
        Command::Delete(a) => lifecycle::delete(client, &a.record.id, &a.reason, json).await,
        command => records::run(client, user, command, json).await,
    }
}

/// `--data-dir`, else `$XDG_DATA_HOME/fieldnotes`, else `~/.local/share/fieldnotes`.
fn data_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("fieldnotes"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/fieldnotes")),
        None => {
            bail!("cannot tell where to keep data: give --data-dir DIR or set FIELDNOTES_DATA_DIR")
        }
    }
}
