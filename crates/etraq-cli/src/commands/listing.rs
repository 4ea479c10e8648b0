//! Paged listings: `untracked list`, `history`, and the paging shared with `dr list`.
//!
//! Tables show 100 rows unless `--limit` says otherwise and then print the cursor for the next
//! page; `--json` streams every row (or `--limit` rows) as one JSON array, page by page, so a
//! million rows never sit in memory at once.

use std::future::Future;

use anyhow::Result;
use etraq_core::access::Actor;
use etraq_core::service::PageRequest;
use etraq_core::store::Page;
use etraq_core::{MailRecord, Party};
use serde::Serialize;

use crate::cli::{HistoryArgs, Paging, UntrackedCommand};
use crate::context::Context;
use crate::out::{JsonArray, Out};
use crate::render::{self, MailRow, UntrackedRow};

/// Rows a table shows when no `--limit` is given.
pub const DEFAULT_TABLE_ROWS: usize = 100;

/// Rows fetched per store call.
const FETCH: usize = 500;

/// Collects up to `limit` rows (all when `None`) page by page, handing each page to `sink`.
/// Returns the cursor of the next row when the limit cut the listing short.
pub async fn pages<T, F, Fut>(
    paging: &Paging,
    limit: Option<usize>,
    mut fetch: F,
    mut sink: impl FnMut(Vec<T>) -> Result<()>,
) -> Result<Option<u64>>
where
    F: FnMut(Option<u64>, usize) -> Fut,
    Fut: Future<Output = etraq_core::Result<Page<T>>>,
{
    let mut after = paging.after;
    let mut left = limit;
    loop {
        let want = left.map_or(FETCH, |l| l.min(FETCH));
        if want == 0 {
            return Ok(after);
        }
        let page = fetch(after, want).await?;
        let n = page.items.len();
        sink(page.items)?;
        if let Some(l) = left.as_mut() {
            *l -= n.min(*l);
        }
        match page.next {
            Some(c) => after = Some(c),
            None => return Ok(None),
        }
        if left == Some(0) {
            return Ok(after);
        }
    }
}

/// The limit a listing uses: `--limit`, else all rows for JSON and 100 for a table.
pub fn effective_limit(paging: &Paging, json: bool) -> Option<usize> {
    paging
        .limit
        .or(if json { None } else { Some(DEFAULT_TABLE_ROWS) })
}

/// Tells a table reader how to see the rest.
pub fn more_hint(cursor: Option<u64>, what: &str) {
    if let Some(c) = cursor {
        eprintln!("more {what}: add --after {c} (or --limit N / --json for more rows at once)");
    }
}

/// Prints a paged listing: a JSON array streamed page by page, or a table of the rows (with a
/// hint for the next page when `--limit` cut it short).
pub async fn emit<T, R, F, Fut>(
    paging: &Paging,
    json: bool,
    fetch: F,
    row: fn(&T) -> R,
    table: impl FnOnce(&[R]) -> comfy_table::Table,
    what: &str,
) -> Result<()>
where
    R: Serialize,
    F: FnMut(Option<u64>, usize) -> Fut,
    Fut: Future<Output = etraq_core::Result<Page<T>>>,
{
    let limit = effective_limit(paging, json);
    let mut out = Out::new();
    if json {
        let mut arr = JsonArray::start(&mut out)?;
        pages(paging, limit, fetch, |items| {
            items.iter().try_for_each(|m| arr.push(&row(m)))
        })
        .await?;
        arr.finish()?;
    } else {
        let mut rows = Vec::new();
        let cursor = pages(paging, limit, fetch, |items| {
            rows.extend(items.iter().map(row));
            Ok(())
        })
        .await?;
        if rows.is_empty() {
            out.line(format!("no {what}"))?;
        } else {
            out.line(table(&rows).to_string())?;
        }
        more_hint(cursor, what);
    }
    Ok(())
}

pub async fn untracked(ctx: &Context, cmd: UntrackedCommand) -> Result<()> {
    let UntrackedCommand::List(args) = cmd;
    let app = ctx.app().await?;
    let tz = ctx.time_zone()?;
    let fetch = |after, limit| {
        let app = app.clone();
        async move {
            app.untracked(&Actor::admin(), None, false, &at(after, limit))
                .await
        }
    };
    let result = emit(
        &args.paging,
        args.json,
        fetch,
        |m: &MailRecord| UntrackedRow::from(m),
        |rows| render::untracked_table(rows, &tz),
        "untracked mails",
    )
    .await;
    app.store().close().await?;
    result
}

