//! Server configuration: one typed struct, filled from defaults, `FIELDNOTES_*` environment
//! variables and command-line flags (flags win), validated once at start-up.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use secrecy::{ExposeSecret as _, SecretString};

use crate::auth::throttle::SignInLimits;
use crate::state::{Limits, Policy};

/// Default database: an embedded SQLite file in `./fieldnotes-data`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://fieldnotes-data/fieldnotes.db";

/// The Fieldnotes sync server.
///
/// With no flags it keeps its data in an embedded SQLite database under ./fieldnotes-data and
/// listens on 127.0.0.1:7878. Point --database-url at PostgreSQL to share one database between
/// several server instances. On a new database, create the first admin with
/// `fieldnotes-server create-admin --username NAME`.
#[derive(Clone, Debug, Parser)]
#[command(name = "fieldnotes-server", version, about, long_about)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<ServerCommand>,

    /// Address to listen on. Put the server behind a TLS-terminating proxy when it listens on
    /// anything but a loopback address.
    #[arg(long, env = "FIELDNOTES_LISTEN", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,

    /// Where to keep data: `sqlite://PATH` (embedded, the default) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    // A secret, since it may hold the database password: never shown in `Debug`.
    #[arg(long, env = "FIELDNOTES_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: SecretString,

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

    /// Automerge operations one sync request may merge, across all its documents. Documents
    /// past it are deferred to the device's next round (the SDK sends them again in the same
    /// sync), so one request cannot hold a push transaction for long; the first document of a
    /// request is always merged.
    #[arg(long, env = "FIELDNOTES_MAX_OPS_PER_REQUEST", default_value_t = crate::merge::MAX_OPS_PER_REQUEST,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_ops_per_request: u64,

    /// Log filter, e.g. `info` or `fieldnotes_server=debug,tower_http=debug`.
    #[arg(long, env = "FIELDNOTES_LOG", default_value = "info")]
    pub log: String,

    /// Lifetime of an access token, in minutes. Devices refresh them with their refresh token.
    #[arg(long, env = "FIELDNOTES_ACCESS_TOKEN_MINUTES", default_value_t = 15,
          value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub access_token_minutes: u32,

    /// Lifetime of an unused refresh token, in days: a device that has not synced for longer
    /// must sign in again (its recorded work stays safe on it meanwhile).
    #[arg(long, env = "FIELDNOTES_REFRESH_TOKEN_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=365))]
    pub refresh_token_days: u32,

    /// For how many days after an allocation or referral ends the worker's devices may still
    /// send what they recorded about the child before it ended (offline work). It gives no
    /// read access.
    #[arg(long, env = "FIELDNOTES_LATE_WORK_DAYS", default_value_t = 14,
          value_parser = clap::value_parser!(u32).range(0..=90))]
    pub late_work_days: u32,

    /// For how many seconds after a refresh token is used its own device may present it again
    /// and get the same new tokens (the answer to the first try was lost). Any other second use
    /// ends the device's session.
    #[arg(long, env = "FIELDNOTES_REFRESH_GRACE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(0..=600))]
    pub refresh_grace_secs: u32,

    /// Sign-in tries allowed per username in each --signin-window-secs (right or wrong), a
    /// burst of that many and then one more every window/N. Further tries are answered 429
    /// with Retry-After.
    #[arg(long, env = "FIELDNOTES_SIGNIN_TRIES_PER_USERNAME", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub signin_tries_per_username: u32,

    /// Sign-in tries allowed per client address in each --signin-window-secs (an office behind
    /// one address signs in together, so this is higher than the per-username limit).
    #[arg(long, env = "FIELDNOTES_SIGNIN_TRIES_PER_ADDRESS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub signin_tries_per_address: u32,

    /// The sign-in throttling window, in seconds.
    #[arg(long, env = "FIELDNOTES_SIGNIN_WINDOW_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub signin_window_secs: u32,

    /// A reverse proxy whose `X-Forwarded-For` header is believed for the client address
    /// (repeat, or separate with commas). Without one, the address is the socket's peer and
    /// forwarding headers are ignored.
    #[arg(long, env = "FIELDNOTES_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxy: Vec<IpAddr>,

    /// Most entries one device may leave in the server's quarantine; beyond it (or
    /// --quarantine-max-mib) its refused input is answered `quarantine_full` and not kept
    /// until an admin reviews the quarantine.
    #[arg(long, env = "FIELDNOTES_QUARANTINE_MAX_ENTRIES", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub quarantine_max_entries: u64,

    /// Most MiB one device may leave in the server's quarantine.
    #[arg(long, env = "FIELDNOTES_QUARANTINE_MAX_MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub quarantine_max_mib: u64,

    /// Issuer (`iss`) of tokens from the authority's identity provider. With --idp-audience and
    /// --idp-jwks-file, people can sign in with a provider token instead of a password.
    #[arg(long, env = "FIELDNOTES_IDP_ISSUER", requires_all = ["idp_audience", "idp_jwks_file"])]
    pub idp_issuer: Option<String>,

    /// Audience (`aud`) the provider's tokens must name.
    #[arg(long, env = "FIELDNOTES_IDP_AUDIENCE", requires = "idp_issuer")]
    pub idp_audience: Option<String>,

    /// The provider's signing keys, a JWKS document (JSON) saved to a file.
    #[arg(long, env = "FIELDNOTES_IDP_JWKS_FILE", requires = "idp_issuer")]
    pub idp_jwks_file: Option<PathBuf>,

    /// Serve the field app from this folder, as `cargo xtask app` writes it (`target/app`),
    /// at `/`. Without it the server answers the API only.
    #[arg(long, env = "FIELDNOTES_APP_DIR")]
    pub app_dir: Option<PathBuf>,

    /// A web origin (`https://app.example.org`, scheme, host and port only) whose pages may
    /// call the API from a browser: the field app served from another address than this server
    /// (repeat, or separate with commas). Without one, only pages this server serves may call
    /// it (`--app-dir`).
    #[arg(long = "cors-origin", env = "FIELDNOTES_CORS_ORIGINS", value_delimiter = ',',
          value_parser = parse_origin)]
    pub cors_origin: Vec<axum::http::HeaderValue>,
}

