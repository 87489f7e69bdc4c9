//! `fieldnotes`: record, read and sync field notes from a terminal.
//!
//! Everything is written to the device's local store first; `fieldnotes sync` sends it when
//! there is a connection. Exit codes: 0 success, 1 error, 2 a usage error, 75 (EX_TEMPFAIL)
//! sync could not reach the server (the work is safe on the device and will be sent next time).

mod args;
mod output;

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use fieldnotes_client::{Client, ClientError};
use fieldnotes_model::{
    AboutMePatch, ContactCardPatch, NewAboutMe, NewContactCard, NewRecord, NewShortPlan,
    NewVisitNote, NoteStatus, Patch, ShortPlanPatch, SubjectKind, VisitNotePatch,
};

use args::{AboutMeCmd, Cli, Command, ContactCardCmd, NoteCmd, PlanCmd};

/// Exit code when the server could not be reached: nothing failed on the device, try again
/// later (sysexits' EX_TEMPFAIL).
const EXIT_OFFLINE: u8 = 75;

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
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dir = data_dir(cli.data_dir)?;
    let mut builder = Client::builder(&dir);
    if let Some(server) = &cli.server {
        builder = builder.server_url(server);
    }
    let client = builder.open().await?;
    let author = cli.user;
    match cli.command {
        Command::Note { command } => match command {
            NoteCmd::New(a) => {
                let body = read_text(a.body, a.body_file)?;
                let record = NewRecord::VisitNote(NewVisitNote {
                    child_id: a.child,
                    author: author_or(&author)?,
                    visit_kind: a.kind,
                    occurred_at: a.occurred_at.unwrap_or_else(now_rfc3339),
                    title: a.title,
                    body,
                    wishes_and_feelings: a.wishes.unwrap_or_default(),
                    tags: a.tag,
                    present: a.present,
                    child_seen: a.child_seen,
                    seen_alone: a.seen_alone,
                    not_alone_reason: a.not_alone_reason,
                });
                created(&client, record).await
            }
            NoteCmd::Edit(a) => {
                let body = match (a.body, a.body_file) {
                    (None, None) => None,
                    (body, file) => Some(read_text(body, file)?),
                };
                let patch = VisitNotePatch {
                    child_id: a.child,
                    visit_kind: a.kind,
                    occurred_at: a.occurred_at,
                    title: a.title,
                    body,
                    wishes_and_feelings: a.wishes,
                    tags: (!a.tag.is_empty()).then_some(a.tag),
                    present: (!a.present.is_empty()).then_some(a.present),
                    child_seen: a.child_seen.map(Some),
                    seen_alone: a.seen_alone.map(Some),
                    not_alone_reason: a.not_alone_reason.map(Some),
                    status: a.complete.then_some(NoteStatus::Completed),
                };
                edited(&client, &a.id, Patch::VisitNote(patch)).await
            }
        },
        Command::AboutMe { command } => match command {
            AboutMeCmd::New(a) => {
                let record = NewRecord::AboutMe(NewAboutMe {
                    subject_kind: if a.worker.is_some() {
                        SubjectKind::Worker
                    } else {
                        SubjectKind::Child
                    },
                    subject_id: a
                        .child
                        .or(a.worker)
                        .context("give --child ID or --worker ID")?,
                    fun: a.fun.unwrap_or_default(),
                    dislikes: a.dislikes.unwrap_or_default(),
                    important: a.important.unwrap_or_default(),
                    how_to_help: a.how_to_help.unwrap_or_default(),
                });
                created(&client, record).await
            }
            AboutMeCmd::Edit(a) => {
                let patch = AboutMePatch {
                    fun: a.fun,
                    dislikes: a.dislikes,
                    important: a.important,
                    how_to_help: a.how_to_help,
                    status: a.complete.then_some(NoteStatus::Completed),
                };
                edited(&client, &a.id, Patch::AboutMe(patch)).await
            }
        },
        Command::ContactCard { command } => match command {
            ContactCardCmd::New(a) => {
                let record = NewRecord::ContactCard(NewContactCard {
                    worker_id: a.worker.map_or_else(|| author_or(&author), Ok)?,
                    display_name: a.name,
                    picture: None,
                    three_things: a.thing,
                    how_to_reach: a.how_to_reach.unwrap_or_default(),
                    when_to_reach: a.when_to_reach.unwrap_or_default(),
                });
                created(&client, record).await
            }
            ContactCardCmd::Edit(a) => {
                let patch = ContactCardPatch {
                    display_name: a.name,
                    picture: None,
                    three_things: (!a.thing.is_empty()).then_some(a.thing),
                    how_to_reach: a.how_to_reach,
                    when_to_reach: a.when_to_reach,
                };
                edited(&client, &a.id, Patch::ContactCard(patch)).await
            }
        },
        Command::Plan { command } => match command {
            PlanCmd::New(a) => {
                let record = NewRecord::ShortPlan(NewShortPlan {
                    child_id: a.child,
                    author: author_or(&author)?,
                    points: a.point,
                    review_on: a.review_on,
                    planned_end: a.planned_end,
                });
                created(&client, record).await
            }
            PlanCmd::Edit(a) => {
                let patch = ShortPlanPatch {
                    points: (!a.point.is_empty()).then_some(a.point),
                    review_on: a.review_on.map(Some),
                    planned_end: a.planned_end.map(Some),
                    status: a.complete.then_some(NoteStatus::Completed),
                };
                edited(&client, &a.id, Patch::ShortPlan(patch)).await
            }
        },
        Command::List(a) => {
            let docs = client.list(a.kind).await?;
            let docs: Vec<_> = docs
                .into_iter()
                .filter(|d| {
                    a.child
                        .as_deref()
                        .is_none_or(|c| d.child_id.as_deref() == Some(c))
                })
                .collect();
            output::list(&docs, a.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Show(a) => {
            let record = client
                .get(&a.id)
                .await?
                .ok_or_else(|| ClientError::NotFound { id: a.id.clone() })?;
            let conflicts = client.conflicts(&a.id).await?;
            output::show(&record, &conflicts, a.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync => sync(&client).await,
        Command::Status(a) => {
            let status = client.status().await?;
            let rejections = client.rejections().await?;
            output::status(&status, &rejections, a.json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn created(client: &Client, record: NewRecord) -> anyhow::Result<ExitCode> {
    let kind = record.kind();
    let id = client.create(record).await?;
    println!("{id}");
    eprintln!("saved new {kind} on this device; run `fieldnotes sync` to send it");
    Ok(ExitCode::SUCCESS)
}

async fn edited(client: &Client, id: &str, patch: Patch) -> anyhow::Result<ExitCode> {
    client.edit(id, patch).await?;
    eprintln!("saved on this device; run `fieldnotes sync` to send it");
    Ok(ExitCode::SUCCESS)
}

async fn sync(client: &Client) -> anyhow::Result<ExitCode> {
    match client.sync().await {
        Ok(report) => {
            println!(
                "synced: sent {} change(s), {} confirmed; received {} change(s) to {} document(s) \
                 in {} round trip(s)",
                report.pushed_changes,
                report.accepted,
                report.pulled_changes,
                report.pulled_docs,
                report.round_trips
            );
            for r in &report.rejected {
                println!(
                    "refused: document {} ({}): {}. It is kept on this device; edit it to send it again.",
                    r.doc_id, r.code, r.reason
                );
            }
            if report.deferred > 0 {
                println!(
                    "{} document(s) will be sent again on the next sync",
                    report.deferred
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_retryable() => {
            let pending = client.pending_changes().await?;
            eprintln!("could not sync: {e}");
            eprintln!(
                "{pending} change(s) are waiting on this device. Nothing is lost: run `fieldnotes \
                 sync` again when there is a connection."
            );
            Ok(ExitCode::from(EXIT_OFFLINE))
        }
        Err(e) => Err(e.into()),
    }
}

fn author_or(author: &Option<String>) -> anyhow::Result<String> {
    match author {
        Some(a) if !a.trim().is_empty() => Ok(a.clone()),
        _ => bail!("who is recording? give --user ID or set FIELDNOTES_USER"),
    }
}

/// Text from `--body`, or from `--body-file` (`-` for standard input).
fn read_text(text: Option<String>, file: Option<PathBuf>) -> anyhow::Result<String> {
    match (text, file) {
        (Some(text), None) => Ok(text),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the body from standard input")?;
            Ok(text)
        }
        (None, Some(path)) => std::fs::read_to_string(&path)
            .with_context(|| format!("reading the body from {}", path.display())),
        (None, None) => Ok(String::new()),
        (Some(_), Some(_)) => bail!("give --body or --body-file, not both"),
    }
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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