pub async fn history(ctx: &Context, args: HistoryArgs) -> Result<()> {
    let party = Party::parse(&args.party)
        .map_err(|e| anyhow::anyhow!("{e} (expected an address or @domain)"))?;
    let app = ctx.app().await?;
    let tz = ctx.time_zone()?;
    let fetch = |after, limit| {
        let (app, party) = (app.clone(), party.clone());
        async move { app.history(&Actor::admin(), party, &at(after, limit)).await }
    };
    let what = format!("mail with {party} on record");
    let result = emit(
        &args.paging,
        args.json,
        fetch,
        |m: &MailRecord| MailRow::from(m),
        |rows| render::mail_table(rows, &tz, true),
        &what,
    )
    .await;
    app.store().close().await?;
    result
}

/// `etraq search QUERY`: the best matches first, as a table or JSON.
pub async fn search(ctx: &Context, args: crate::cli::SearchArgs) -> Result<()> {
    let app = ctx.app().await?;
    let tz = ctx.time_zone()?;
    let query = args.query.join(" ");
    let result = app
        .search(&Actor::admin(), &query, usize::from(args.limit))
        .await;
    app.store().close().await?;
    let shown: String = query.chars().take(80).collect();
    let shown = if shown.len() < query.len() {
        format!("{shown}…")
    } else {
        shown
    };
    let rows = result.map_err(|e| anyhow::anyhow!("search {shown:?}: {e}"))?;
    let mut out = crate::out::Out::new();
    if args.json {
        out.line(serde_json::to_string_pretty(&rows)?)?;
    } else if rows.is_empty() {
        out.line(format!("No mail matches {shown:?}."))?;
    } else {
        let mut t = crate::render::table(&["Date", "From", "Subject", "DR", "Snippet"]);
        for r in &rows {
            t.add_row(vec![
                r.date
                    .to_zoned_datetime(tz.clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string(),
                r.from.clone().unwrap_or_default(),
                r.subject.clone(),
                r.dr.clone().unwrap_or_default(),
                r.snippet.clone(),
            ]);
        }
        out.line(t.to_string())?;
    }
    out.flush()?;
    Ok(())
}

/// A day (`YYYY-MM-DD`, its start in `tz`) or an RFC 3339 time, naming the flag on error.
fn day_or_time(flag: &str, s: &str, tz: &jiff::tz::TimeZone) -> Result<jiff::Timestamp> {
    if let Ok(t) = etraq_core::archive::day_start(s.trim(), tz) {
        return Ok(t);
    }
    crate::commands::parse_time(flag, s).map_err(|_| {
        anyhow::anyhow!("{flag} {s:?} is neither a day (2026-12-04) nor an RFC 3339 time")
    })
}

/// `etraq archive export`: the raw messages as an mbox, streamed page by page.
pub async fn export(ctx: &Context, args: crate::cli::ExportArgs) -> Result<()> {
    use std::io::Write;
    let tz = ctx.time_zone()?;
    let filter = etraq_core::service::ExportFilter {
        since: args
            .since
            .as_deref()
            .map(|s| day_or_time("--since", s, &tz))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| day_or_time("--until", s, &tz))
            .transpose()?,
        party: args
            .party
            .as_deref()
            .map(|p| {
                Party::parse(p)
                    .map_err(|e| anyhow::anyhow!("--party {p:?}: {e} (an address or @domain)"))
            })
            .transpose()?,
    };
    let mut sink: Box<dyn Write + Send> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let bar = (args.output.is_some() && console::Term::stderr().is_term()).then(|| {
        let b =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner} exporting {pos} messages {elapsed}")
        {
            b.set_style(style);
        }
        b.enable_steady_tick(std::time::Duration::from_millis(200));
        b
    });
    let app = ctx.app().await?;
    let result = app
        .export_mbox(&Actor::admin(), &filter, &mut sink, |n| {
            if let Some(b) = &bar {
                b.set_position(n);
            }
        })
        .await;
    app.store().close().await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let n = result.map_err(|e| anyhow::anyhow!("archive export: {e}"))?;
    if let Some(path) = &args.output {
        eprintln!("exported {n} messages to {}", path.display());
    }
    Ok(())
}

/// A page request of `limit` rows after `after`.
pub fn at(after: Option<u64>, limit: usize) -> PageRequest {
    PageRequest {
        after,
        after_key: None,
        limit,
    }
}
