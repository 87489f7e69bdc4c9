//! Command-line arguments: the global flags, signing in, and the record commands. The admin and
//! manager commands are in [`crate::admin_args`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use fieldnotes_model::{DocKind, NotAloneReason, VisitKind};
use fieldnotes_protocol::admin::AuditQuery;

use crate::admin_args::{AccessCmd, AdminCmd, ChildCmd};
use crate::review_args::{DeleteArgs, DiffArgs, ReviewCmd};

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Record visit notes, "about me" profiles, contact cards and short plans, with or without a
/// connection, and sync them with the Fieldnotes server.
///
/// Start with `fieldnotes --server URL login`. Everything is saved on this device first,
/// encrypted with a key only your password opens; `fieldnotes sync` sends it when there is a
/// connection; with none, it says so and keeps everything for next time. Each command that
/// reads or writes records unlocks them with your password: it is read from FIELDNOTES_PASSWORD
/// if set, otherwise asked for (never shown). If a command says the store is damaged,
/// `fieldnotes doctor` says what can be saved and how to carry on.
///
/// Exit codes: 0 done; 1 an error (the message says what to do; this includes being signed
/// out, a wrong password, a refusal by the server, and a device revoked by an administrator,
/// whose records have been removed); 2 a usage error (a flag or value the command does not
/// take); 75 (EX_TEMPFAIL) the server could not be reached, or its storage failed: nothing is
/// lost, everything stays on this device, try again later; 77 (EX_NOPERM) the server needs you to sign in
/// (again) or refused the sign-in: run `fieldnotes login` while connected.
#[derive(Debug, Parser)]
#[command(name = "fieldnotes", version, propagate_version = true)]
pub struct Cli {
    /// Folder holding this device's store [default: ~/.local/share/fieldnotes]
    #[arg(long, global = true, env = "FIELDNOTES_DATA_DIR", value_name = "DIR", help_heading = GLOBAL)]
    pub data_dir: Option<PathBuf>,

    /// The sync server, e.g. http://127.0.0.1:7878 (remembered after the first use)
    #[arg(long, global = true, env = "FIELDNOTES_SERVER", value_name = "URL", help_heading = GLOBAL)]
    pub server: Option<String>,

