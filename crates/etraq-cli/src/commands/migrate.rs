//! `etraq migrate --from URL --to URL`: copies a whole store into an empty one of any backend,
//! table by table in pages, with progress, then verifies each table's row count and checksum
//! by reading the target back ([`etraq_core::copy`]).

use std::path::Path;

use anyhow::{Result, bail};
use etraq_core::config::StoreUrl;
use etraq_core::copy::{self, Table, TableReport};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::MigrateArgs;
use crate::context::{Context, describe, open_store_with};
use crate::out::Out;

/// What `--json` prints.
#[derive(Serialize)]
struct Report {
    from: String,
    to: String,
    tables: Vec<TableReport>,
    rows: u64,
    verified: bool,
}

pub async fn run(ctx: &Context, a: MigrateArgs) -> Result<()> {
    let from = match &a.from {
        Some(u) => StoreUrl::parse(u, Path::new("."))?,
        None => ctx.store_url.clone(),
    };
    let to = StoreUrl::parse(&a.to, Path::new("."))?;
    if from == to {
        bail!("--from and --to are the same store ({})", describe(&from));
    }
    refuse_running_server(ctx, &from)?;
    // Opening creates a missing embedded store: a mistyped --from would copy nothing.
    if let StoreUrl::Sqlite(p) | StoreUrl::Sled(p) = &from
        && !p.exists()
    {
        bail!("there is no store at {} (--from)", describe(&from));
    }
    let cache = ctx.config.store.cache_mb;
    let source = open_store_with(&from, cache)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the source store {}: {e}", describe(&from)))?;
    let target = match open_store_with(&to, cache).await {
        Ok(t) => t,
        Err(e) => {
            let _ = source.close().await;
            bail!("cannot open the target store {}: {e}", describe(&to));
        }
    };
    let outcome = copy_all(&*source, &*target, &from, &to, a.json).await;
    let closed = (source.close().await, target.close().await);
    let report = outcome?;
    closed.0?;
    closed.1?;
    let mut out = Out::new();
    if a.json {
        out.line(serde_json::to_string_pretty(&report)?)?;
    } else {
        out.line(format!(
            "{:<14} {:>10}  {:<32}  verified",
            "TABLE", "ROWS", "CHECKSUM"
        ))?;
        for t in &report.tables {
            out.line(format!(
                "{:<14} {:>10}  {:<32}  {}",
                t.table.name(),
                t.rows,
                t.checksum,
                if t.verified { "yes" } else { "NO" }
            ))?;
        }
        out.line(format!(
            "Copied {} rows from {} to {}.",
            report.rows, report.from, report.to
        ))?;
    }
    if let Some(bad) = report.tables.iter().find(|t| !t.verified) {
        bail!(
            "the copy of table {} does not match its source (count or checksum differs); \
             the target {} is incomplete and should be discarded",
            bad.table.name(),
            report.to
        );
    }
    Ok(())
}

/// Refuses to copy the configured store while a server of this data directory runs: the copy
/// reads page by page, so mail arriving meanwhile would be copied in part.
fn refuse_running_server(ctx: &Context, from: &StoreUrl) -> Result<()> {
    if *from != ctx.store_url {
        return Ok(());
    }
    let Ok(dir) = ctx.config.data_dir() else {
        return Ok(());
    };
    if let Some(pid) = crate::commands::status::running_server(&dir) {
        bail!(
            "etraq serve (pid {pid}) is running on {}; stop it first, so nothing changes while \
             the store is copied",
            describe(from)
        );
    }
    Ok(())
}

async fn copy_all(
    source: &dyn etraq_core::Store,
    target: &dyn etraq_core::Store,
    from: &StoreUrl,
    to: &StoreUrl,
    quiet: bool,
) -> Result<Report> {
    if copy::first_nonempty(source).await?.is_none() {
        bail!(
            "the source store {} is empty: nothing to copy",
            describe(from)
        );
    }
    if let Some(t) = copy::first_nonempty(target).await? {
        bail!(
            "the target store {} is not empty (its {} table has rows); migrate copies into an \
             empty store only",
            describe(to),
            t.name()
        );
    }
    let mut tables = Vec::with_capacity(Table::ALL.len());
    for table in Table::ALL {
        let bar = progress(table, quiet);
        let tick = |n: u64, verifying: bool| {
            if let Some(b) = &bar {
                if verifying {
                    b.set_message(format!("verifying {}", table.name()));
                }
                b.set_position(n);
            }
        };
        let report = copy::copy_table(source, target, table, &tick).await;
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let report = report.map_err(|e| {
            anyhow::anyhow!(
                "copying table {} from {} to {}: {e}; the target holds a partial copy: \
                 discard it (or empty it) before running migrate again",
                table.name(),
                describe(from),
                describe(to)
            )
        })?;
        tracing::info!(
            table = table.name(),
            rows = report.rows,
            verified = report.verified,
            "table copied"
        );
        tables.push(report);
    }
    target.finish_import().await?;
    Ok(Report {
        from: describe(from),
        to: describe(to),
        rows: tables.iter().map(|t| t.rows).sum(),
        verified: tables.iter().all(|t| t.verified),
        tables,
    })
}

fn progress(table: Table, quiet: bool) -> Option<ProgressBar> {
    if quiet || !console::Term::stderr().is_term() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}: {pos} rows") {
        bar.set_style(style);
    }
    bar.set_message(format!("copying {}", table.name()));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}
