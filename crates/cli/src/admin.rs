//! The administrators' and managers' commands, over the server's typed API. The server decides
//! who may do what; a refusal is shown with its reason (exit code 1).

use std::process::ExitCode;

use crate::Usage;
use crate::admin_args::{
    AccessCmd, AdminCmd, ChildAccess, ChildAdd, ChildCmd, ChildRefer, DeviceCmd, TeamCmd, UserCmd,
    UserSet,
};
use crate::args::limit_or_default;
use crate::session::new_password;
use crate::ui::{Explain, more_may_follow, or_dash, print_list, print_one, table};
use fieldnotes_client::{AuditQuery, Client};
use fieldnotes_protocol::admin::{
    AccessRequest, AllocationHistory, Device, NewChild, NewReferral, NewTeam, NewUser,
    QuarantineQuery, Referral, TeamPatch, User, UserPatch,
};

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// `fieldnotes admin ...`
pub async fn admin(client: &Client, command: AdminCmd, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        AdminCmd::Team { command } => team(client, command, json).await?,
        AdminCmd::User { command } => user(client, command, json).await?,
        AdminCmd::Device { command } => device(client, command, json).await?,
        AdminCmd::Quarantine(a) => quarantine(client, a, json).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn team(client: &Client, command: TeamCmd, json: bool) -> anyhow::Result<()> {
    let team = match command {
        TeamCmd::Add(a) => {
            let new = NewTeam {
                team_id: a.id,
                name: a.name,
                pod_read_access: a.pod_read,
                plan_point_limit: a.plan_points,
            };
            client.create_team(&new).await.explain()?
        }
        TeamCmd::List => {
            let teams = client.teams().await.explain()?;
            return print_list(&teams, json, &["TEAM", "NAME", "POD-WIDE READING"], |t| {
                vec![
                    t.team_id.clone(),
                    t.name.clone(),
                    on_off(t.pod_read_access).to_owned(),
                ]
            });
        }
        TeamCmd::Set(a) => {
            if a.name.is_none() && a.pod_read.is_none() && a.plan_points.is_none() {
                return Err(Usage(
                    "nothing to change: give --name, --pod-read or --plan-points".into(),
                )
                .into());
            }
            let patch = TeamPatch {
                name: a.name,
                pod_read_access: a.pod_read,
                plan_point_limit: a.plan_points,
            };
            client.update_team(&a.id, &patch).await.explain()?
        }
    };
    print_one(&team, json, |team| {
        println!(
            "team {}: {} (pod-wide reading {})",
            team.team_id,
            team.name,
            on_off(team.pod_read_access)
        );
    })
}

fn user_row(u: &User) -> Vec<String> {
    let mut sign_in = Vec::new();
    if u.has_password {
        sign_in.push("password");
    }
    if u.external_subject.is_some() {
        sign_in.push("identity provider");
    }
    vec![
        u.info.user_id.clone(),
        u.info.username.clone(),
        u.info.display_name.clone(),
        u.info.role.to_string(),
        or_dash(u.info.team_id.as_deref()),
        if u.active { "yes" } else { "no" }.to_owned(),
        if sign_in.is_empty() {
            "-".to_owned()
        } else {
            sign_in.join(", ")
        },
    ]
}

const USER_HEADERS: &[&str] = &[
    "USER", "USERNAME", "NAME", "ROLE", "TEAM", "ACTIVE", "SIGN-IN",
];

async fn user(client: &Client, command: UserCmd, json: bool) -> anyhow::Result<()> {
    let user = match command {
        UserCmd::Add(a) => {
            // With only an identity-provider subject, a password is optional: not asked for.
            let password = if a.external_subject.is_some()
                && crate::session::env_nonempty(crate::session::NEW_PASSWORD_ENV).is_none()
            {
                None
            } else {
                Some(new_password(&a.username)?)
            };
            let new = NewUser {
                user_id: None,
                username: a.username,
                display_name: a.name,
                role: a.role,
                team_id: a.team,
                password: password.as_ref().map(|p| p.to_string()),
                external_subject: a.external_subject,
            };
            client.create_user(&new).await.explain()?
        }
        UserCmd::List(a) => {
            let users = client.users(a.team.as_deref()).await.explain()?;
            return print_list(&users, json, USER_HEADERS, user_row);
        }
        UserCmd::Set(a) => {
            let id = a.id.clone();
            let patch = user_patch(a)?;
            client.update_user(&id, &patch).await.explain()?
        }
    };
    print_one(&user, json, |user| table(USER_HEADERS, &[user_row(user)]))
}

fn user_patch(a: UserSet) -> anyhow::Result<UserPatch> {
    let team_id = match (a.team, a.no_team) {
        (_, true) => Some(None),
        (Some(team), false) => Some(Some(team)),
        (None, false) => None,
    };
    let active = match (a.disable, a.enable) {
        (true, _) => Some(false),
        (false, true) => Some(true),
        (false, false) => None,
    };
    let password = if a.reset_password {
        Some(new_password(&a.id)?.to_string())
    } else {
        None
    };
    let patch = UserPatch {
        display_name: a.name,
        role: a.role,
        team_id,
        active,
        password,
        external_subject: None,
    };
    if patch == UserPatch::default() {
        return Err(Usage(
            "nothing to change: give --role, --team, --no-team, --name, --disable, --enable or \
             --reset-password"
                .into(),
        )
        .into());
    }
    Ok(patch)
}

async fn device(client: &Client, command: DeviceCmd, json: bool) -> anyhow::Result<()> {
    match command {
        DeviceCmd::List(a) => {
            let devices = client.devices(a.user.as_deref()).await.explain()?;
            print_list(&devices, json, DEVICE_HEADERS, device_row)
        }
        DeviceCmd::Revoke(a) => {
            let d = client.revoke_device(&a.device_id).await.explain()?;
            print_one(&d, json, |d| {
                println!(
                    "revoked device {} ({}, of {}): its session has ended, and it removes its \
                     records the next time it connects",
                    d.device_id, d.name, d.user_id
                );
            })
        }
    }
}

const DEVICE_HEADERS: &[&str] = &[
    "DEVICE",
    "USER",
    "NAME",
    "REGISTERED",
    "LAST SYNC",
    "STATUS",
    "TO REVIEW",
];

fn device_row(d: &Device) -> Vec<String> {
    vec![
        d.device_id.clone(),
        d.user_id.clone(),
        d.name.clone(),
        d.registered_at.to_string(),
        or_dash(d.last_sync_at),
        match &d.revoked_at {
            Some(at) => format!("revoked {at}"),
            None => "active".to_owned(),
        },
        d.pending_review.to_string(),
    ]
}

async fn quarantine(client: &Client, q: QuarantineQuery, json: bool) -> anyhow::Result<()> {
    let limit = limit_or_default(q.limit);
    let list = client.quarantine(q.after, limit).await.explain()?;
    if list.items.is_empty() && !json {
        eprintln!("nothing in quarantine");
        return Ok(());
    }
    print_list(&list.items, json, QUARANTINE_HEADERS, |q| {
        vec![
            q.id.to_string(),
            q.received_at.clone(),
            or_dash(q.device_id.as_deref()),
            or_dash(q.doc_id.as_deref()),
            q.code.clone(),
            q.size.to_string(),
            q.reason.clone(),
        ]
    })?;
    if !json {
        more_may_follow(list.items.len(), limit, list.items.last().map(|q| q.id));
    }
    Ok(())
}

const QUARANTINE_HEADERS: &[&str] = &[
    "ID", "RECEIVED", "DEVICE", "DOCUMENT", "CODE", "BYTES", "REASON",
];

/// `fieldnotes child ...`
pub async fn child(client: &Client, command: ChildCmd, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        ChildCmd::Add(a) => add_child(client, a, json).await?,
        ChildCmd::List => {
            let children = client.children().await.explain()?;
            print_list(
                &children,
                json,
                &["CHILD", "NAME", "TEAM", "CASE HOLDER"],
                |c| {
                    vec![
                        c.child_id.clone(),
                        c.display_name.clone(),
                        c.team_id.clone(),
                        or_dash(c.case_holder.as_deref()),
                    ]
                },
            )?;
        }
        ChildCmd::Allocate(a) => {
            let al = client.allocate(&a.child, &a.to).await.explain()?;
            print_one(&al, json, |al| {
                println!(
                    "{} is allocated to {} from {}; their device gets the child's records on its \
                     next sync",
                    al.child_id, al.worker_id, al.started_at
                );
            })?;
        }
        ChildCmd::Unallocate(a) => {
            let al = client.end_allocation(&a.child).await.explain()?;
            print_one(&al, json, |al| {
                println!(
                    "ended the allocation of {} to {}; {} has no case holder now",
                    al.child_id, al.worker_id, al.child_id
                );
            })?;
        }
        ChildCmd::History(a) => {
            let h = client.allocation_history(&a.child).await.explain()?;
            print_one(&h, json, print_allocations)?;
        }
        ChildCmd::Refer(a) => refer(client, a, json).await?,
        ChildCmd::Referrals(a) => {
            let referrals = client.referrals(&a.child).await.explain()?;
            print_list(&referrals, json, REFERRAL_HEADERS, referral_row)?;
        }
        ChildCmd::EndReferral(a) => {
            let r = client.end_referral(a.referral_id).await.explain()?;
            print_one(&r, json, |r| {
                println!(
                    "ended referral {} ({} with youth worker {})",
                    r.referral_id, r.child_id, r.youth_worker_id
                );
            })?;
        }
        ChildCmd::Access(a) => request_access(client, a, json).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn add_child(client: &Client, a: ChildAdd, json: bool) -> anyhow::Result<()> {
    let new = NewChild {
        child_id: a.id,
        display_name: a.name,
        team_id: a.team,
    };
    let c = client.create_child(&new).await.explain()?;
    print_one(&c, json, |c| {
        println!(
            "added child {} ({}) to team {}; allocate them with `fieldnotes child allocate {} \
             --to WORKER`",
            c.child_id, c.display_name, c.team_id, c.child_id
        );
    })
}

fn print_allocations(h: &AllocationHistory) {
    let rows: Vec<_> = h
        .allocations
        .iter()
        .map(|al| {
            vec![
                al.worker_id.clone(),
                al.started_at.to_string(),
                al.ended_at.map_or_else(|| "now".into(), |t| t.to_string()),
                al.allocated_by.clone(),
            ]
        })
        .collect();
    table(&["WORKER", "FROM", "UNTIL", "ALLOCATED BY"], &rows);
    println!(
        "{} has had {} different social worker(s)",
        h.child_id, h.distinct_workers
    );
}

async fn refer(client: &Client, a: ChildRefer, json: bool) -> anyhow::Result<()> {
    let new = NewReferral {
        youth_worker_id: a.to,
        starts_on: a.from,
        planned_end: a.until,
    };
    let r = client.refer(&a.child, &new).await.explain()?;
    print_one(&r, json, |r| {
        println!(
            "referral {}: {} to youth worker {} from {} until {}",
            r.referral_id, r.child_id, r.youth_worker_id, r.starts_on, r.planned_end
        );
    })
}

const REFERRAL_HEADERS: &[&str] = &["REFERRAL", "YOUTH WORKER", "FROM", "UNTIL", "BY", "ENDED"];

fn referral_row(r: &Referral) -> Vec<String> {
    vec![
        r.referral_id.to_string(),
        r.youth_worker_id.clone(),
        r.starts_on.clone(),
        r.planned_end.clone(),
        r.referred_by.clone(),
        or_dash(r.ended_at),
    ]
}

async fn request_access(client: &Client, a: ChildAccess, json: bool) -> anyhow::Result<()> {
    let request = AccessRequest {
        reason: a.reason,
        minutes: a.minutes,
    };
    let g = client.request_access(&a.child, &request).await.explain()?;
    print_one(&g, json, |g| {
        println!(
            "you may open {}'s records until {} (grant {}; recorded in the audit log and shown \
             to the team manager)",
            g.child_id, g.expires_at, g.grant_id
        );
        println!("run `fieldnotes sync` to fetch the records");
    })
}

/// `fieldnotes access ...`
pub async fn access(client: &Client, command: AccessCmd, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        AccessCmd::List(a) => {
            let grants = client.access_grants(a.active).await.explain()?;
            print_list(&grants, json, ACCESS_HEADERS, |g| {
                vec![
                    g.grant_id.to_string(),
                    g.user_id.clone(),
                    g.child_id.clone(),
                    g.granted_at.to_string(),
                    g.expires_at.to_string(),
                    g.reason.clone(),
                ]
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

const ACCESS_HEADERS: &[&str] = &["GRANT", "USER", "CHILD", "FROM", "UNTIL", "REASON"];

/// `fieldnotes audit`
pub async fn audit(client: &Client, query: AuditQuery, json: bool) -> anyhow::Result<ExitCode> {
    let entries = client.audit(&query).await.explain()?;
    print_list(&entries, json, AUDIT_HEADERS, |e| {
        vec![
            e.id.to_string(),
            e.at.to_string(),
            or_dash(e.user_id.as_deref()),
            e.action.clone(),
            or_dash(e.child_id.as_deref()),
            or_dash(e.doc_id.as_deref()),
            if e.details.is_null() {
                "-".to_owned()
            } else {
                e.details.to_string()
            },
        ]
    })?;
    Ok(ExitCode::SUCCESS)
}

const AUDIT_HEADERS: &[&str] = &["ID", "AT", "USER", "ACTION", "CHILD", "DOCUMENT", "DETAILS"];