    /// Print JSON (one object per line for lists) instead of text, for scripts
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// Show what sync is doing
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in on this device (with a connection the first time; offline afterwards)
    Login(LoginArgs),
    /// Sign out: your records stay on this device, encrypted, until you sign in again
    Logout,
    /// Who is signed in on this device (asks the server; says so when it cannot)
    Whoami,
    /// Visit notes: record, edit, amend after completion, sign off
    Note {
        #[command(subcommand)]
        command: NoteCmd,
    },
    /// "About me" profiles of a child (or a worker)
    AboutMe {
        #[command(subcommand)]
        command: AboutMeCmd,
    },
    /// Contact cards: how a child can reach their worker
    ContactCard {
        #[command(subcommand)]
        command: ContactCardCmd,
    },
    /// Short plans (as many points as your team allows, three unless it set another limit): record, edit, amend after completion, sign off
    Plan {
        #[command(subcommand)]
        command: PlanCmd,
    },
    /// List the documents on this device, most recently changed first
    List(ListArgs),
    /// Show one document in full: its status, any deletion, and any conflicting values
    Show(DocArg),
    /// Delete a record filed in error, saying why (managers and admins; the record and its
    /// history are kept, marked deleted); then run `fieldnotes sync`
    Delete(DeleteArgs),
    /// Every version of a document, numbered, with who changed what, where and when (asks the
    /// server)
    History(DocArg),
    /// What changed in one field between two versions, word by word (asks the server)
    Diff(DiffArgs),
    /// The review queue: conflicts, amendments and merges a person must decide (managers:
    /// their team's; admins: all)
    Review {
        #[command(subcommand)]
        command: ReviewCmd,
    },
    /// Send this device's work and fetch everyone else's (exit code 75 if the server cannot be
    /// reached, nothing is lost; 77 if you need to sign in again; 1 if changes the server
    /// refused are held on this device: `fieldnotes status` gives the way out)
    Sync,
    /// This device: who it belongs to, sign-in, server, documents, changes waiting to be sent
    /// (needs no password), and each change the server refused with the way out (unlocks
    /// with your password when there is one)
    Status(StatusArgs),
    /// Take back the change(s) to a document that the server refused, so your other changes
    /// to it are sent
    ///
    /// The server refuses a document's changes together: when one change breaks a rule (a
    /// deletion by someone who is not a manager, a note for a child who is not yours), your
    /// earlier changes to that document wait with it. `withdraw` takes back the refused
    /// change(s), and any change you made on top of them, and undoes them on this device; your
    /// other changes to the document are sent by the next `fieldnotes sync`. Before anything
    /// is taken back, the record as it stood is saved to a file in the data folder
    /// (`withdrawn/`), whose path is printed, so nothing is lost. A record whose first change is
    /// taken back (a note filed on a mistyped child id) is removed from this device: record it
    /// again on the right child from that file. `fieldnotes status` lists what is held and
    /// what `withdraw` would take back.
    Withdraw(WithdrawArgs),
    /// Administrators: teams, people, devices and the quarantine
    Admin {
        #[command(subcommand)]
        command: AdminCmd,
    },
    /// Children: add, allocate, refer to a youth worker, open outside your allocation
    Child {
        #[command(subcommand)]
        command: ChildCmd,
    },
    /// Access to children outside allocation (yours; managers see their team's)
    Access {
        #[command(subcommand)]
        command: AccessCmd,
    },
    /// The audit log: who allocated, referred, revoked or opened what (admins; managers one
    /// child of their team)
    Audit(AuditQuery),
    /// Check this device's store for damage, save the changes not yet sent, and say how to
    /// carry on
    ///
    /// Works when other commands refuse the store (an empty file, overwritten bytes, corrupt
    /// pages). It never changes the store: it reads a copy. It says what is damaged, saves
    /// every change waiting to be sent that can still be read to an export file (encrypted as
    /// in the store; your password is asked for, or read from FIELDNOTES_PASSWORD, to check
    /// they open), and prints the exact commands to carry on: move the damaged folder aside,
    /// `fieldnotes import` the file in a fresh folder (this signs you in again as the same
    /// device), then `fieldnotes sync`.
    ///
    /// Exit code 0 when the store is sound (or there is none), 1 when it is damaged.
    Doctor(DoctorArgs),
    /// Queue changes saved by `fieldnotes doctor` from a damaged store, to send with the next
    /// sync
    ///
    /// Run it in a fresh data folder (the damaged one moved aside): it signs in as the
    /// export's owner (asking the password, or reading FIELDNOTES_PASSWORD: the one last used
    /// on the damaged device), carries on as the same device so the server accepts its
    /// changes, fetches the records from the server, and queues the saved changes. Then run
    /// `fieldnotes sync`. Importing a file twice, or changes the server already has, is
    /// harmless.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Where to save the changes not yet sent [default: next to the data folder,
    /// DIR.export-TIME.json]
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export file `fieldnotes doctor` wrote
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Your username [default: asked; the owner of this device's store when not asked]
    #[arg(long, value_name = "NAME", env = "FIELDNOTES_USERNAME")]
    pub username: Option<String>,
    /// The name this device gets in the administrators' device list [default: "fieldnotes CLI
    /// on HOSTNAME"]
    #[arg(long, value_name = "NAME")]
    pub device_name: Option<String>,
    /// Sign in with a token from your organisation's identity provider, read from this file
    /// (needs the server; other commands still unlock with the password last used here)
    #[arg(long, value_name = "PATH")]
    pub id_token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum NoteCmd {
    /// Record a new visit note (saved as a draft)
    New(NoteNew),
    /// Change fields of a draft visit note; fields not given are left as they are
    Edit(Edit<NoteFields>),
    /// Change a completed or signed-off visit note, saying why (it goes to the manager's
    /// review queue); fields not given are left as they are
    Amend(Amend<NoteFields>),
    /// Sign a completed visit note off (managers and admins); then run `fieldnotes sync`
    SignOff(SignOffArgs),
}

pub(crate) fn yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" => Ok(true),
        "no" | "n" | "false" => Ok(false),
        _ => Err(format!("{s:?} is not yes or no")),
    }
}

