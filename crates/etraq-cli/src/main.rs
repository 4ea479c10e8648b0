//! `etraq`: the command-line frontend. Thin: argument parsing, wiring and output formatting; the
//! rules live in `etraq-core`.

mod cli;
mod commands;
mod context;
mod input;
mod jobs;
mod logfiles;
mod out;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = cli::Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = server_threads(&cli) {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etraq: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // Whatever a task is still doing (a session past its grace period, a blocking read) must
    // not keep the process alive after the command is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if out::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<commands::Interrupted>().is_some() => ExitCode::from(130),
        Err(e) => {
            eprintln!("etraq: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The configured `threads` for `serve` (the runtime is built before the command runs, so the
/// key is read here). `None` (one worker per CPU) for other commands, for `threads = 0`, and when
/// the configuration cannot be read: `serve` itself then reports why.
fn server_threads(cli: &cli::Cli) -> Option<usize> {
    if !matches!(cli.command, cli::Command::Serve(_)) {
        return None;
    }
    let ctx = context::Context::load(cli.config.as_deref(), cli.store.as_deref()).ok()?;
    (ctx.config.threads > 0).then_some(ctx.config.threads)
}

/// Logs go to standard error and, for the server, also to the daily `ETMMDDYYYY.LOG` in the data
/// directory's `logs/`. `ETRAQ_LOG` (an `EnvFilter` spec such as `debug` or `etraq=debug`)
/// overrides the default level: `info` for the server, `warn` otherwise. Standard error is
/// coloured only when it is a terminal, so a log collected by systemd or a pipe never holds ANSI
/// codes; `--log-format json` makes it one JSON object per line. The file log is always plain
/// text, because the console's log viewer shows it. The returned guard flushes the file log
/// when dropped.
pub fn init_tracing(
    format: cli::LogFormat,
    file: Option<(std::path::PathBuf, jiff::tz::TimeZone)>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = if file.is_some() { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ETRAQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let stderr = match format {
        cli::LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        cli::LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let (to_file, guard) = match file {
        Some((dir, tz)) => {
            let (writer, guard) = tracing_appender::non_blocking(logfiles::DailyLog::new(dir, tz));
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(to_file)
        .try_init();
    guard
}
