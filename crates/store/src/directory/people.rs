//! People who can sign in.

use fieldnotes_vocab::Role;

use crate::StoreError;
use crate::backend::Backend;
use crate::directory::audit::Audited;
use crate::directory::{Actor, NewAudit, UserRecord, UserUpdate, conflict_on_unique};
use crate::error::found;
use crate::sql_store::SqlStore;

pub(super) const USER_COLUMNS: &str = "user_id, username, display_name, role, team_id, \
     password_hash, external_subject, active, created_at_ms";

pub(super) async fn create<DB: Backend>(
    store: &SqlStore<DB>,
    user: &UserRecord,
    by: &Actor,
) -> Result<(), StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let insert = DB::sql(format!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&user.info.user_id)
    .bind(&user.info.username)
    .bind(&user.info.display_name)
    .bind(user.info.role)
    .bind(&user.info.team_id)
    .bind(&user.password_hash)
    .bind(&user.external_subject)
    .bind(user.active)
    .bind(user.created_at_ms);
    tx.insert(insert, || {
        format!(
            "a person with id {:?}, username {:?} (usernames are compared without regard to \
             case) or that identity-provider subject already exists",
            user.info.user_id, user.info.username
        )
    })
    .await?;
    let entry = NewAudit::new("create_user").details(serde_json::json!({
        "user_id": user.info.user_id, "username": user.info.username, "role": user.info.role,
        "team_id": user.info.team_id,
    }));
    tx.commit(&[entry], ()).await
}

pub(super) async fn update<DB: Backend>(
    store: &SqlStore<DB>,
    user_id: &str,
    update: &UserUpdate,
    by: &Actor,
) -> Result<UserRecord, StoreError> {
    let mut tx = Audited::begin(store, by).await?;
    let user: Option<UserRecord> = DB::sql(format!(
        "UPDATE users SET display_name = COALESCE($2, display_name),
             role = COALESCE($3, role),
             team_id = CASE WHEN $4 THEN $5 ELSE team_id END,
             active = COALESCE($6, active),
             password_hash = COALESCE($7, password_hash),
             external_subject = CASE WHEN $8 THEN $9 ELSE external_subject END
         WHERE user_id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(user_id)
    .bind(&update.display_name)
    .bind(update.role)
    .bind(update.team_id.is_some())
    .bind(update.team_id.clone().flatten())
    .bind(update.active)
    .bind(&update.password_hash)
    .bind(update.external_subject.is_some())
    .bind(update.external_subject.clone().flatten())
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            "that identity-provider subject belongs to another person".to_owned()
        })
    })?;
    let user = found(user, || format!("person {user_id}"))?;
    if update.active == Some(false)
        || update.password_hash.is_some()
        || update.external_subject.is_some()
    {
        // Someone who has left, or whose credentials changed, signs in again on every device.
        DB::sql("UPDATE devices SET session_id = NULL WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit(&[update_audit(user_id, update)], user).await
}

/// The audit entry for a change to a person (never the password hash itself).
fn update_audit(user_id: &str, update: &UserUpdate) -> NewAudit {
    NewAudit::new("update_user").details(serde_json::json!({
        "user_id": user_id,
        "display_name": update.display_name,
        "role": update.role,
        "team_id": update.team_id,
        "active": update.active,
        "password_changed": update.password_hash.is_some(),
        "external_subject": update.external_subject,
    }))
}

pub(super) async fn count_admins<DB: Backend>(store: &SqlStore<DB>) -> Result<i64, StoreError> {
    Ok(
        DB::sql("SELECT COUNT(*) FROM users WHERE role = $1 AND active")
            .bind(Role::Admin)
            .fetch_scalar(store.reader())
            .await?,
    )
}
