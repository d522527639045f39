//! The `natter` command: `serve`, `migrate`, `config`, `jobs`, `backup`,
//! `users`, `sessions`, `stats`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use clap::ArgMatches;
use clap::parser::ValueSource;
use natter::admin::{Admin, sessions, stats, users};
use natter::config::{
    self, Command, Config, LogFormat, LogSettings, MigrateAction, MigrateArgs, Settings,
};
use natter::db::Db;
use natter::jobs::admin;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// jemalloc instead of glibc's malloc: under W1, glibc's malloc and free took
/// 18 % of the server's CPU; jemalloc gave W1 about a quarter more messages per
/// second at the same memory per idle socket (mimalloc: as fast, 10.6 KiB per
/// socket). Measurements in docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Settings may live in a .env file, as in the guide: the working
    // directory's only (a .env further up, say at a repository's root, is not
    // this server's); real environment variables win over it.
    if let Err(message) = config::load_dotenv(Path::new(".env")) {
        return fail(&message);
    }
    let (cli, matches) = match config::parse(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(err) => return clap_exit(err),
    };
    // `serve` logs to stdout, as a service does; the other commands print
    // their answers on stdout, so their logs go to stderr.
    let to_stdout = matches!(cli.command, Command::Serve(_));
    init_logging(&quiet_for_printing_commands(&cli, &matches), to_stdout);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}")),
    };
    let result = runtime.block_on(run(cli.command, &matches));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&one_line(&err)),
    }
}

async fn run(command: Command, matches: &ArgMatches) -> anyhow::Result<()> {
    match command {
        Command::Serve(settings) => serve(*settings).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Backup(args) => {
            let db = Db::connect(&args.database.url(), 2).await?;
            let result = db.backup_into(&args.file).await;
            db.disconnect().await;
            result?;
            print_lines(vec![format!("backup written to {}", args.file.display())]);
            Ok(())
        }
        Command::Users(args) => {
            let admin = Admin::connect(*args.settings).await?;
            let lines = users(&admin.state, &args.action).await;
            admin.finish().await;
            print_lines(lines?);
            Ok(())
        }
        Command::Sessions(args) => {
            let admin = Admin::connect(*args.settings).await?;
            let lines = sessions(&admin.state, &args.action).await;
            admin.finish().await;
            print_lines(lines?);
            Ok(())
        }
        Command::Stats(settings) => {
            let admin = Admin::connect(*settings).await?;
            let lines = stats(&admin.state).await;
            admin.finish().await;
            print_lines(lines?);
            Ok(())
        }
        Command::Jobs(args) => {
            let db = Db::connect(&args.database.url(), 2).await?;
            let lines = admin::run(&db, args.action.as_ref()).await;
            db.close().await;
            print_lines(lines?);
            Ok(())
        }
        Command::Config(settings) => {
            // Checked like `serve` checks them, but nothing is created: no
            // folder, no generated secret.
            settings.check()?;
            let own = matches.subcommand_matches("config").unwrap_or(matches);
            print_lines(config::describe(own, &settings));
            Ok(())
        }
    }
}

/// `natter migrate [status|down N]`: with no action, runs what is pending.
async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let database = args.database;
    let db = Db::connect(&database.url(), database.db_max_connections).await?;
    let result = match args.action {
        None => db.migrate().await.map(|()| {
            tracing::info!("migrations are up to date");
        }),
        Some(MigrateAction::Down { n }) => db.migrate_down(n).await.map(|()| {
            tracing::info!(steps = n, "rolled back");
        }),
        Some(MigrateAction::Status) => db.migration_status().await.map(|all| {
            print_lines(
                all.iter()
                    .map(|m| {
                        let state = if m.applied { "applied" } else { "pending" };
                        format!("{state:<8} {}", m.name)
                    })
                    .collect(),
            );
        }),
    };
    db.close().await;
    Ok(result?)
}

/// The output of a command that exists to print (`config`, `jobs`, `users`,
/// ...): stdout, one line each; its logs go to stderr.
fn print_lines(lines: Vec<String>) {
    #[allow(clippy::print_stdout)]
    for line in lines {
        println!("{line}");
    }
}

/// How long a stop that overran [`natter::SHUTDOWN_GRACE`] still gives the
/// database to checkpoint and close.
const FINAL_CLOSE: std::time::Duration = std::time::Duration::from_secs(5);

async fn serve(settings: Settings) -> anyhow::Result<()> {
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
    let db = running.state.db.clone();
    let stage = running.stop_stage();
    // The grace period starts with the stop request, not with the server.
    match tokio::time::timeout(natter::SHUTDOWN_GRACE, running.wait()).await {
        Ok(result) => result?,
        Err(_) => {
            tracing::warn!(
                stage = stage.current(),
                "the stop did not finish in time; exiting"
            );
            // Still checkpoint SQLite's WAL, so the file alone is a backup;
            // but a connection still held by what overran must not hold the
            // exit too.
            let close = tokio::time::timeout(FINAL_CLOSE, db.close());
            if close.await.is_err() {
                tracing::warn!("the database did not close in time; exiting without it");
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// A command that exists to print (`users`, `stats`, `backup`, `jobs`,
/// `config`, ...) logs warnings and errors only unless LOG_LEVEL says
/// otherwise: its answer is the output, not the migrations it checked on the way.
fn quiet_for_printing_commands(cli: &config::Cli, matches: &ArgMatches) -> LogSettings {
    let mut log = cli.log.clone();
    let prints = !matches!(cli.command, Command::Serve(_) | Command::Migrate(_));
    if prints && matches.value_source("log_level") == Some(ValueSource::DefaultValue) {
        log.log_level = "warn".to_string();
    }
    log
}

fn init_logging(log: &LogSettings, to_stdout: bool) {
    let (writer, terminal) = if to_stdout {
        (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        )
    } else {
        (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        )
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(&log.log_level))
        .with_writer(writer)
        .with_target(false);
    let _ = match log.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        // Colour codes only for a person at a terminal, never into a file or a pipe.
        LogFormat::Text => builder.with_ansi(terminal).try_init(),
    };
}

/// LOG_LEVEL (checked when parsed), with PostgreSQL's notices held back to
/// `debug`: sqlx logs a notice ("relation ... already exists, skipping") at
/// INFO, which is chatter, not news. A filter that names sqlx itself decides
/// for itself.
fn log_filter(directives: &str) -> EnvFilter {
    let filter = EnvFilter::builder().parse_lossy(directives);
    let verbose = filter
        .max_level_hint()
        .is_some_and(|level| level >= LevelFilter::DEBUG);
    if verbose || directives.contains("sqlx") {
        return filter;
    }
    match "sqlx::postgres::notice=warn".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// An error and its causes on one line, each said once: the database and
/// Redis errors repeat their cause in their own message.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(text.as_str()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// One line on stderr, exit code 1.
fn fail(message: &str) -> ExitCode {
    eprintln!("natter: {message}");
    ExitCode::FAILURE
}

/// Help and version print as clap formats them; a bad setting prints one line
/// naming it, its value and what it accepts.
fn clap_exit(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => fail(&config::explain(&err)),
    }
}