/// A web origin as browsers send it in `Origin`: `http` or `https`, a host, an optional port,
/// and nothing after.
fn parse_origin(text: &str) -> Result<axum::http::HeaderValue, String> {
    let explain = || {
        format!(
            "{text:?} is not a web origin: write it as the browser's address bar shows the app, \
             scheme, host and port only, for example https://fieldnotes.example.org or \
             http://127.0.0.1:8000"
        )
    };
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(explain)?;
    // A port is what follows the last ':' outside an IPv6 address's brackets.
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    if !host_ok || port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(explain());
    }
    axum::http::HeaderValue::from_str(text).map_err(|_| explain())
}

/// Commands other than serving.
#[derive(Clone, Debug, Subcommand)]
pub enum ServerCommand {
    /// Create an admin account on the database (the first-run step). The password is read
    /// from FIELDNOTES_ADMIN_PASSWORD if set, otherwise asked for on the terminal.
    CreateAdmin {
        /// The admin's username (also their user id).
        #[arg(long)]
        username: String,
        /// The name shown to people; defaults to the username.
        #[arg(long)]
        display_name: Option<String>,
    },
}

/// A configuration that cannot work, with what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "--database-url `{0}` is not supported: use sqlite://PATH (embedded, the default) or \
         postgres://USER@HOST/DB"
    )]
    DatabaseUrl(String),
    #[error("--max-doc-push-mib ({doc}) must not be larger than --max-request-mib ({request})")]
    DocLimitAboveRequestLimit { doc: u32, request: u32 },
    #[error(
        "--app-dir {0} holds no index.html: build the field app with `cargo xtask app` (it writes \
         target/app), or start the server with `cargo xtask serve`"
    )]
    AppNotBuilt(PathBuf),
}

