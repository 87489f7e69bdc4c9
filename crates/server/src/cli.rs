//! The `fieldnotes-server` command line entry point.

use std::process::ExitCode;

use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, ServerCommand};

/// Run the server binary: parse flags and environment, validate, serve until Ctrl-C/SIGTERM.
pub fn main() -> ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    if let Err(e) = config.validate() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match config.command.clone() {
        Some(ServerCommand::CreateAdmin {
            username,
            display_name,
        }) => runtime.block_on(create_admin(&config, &username, display_name)),
        None => runtime.block_on(run(config)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("could not listen on {}: {e}", config.listen))?;
    tracing::info!(config = ?config, database = %config.database_shown(), "starting");
    crate::web::announce(config.app_dir.as_deref());
    crate::serve(&config, listener, shutdown_signal()).await
}

/// `fieldnotes-server create-admin`: the first-run step, straight on the database.
async fn create_admin(
    config: &Config,
    username: &str,
    display_name: Option<String>,
) -> anyhow::Result<()> {
    use fieldnotes_store::directory::{Actor, UserInfo, UserRecord};

    crate::routes::auth::check_username(username)?;
    let password = match std::env::var("FIELDNOTES_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => read_password(username)?,
    };
    crate::auth::password::check_new_password(&password)?;
    let store = config.open_store().await?;
    let hash = crate::auth::password::hash_password_blocking(password).await?;
    let now = crate::clock::now_ms();
    let user = UserRecord {
        info: UserInfo {
            user_id: username.to_owned(),
            username: username.to_owned(),
            display_name: display_name.unwrap_or_else(|| username.to_owned()),
            role: fieldnotes_protocol::Role::Admin,
            team_id: None,
        },
        password_hash: Some(hash),
        external_subject: None,
        active: true,
        created_at_ms: now,
    };
    store
        .create_user(
            &user,
            &Actor {
                user_id: None,
                device_id: None,
                at_ms: now,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("could not create admin {username}: {e}"))?;
    println!(
        "admin {username} created; sign in with `fieldnotes login --username {username}` and add \
         teams, people and children with `fieldnotes admin ...`"
    );
    Ok(())
}

/// Ask for a new password twice on the terminal, without echo.
fn read_password(username: &str) -> anyhow::Result<String> {
    let first =
        rpassword::prompt_password(format!("new password for {username}: ")).map_err(|e| {
            anyhow::anyhow!("cannot read a password (set FIELDNOTES_ADMIN_PASSWORD): {e}")
        })?;
    let again = rpassword::prompt_password("again: ")
        .map_err(|e| anyhow::anyhow!("cannot read a password: {e}"))?;
    if first != again {
        anyhow::bail!("the two passwords differ; nothing was created");
    }
    Ok(first)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("could not listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::error!("could not listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
