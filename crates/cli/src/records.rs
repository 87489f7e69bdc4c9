//! The record commands: new, edit and amend for the kinds, sign-off, list, show, sync and
//! status. The record lifecycle beyond editing (sign-off, amendment, deletion, history) is in
//! [`crate::lifecycle`].

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use fieldnotes_client::{Client, ClientError, ServerRestored, SyncReport};
use fieldnotes_model::{
    AboutMePatch, ContactCardPatch, DocKind, NewAboutMe, NewContactCard, NewRecord, NewShortPlan,
    NewVisitNote, NoteStatus, Patch, RuleCode, ShortPlanPatch, SubjectKind, VisitNotePatch,
};
use fieldnotes_protocol::auth::UserInfo;

use crate::args::{
    AboutMeCmd, AboutMeFields, Amend, Command, ContactCardCmd, Edit, NoteCmd, NoteFields, PlanCmd,
    PlanFields,
};
use crate::{EXIT_OFFLINE, lifecycle, output, session};

/// Run a record command for the signed-in person `user` (the store is unlocked).
pub async fn run(
    client: &Client,
    user: &UserInfo,
    command: Command,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let me = user.user_id.as_str();
    match command {
        Command::Note { command } => note(client, me, command, json).await,
        Command::AboutMe { command } => about_me(client, command, json).await,
        Command::ContactCard { command } => contact_card(client, me, command).await,
        Command::Plan { command } => plan(client, me, command, json).await,
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
            output::list(&docs, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Show(a) => {
            let mut doc = client
                .document(&a.id)
                .await?
                .ok_or_else(|| ClientError::NotFound { id: a.id.clone() })?;
            let record = doc.read()?;
            let conflicts = doc.conflicts();
            output::show(&record, &conflicts, doc.deletion().as_ref(), json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync => sync(client).await,
        Command::Withdraw(a) => withdraw(client, &a.id, json).await,
        // Dispatched in main.
        other => bail!("internal: {other:?} is not a record command"),
    }
}

async fn note(client: &Client, me: &str, command: NoteCmd, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        NoteCmd::New(a) => {
            let d = a.details;
            let record = NewRecord::VisitNote(NewVisitNote {
                child_id: a.child,
                author: me.to_owned(),
                visit_kind: a.kind,
                occurred_at: a.occurred_at.map_or_else(now_rfc3339, Ok)?,
                title: a.title,
                body: read_text(d.body, d.body_file)?,
                wishes_and_feelings: d.wishes.unwrap_or_default(),
                tags: d.tag,
                present: d.present,
                child_seen: d.child_seen,
                seen_alone: d.seen_alone,
                not_alone_reason: d.not_alone_reason,
            });
            created(client, record).await
        }
        NoteCmd::Edit(a) => edit(client, a).await,
        NoteCmd::Amend(a) => amend(client, a, json).await,
        NoteCmd::SignOff(a) => lifecycle::sign_off(client, &a.id, DocKind::VisitNote, json).await,
    }
}

/// The fields `edit` and `amend` take for a kind, as the patch they make.
trait PatchFields: Args {
    /// The patch, also setting the status when `status` is given.
    fn patch(self, status: Option<NoteStatus>) -> anyhow::Result<Patch>;
}

impl PatchFields for NoteFields {
    fn patch(self, status: Option<NoteStatus>) -> anyhow::Result<Patch> {
        let d = self.details;
        let body = match (d.body, d.body_file) {
            (None, None) => None,
            (body, file) => Some(read_text(body, file)?),
        };
        Ok(Patch::VisitNote(VisitNotePatch {
            visit_kind: self.kind,
            occurred_at: self.occurred_at,
            title: self.title,
            body,
            wishes_and_feelings: d.wishes,
            tags: (!d.tag.is_empty()).then_some(d.tag),
            present: (!d.present.is_empty()).then_some(d.present),
            child_seen: d.child_seen.map(Some),
            seen_alone: d.seen_alone.map(Some),
            not_alone_reason: d.not_alone_reason.map(Some),
            status,
        }))
    }
}

impl PatchFields for AboutMeFields {
    fn patch(self, status: Option<NoteStatus>) -> anyhow::Result<Patch> {
        Ok(Patch::AboutMe(AboutMePatch {
            fun: self.fun,
            dislikes: self.dislikes,
            important: self.important,
            how_to_help: self.how_to_help,
            status,
        }))
    }
}

impl PatchFields for PlanFields {
    fn patch(self, status: Option<NoteStatus>) -> anyhow::Result<Patch> {
        Ok(Patch::ShortPlan(ShortPlanPatch {
            points: (!self.point.is_empty()).then_some(self.point),
            review_on: self.dates.review_on.map(Some),
            planned_end: self.dates.planned_end.map(Some),
            status,
        }))
    }
}

/// `KIND edit ID ...`: `--complete` marks the record completed.
async fn edit<F: PatchFields>(client: &Client, a: Edit<F>) -> anyhow::Result<ExitCode> {
    let patch = a
        .fields
        .patch(a.complete.then_some(NoteStatus::Completed))?;
    edited(client, &a.record.id, patch).await
}

/// `KIND amend ID --reason WHY ...`.
async fn amend<F: PatchFields>(
    client: &Client,
    a: Amend<F>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let patch = a.fields.patch(None)?;
    lifecycle::amend(client, &a.id, patch, &a.reason, json).await
}

async fn about_me(client: &Client, command: AboutMeCmd, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        AboutMeCmd::New(a) => {
            let (subject_kind, subject_id) = match (a.child, a.worker) {
                (Some(child), None) => (SubjectKind::Child, child),
                (None, Some(worker)) => (SubjectKind::Worker, worker),
                _ => return Err(crate::Usage("give --child ID or --worker ID".into()).into()),
            };
            let f = a.fields;
            let record = NewRecord::AboutMe(NewAboutMe {
                subject_kind,
                subject_id,
                fun: f.fun.unwrap_or_default(),
                dislikes: f.dislikes.unwrap_or_default(),
                important: f.important.unwrap_or_default(),
                how_to_help: f.how_to_help.unwrap_or_default(),
            });
            created(client, record).await
        }
        AboutMeCmd::Edit(a) => edit(client, a).await,
        AboutMeCmd::Amend(a) => amend(client, a, json).await,
    }
}

async fn contact_card(
    client: &Client,
    me: &str,
    command: ContactCardCmd,
) -> anyhow::Result<ExitCode> {
    match command {
        ContactCardCmd::New(a) => {
            let f = a.fields;
            let record = NewRecord::ContactCard(NewContactCard {
                worker_id: a.worker.unwrap_or_else(|| me.to_owned()),
                display_name: a.name,
                picture: None,
                three_things: f.thing,
                how_to_reach: f.how_to_reach.unwrap_or_default(),
                when_to_reach: f.when_to_reach.unwrap_or_default(),
            });
            created(client, record).await
        }
        ContactCardCmd::Edit(a) => {
            let f = a.fields;
            let patch = ContactCardPatch {
                display_name: a.name,
                picture: None,
                three_things: (!f.thing.is_empty()).then_some(f.thing),
                how_to_reach: f.how_to_reach,
                when_to_reach: f.when_to_reach,
            };
            edited(client, &a.id, Patch::ContactCard(patch)).await
        }
    }
}

async fn plan(client: &Client, me: &str, command: PlanCmd, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        PlanCmd::New(a) => {
            let record = NewRecord::ShortPlan(NewShortPlan {
                child_id: a.child,
                author: me.to_owned(),
                points: a.point,
                review_on: a.dates.review_on,
                planned_end: a.dates.planned_end,
            });
            created(client, record).await
        }
        PlanCmd::Edit(a) => edit(client, a).await,
        PlanCmd::Amend(a) => amend(client, a, json).await,
        PlanCmd::SignOff(a) => lifecycle::sign_off(client, &a.id, DocKind::ShortPlan, json).await,
    }
}