impl Config {
    /// The flags' defaults (whatever the environment says), for `database_url`, listening on an
    /// ephemeral loopback port: for embedding and tests.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        let mut config = Self::defaults();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.database_url = SecretString::from(database_url.into());
        config
    }

    /// Every setting at the default declared on its flag above, the one place defaults are
    /// written: the flags parsed from nothing, with the environment left out.
    fn defaults() -> Self {
        let command = Self::command().mut_args(|arg| arg.env(None));
        command
            .try_get_matches_from(["fieldnotes-server"])
            .and_then(|matches| Self::from_arg_matches(&matches))
            .unwrap_or_else(|e| unreachable!("the declared defaults are valid settings: {e}"))
    }

    /// Check the settings fit together; the error says what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database_url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::DatabaseUrl(self.database_shown()));
        }
        if self.max_doc_push_mib > self.max_request_mib {
            return Err(ConfigError::DocLimitAboveRequestLimit {
                doc: self.max_doc_push_mib,
                request: self.max_request_mib,
            });
        }
        if let Some(dir) = &self.app_dir
            && !dir.join("index.html").is_file()
        {
            return Err(ConfigError::AppNotBuilt(dir.clone()));
        }
        Ok(())
    }

    /// The database URL with any password hidden, for messages and logs.
    pub fn database_shown(&self) -> String {
        fieldnotes_store::redact_url(self.database_url.expose_secret())
    }

    /// Open the store the settings name, running its migrations.
    pub async fn open_store(&self) -> anyhow::Result<Box<dyn fieldnotes_store::Store>> {
        fieldnotes_store::open_with(self.database_url.expose_secret(), self.store_options())
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "could not open the database at {}: {e}",
                    self.database_shown()
                )
            })
    }

    /// Access rules that are settings.
    pub fn policy(&self) -> Policy {
        Policy {
            access_ttl: Duration::from_secs(u64::from(self.access_token_minutes) * 60),
            refresh_ttl: Duration::from_secs(u64::from(self.refresh_token_days) * 86_400),
            late_work: Duration::from_secs(u64::from(self.late_work_days) * 86_400),
            refresh_grace: Duration::from_secs(u64::from(self.refresh_grace_secs)),
            signin: SignInLimits {
                per_username: self.signin_tries_per_username,
                per_address: self.signin_tries_per_address,
                window: Duration::from_secs(u64::from(self.signin_window_secs)),
            },
        }
    }

    /// Settings of the store.
    pub fn store_options(&self) -> fieldnotes_store::StoreOptions {
        fieldnotes_store::StoreOptions {
            quarantine_cap: fieldnotes_store::QuarantineCap {
                max_entries: self.quarantine_max_entries,
                max_bytes: self.quarantine_max_mib.saturating_mul(1024 * 1024),
            },
        }
    }

    pub fn limits(&self) -> Limits {
        const MIB: usize = 1024 * 1024;
        Limits {
            max_request_bytes: self.max_request_mib as usize * MIB,
            max_doc_push_bytes: self.max_doc_push_mib as usize * MIB,
            max_ops_per_request: self.max_ops_per_request,
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
        assert_eq!(config.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert!(config.listen.ip().is_loopback());
    }

    #[test]
    fn an_identity_provider_needs_all_three_settings() {
        let err = Config::try_parse_from(["fieldnotes-server", "--idp-issuer", "https://idp"])
            .expect_err("incomplete provider settings are refused")
            .to_string();
        assert!(err.contains("--idp-audience"), "{err}");
    }

    #[test]
    fn create_admin_is_a_subcommand() {
        let config =
            Config::try_parse_from(["fieldnotes-server", "create-admin", "--username", "ada"])
                .unwrap();
        assert!(matches!(
            config.command,
            Some(ServerCommand::CreateAdmin { ref username, .. }) if username == "ada"
        ));
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
    fn the_app_is_served_only_when_asked_for_and_built() {
        assert_eq!(Config::with_database("sqlite::memory:").app_dir, None);
        assert!(
            Config::with_database("sqlite::memory:")
                .cors_origin
                .is_empty()
        );
        let dir = std::env::temp_dir().join(format!("fieldnotes-no-app-{}", std::process::id()));
        let config = Config::try_parse_from([
            "fieldnotes-server".as_ref(),
            "--app-dir".as_ref(),
            dir.as_os_str(),
        ])
        .unwrap();
        assert_eq!(config.app_dir.as_deref(), Some(dir.as_path()));
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("cargo xtask app"), "{err}");
    }

    #[test]
    fn a_cors_origin_is_scheme_host_and_port_only() {
        let config = Config::try_parse_from([
            "fieldnotes-server",
            "--cors-origin",
            "http://127.0.0.1:8000,https://app.example.org",
            "--cors-origin",
            "http://[::1]:9000",
        ])
        .unwrap();
        let origins: Vec<_> = config
            .cors_origin
            .iter()
            .map(|o| o.to_str().unwrap())
            .collect();
        assert_eq!(
            origins,
            [
                "http://127.0.0.1:8000",
                "https://app.example.org",
                "http://[::1]:9000"
            ]
        );
        for bad in [
            "app.example.org",
            "https://app.example.org/",
            "https://app.example.org/path",
            "https://app.example.org:99999",
            "ftp://app.example.org",
            "https://",
            "*",
        ] {
            let err = Config::try_parse_from(["fieldnotes-server", "--cors-origin", bad])
                .unwrap_err()
                .to_string();
            assert!(err.contains("scheme, host and port only"), "{bad}: {err}");
        }
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let config = Config::with_database("postgres://fieldnotes:s3cret@db/fieldnotes");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
