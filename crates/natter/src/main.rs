//! The `natter` command: `serve`, `migrate`, `config`, `jobs`.

use std::process::ExitCode;

use clap::Parser;
use natter::config::{Cli, Command, Config, LogFormat, Settings};
use natter::db::Db;
use natter::jobs::admin;

/// jemalloc instead of glibc's malloc: under W1, glibc's malloc and free took
/// 18 % of the server's CPU; jemalloc gave W1 about a quarter more messages per
/// second at the same memory per idle socket (mimalloc: as fast, 10.6 KiB per
/// socket). Measurements in docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Settings may live in a .env file, as in the guide; real environment
    // variables win over it.
    let _ = dotenvy::dotenv();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_exit(err),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}")),
    };
    let result = runtime.block_on(run(cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&format!("{err:#}")),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(settings) => serve(*settings).await,
        Command::Migrate(database) => {
            init_logging("info", LogFormat::Text);
            let db = Db::connect(&database.url(), database.db_max_connections).await?;
            db.migrate().await?;
            tracing::info!("migrations are up to date");
            Ok(())
        }
        Command::Jobs(args) => {
            init_logging("warn", LogFormat::Text);
            let db = Db::connect(&args.database.url(), 2).await?;
            let lines = admin::run(&db, args.action.as_ref()).await;
            db.close().await;
            // `natter jobs` exists to print; stdout is its output.
            #[allow(clippy::print_stdout)]
            for line in lines? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Config(settings) => {
            let config = Config::resolve(*settings)?;
            // `natter config` exists to print; stdout is its output.
            #[allow(clippy::print_stdout)]
            for line in config.describe() {
                println!("{line}");
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_logging(&settings.log_level, settings.log_format);
    let config = Config::resolve(settings)?;
    tracing::info!(
        database = %natter::config::redact_url(&config.database_url),
        redis = config.settings.redis_url.is_some(),
        node = %config.node_id,
        "starting natter"
    );
    let running = natter::start(config).await?;
    tracing::info!(addr = %running.local_addr, "listening");
    if let Some(addr) = running.metrics_addr {
        tracing::info!(addr = %addr, "metrics listening");
    }
    natter::shutdown_signal().await;
    tracing::info!("stop requested; finishing in-flight requests");
    running.shutdown_token().cancel();
    // The grace period starts with the stop request, not with the server.
    match tokio::time::timeout(natter::SHUTDOWN_GRACE, running.wait()).await {
        Ok(result) => result?,
        Err(_) => tracing::warn!("in-flight requests did not finish in time; exiting"),
    }
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// One line on stderr, exit code 1.
fn fail(message: &str) -> ExitCode {
    eprintln!("natter: {message}");
    ExitCode::FAILURE
}

/// Help and version print as clap formats them; a bad setting prints one line
/// naming it.
fn clap_exit(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = err.render().to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            fail(first)
        }
    }
}
