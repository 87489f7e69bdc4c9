//! Signing in and out, `whoami`, unlocking the store for a command, and reading passwords.
//!
//! The store's key lives only in memory: each `fieldnotes` process that reads or writes records
//! unlocks it with the password, from FIELDNOTES_PASSWORD or a prompt that does not echo.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use fieldnotes_client::{Client, ClientError, SignIn};
use fieldnotes_protocol::auth::UserInfo;
use serde_json::json;
use zeroize::Zeroizing;

use crate::args::LoginArgs;
use crate::{EXIT_OFFLINE, Usage, WithCode};

/// Said when nobody is signed in on this device.
pub const NOT_SIGNED_IN: &str = "you are not signed in on this device: run `fieldnotes login` \
     first. Everything recorded here is kept safe (encrypted) until you do";

/// The password of the person signed in (or signing in).
const PASSWORD_ENV: &str = "FIELDNOTES_PASSWORD";
/// The password for a new person, or a reset (admins).
pub const NEW_PASSWORD_ENV: &str = "FIELDNOTES_NEW_PASSWORD";

/// Nobody is signed in; names the store's owner when there is one.
#[derive(Debug)]
pub struct NotSignedIn {
    owner: Option<String>,
}

impl std::fmt::Display for NotSignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.owner {
            Some(owner) => write!(
                f,
                "you are not signed in on this device (its records belong to {owner}): run \
                 `fieldnotes login` first. Everything recorded here is kept safe (encrypted) \
                 until you do"
            ),
            None => f.write_str(NOT_SIGNED_IN),
        }
    }
}

impl std::error::Error for NotSignedIn {}

/// Make sure the store is open in this process: the signed-in person, after unlocking with the
/// password. Not signed in is an error that says to run `fieldnotes login`.
pub async fn unlock(client: &Client) -> anyhow::Result<UserInfo> {
    let Some(user) = client.user() else {
        let owner = client.status().await?.owner.map(|o| o.username);
        return Err(NotSignedIn { owner }.into());
    };
    if !client.is_unlocked() {
        let password = password(&format!("Password for {}: ", user.username))?;
        client.unlock(&password).await?;
    }
    Ok(user)
}

pub fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether a person is at a terminal to answer questions.
fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// The password from FIELDNOTES_PASSWORD, else asked for without echo.
pub fn password(prompt: &str) -> anyhow::Result<Zeroizing<String>> {
    if let Some(pw) = env_nonempty(PASSWORD_ENV) {
        return Ok(Zeroizing::new(pw));
    }
    if !interactive() {
        bail!("no password given: set {PASSWORD_ENV}, or run fieldnotes in a terminal to be asked");
    }
    let pw = Zeroizing::new(rpassword::prompt_password(prompt).context("reading the password")?);
    if pw.is_empty() {
        bail!("no password given");
    }
    Ok(pw)
}

/// The password if one is at hand (FIELDNOTES_PASSWORD, or a prompt at a terminal); `None`
/// when there is no way to ask.
pub fn password_if_available(prompt: &str) -> anyhow::Result<Option<Zeroizing<String>>> {
    if env_nonempty(PASSWORD_ENV).is_some() || interactive() {
        password(prompt).map(Some)
    } else {
        Ok(None)
    }
}