async fn created(client: &Client, record: NewRecord) -> anyhow::Result<ExitCode> {
    let kind = record.kind();
    let id = client.create(record).await?;
    println!("{id}");
    eprintln!("saved new {kind} on this device; run `fieldnotes sync` to send it");
    Ok(ExitCode::SUCCESS)
}

/// Save an edit; a completed or signed-off record is refused with the way to amend it.
async fn edited(client: &Client, id: &str, patch: Patch) -> anyhow::Result<ExitCode> {
    let kind = patch.kind();
    match client.edit(id, patch).await {
        Ok(()) => {
            eprintln!("saved on this device; run `fieldnotes sync` to send it");
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Refused {
            code: RuleCode::Locked,
            message,
        }) if !message.contains("deleted") => bail!(
            "{message}: run `fieldnotes {} amend {id} --reason \"why it changes\"` with the same \
             flags (the manager sees the amendment and its reason). Nothing was saved",
            lifecycle::command_of(kind)
        ),
        Err(e) => Err(e.into()),
    }
}

async fn sync(client: &Client) -> anyhow::Result<ExitCode> {
    match client.sync().await {
        Ok(report) => {
            print_report(&report);
            crate::session::learn_team_rules(client).await;
            let held = client.sync_status().await?.held_documents;
            if held > 0 {
                println!(
                    "{held} document(s) have changes the server refused, held on this device: \
                     `fieldnotes status` lists each with the way out (`fieldnotes withdraw DOC-ID`)"
                );
                // Work is waiting that sync alone cannot deliver: not a success.
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_retryable() => {
            let pending = client.pending_changes().await?;
            eprintln!("could not sync: {e}");
            let when = match e {
                ClientError::Unreachable { .. } => "when there is a connection",
                ClientError::ServerStorage { .. } => "later (the server must be fixed first)",
                _ => "in a few minutes",
            };
            eprintln!(
                "{pending} change(s) are waiting on this device. Nothing is lost: run `fieldnotes \
                 sync` again {when}."
            );
            Ok(ExitCode::from(EXIT_OFFLINE))
        }
        // Printed by main with exit code 77 (sign-in) or 1 (revoked: the SDK wiped the store).
        Err(e) => Err(e.into()),
    }
}

fn print_report(report: &SyncReport) {
    let sync = &report.protocol;
    println!(
        "synced: sent {} change(s), {} confirmed; received {} change(s) to {} document(s) in {} \
         round trip(s)",
        sync.pushed_changes,
        report.accepted,
        sync.pulled_changes,
        sync.pulled_docs,
        sync.round_trips
    );
    if let Some(restored) = &report.server_restored {
        println!("{}", restored_notice(restored));
    }
    for r in &sync.refused {
        println!(
            "refused: document {} ({}): {}. It is kept on this device; see `fieldnotes status` \
             for the way out.",
            r.doc_id, r.code, r.reason
        );
    }
    if sync.deferred > 0 {
        println!(
            "{} document(s) will be sent again on the next sync",
            sync.deferred
        );
    }
    if !sync.removed_scopes.is_empty() {
        println!(
            "no longer yours: {} ({} document(s) removed from this device)",
            sync.removed_scopes.join(", "),
            report.removed_docs
        );
    }
    if !sync.removals_waiting.is_empty() {
        println!(
            "no longer yours, removed after your changes to them are sent: {}",
            sync.removals_waiting.join(", ")
        );
    }
}

/// Said once, on the sync that put right what a restored server had lost.
fn restored_notice(restored: &ServerRestored) -> String {
    let what = "The server had lost some recent work: it was restored from a backup, or switched \
                to a copy that missed the last changes.";
    if restored.resent_changes > 0 {
        format!(
            "{what} This device has sent its {} change(s) the server was missing again, and \
             fetched everyone's records afresh. Nothing is lost; there is nothing you need to do.",
            restored.resent_changes
        )
    } else {
        format!(
            "{what} Nothing of yours was missing from it, and this device has fetched everyone's \
             records afresh. There is nothing you need to do."
        )
    }
}

/// `fieldnotes status`: works signed out and locked; `--refused` unlocks to give reasons.
pub async fn status(client: &Client, refused: bool, json: bool) -> anyhow::Result<ExitCode> {
    let status = client.status().await?;
    // Held changes are listed with their way out whenever there are any (unlocking with the
    // password); without one, status still answers with the counts and says how to see them.
    let held = if refused || (status.sync.held_documents > 0 && status.signed_in) {
        match session::unlock(client).await {
            Ok(_) => Some(client.held_changes().await?),
            Err(e) if !refused => {
                eprintln!("could not open the records to list the held changes: {e:#}");
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    output::status(&status, held.as_deref(), json)?;
    Ok(ExitCode::SUCCESS)
}

/// `fieldnotes withdraw DOC-ID`.
async fn withdraw(client: &Client, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let done = client.withdraw(id).await?;
    if json {
        crate::ui::json_one(&serde_json::json!({
            "doc_id": done.doc_id,
            "withdrawn": done.withdrawn,
            "dependents": done.dependents,
            "released": done.released,
            "record_removed": done.record_removed,
            "export": done.export,
        }))?;
    }
    let refused = done.withdrawn.len() - done.dependents.len();
    println!(
        "withdrew {refused} refused change(s) to document {id}{}",
        if done.dependents.is_empty() {
            String::new()
        } else {
            format!(
                ", and {} change(s) made on top of them",
                done.dependents.len()
            )
        }
    );
    println!(
        "the record as it stood is saved in {}",
        done.export.display()
    );
    if done.record_removed {
        println!(
            "the record never reached the server and is removed from this device: record it \
             again (on the right child) from that file"
        );
    }
    if done.released > 0 {
        println!(
            "{} earlier change(s) to it are no longer held: run `fieldnotes sync` to send them",
            done.released
        );
    }
    Ok(ExitCode::SUCCESS)
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
        (Some(_), Some(_)) => {
            Err(crate::Usage("give --body or --body-file, not both".into()).into())
        }
    }
}

/// Now, in whole seconds, RFC 3339.
fn now_rfc3339() -> anyhow::Result<String> {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0)?;
    Ok(now.format(&time::format_description::well_known::Rfc3339)?)
}