#[derive(Debug, Args)]
pub struct NoteNew {
    /// The child the note is about
    #[arg(long, value_name = "ID")]
    pub child: String,
    /// statutory_visit, home_visit, school_visit, contact, phone_call, meeting or direct_work
    #[arg(long, value_name = "KIND")]
    pub kind: VisitKind,
    /// When it happened, RFC 3339 (e.g. 2026-11-24T10:30:00Z) [default: now]
    #[arg(long, value_name = "TIME")]
    pub occurred_at: Option<String>,
    /// A short title
    #[arg(long)]
    pub title: String,
    #[command(flatten)]
    pub details: VisitDetails,
}

/// The fields of a visit note that `note edit` and `note amend` change.
#[derive(Debug, Args)]
pub struct NoteFields {
    /// A new kind of visit (see `note new --help`)
    #[arg(long, value_name = "KIND")]
    pub kind: Option<VisitKind>,
    /// When it happened, RFC 3339 (e.g. 2026-11-24T10:30:00Z)
    #[arg(long, value_name = "TIME")]
    pub occurred_at: Option<String>,
    /// A new title
    #[arg(long)]
    pub title: Option<String>,
    #[command(flatten)]
    pub details: VisitDetails,
}

/// What a visit note says, given the same way to `note new`, `note edit` and `note amend`.
#[derive(Debug, Args)]
pub struct VisitDetails {
    /// The note itself (edit and amend: the whole new body; your changes are merged with
    /// others' edits to the same note)
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the body from a file (`-` for standard input)
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// The child's wishes and feelings, in their own words (edit and amend replace them)
    #[arg(long)]
    pub wishes: Option<String>,
    /// A tag (repeat for more; edit and amend replace the tags)
    #[arg(long)]
    pub tag: Vec<String>,
    /// Someone present (repeat for more; edit and amend replace who was present)
    #[arg(long)]
    pub present: Vec<String>,
    /// Statutory visits: was the child seen? yes or no
    #[arg(long, value_parser = yes_no, value_name = "YES|NO")]
    pub child_seen: Option<bool>,
    /// Statutory visits: was the child seen alone? yes or no
    #[arg(long, value_parser = yes_no, value_name = "YES|NO")]
    pub seen_alone: Option<bool>,
    /// If not seen alone, why: child_refused, inappropriate_for_age_and_understanding or
    /// worker_unable
    #[arg(long, value_name = "REASON")]
    pub not_alone_reason: Option<NotAloneReason>,
}

/// `edit ID FIELDS`: a change to a draft record.
#[derive(Debug, Args)]
pub struct Edit<F: Args> {
    #[command(flatten)]
    pub record: RecordArg,
    #[command(flatten)]
    pub fields: F,
    /// Mark the record completed (no longer a draft; after this it changes only by `amend`,
    /// with a reason)
    #[arg(long)]
    pub complete: bool,
}

/// `amend ID --reason WHY FIELDS`: a change to a completed or signed-off record.
#[derive(Debug, Args)]
pub struct Amend<F: Args> {
    /// The completed or signed-off record's id (see `fieldnotes list`)
    pub id: String,
    /// Why the record is changed after completion (at least 3 characters); kept in its
    /// history and shown to the manager in the review queue
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub fields: F,
}

/// A record to sign off.
#[derive(Debug, Args)]
pub struct SignOffArgs {
    /// The completed record's id (see `fieldnotes list`)
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum AboutMeCmd {
    /// Start an "about me" profile
    New(AboutMeNew),
    /// Change a draft "about me" profile
    Edit(Edit<AboutMeFields>),
    /// Change a completed "about me" profile, saying why (it goes to the review queue)
    Amend(Amend<AboutMeFields>),
}

#[derive(Debug, Args)]
pub struct AboutMeNew {
    /// The child the profile is about
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "worker",
        conflicts_with = "worker"
    )]
    pub child: Option<String>,
    /// Or a worker introducing themselves
    #[arg(long, value_name = "ID")]
    pub worker: Option<String>,
    #[command(flatten)]
    pub fields: AboutMeFields,
}

