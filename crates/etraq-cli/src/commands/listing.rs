//! Paged listings: `untracked list`, `history`, and the paging shared with `dr list`.
//!
//! Tables show 100 rows unless `--limit` says otherwise and then print the cursor for the next
//! page; `--json` streams every row (or `--limit` rows) as one JSON array, page by page, so a
//! million rows never sit in memory at once.

use std::future::Future;

use anyhow::Result;
use etraq_core::Party;
use etraq_core::store::{MailQuery, Page};
use serde::Serialize;

use crate::cli::{HistoryArgs, Paging, UntrackedCommand};
use crate::context::Context;
use crate::out::Out;
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

/// Streams rows as one JSON array.
pub struct JsonArray<'a> {
    out: &'a mut Out,
    first: bool,
}

impl<'a> JsonArray<'a> {
    pub fn start(out: &'a mut Out) -> Result<Self> {
        out.text("[")?;
        Ok(JsonArray { out, first: true })
    }

    pub fn push<T: Serialize>(&mut self, row: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(row)?;
        let sep = if self.first { "\n" } else { ",\n" };
        self.first = false;
        self.out.text(sep)?;
        self.out.text(text)?;
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        self.out.line(if self.first { "]" } else { "\n]" })?;
        Ok(())
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

pub async fn untracked(ctx: &Context, cmd: UntrackedCommand) -> Result<()> {
    let UntrackedCommand::List(args) = cmd;
    let store = ctx.open_store().await?;
    let tz = ctx.time_zone()?;
    let limit = effective_limit(&args.paging, args.json);
    let mut out = Out::new();
    let fetch = |after, limit| {
        let store = store.clone();
        async move {
            store
                .list_mails(&MailQuery {
                    tracked: Some(false),
                    after,
                    limit,
                    ..MailQuery::default()
                })
                .await
        }
    };
    if args.json {
        let mut arr = JsonArray::start(&mut out)?;
        pages(&args.paging, limit, fetch, |items| {
            items
                .iter()
                .try_for_each(|m| arr.push(&UntrackedRow::from(m)))
        })
        .await?;
        arr.finish()?;
    } else {
        let mut rows = Vec::new();
        let cursor = pages(&args.paging, limit, fetch, |items| {
            rows.extend(items.iter().map(UntrackedRow::from));
            Ok(())
        })
        .await?;
        out.line(render::untracked_table(&rows, &tz).to_string())?;
        more_hint(cursor, "untracked mails");
    }
    store.close().await?;
    Ok(())
}

pub async fn history(ctx: &Context, args: HistoryArgs) -> Result<()> {
    let party = Party::parse(&args.party)
        .map_err(|e| anyhow::anyhow!("{e} (expected an address or @domain)"))?;
    let store = ctx.open_store().await?;
    let tz = ctx.time_zone()?;
    let limit = effective_limit(&args.paging, args.json);
    let mut out = Out::new();
    let fetch = |after, limit| {
        let store = store.clone();
        let party = party.clone();
        async move {
            store
                .list_mails(&MailQuery {
                    party: Some(party),
                    after,
                    limit,
                    oldest_first: true,
                    ..MailQuery::default()
                })
                .await
        }
    };
    if args.json {
        let mut arr = JsonArray::start(&mut out)?;
        pages(&args.paging, limit, fetch, |items| {
            items.iter().try_for_each(|m| arr.push(&MailRow::from(m)))
        })
        .await?;
        arr.finish()?;
    } else {
        let mut rows = Vec::new();
        let cursor = pages(&args.paging, limit, fetch, |items| {
            rows.extend(items.iter().map(MailRow::from));
            Ok(())
        })
        .await?;
        if rows.is_empty() {
            out.line(format!("no mail with {party} on record"))?;
        } else {
            out.line(format!("history of {party}, oldest first:"))?;
            out.line(render::mail_table(&rows, &tz, true).to_string())?;
        }
        more_hint(cursor, "history");
    }
    store.close().await?;
    Ok(())
}
