//! Devices and their sessions: registration, revocation, refresh tokens.

use crate::StoreError;
use crate::backend::Backend;
use crate::directory::audit::{Audited, audit_in};
use crate::directory::{
    Actor, DeviceRecord, NewAudit, NewDevice, RefreshOutcome, RefreshRotation, conflict_on_unique,
};
use crate::sql_store::SqlStore;

/// A device's columns, shared by the two selects below.
const DEVICE_COLUMNS: &str = "d.device_id, d.user_id, d.name, d.actor_id, d.store_key, \
     d.registered_at_ms, d.last_sync_ms, d.revoked_at_ms, d.revoked_by, d.session_id";

/// What a device left for review: quarantined input and open review items it raised (the
/// admin's device list). Every authenticated request reads a device without counting
/// (`pending_review` is 0).
const PENDING_REVIEW: &str = "(SELECT COUNT(*) FROM quarantine q WHERE q.device_id = d.device_id) \
     + (SELECT COUNT(*) FROM review_items r WHERE r.raised_by_device = d.device_id \
        AND r.status = 'open')";

/// Select devices matching `condition`, with or without counting what they left for review.
pub(super) fn select_devices<'q, DB: Backend>(
    counted: bool,
    condition: &str,
) -> crate::backend::Sql<'q, DB> {
    let pending = if counted {
        PENDING_REVIEW
    } else {
        "CAST(0 AS BIGINT)"
    };
    DB::sql(format!(
        "SELECT {DEVICE_COLUMNS}, {pending} AS pending_review FROM devices d WHERE {condition}"
    ))
}

/// The device with this id, in a transaction.
async fn device_in<DB: Backend>(
    conn: &mut DB::Connection,
    device_id: &str,
    counted: bool,
) -> Result<Option<DeviceRecord>, sqlx::Error> {
    select_devices::<DB>(counted, "d.device_id = $1")
        .bind(device_id)
        .fetch_optional(conn)
        .await
}

/// Refuse to register `device` again when it is registered differently.
fn check_same_device(existing: &DeviceRecord, device: &NewDevice) -> Result<(), StoreError> {
    if existing.user_id != device.user_id {
        return Err(StoreError::Conflict(format!(
            "device {} is registered to another person; sign in on it with their account, or \
             use a new data folder on this device",
            device.device_id
        )));
    }
    if existing.actor_id != device.actor_id {
        return Err(StoreError::Conflict(format!(
            "device {} writes as actor {}, not {}; a device keeps one actor id",
            device.device_id, existing.actor_id, device.actor_id
        )));
    }
    Ok(())
}

pub(super) async fn register<DB: Backend>(
    store: &SqlStore<DB>,
    device: &NewDevice,
    at_ms: i64,
) -> Result<DeviceRecord, StoreError> {
    let mut tx = store.writer().begin().await?;
    if let Some(existing) = device_in::<DB>(&mut tx, &device.device_id, false).await? {
        check_same_device(&existing, device)?;
        return Ok(existing);
    }
    DB::sql(
        "INSERT INTO devices (device_id, user_id, name, actor_id, store_key, registered_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&device.device_id)
    .bind(&device.user_id)
    .bind(&device.name)
    .bind(&device.actor_id)
    .bind(&device.store_key)
    .bind(at_ms)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "actor id {} is already registered to another device (or device {} was \
                 registered at the same moment)",
                device.actor_id, device.device_id
            )
        })
    })?;
    let record = device_in::<DB>(&mut tx, &device.device_id, false)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(record)
}

