//! One module per command; each turns parsed arguments into calls on the core and prints the
//! result.

/// Lays the flags a user gave (`Option` fields of `$args`) over a config section `$config`
/// whose fields have the same names: what the flag says wins, an absent flag keeps the file's
/// value.
macro_rules! overlay_flags {
    ($config:ident, $args:expr, $($field:ident),* $(,)?) => {
        $( if let Some(v) = $args.$field.clone() { $config.$field = v; } )*
    };
}

mod audience;
mod auth;
mod campaign;
mod dr;
pub mod escalate;
pub(crate) mod extract;
mod ingest;
mod init;
mod jobs;
mod listing;
mod migrate;
mod report;
mod serve;
pub mod status;
pub mod support;
mod templates;
mod user;
pub(crate) mod validate;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::Context;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let Cli {
        config,
        store,
        log_format,
        command,
    } = cli;
    let command = match command {
        Command::Init(args) => {
            crate::init_tracing(log_format, None);
            return init::run(config.as_deref(), store.as_deref(), &args).await;
        }
        other => other,
    };
    let ctx = Context::load(config.as_deref(), store.as_deref())?;
    let _log_guard = match &command {
        Command::Serve(_) => {
            crate::init_tracing(log_format, Some((ctx.logs_dir()?, ctx.time_zone()?)))
        }
        _ => crate::init_tracing(log_format, None),
    };
    match command {
        Command::Init(_) => Ok(()),
        Command::Serve(args) => serve::run(ctx, args).await,
        Command::User(cmd) => user::run(&ctx, cmd).await,
        Command::Ingest(args) => ingest::run(&ctx, args).await,
        Command::Dr(cmd) => dr::run(&ctx, cmd).await,
        Command::Untracked(cmd) => listing::untracked(&ctx, cmd).await,
        Command::History(args) => listing::history(&ctx, args).await,
        Command::Search(args) => listing::search(&ctx, args).await,
        Command::Archive(crate::cli::ArchiveCommand::Export(args)) => {
            listing::export(&ctx, args).await
        }
        Command::Escalate(args) => escalate::escalate(&ctx, args).await,
        Command::Alerts(cmd) => escalate::alerts(&ctx, cmd).await,
        Command::Status(args) => status::run(&ctx, args).await,
        Command::Migrate(args) => migrate::run(&ctx, args).await,
        Command::Report(cmd) => report::run(&ctx, cmd).await,
        Command::Logs(cmd) => report::logs(&ctx, cmd).await,
        Command::Admin(cmd) => auth::admin(&ctx, cmd).await,
        Command::Token(cmd) => auth::token(&ctx, cmd).await,
        Command::Extract(args) => extract::run(&ctx, args).await,
        Command::Validate(args) => validate::run(&ctx, args).await,
        Command::List(cmd) => audience::list(&ctx, cmd).await,
        Command::Subscriber(cmd) => audience::subscriber(&ctx, cmd).await,
        Command::Blocklist(cmd) => audience::blocklist(&ctx, cmd).await,
        Command::Template(cmd) => templates::run(&ctx, cmd).await,
        Command::Campaign(cmd) => campaign::run(&ctx, cmd).await,
        Command::Job(cmd) => jobs::run(&ctx, cmd).await,
        Command::Kb(cmd) => support::run_kb(&ctx, cmd).await,
        Command::Autoreply(cmd) => support::run_autoreply(&ctx, cmd).await,
    }
}

/// The error of a command stopped by Ctrl-C after it printed what it had: exit status 130,
/// no further message.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Parses an RFC 3339 time given on the command line, naming the flag on error.
pub fn parse_time(flag: &str, s: &str) -> Result<jiff::Timestamp> {
    s.trim().parse().map_err(|e| {
        anyhow::anyhow!("{flag} {s:?} is not an RFC 3339 time (e.g. 2026-11-27T09:00:00Z): {e}")
    })
}

/// Parses an email address given on the command line, naming the flag on error.
pub fn parse_address(flag: &str, s: &str) -> Result<etraq_core::EmailAddress> {
    etraq_core::EmailAddress::parse(s).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
