//! Throwaway PostgreSQL databases for test suites (the `testing` feature): the store's
//! conformance suite and the end-to-end suites each make a fresh database per test, so tests
//! run in parallel, and drop it afterwards.

use sqlx::Connection;

use crate::StoreError;

/// The PostgreSQL server the suites use: `$FIELDNOTES_TEST_PG_URL`, by default the local
/// trust-auth server. Tests create their own databases on it.
pub fn pg_admin_url() -> String {
    std::env::var("FIELDNOTES_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The URL of database `name` on the PostgreSQL server whose `admin` URL is given.
pub fn database_url(admin: &str, name: &str) -> Result<String, StoreError> {
    match admin.rfind('/') {
        Some(slash) if slash > "postgres://".len() => Ok(format!("{}/{name}", &admin[..slash])),
        _ => Err(StoreError::Config(format!(
            "FIELDNOTES_TEST_PG_URL {} must end in /DATABASE",
            crate::redact_url(admin)
        ))),
    }
}

/// A new, empty database on the server at `admin`, named `prefix` and a random suffix: its
/// name and its URL. A server that cannot be reached is a [`StoreError::Config`] saying how to
/// fix it: the PostgreSQL suites are never skipped.
pub async fn create_pg_database(admin: &str, prefix: &str) -> Result<(String, String), StoreError> {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin).await.map_err(|e| {
        StoreError::Config(format!(
            "the PostgreSQL suite needs a server at {} (set FIELDNOTES_TEST_PG_URL or start \
             PostgreSQL): {e}",
            crate::redact_url(admin)
        ))
    })?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let url = database_url(admin, &name)?;
    Ok((name, url))
}

/// Drop database `name` on the server at `admin`, ending its connections. For `Drop` impls:
/// it runs on a thread of its own with a short-lived runtime, so it works inside or outside
/// an async runtime, and a failure is ignored (the database is only a test's).
pub fn drop_pg_database(admin: String, name: String) {
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        });
    })
    .join();
}
