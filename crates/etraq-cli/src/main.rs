//! `etraq`: the command-line frontend. Thin: argument parsing, wiring and output formatting; the
//! rules live in `etraq-core`.

mod cli;
mod commands;
mod context;
mod input;
mod out;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = cli::Cli::parse();
    init_tracing(matches!(cli.command, cli::Command::Serve(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etraq: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(commands::run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if out::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("etraq: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to standard error; `ETRAQ_LOG` (an `EnvFilter` spec such as `debug` or
/// `etraq=debug`) overrides the default level: `info` for the server, `warn` otherwise.
fn init_tracing(server: bool) {
    let default = if server { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ETRAQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
