//! `fieldnotes doctor` (what is damaged in the store, what can be saved, how to carry on) and
//! `fieldnotes import` (queue the saved changes in a fresh store).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use fieldnotes_client::{Client, Export, OutboxSalvage, StoreCheck, StoreState, check};

use crate::args::DoctorArgs;
use crate::session;

/// `fieldnotes doctor`.
pub async fn doctor(
    dir: &Path,
    a: &DoctorArgs,
    server_flag: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let report = checked(dir).await?;
    match report.state {
        StoreState::Absent => {
            println!(
                "no store in {}: nothing to check (a first `fieldnotes login` makes one)",
                dir.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        StoreState::Healthy => {
            print_sound(&report);
            return Ok(ExitCode::SUCCESS);
        }
        StoreState::Damaged => {}
    }
    print_damage(&report);
    let export_path = match report.export() {
        Some(export) => Some(save_export(dir, a, &report, export)?),
        None => {
            print_nothing_saved(report.outbox.as_ref());
            None
        }
    };
    println!();
    print_steps(dir, &report, export_path.as_deref(), server_flag);
    Ok(ExitCode::FAILURE)
}

/// The store checked; sealed changes are opened with the password to make sure they are whole,
/// when it is at hand (without it they are saved as they are).
async fn checked(dir: &Path) -> anyhow::Result<StoreCheck> {
    let report = check(dir, None).await?;
    let sealed = report
        .export()
        .is_some_and(|e| e.changes.iter().any(|c| c.sealed));
    if !sealed {
        return Ok(report);
    }
    let who = report
        .owner
        .as_ref()
        .map(|o| o.username.clone())
        .unwrap_or_else(|| "this device's owner".into());
    match session::password_if_available(&format!("Password for {who}: "))? {
        Some(pw) => Ok(check(dir, Some(&pw)).await?),
        None => Ok(report),
    }
}

fn print_sound(report: &StoreCheck) {
    println!("store: {}", report.store_path.display());
    println!("state: sound (SQLite's integrity check found no damage)");
    if let Some(outbox) = &report.outbox {
        println!(
            "changes waiting to be sent: {} (`fieldnotes sync` sends them)",
            outbox.readable
        );
    }
}

fn print_damage(report: &StoreCheck) {
    println!("store: {}", report.store_path.display());
    println!("state: DAMAGED");
    for d in &report.damage {
        println!("  - {d}");
    }
    if let Some(owner) = &report.owner {
        println!(
            "owner: {} (device {})",
            owner.username,
            report.device_id.as_deref().unwrap_or("unknown")
        );
    }
}

/// Write the readable changes to `--export FILE` (or next to the data folder) and say how many
/// were saved and lost.
fn save_export(
    dir: &Path,
    a: &DoctorArgs,
    report: &StoreCheck,
    export: &Export,
) -> anyhow::Result<PathBuf> {
    let path = a.export.clone().unwrap_or_else(|| default_export_path(dir));
    export.write_to(&path).with_context(|| {
        format!(
            "saving the changes not yet sent to {} (give another place with --export FILE)",
            path.display()
        )
    })?;
    // An export is read from the outbox, so its counts are there; without them, the export's
    // own count, unchecked.
    let outbox = match report.outbox {
        Some(outbox) => outbox,
        None => OutboxSalvage {
            readable: u64::try_from(export.changes.len())?,
            unreadable: 0,
            verified: false,
        },
    };
    println!(
        "saved {} change(s) not yet sent to {}{}",
        outbox.readable,
        path.display(),
        if outbox.verified {
            ""
        } else {
            " (not checked: no password was given; they are saved encrypted as stored)"
        }
    );
    if outbox.unreadable > 0 {
        println!(
            "could not save up to {} change(s): their part of the file is corrupt",
            outbox.unreadable
        );
    }
    Ok(path)
}

/// Why nothing was saved.
fn print_nothing_saved(outbox: Option<&OutboxSalvage>) {
    match outbox {
        Some(o) if o.unreadable > 0 => println!(
            "no change waiting to be sent could be read (up to {} are lost on this device)",
            o.unreadable
        ),
        Some(_) => println!("no changes were waiting to be sent: nothing to save"),
        None => println!(
            "the changes waiting to be sent cannot be read from this file: work not yet synced \
             from this device cannot be recovered here (what the server already has is safe)"
        ),
    }
}

/// `DIR.export-20261202T010203.json`, next to the data folder.
fn default_export_path(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".export-{}.json", stamp()));
    PathBuf::from(name)
}

fn stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// A path quoted for a POSIX shell when it needs it.
fn quoted(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@,".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn print_steps(dir: &Path, report: &StoreCheck, export: Option<&Path>, server: Option<&str>) {
    let mut aside = dir.as_os_str().to_owned();
    aside.push(format!(".damaged-{}", stamp()));
    let aside = PathBuf::from(aside);
    let server = server
        .map(str::to_owned)
        .or_else(|| report.server_url.clone())
        .unwrap_or_else(|| "URL".into());
    let dir_q = quoted(dir);
    println!("To carry on:");
    println!("  1. Move the damaged folder aside (keep it: nothing in it is deleted):");
    println!("       mv {dir_q} {}", quoted(&aside));
    match export {
        Some(export) => {
            println!(
                "  2. In a fresh folder at the same place, sign in again as the same device and \
                 queue the saved changes:"
            );
            println!(
                "       fieldnotes --data-dir {dir_q} --server {server} import {}",
                quoted(export)
            );
            println!("  3. Send them, and fetch everything the server has:");
            println!("       fieldnotes --data-dir {dir_q} sync");
        }
        None => {
            let user = report
                .owner
                .as_ref()
                .map(|o| format!(" --username {}", o.username))
                .unwrap_or_default();
            println!("  2. Sign in again in a fresh folder at the same place:");
            println!("       fieldnotes --data-dir {dir_q} --server {server} login{user}");
            println!("  3. Fetch everything the server has:");
            println!("       fieldnotes --data-dir {dir_q} sync");
        }
    }
}

/// `fieldnotes import FILE`.
pub async fn import(client: &Client, file: &Path, export: &Export) -> anyhow::Result<ExitCode> {
    let password = session::password(&format!("Password for {}: ", export.user.username))?;
    if client.user().is_none() {
        let signed = client
            .sign_in(
                &export.user.username,
                &password,
                &session::default_device_name(),
            )
            .await?;
        eprintln!(
            "signed in as {} ({})",
            signed.user.username,
            if signed.online { "online" } else { "offline" }
        );
    } else if !client.is_unlocked() {
        client.unlock(&password).await?;
    }
    // The saved changes build on the records' history: fetch it first.
    match client.sync().await {
        Ok(_) => {}
        Err(e) if e.is_retryable() => eprintln!("could not fetch the records first: {e}"),
        Err(e) => return Err(e.into()),
    }
    let report = client.import(export, &password).await?;
    println!(
        "queued {} change(s) from {}; run `fieldnotes sync` to send them",
        report.queued,
        file.display()
    );
    if !report.waiting.is_empty() {
        println!(
            "{} document(s) need their earlier history from the server first: run `fieldnotes \
             sync`, then `fieldnotes import {}` again ({})",
            report.waiting.len(),
            quoted(file),
            report.waiting.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
