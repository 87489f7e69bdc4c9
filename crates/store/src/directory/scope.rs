//! The facts that decide a person's scope, read in one statement at each sync; and the
//! server's shared secrets.

use fieldnotes_vocab::Role;

use crate::StoreError;
use crate::backend::Backend;
use crate::directory::{Directory, ScopeFacts, UserRecord};
use crate::sql_store::SqlStore;

/// When the facts are read: now, today's UTC date, and where the grace period for ended
/// allocations and referrals starts.
pub(super) struct FactsAt<'a> {
    pub at_ms: i64,
    pub today: &'a str,
    pub grace_from_ms: i64,
}

/// Every fact in one statement: one round trip, one consistent snapshot. Each row is a fact
/// name and the child or person it names.
const FACTS: &str = "SELECT 'allocated', child_id FROM allocations
         WHERE worker_id = $1 AND ended_at_ms IS NULL
     UNION ALL SELECT 'referred', child_id FROM referrals
         WHERE youth_worker_id = $1 AND ended_at_ms IS NULL AND starts_on <= $2
     UNION ALL SELECT 'ended', child_id FROM allocations
         WHERE worker_id = $1 AND ended_at_ms >= $3
     UNION ALL SELECT 'ended', child_id FROM referrals
         WHERE youth_worker_id = $1 AND ended_at_ms >= $3
     UNION ALL SELECT 'granted', child_id FROM access_grants
         WHERE user_id = $1 AND expires_at_ms > $4
     UNION ALL SELECT 'member', user_id FROM users WHERE team_id = $5
     UNION ALL SELECT 'team_child', child_id FROM children
         WHERE team_id = $5 AND $6";

pub(super) async fn facts<DB: Backend>(
    store: &SqlStore<DB>,
    user: &UserRecord,
    at: FactsAt<'_>,
) -> Result<ScopeFacts, StoreError> {
    let team = match &user.info.team_id {
        Some(team_id) => store.get_team(team_id).await?,
        None => None,
    };
    let mut facts = ScopeFacts {
        user: user.clone(),
        team,
        allocated: Vec::new(),
        referred: Vec::new(),
        recently_ended: Vec::new(),
        team_children: Vec::new(),
        team_members: Vec::new(),
        granted: Vec::new(),
    };
    let role = user.info.role;
    if role == Role::Admin {
        // An admin's scope is everything: no list decides it.
        return Ok(facts);
    }
    // Only managers, and social workers of a team that opted in to pod-wide reading, need the
    // team's children.
    let team_children = role == Role::Manager
        || (role == Role::SocialWorker && facts.team.as_ref().is_some_and(|t| t.pod_read_access));
    let rows: Vec<(String, String)> = DB::sql(FACTS)
        .bind(&user.info.user_id)
        .bind(at.today)
        .bind(at.grace_from_ms)
        .bind(at.at_ms)
        .bind(&user.info.team_id)
        .bind(team_children)
        .fetch_all(store.reader())
        .await?;
    sort_facts(&mut facts, rows)?;
    Ok(facts)
}

/// File each fact row in its list; each list sorted, without repeats.
fn sort_facts(facts: &mut ScopeFacts, rows: Vec<(String, String)>) -> Result<(), StoreError> {
    for (fact, id) in rows {
        let list = match fact.as_str() {
            "allocated" => &mut facts.allocated,
            "referred" => &mut facts.referred,
            "ended" => &mut facts.recently_ended,
            "granted" => &mut facts.granted,
            "member" => &mut facts.team_members,
            "team_child" => &mut facts.team_children,
            other => return Err(StoreError::Corrupt(format!("unknown scope fact {other:?}"))),
        };
        list.push(id);
    }
    for list in [
        &mut facts.allocated,
        &mut facts.referred,
        &mut facts.recently_ended,
        &mut facts.granted,
        &mut facts.team_members,
        &mut facts.team_children,
    ] {
        list.sort_unstable();
        list.dedup();
    }
    Ok(())
}

pub(super) async fn server_secret<DB: Backend>(
    store: &SqlStore<DB>,
    name: &str,
    candidate: &[u8],
) -> Result<Vec<u8>, StoreError> {
    DB::sql(
        "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(candidate)
    .execute(store.writer())
    .await?;
    Ok(DB::sql("SELECT value FROM server_secrets WHERE name = $1")
        .bind(name)
        .fetch_scalar(store.writer())
        .await?)
}