/// Stop every unused refresh token of a device.
async fn retire_tokens<DB: Backend>(
    conn: &mut DB::Connection,
    device_id: &str,
    at_ms: i64,
) -> Result<(), sqlx::Error> {
    DB::sql(
        "UPDATE refresh_tokens SET used_at_ms = $2 WHERE device_id = $1 AND used_at_ms IS NULL",
    )
    .bind(device_id)
    .bind(at_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// End a device's session and stop its refresh tokens.
async fn end_session_in<DB: Backend>(
    conn: &mut DB::Connection,
    device_id: &str,
    at_ms: i64,
) -> Result<(), sqlx::Error> {
    DB::sql("UPDATE devices SET session_id = NULL WHERE device_id = $1")
        .bind(device_id)
        .execute(&mut *conn)
        .await?;
    retire_tokens::<DB>(conn, device_id, at_ms).await
}

pub(super) async fn revoke<DB: Backend>(
    store: &SqlStore<DB>,
    device_id: &str,
    by: &Actor,
) -> Result<DeviceRecord, StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let done = DB::sql(
        "UPDATE devices SET revoked_at_ms = COALESCE(revoked_at_ms, $2),
             revoked_by = COALESCE(revoked_by, $3), session_id = NULL
         WHERE device_id = $1",
    )
    .bind(device_id)
    .bind(by.at_ms)
    .bind(&by.user_id)
    .execute(&mut *tx)
    .await?;
    if done == 0 {
        return Err(StoreError::NotFound {
            what: format!("device {device_id}"),
        });
    }
    retire_tokens::<DB>(&mut tx, device_id, by.at_ms).await?;
    let record = device_in::<DB>(&mut tx, device_id, true)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let entry = NewAudit::new("revoke_device").details(serde_json::json!({
        "device_id": device_id, "device_user_id": record.user_id,
    }));
    tx.commit(&[entry], record).await
}

pub(super) async fn record_sync<DB: Backend>(
    store: &SqlStore<DB>,
    device_id: &str,
    entries: &[NewAudit],
    by: &Actor,
) -> Result<(), StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    DB::sql("UPDATE devices SET last_sync_ms = $2 WHERE device_id = $1")
        .bind(device_id)
        .bind(by.at_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit(entries, ()).await
}

/// A refresh token as stored.
#[derive(sqlx::FromRow)]
struct TokenRow {
    device_id: String,
    session_id: String,
    expires_at_ms: i64,
    used_at_ms: Option<i64>,
}

/// A new refresh token.
pub(super) struct NewToken<'a> {
    pub token_hash: &'a str,
    pub device_id: &'a str,
    pub session_id: &'a str,
    pub at_ms: i64,
    pub expires_at_ms: i64,
}

async fn insert_token<DB: Backend>(
    conn: &mut DB::Connection,
    token: &NewToken<'_>,
) -> Result<(), sqlx::Error> {
    DB::sql(
        "INSERT INTO refresh_tokens
             (token_hash, device_id, session_id, issued_at_ms, expires_at_ms)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.token_hash)
    .bind(token.device_id)
    .bind(token.session_id)
    .bind(token.at_ms)
    .bind(token.expires_at_ms)
    .execute(conn)
    .await?;
    Ok(())
}

