//! Server configuration: one typed struct, filled from defaults, `FIELDNOTES_*` environment
//! variables and command-line flags (flags win), validated once at start-up.

use std::net::SocketAddr;

use clap::Parser;

use crate::state::Limits;

/// Default database: an embedded SQLite file in `./fieldnotes-data`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://fieldnotes-data/fieldnotes.db";

/// The Fieldnotes sync server.
///
/// With no flags it keeps its data in an embedded SQLite database under ./fieldnotes-data and
/// listens on 127.0.0.1:7878. Point --database-url at PostgreSQL to share one database between
/// several server instances.
#[derive(Clone, Parser)]
#[command(name = "fieldnotes-server", version, about, long_about)]
pub struct Config {
    /// Address to listen on. Until sign-in and device tokens are in place the server accepts
    /// loopback addresses only (127.0.0.1 or ::1).
    #[arg(long, env = "FIELDNOTES_LISTEN", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,

    /// Where to keep data: `sqlite://PATH` (embedded, the default) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    #[arg(long, env = "FIELDNOTES_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Largest sync request accepted, in MiB after decompression. Clients split larger pushes
    /// into several rounds.
    #[arg(long, env = "FIELDNOTES_MAX_REQUEST_MIB", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_request_mib: u32,

    /// Largest total size of one document's changes in one push, in MiB. A document over this
    /// is refused with a reason and kept in quarantine.
    #[arg(long, env = "FIELDNOTES_MAX_DOC_PUSH_MIB", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_doc_push_mib: u32,

    /// Log filter, e.g. `info` or `fieldnotes_server=debug,tower_http=debug`.
    #[arg(long, env = "FIELDNOTES_LOG", default_value = "info")]
    pub log: String,
}

impl std::fmt::Debug for Config {
    // The database URL may hold a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field(
                "database_url",
                &fieldnotes_store::redact_url(&self.database_url),
            )
            .field("max_request_mib", &self.max_request_mib)
            .field("max_doc_push_mib", &self.max_doc_push_mib)
            .field("log", &self.log)
            .finish()
    }
}

/// A configuration that cannot work, with what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "--listen {0} is not a loopback address: until sign-in and device tokens are enabled the \
         server only listens on 127.0.0.1 or ::1 (for example --listen 127.0.0.1:7878)"
    )]
    NotLoopback(SocketAddr),
    #[error(
        "--database-url `{0}` is not supported: use sqlite://PATH (embedded, the default) or \
         postgres://USER@HOST/DB"
    )]
    DatabaseUrl(String),
    #[error("--max-doc-push-mib ({doc}) must not be larger than --max-request-mib ({request})")]
    DocLimitAboveRequestLimit { doc: u32, request: u32 },
}

impl Config {
    /// A configuration with every default, for embedding and tests.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            max_request_mib: 32,
            max_doc_push_mib: 8,
            log: "info".into(),
        }
    }

    /// Check the settings fit together; the error says what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.listen.ip().is_loopback() {
            return Err(ConfigError::NotLoopback(self.listen));
        }
        let url = self.database_url.as_str();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::DatabaseUrl(fieldnotes_store::redact_url(url)));
        }
        if self.max_doc_push_mib > self.max_request_mib {
            return Err(ConfigError::DocLimitAboveRequestLimit {
                doc: self.max_doc_push_mib,
                request: self.max_request_mib,
            });
        }
        Ok(())
    }

    pub fn limits(&self) -> Limits {
        const MIB: usize = 1024 * 1024;
        Limits {
            max_request_bytes: self.max_request_mib as usize * MIB,
            max_doc_push_bytes: self.max_doc_push_mib as usize * MIB,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_with_nothing_set() {
        let config = Config::try_parse_from(["fieldnotes-server"]).unwrap();
        config.validate().unwrap();
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert!(config.listen.ip().is_loopback());
    }

    #[test]
    fn a_public_address_is_refused_until_auth_exists() {
        let config =
            Config::try_parse_from(["fieldnotes-server", "--listen", "0.0.0.0:7878"]).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("127.0.0.1"), "{err}");
    }

    #[test]
    fn an_unknown_database_is_refused_with_the_supported_forms() {
        let config =
            Config::try_parse_from(["fieldnotes-server", "--database-url", "mysql://x"]).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("sqlite://PATH") && err.contains("postgres://"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let config = Config::with_database("postgres://fieldnotes:s3cret@db/fieldnotes");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
