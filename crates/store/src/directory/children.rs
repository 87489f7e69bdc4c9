//! Children and young people, their allocations to social workers and their referrals to
//! youth workers.

use crate::StoreError;
use crate::backend::{Backend, Bind, Record};
use crate::directory::audit::Audited;
use crate::directory::{Actor, Allocation, NewAudit, NewChild, NewReferral, Referral};
use crate::error::found;
use crate::sql_store::SqlStore;

/// A child's columns, with the case holder from their current allocation...
pub(super) const CHILD_COLUMNS: &str =
    "c.child_id, c.display_name, c.team_id, a.worker_id AS case_holder";

/// ...which this join finds.
pub(super) const CHILDREN: &str = "children c \
     LEFT JOIN allocations a ON a.child_id = c.child_id AND a.ended_at_ms IS NULL";

pub(super) const ALLOCATION_COLUMNS: &str = "child_id, worker_id, started_at_ms AS started_at, allocated_by, ended_at_ms AS ended_at, \
     ended_by";

pub(super) const REFERRAL_COLUMNS: &str = "referral_id, child_id, youth_worker_id, referred_by, \
     starts_on, planned_end, created_at_ms AS created_at, ended_at_ms AS ended_at, ended_by";

/// Who made a change when no person did (a server task).
const SERVER: &str = "server";

/// Add a child, created at the time of `by`.
pub(super) async fn create<DB: Backend>(
    store: &SqlStore<DB>,
    child: &NewChild,
    by: &Actor,
) -> Result<(), StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let insert = DB::sql(
        "INSERT INTO children (child_id, display_name, team_id, created_at_ms)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&child.child_id)
    .bind(&child.display_name)
    .bind(&child.team_id)
    .bind(by.at_ms);
    tx.insert(insert, || {
        format!("child {:?} already exists", child.child_id)
    })
    .await?;
    let entry = NewAudit::new("create_child")
        .child(&child.child_id)
        .details(serde_json::json!({ "team_id": child.team_id }));
    tx.commit(&[entry], ()).await
}

/// The open (not ended) row of `table` with `key` = `value`, ended now by `by`: an allocation
/// or a referral, read back as `columns`. `None` when no such row is open.
async fn end_open<'q, DB: Backend, T: Record>(
    conn: &mut DB::Connection,
    (table, key, columns): (&str, &str, &str),
    value: impl Bind<'q>,
    by: &'q Actor,
) -> Result<Option<T>, sqlx::Error> {
    DB::sql(format!(
        "UPDATE {table} SET ended_at_ms = $2, ended_by = $3
         WHERE {key} = $1 AND ended_at_ms IS NULL RETURNING {columns}"
    ))
    .bind(value)
    .bind(by.at_ms)
    .bind(&by.user_id)
    .fetch_optional(conn)
    .await
}

/// End the child's current allocation, if any; the allocation ended.
async fn end_current<'q, DB: Backend>(
    conn: &mut DB::Connection,
    child_id: &'q str,
    by: &'q Actor,
) -> Result<Option<Allocation>, sqlx::Error> {
    let allocations = ("allocations", "child_id", ALLOCATION_COLUMNS);
    end_open::<DB, _>(conn, allocations, child_id, by).await
}

pub(super) async fn allocate<DB: Backend>(
    store: &SqlStore<DB>,
    child_id: &str,
    worker_id: &str,
    by: &Actor,
) -> Result<Allocation, StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let ended = end_current::<DB>(&mut tx, child_id, by).await?;
    if ended.as_ref().is_some_and(|a| a.worker_id == worker_id) {
        return Err(StoreError::Conflict(format!(
            "child {child_id} is already allocated to {worker_id}"
        )));
    }
    let insert = DB::sql(format!(
        "INSERT INTO allocations (child_id, worker_id, started_at_ms, allocated_by)
         VALUES ($1, $2, $3, $4) RETURNING {ALLOCATION_COLUMNS}"
    ))
    .bind(child_id)
    .bind(worker_id)
    .bind(by.at_ms)
    .bind(by.user_id.as_deref().unwrap_or(SERVER));
    let allocation: Allocation = tx
        .insert_returning(insert, || {
            format!(
                "another allocation of child {child_id} was made at the same time; look again \
                 and retry"
            )
        })
        .await?;
    let entry = NewAudit::new("allocate")
        .child(child_id)
        .details(serde_json::json!({
            "worker_id": worker_id,
            "previous_worker_id": ended.as_ref().map(|a| a.worker_id.clone()),
        }));
    tx.commit(&[entry], allocation).await
}

pub(super) async fn end_allocation<DB: Backend>(
    store: &SqlStore<DB>,
    child_id: &str,
    by: &Actor,
) -> Result<Allocation, StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let ended = end_current::<DB>(&mut tx, child_id, by).await?;
    let ended = found(ended, || {
        format!("a current allocation of child {child_id}")
    })?;
    let entry = NewAudit::new("end_allocation")
        .child(child_id)
        .details(serde_json::json!({ "worker_id": ended.worker_id }));
    tx.commit(&[entry], ended).await
}

pub(super) async fn refer<DB: Backend>(
    store: &SqlStore<DB>,
    referral: &NewReferral,
    by: &Actor,
) -> Result<Referral, StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let insert = DB::sql(format!(
        "INSERT INTO referrals
             (child_id, youth_worker_id, referred_by, starts_on, planned_end, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {REFERRAL_COLUMNS}"
    ))
    .bind(&referral.child_id)
    .bind(&referral.youth_worker_id)
    .bind(by.user_id.as_deref().unwrap_or(SERVER))
    .bind(&referral.starts_on)
    .bind(&referral.planned_end)
    .bind(by.at_ms);
    let record: Referral = tx
        .insert_returning(insert, || "the referral could not be stored".to_owned())
        .await?;
    let entry = NewAudit::new("refer")
        .child(&referral.child_id)
        .details(serde_json::json!({
            "referral_id": record.referral_id,
            "youth_worker_id": referral.youth_worker_id,
            "starts_on": referral.starts_on,
            "planned_end": referral.planned_end,
        }));
    tx.commit(&[entry], record).await
}

pub(super) async fn end_referral<DB: Backend>(
    store: &SqlStore<DB>,
    referral_id: i64,
    by: &Actor,
) -> Result<Referral, StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let referrals = ("referrals", "referral_id", REFERRAL_COLUMNS);
    let record: Option<Referral> = end_open::<DB, _>(&mut tx, referrals, referral_id, by).await?;
    let record = found(record, || format!("an open referral {referral_id}"))?;
    let entry = NewAudit::new("end_referral")
        .child(&record.child_id)
        .details(serde_json::json!({
            "referral_id": referral_id,
            "youth_worker_id": record.youth_worker_id,
        }));
    tx.commit(&[entry], record).await
}
