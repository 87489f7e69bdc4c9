//! Fresh databases for tests: one per test, so tests run in parallel.

use std::fmt;

use anyhow::{Context, bail};
use sqlx::Connection;
use tempfile::TempDir;

/// Which server backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

impl std::str::FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres),
            other => bail!("unknown backend {other:?}: use sqlite or postgres"),
        }
    }
}

pub use fieldnotes_store::testing::pg_admin_url;
use fieldnotes_store::testing::{create_pg_database, database_url, drop_pg_database};

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub backend: Backend,
    /// The URL to give the server.
    pub url: String,
    /// Keeps the SQLite folder alive.
    dir: Option<TempDir>,
    /// PostgreSQL database to drop at the end.
    pg_name: Option<String>,
}

impl fmt::Debug for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDb")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish()
    }
}

impl TestDb {
    /// Create a fresh database. A PostgreSQL server that cannot be reached is an error that
    /// says how to fix it: the PostgreSQL suites are never skipped.
    pub async fn new(backend: Backend) -> anyhow::Result<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().context("creating a temp folder")?;
                let url = format!("sqlite://{}", dir.path().join("server.db").display());
                Ok(TestDb {
                    backend,
                    url,
                    dir: Some(dir),
                    pg_name: None,
                })
            }
            Backend::Postgres => {
                let (name, url) = create_pg_database(&pg_admin_url(), "fieldnotes_e2e").await?;
                Ok(TestDb {
                    backend,
                    url,
                    dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }

    /// The SQLite folder (SQLite only).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(TempDir::path)
    }

    /// A backup of this database as it is now, as a database of its own (removed after the
    /// test like this one), for restore tests: SQLite `VACUUM INTO` (a consistent copy while
    /// the server runs); PostgreSQL `CREATE DATABASE ... TEMPLATE`, which needs the original to
    /// have no other connections, so the server's are ended first (its pool reconnects on its
    /// next use). Nothing may be writing while this runs.
    pub async fn backup(&self) -> anyhow::Result<TestDb> {
        match self.backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().context("creating a temp folder")?;
                let path = dir.path().join("server.db");
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .context("opening the database to back it up")?;
                let target = path.display().to_string().replace('\'', "''");
                sqlx::query(&format!("VACUUM INTO '{target}'"))
                    .execute(&mut conn)
                    .await
                    .context("VACUUM INTO")?;
                Ok(TestDb {
                    backend: Backend::Sqlite,
                    url: format!("sqlite://{}", path.display()),
                    dir: Some(dir),
                    pg_name: None,
                })
            }
            Backend::Postgres => {
                let original = self.pg_name.as_deref().context("no database name")?;
                let admin = pg_admin_url();
                let name = format!("fieldnotes_backup_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                // A pool may open a connection between the two statements: try again then.
                let mut attempts = 0;
                loop {
                    sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(original)
                    .execute(&mut conn)
                    .await?;
                    match sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {original}"))
                        .execute(&mut conn)
                        .await
                    {
                        Ok(_) => break,
                        Err(e) if attempts < 20 => {
                            attempts += 1;
                            let _ = e;
                        }
                        Err(e) => return Err(e).context("copying the database"),
                    }
                }
                let url = database_url(&admin, &name)?;
                Ok(TestDb {
                    backend: Backend::Postgres,
                    url,
                    dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            drop_pg_database(pg_admin_url(), name);
        }
    }
}