async fn token_in<DB: Backend>(
    conn: &mut DB::Connection,
    token_hash: &str,
) -> Result<Option<TokenRow>, sqlx::Error> {
    DB::sql(
        "SELECT device_id, session_id, expires_at_ms, used_at_ms
         FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

pub(super) async fn start_session<DB: Backend>(
    store: &SqlStore<DB>,
    token: &NewToken<'_>,
) -> Result<(), StoreError> {
    let mut tx = store.writer().begin().await?;
    // Tokens of the earlier session stop working.
    retire_tokens::<DB>(&mut tx, token.device_id, token.at_ms).await?;
    let done = DB::sql(
        "UPDATE devices SET session_id = $2 WHERE device_id = $1 AND revoked_at_ms IS NULL",
    )
    .bind(token.device_id)
    .bind(token.session_id)
    .execute(&mut *tx)
    .await?;
    if done == 0 {
        return Err(StoreError::Conflict(format!(
            "device {} is revoked or not registered",
            token.device_id
        )));
    }
    insert_token::<DB>(&mut tx, token).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn end_session<DB: Backend>(
    store: &SqlStore<DB>,
    device_id: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    let mut tx = store.writer().begin().await?;
    end_session_in::<DB>(&mut tx, device_id, at_ms).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn rotate<DB: Backend>(
    store: &SqlStore<DB>,
    rotation: &RefreshRotation<'_>,
) -> Result<RefreshOutcome, StoreError> {
    let mut tx = store.writer().begin().await?;
    let Some(token) = token_in::<DB>(&mut tx, rotation.token_hash).await? else {
        return Ok(RefreshOutcome::Unknown);
    };
    let device = device_in::<DB>(&mut tx, &token.device_id, false)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    if device.revoked_at_ms.is_some() {
        return Ok(RefreshOutcome::Revoked { device });
    }
    if device.session_id.as_deref() != Some(token.session_id.as_str()) {
        return Ok(RefreshOutcome::SessionEnded);
    }
    let outcome = if !claim::<DB>(&mut tx, &token, rotation).await? {
        used_again::<DB>(&mut tx, token, device, rotation).await?
    } else if token.expires_at_ms <= rotation.at_ms {
        RefreshOutcome::Expired
    } else {
        let successor = NewToken {
            token_hash: rotation.new_hash,
            device_id: &token.device_id,
            session_id: &token.session_id,
            at_ms: rotation.at_ms,
            expires_at_ms: rotation.new_expires_at_ms,
        };
        insert_token::<DB>(&mut tx, &successor).await?;
        RefreshOutcome::Rotated { device }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Claim a token for this use; of two racing uses exactly one succeeds.
async fn claim<DB: Backend>(
    conn: &mut DB::Connection,
    token: &TokenRow,
    rotation: &RefreshRotation<'_>,
) -> Result<bool, sqlx::Error> {
    if token.used_at_ms.is_some() {
        return Ok(false);
    }
    let claimed = DB::sql(
        "UPDATE refresh_tokens SET used_at_ms = $2 WHERE token_hash = $1 AND used_at_ms IS NULL",
    )
    .bind(rotation.token_hash)
    .bind(rotation.at_ms)
    .execute(conn)
    .await?;
    Ok(claimed == 1)
}

/// A used token came back: a retry by its own device within the grace window gets the
/// successor it was given; anything else means a copy exists, and the session ends.
async fn used_again<DB: Backend>(
    conn: &mut DB::Connection,
    token: TokenRow,
    device: DeviceRecord,
    rotation: &RefreshRotation<'_>,
) -> Result<RefreshOutcome, sqlx::Error> {
    let at_ms = rotation.at_ms;
    // Read the token again: a racing use may have claimed it since.
    let used_at_ms = token_in::<DB>(&mut *conn, rotation.token_hash)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?
        .used_at_ms
        .unwrap_or(at_ms);
    let same_device = rotation.device_id == Some(token.device_id.as_str());
    let in_grace = at_ms.saturating_sub(used_at_ms) < rotation.grace_ms;
    if same_device && in_grace {
        // The successor this token was traded for, if it is still unused.
        let successor = token_in::<DB>(&mut *conn, rotation.new_hash).await?;
        if let Some(successor) = successor.filter(|t| {
            t.used_at_ms.is_none()
                && t.device_id == token.device_id
                && t.session_id == token.session_id
        }) {
            return Ok(RefreshOutcome::Replayed {
                device,
                expires_at_ms: successor.expires_at_ms,
            });
        }
    }
    end_session_in::<DB>(&mut *conn, &token.device_id, at_ms).await?;
    let entry = NewAudit::new("refresh_token_reused").details(serde_json::json!({
        "device_id": token.device_id,
        "presented_by_device": rotation.device_id,
        "ms_after_first_use": at_ms.saturating_sub(used_at_ms),
    }));
    let by = Actor {
        user_id: Some(device.user_id.clone()),
        device_id: Some(token.device_id.clone()),
        at_ms,
    };
    audit_in::<DB>(conn, &entry, &by).await?;
    Ok(RefreshOutcome::Reused {
        device_id: token.device_id,
    })
}