/// A new password for someone else: FIELDNOTES_NEW_PASSWORD, else asked for twice.
pub fn new_password(for_whom: &str) -> anyhow::Result<Zeroizing<String>> {
    if let Some(pw) = env_nonempty(NEW_PASSWORD_ENV) {
        return Ok(Zeroizing::new(pw));
    }
    if !interactive() {
        bail!(
            "no password for {for_whom}: set {NEW_PASSWORD_ENV}, or run fieldnotes in a terminal \
             to be asked"
        );
    }
    let first = Zeroizing::new(
        rpassword::prompt_password(format!("New password for {for_whom}: "))
            .context("reading the password")?,
    );
    let second = Zeroizing::new(
        rpassword::prompt_password("The same password again: ").context("reading the password")?,
    );
    if first.is_empty() {
        bail!("no password given");
    }
    if *first != *second {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

/// Learn the team's rules (a short plan's point limit) while there is a connection, so that a
/// plan written later with no signal keeps to the team's own limit rather than the default.
/// Nothing the person asked for depends on it: a person in no team (an admin) has no rules to
/// learn, and a failure leaves the last ones learnt in place.
pub(crate) async fn learn_team_rules(client: &Client) {
    if let Err(e) = client.team().await {
        tracing::debug!("the team's rules were not refreshed: {e}");
    }
}

/// `fieldnotes login`.
pub async fn login(client: &Client, a: LoginArgs, json: bool) -> anyhow::Result<ExitCode> {
    let device_name = a
        .device_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(default_device_name);
    let has_server = client.status().await?.server_url.is_some();
    let signed = match sign_in(client, &a, &device_name).await {
        Ok(signed) => signed,
        // The server could not be reached and this sign-in needs it: try again when connected.
        Err(e)
            if has_server
                && matches!(
                    e.downcast_ref::<ClientError>(),
                    Some(ClientError::OfflineSignInUnavailable { .. })
                ) =>
        {
            return Err(WithCode {
                code: EXIT_OFFLINE,
                error: e,
            }
            .into());
        }
        Err(e) => return Err(e),
    };
    if signed.online {
        learn_team_rules(client).await;
    }
    let status = client.status().await?;
    if json {
        println!(
            "{}",
            json!({
                "user": signed.user,
                "online": signed.online,
                "device_id": status.device_id,
                "documents": status.documents,
                "pending_changes": status.sync.pending_changes,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", signed_in_line(&signed));
    if signed.sealed_rows > 0 {
        println!(
            "encrypted {} record(s) kept unencrypted by an earlier version",
            signed.sealed_rows
        );
    }
    println!(
        "{} document(s) on this device; {} change(s) waiting to be sent{}",
        status.documents,
        status.sync.pending_changes,
        if status.sync.pending_changes > 0 {
            " (run `fieldnotes sync`)"
        } else {
            ""
        }
    );
    if a.id_token_file.is_some() {
        eprintln!(
            "note: each later fieldnotes command unlocks this device with the password you last \
             signed in with here; if you have none, sign in with your password once"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn sign_in(client: &Client, a: &LoginArgs, device_name: &str) -> anyhow::Result<SignIn> {
    match &a.id_token_file {
        Some(path) => {
            let token = read_token(path)?;
            Ok(client.sign_in_external(&token, device_name).await?)
        }
        None => {
            let owner = client.status().await?.owner;
            let username = username(a.username.clone(), owner.as_ref())?;
            let password = password(&format!("Password for {username}: "))?;
            Ok(client.sign_in(&username, &password, device_name).await?)
        }
    }
}

fn signed_in_line(signed: &SignIn) -> String {
    let who = describe(&signed.user);
    if signed.online {
        format!("signed in as {who} (online)")
    } else {
        format!(
            "signed in as {who} (offline: the server could not be reached; your records are \
             open, and sync needs an online sign-in later: run `fieldnotes login` when connected \
             if `fieldnotes sync` asks for it)"
        )
    }
}

/// "sam (Sam Smith, social_worker, team pod-1)".
fn describe(user: &UserInfo) -> String {
    match &user.team_id {
        Some(team) => format!(
            "{} ({}, {}, team {team})",
            user.username, user.display_name, user.role
        ),
        None => format!("{} ({}, {})", user.username, user.display_name, user.role),
    }
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the identity token from {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!(
            "{} is empty: it should hold the token from your identity provider",
            path.display()
        );
    }
    Ok(token.to_owned())
}

/// `--username` (or FIELDNOTES_USERNAME), else asked, else the store's owner.
fn username(given: Option<String>, owner: Option<&UserInfo>) -> anyhow::Result<String> {
    if let Some(name) = given.filter(|n| !n.trim().is_empty()) {
        return Ok(name.trim().to_owned());
    }
    let owner = owner.map(|o| o.username.clone());
    if interactive() && std::io::stdin().is_terminal() {
        match &owner {
            Some(o) => eprint!("Username [{o}]: "),
            None => eprint!("Username: "),
        }
        std::io::stderr().flush().ok();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the username")?;
        let line = line.trim();
        if !line.is_empty() {
            return Ok(line.to_owned());
        }
    }
    owner.ok_or_else(|| {
        Usage("who is signing in? give --username NAME or set FIELDNOTES_USERNAME".into()).into()
    })
}

/// "fieldnotes CLI on HOSTNAME", or "fieldnotes CLI".
pub(crate) fn default_device_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.len() <= 64);
    match host {
        Some(host) => format!("fieldnotes CLI on {host}"),
        None => "fieldnotes CLI".to_owned(),
    }
}

/// `fieldnotes logout`.
pub async fn logout(client: &Client) -> anyhow::Result<ExitCode> {
    if client.user().is_none() {
        eprintln!("not signed in on this device; nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    // The server's session is ended only by a process holding the key (the tokens are sealed).
    // Unlock when the password is at hand without asking; otherwise the session just expires.
    if let Some(pw) = env_nonempty(PASSWORD_ENV).map(Zeroizing::new)
        && let Err(e) = client.unlock(&pw).await
    {
        tracing::info!(error = %e, "signing out on this device only");
    }
    client.sign_out().await?;
    let pending = client.pending_changes().await?;
    println!("signed out");
    if pending > 0 {
        println!(
            "{pending} change(s) not yet sent stay on this device, encrypted; `fieldnotes login` \
             brings them back"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `fieldnotes whoami`: asks the server; offline, says who this device last knew.
pub async fn whoami(client: &Client, json: bool) -> anyhow::Result<ExitCode> {
    let stored = unlock(client).await?;
    let (user, confirmed, problem) = match client.me().await {
        Ok(user) => (user, true, None),
        Err(e) if e.is_retryable() => (stored, false, None),
        Err(e @ (ClientError::SignInRequired { .. } | ClientError::SignInRefused { .. })) => {
            (stored, false, Some(e))
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        println!(
            "{}",
            json!({ "user": user, "device_id": client.device_id(), "confirmed_by_server": confirmed })
        );
    } else {
        println!("username:  {}", user.username);
        println!("name:      {}", user.display_name);
        println!("role:      {}", user.role);
        println!("team:      {}", user.team_id.as_deref().unwrap_or("-"));
        println!("user id:   {}", user.user_id);
        println!("device:    {}", client.device_id());
        if !confirmed && problem.is_none() {
            eprintln!(
                "(offline: the server could not be reached; this is who this device last knew \
                 you as)"
            );
        }
    }
    match problem {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}