/// The fields of an "about me" profile, given the same way to `new`, `edit` and `amend`.
#[derive(Debug, Args)]
pub struct AboutMeFields {
    /// What I enjoy
    #[arg(long)]
    pub fun: Option<String>,
    /// What I don't like
    #[arg(long)]
    pub dislikes: Option<String>,
    /// What is important to me
    #[arg(long)]
    pub important: Option<String>,
    /// How to help me
    #[arg(long)]
    pub how_to_help: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ContactCardCmd {
    /// Make a contact card
    New(ContactCardNew),
    /// Change a contact card
    Edit(ContactCardEdit),
}

#[derive(Debug, Args)]
pub struct ContactCardNew {
    /// The worker the card is for [default: you]
    #[arg(long, value_name = "ID")]
    pub worker: Option<String>,
    /// The name a child knows you by
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub fields: ContactCardFields,
}

#[derive(Debug, Args)]
pub struct ContactCardEdit {
    /// The card's id (see `fieldnotes list`)
    pub id: String,
    /// The name a child knows you by
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub fields: ContactCardFields,
}

/// What a contact card says beyond the name, given the same way to `new` and `edit`.
#[derive(Debug, Args)]
pub struct ContactCardFields {
    /// Something about you (up to three; repeat the flag; edit replaces all three)
    #[arg(long)]
    pub thing: Vec<String>,
    /// How to reach you
    #[arg(long)]
    pub how_to_reach: Option<String>,
    /// When to reach you
    #[arg(long)]
    pub when_to_reach: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PlanCmd {
    /// Write a short plan
    New(PlanNew),
    /// Change a draft short plan
    Edit(Edit<PlanFields>),
    /// Change a completed or signed-off short plan, saying why (it goes to the manager's
    /// review queue)
    Amend(Amend<PlanFields>),
    /// Sign a completed short plan off (managers and admins); then run `fieldnotes sync`
    SignOff(SignOffArgs),
}

#[derive(Debug, Args)]
pub struct PlanNew {
    /// The child the plan is for
    #[arg(long, value_name = "ID")]
    pub child: String,
    /// A point of the plan (repeat the flag; your team sets how many, three unless it says otherwise)
    #[arg(long, required = true)]
    pub point: Vec<String>,
    #[command(flatten)]
    pub dates: PlanDates,
}

/// The fields of a short plan that `plan edit` and `plan amend` change.
#[derive(Debug, Args)]
pub struct PlanFields {
    /// Replace the points (repeat the flag; at most your team's limit)
    #[arg(long)]
    pub point: Vec<String>,
    #[command(flatten)]
    pub dates: PlanDates,
}

/// A short plan's dates, given the same way to `plan new`, `edit` and `amend`.
#[derive(Debug, Args)]
pub struct PlanDates {
    /// When to review it, YYYY-MM-DD
    #[arg(long, value_name = "DATE")]
    pub review_on: Option<String>,
    /// When it is planned to end, YYYY-MM-DD
    #[arg(long, value_name = "DATE")]
    pub planned_end: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this kind: visit_note, about_me, contact_card or short_plan
    #[arg(long)]
    pub kind: Option<DocKind>,
    /// Only documents about this child
    #[arg(long, value_name = "ID")]
    pub child: Option<String>,
}

/// One document, by its id.
#[derive(Debug, Args)]
pub struct DocArg {
    /// The document's id (see `fieldnotes list`)
    pub id: String,
}

/// One record, by its id: a document of a kind with a life (draft, completed, deleted).
#[derive(Debug, Args)]
pub struct RecordArg {
    /// The record's id (see `fieldnotes list`)
    pub id: String,
}

/// How many entries a list from the server gives when `--limit` is not given (the server's
/// own default).
pub const DEFAULT_LIMIT: u32 = 100;

/// The page size of a list from the server: `--limit`, else the server's default.
pub fn limit_or_default(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_LIMIT)
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// List the changes the server refused, with its reasons and the way out, even when none
    /// is held (unlocks with your password)
    #[arg(long)]
    pub refused: bool,
}

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// The document whose refused change(s) to take back (see `fieldnotes status`)
    #[arg(value_name = "DOC-ID")]
    pub id: String,
}
