//! Arguments of the administrators' and managers' commands: `admin`, `child`, `access` and
//! `audit`. The server decides who may do what; its refusals say why.

use clap::{Args, Subcommand};
use fieldnotes_protocol::admin::{DevicesQuery, GrantsQuery, QuarantineQuery, UsersQuery};
use fieldnotes_protocol::auth::Role;

use crate::args::yes_no;

#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Teams (pods): add, list, rename, pod-wide reading
    Team {
        #[command(subcommand)]
        command: TeamCmd,
    },
    /// People who can sign in: add, list, change role, team, name or password, disable
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Registered devices: list, revoke a lost or stolen one
    Device {
        #[command(subcommand)]
        command: DeviceCmd,
    },
    /// Input the server refused to apply, kept for review (oldest first)
    Quarantine(QuarantineQuery),
}

#[derive(Debug, Subcommand)]
pub enum TeamCmd {
    /// Add a team
    Add(TeamAdd),
    /// List every team
    List,
    /// Rename a team or change its pod-wide reading
    Set(TeamSet),
}

#[derive(Debug, Args)]
pub struct TeamAdd {
    /// The team's id (letters, digits, '-', '_', '.' or '@'), e.g. pod-2
    pub id: String,
    /// The team's name, as people know it
    #[arg(long)]
    pub name: String,
    /// Let every social worker in the team read (not write) the team's cases
    #[arg(long)]
    pub pod_read: bool,
    /// Most points a short plan may have before it goes to review [default: 3]
    #[arg(long, value_name = "N")]
    pub plan_points: Option<u32>,
}

#[derive(Debug, Args)]
pub struct TeamSet {
    /// The team's id (see `fieldnotes admin team list`)
    pub id: String,
    /// A new name
    #[arg(long)]
    pub name: Option<String>,
    /// Whether every social worker in the team may read the team's cases: true or false
    #[arg(long, value_parser = yes_no, value_name = "true|false")]
    pub pod_read: Option<bool>,
    /// Most points a short plan may have before it goes to review
    #[arg(long, value_name = "N")]
    pub plan_points: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a person. Their password is read from FIELDNOTES_NEW_PASSWORD, else asked twice
    /// (not needed with --external-subject alone)
    Add(UserAdd),
    /// List people
    List(UsersQuery),
    /// Change a person; what is not given stays as it is
    Set(UserSet),
}

#[derive(Debug, Args)]
pub struct UserAdd {
    /// The name they sign in with (also their user id)
    pub username: String,
    /// Their name as colleagues and children see it
    #[arg(long)]
    pub name: String,
    /// social_worker, youth_worker, manager or admin
    #[arg(long)]
    pub role: Role,
    /// Their team (see `fieldnotes admin team list`)
    #[arg(long, value_name = "ID")]
    pub team: Option<String>,
    /// The subject (`sub`) of their tokens from the identity provider, if they sign in that
    /// way; with this alone no password is set
    #[arg(long, value_name = "SUB")]
    pub external_subject: Option<String>,
}

#[derive(Debug, Args)]
pub struct UserSet {
    /// The person's user id (see `fieldnotes admin user list`)
    pub id: String,
    /// A new role: social_worker, youth_worker, manager or admin
    #[arg(long)]
    pub role: Option<Role>,
    /// Move them to this team
    #[arg(long, value_name = "ID", conflicts_with = "no_team")]
    pub team: Option<String>,
    /// Take them out of any team
    #[arg(long)]
    pub no_team: bool,
    /// A new display name
    #[arg(long)]
    pub name: Option<String>,
    /// Stop them signing in (they have left); their records stay
    #[arg(long, conflicts_with = "enable")]
    pub disable: bool,
    /// Let a disabled person sign in again
    #[arg(long)]
    pub enable: bool,
    /// Set a new password, read from FIELDNOTES_NEW_PASSWORD, else asked twice
    #[arg(long)]
    pub reset_password: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// List registered devices
    List(DevicesQuery),
    /// Revoke a device: its session ends and it removes its records the next time it connects
    Revoke(DeviceRevoke),
}

#[derive(Debug, Args)]
pub struct DeviceRevoke {
    /// The device's id (see `fieldnotes admin device list`)
    pub device_id: String,
}

#[derive(Debug, Subcommand)]
pub enum ChildCmd {
    /// Add a child to a team (admins; managers for their own team)
    Add(ChildAdd),
    /// List the children you may see, with their case holder
    List,
    /// Allocate a child to a social worker, ending the current allocation (managers)
    Allocate(ChildAllocate),
    /// End a child's allocation (managers)
    Unallocate(ChildOnly),
    /// A child's allocations, oldest first, and how many different workers they have had
    History(ChildOnly),
    /// Refer a young person to a youth worker (the case holder, or a manager)
    Refer(ChildRefer),
    /// A child's referrals to youth workers
    Referrals(ChildOnly),
    /// End a referral
    EndReferral(EndReferral),
    /// Open a child's records outside your allocation, saying why (time-limited, audited and
    /// shown to the team manager); then run `fieldnotes sync` to fetch them
    Access(ChildAccess),
}

#[derive(Debug, Args)]
pub struct ChildAdd {
    /// The child's id (letters, digits, '-', '_', '.' or '@')
    pub id: String,
    /// The child's name
    #[arg(long)]
    pub name: String,
    /// The team the child belongs to
    #[arg(long, value_name = "ID")]
    pub team: String,
}

#[derive(Debug, Args)]
pub struct ChildOnly {
    /// The child's id (see `fieldnotes child list`)
    pub child: String,
}

#[derive(Debug, Args)]
pub struct ChildAllocate {
    /// The child's id (see `fieldnotes child list`)
    pub child: String,
    /// The social worker's user id
    #[arg(long, value_name = "WORKER")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct ChildRefer {
    /// The young person's id (see `fieldnotes child list`)
    pub child: String,
    /// The youth worker's user id
    #[arg(long, value_name = "YOUTH_WORKER")]
    pub to: String,
    /// The planned ending, YYYY-MM-DD
    #[arg(long, value_name = "DATE")]
    pub until: String,
    /// The first day of the involvement, YYYY-MM-DD [default: today]
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub struct EndReferral {
    /// The referral's number (see `fieldnotes child referrals CHILD`)
    pub referral_id: i64,
}

#[derive(Debug, Args)]
pub struct ChildAccess {
    /// The child's id
    pub child: String,
    /// Why you need the record, at least 10 characters (e.g. "duty: school called about Sam,
    /// case holder on leave"); kept in the audit log and shown to the team manager
    #[arg(long)]
    pub reason: String,
    /// For how long, in minutes (1 to 720) [default: 120]
    #[arg(long, value_name = "N")]
    pub minutes: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum AccessCmd {
    /// List access grants: your own (managers: their team's; admins: all)
    List(GrantsQuery),
}
