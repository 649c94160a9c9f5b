//! `latchkey`: run the service and administer it.

mod audit;
mod import;
mod logging;
mod mail;
mod serve;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use latchkey_core::{Clock, SystemClock};
use latchkey_service::{App, Config, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Self-hosted identity: sign-up, login, sessions and tokens"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "LATCHKEY_CONFIG")]
    config: Option<PathBuf>,
    /// Where the embedded database and the master key live [default: ./latchkey-data].
    #[arg(long, global = true, env = "LATCHKEY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite:... or postgres://... [default: SQLite inside the data directory].
    #[arg(long, global = true, env = "LATCHKEY_DATABASE_URL")]
    database_url: Option<String>,
    /// Log line format [default: pretty on a terminal, json otherwise].
    #[arg(long, global = true, value_enum)]
    log_format: Option<logging::Format>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "LATCHKEY_LISTEN")]
        listen: Option<String>,
    },
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read and verify the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Import accounts from another system.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Look at the email outbox; requeue dead messages.
    #[command(subcommand)]
    Mail(mail::MailCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new signing key; the old one stays published until its tokens expire.
    Rotate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let config = Config::load(
        cli.config.as_deref(),
        &Overrides {
            listen,
            data_dir: cli.data_dir.clone(),
            database_url: cli.database_url.clone(),
        },
    )?;
    match cli.command {
        Command::Serve { .. } => {
            latchkey_http::check(&config)?;
            let (listener, config) = serve::bind(config).await?;
            serve::run(start(config).await?, listener).await
        }
        Command::Import(cmd) => import::run(&start(config).await?, cmd).await,
        Command::Migrate => {
            latchkey_service::create_data_dir(&config.data_dir)
                .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
            latchkey_store::migrate(&config.database_url).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User(cmd) => user::run(&start(config).await?, cmd).await,
        Command::Mail(cmd) => mail::run(&start(config).await?, cmd).await,
        Command::Audit(cmd) => audit::run(&start(config).await?, cmd).await,
        Command::Keys(KeysCommand::Rotate) => {
            let kid = start(config).await?.admin().rotate_keys().await?;
            println!(
                "new signing key {kid}; earlier keys stay published until their tokens expire"
            );
            Ok(())
        }
    }
}

async fn start(config: Config) -> anyhow::Result<App> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let master = std::env::var("LATCHKEY_MASTER_KEY").ok();
    let fetch = latchkey_http::outbound::client().map_err(anyhow::Error::msg)?;
    Ok(App::start(config, clock, master.as_deref(), fetch).await?)
}
