//! `etraq list`, `etraq subscriber` and `etraq blocklist`: parse, call the audience use cases as
//! the administrator, print.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use etraq_core::access::Actor;
use etraq_core::campaign::{
    BlockReason, CsvRows, ListSummary, MemberStatus, MergeOutcome, Row, SubscriberInput,
    SubscriberQuery, write_csv,
};
use etraq_core::service::{App, IMPORT_BATCH, ImportReport, ListSettings};
use etraq_core::views::{SubscriberRow, columns};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::Timestamp;

use crate::cli::{
    BlockReasonArg, BlocklistCommand, ListCommand, MemberStatusArg, SubscriberCommand,
    SubscriberImportArgs, SubscriberListArgs,
};
use crate::commands::parse_address;
use crate::context::Context;
use crate::out::{JsonArray, Out};
use crate::render::table;

/// Runs `etraq list …`.
pub async fn list(ctx: &Context, cmd: ListCommand) -> Result<()> {
    let app = ctx.app().await?;
    let result = list_command(&app, ctx, cmd).await;
    app.store().close().await?;
    result
}

/// Runs `etraq subscriber …`.
pub async fn subscriber(ctx: &Context, cmd: SubscriberCommand) -> Result<()> {
    let app = ctx.app().await?;
    let result = subscriber_command(&app, ctx, cmd).await;
    app.store().close().await?;
    result
}

/// Runs `etraq blocklist …`.
pub async fn blocklist(ctx: &Context, cmd: BlocklistCommand) -> Result<()> {
    let app = ctx.app().await?;
    let result = blocklist_command(&app, ctx, cmd).await;
    app.store().close().await?;
    result
}

async fn list_command(app: &App, ctx: &Context, cmd: ListCommand) -> Result<()> {
    let who = Actor::admin();
    let now = Timestamp::now();
    let mut out = Out::new();
    match cmd {
        ListCommand::Create(a) => {
            let settings = ListSettings {
                description: a.description,
                double_opt_in: Some(a.double_opt_in),
                public: Some(a.public),
            };
            let l = app.create_list(&who, &a.name, &settings, now).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&l)?)?;
            } else {
                out.line(format!(
                    "list {:?} created ({} opt-in{})",
                    l.name,
                    l.opt_in.as_str(),
                    if l.public { ", public" } else { "" }
                ))?;
            }
        }
        ListCommand::Set(a) => {
            let settings = ListSettings {
                description: a.description,
                double_opt_in: flag_pair(a.double_opt_in, a.single_opt_in),
                public: flag_pair(a.public, a.private),
            };
            let l = app.update_list(&who, &a.name, &settings).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&l)?)?;
            } else {
                out.line(format!("list {:?} updated", l.name))?;
            }
        }
        ListCommand::Ls(a) => {
            let lists = app.lists(&who).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&lists)?)?;
            } else {
                out.line(list_table(&lists).to_string())?;
            }
        }
        ListCommand::Show(a) => {
            let l = app.list(&who, &a.name).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&l)?)?;
            } else {
                let tz = ctx.time_zone()?;
                out.line(list_table(std::slice::from_ref(&l)).to_string())?;
                out.line(format!(
                    "created {}",
                    crate::render::time(l.list.created_at, &tz)
                ))?;
            }
        }
        ListCommand::Delete(a) => {
            app.delete_list(&who, &a.name).await?;
            if a.json {
                out.line(serde_json::json!({ "deleted": a.name }).to_string())?;
            } else {
                out.line(format!("list {:?} deleted", a.name))?;
            }
        }
    }
    Ok(())
}

/// `--on` / `--off` flag pairs: `None` when neither was given.
fn flag_pair(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

fn list_table(lists: &[ListSummary]) -> comfy_table::Table {
    let mut t = table(columns::LISTS);
    for l in lists {
        t.add_row(vec![
            l.list.name.clone(),
            l.list.opt_in.as_str().to_string(),
            if l.list.public { "yes" } else { "no" }.to_string(),
            l.confirmed.to_string(),
            l.unconfirmed.to_string(),
            l.unsubscribed.to_string(),
            l.list.description.clone(),
        ]);
    }
    t
}

fn status(s: MemberStatusArg) -> MemberStatus {
    match s {
        MemberStatusArg::Confirmed => MemberStatus::Confirmed,
        MemberStatusArg::Unconfirmed => MemberStatus::Unconfirmed,
        MemberStatusArg::Unsubscribed => MemberStatus::Unsubscribed,
    }
}

fn reason(r: BlockReasonArg) -> BlockReason {
    match r {
        BlockReasonArg::Manual => BlockReason::Manual,
        BlockReasonArg::HardBounce => BlockReason::HardBounce,
        BlockReasonArg::SoftBounces => BlockReason::SoftBounces,
        BlockReasonArg::Complaint => BlockReason::Complaint,
    }
}

fn query(a: &SubscriberListArgs) -> SubscriberQuery {
    SubscriberQuery {
        list: a.list.clone(),
        status: a.status.map(status),
        search: a.search.clone(),
        after: None,
        limit: etraq_core::store::MAX_PAGE_SIZE,
    }
}

async fn subscriber_command(app: &App, ctx: &Context, cmd: SubscriberCommand) -> Result<()> {
    let who = Actor::admin();
    let now = Timestamp::now();
    let mut out = Out::new();
    match cmd {
        SubscriberCommand::Add(a) => {
            let mut attribs = serde_json::Map::new();
            for kv in &a.attrs {
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("--attr {kv:?}: expected KEY=VALUE");
                };
                attribs.insert(
                    k.trim().to_string(),
                    serde_json::Value::String(v.to_string()),
                );
            }
            let input = SubscriberInput {
                email: parse_address("the address", &a.email)?,
                name: a.name,
                attribs,
            };
            let email = input.email.clone();
            let (outcome, confirmation) = app
                .add_subscriber(&who, &a.list, input, a.confirmed, now)
                .await?;
            if a.json {
                out.line(
                    serde_json::json!({ "email": email, "outcome": outcome, "confirmation_queued": confirmation })
                        .to_string(),
                )?;
            } else {
                out.line(match outcome {
                    MergeOutcome::Imported if confirmation => format!(
                        "{email} added to {} as unconfirmed; a confirmation mail is queued (etraq serve sends it)",
                        a.list
                    ),
                    MergeOutcome::Imported => format!("{email} added to {}", a.list),
                    MergeOutcome::Updated => format!("{email} was on {} already; updated", a.list),
                    MergeOutcome::Skipped => format!(
                        "{email} not added: unsubscribed from {} or blocklisted",
                        a.list
                    ),
                })?;
            }
        }
        SubscriberCommand::Import(a) => import(app, &who, a, now, &mut out).await?,
        SubscriberCommand::Export(a) => {
            let all = match (&a.segment, &a.list) {
                (Some(expr), Some(list)) => {
                    let audience = app
                        .audience(&who, std::slice::from_ref(list), Some(expr), "")
                        .await?;
                    audience.recipients.into_iter().map(|(s, _)| s).collect()
                }
                _ => {
                    let mut q = query(&a);
                    let mut all = Vec::new();
                    loop {
                        let page = app.subscribers(&who, &q).await?;
                        all.extend(page.items);
                        match page.next {
                            Some(n) if a.limit == 0 || all.len() < a.limit => q.after = Some(n),
                            _ => break,
                        }
                    }
                    all
                }
            };
            let all: Vec<_> = match a.limit {
                0 => all,
                n => all.into_iter().take(n).collect(),
            };
            let mut buf = Vec::new();
            write_csv(&mut buf, &all, a.list.as_deref())?;
            out.text(String::from_utf8_lossy(&buf))?;
        }
        SubscriberCommand::List(a) => {
            let rows: Vec<SubscriberRow> = match (&a.segment, &a.list) {
                (Some(expr), Some(list)) => {
                    let audience = app
                        .audience(&who, std::slice::from_ref(list), Some(expr), "")
                        .await?;
                    let mut rows: Vec<SubscriberRow> = audience
                        .recipients
                        .iter()
                        .map(|(s, _)| SubscriberRow::new(s, None))
                        .collect();
                    if a.limit > 0 {
                        rows.truncate(a.limit);
                    }
                    rows
                }
                _ => {
                    let mut q = query(&a);
                    let mut rows = Vec::new();
                    loop {
                        let (page, next) = app.subscriber_rows(&who, &q).await?;
                        rows.extend(page);
                        if a.limit > 0 && rows.len() >= a.limit {
                            rows.truncate(a.limit);
                            break;
                        }
                        match next {
                            Some(n) => q.after = Some(n),
                            None => break,
                        }
                    }
                    rows
                }
            };
            if a.json {
                let mut arr = JsonArray::start(&mut out)?;
                for r in &rows {
                    arr.push(r)?;
                }
                arr.finish()?;
            } else {
                let mut t = table(columns::SUBSCRIBERS);
                for r in &rows {
                    t.add_row(vec![
                        r.email.clone(),
                        r.name.clone(),
                        r.lists
                            .iter()
                            .map(|m| format!("{} ({})", m.name, m.status))
                            .collect::<Vec<_>>()
                            .join(", "),
                        match &r.blocklist_entry {
                            Some(e) => format!("yes ({})", e.reason.as_str()),
                            None => "no".into(),
                        },
                        serde_json::Value::Object(r.attribs.clone()).to_string(),
                    ]);
                }
                out.line(t.to_string())?;
            }
        }
        SubscriberCommand::Show(a) => {
            let email = parse_address("the address", &a.email)?;
            let d = app.subscriber(&who, &email).await?;
            let row = d.row();
            if a.json {
                out.line(serde_json::to_string_pretty(&row)?)?;
            } else {
                let tz = ctx.time_zone()?;
                out.line(format!("email:       {}", row.email))?;
                out.line(format!("name:        {}", row.name))?;
                out.line(format!(
                    "since:       {}",
                    crate::render::time(row.created_at, &tz)
                ))?;
                out.line(format!("score:       {:.1}", d.score))?;
                out.line(format!(
                    "blocklisted: {}",
                    match &row.blocklist_entry {
                        Some(e) => format!("yes ({}, {})", e.address.key(), e.reason.as_str()),
                        None => "no".into(),
                    }
                ))?;
                for (k, v) in &row.attribs {
                    out.line(format!(
                        "attribute:   {k} = {}",
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    ))?;
                }
                for m in &row.lists {
                    out.line(format!(
                        "list:        {} ({} since {})",
                        m.name,
                        m.status,
                        crate::render::time(m.updated_at, &tz)
                    ))?;
                }
                for e in &row.events {
                    out.line(format!(
                        "event:       {} {} ({}){}",
                        crate::render::time(e.at, &tz),
                        e.kind,
                        e.campaign,
                        e.detail
                            .as_deref()
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ))?;
                }
            }
        }
        SubscriberCommand::Unsubscribe(a) => {
            let email = parse_address("the address", &a.email)?;
            let left = app
                .unsubscribe(&who, &email, a.list.as_deref(), now)
                .await?;
            if a.json {
                out.line(
                    serde_json::json!({ "email": email, "unsubscribed_from": left }).to_string(),
                )?;
            } else if left.is_empty() {
                out.line(format!("{email} was on no list"))?;
            } else {
                out.line(format!("{email} unsubscribed from {}", left.join(", ")))?;
            }
        }
    }
    Ok(())
}

/// Reads the CSV on a thread of its own (file or standard input) and merges it batch by batch,
/// so neither a slow disk nor a big file holds up the runtime or fills memory.
async fn import(
    app: &App,
    who: &Actor,
    a: SubscriberImportArgs,
    now: Timestamp,
    out: &mut Out,
) -> Result<()> {
    let (input, size): (Box<dyn Read + Send>, Option<u64>) = if a.file == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("cannot open {}", a.file))?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(f), size)
    };
    // Fail before reading when the list does not exist.
    app.list(who, &a.list).await?;
    let bar = progress_bar(size, a.json);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Row>, String>>(4);
    let counted = CountingReader::new(input, bar.clone());
    let file = a.file.clone();
    let reader = std::thread::spawn(move || {
        let rows = match CsvRows::new(counted) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(format!("{file}: {e}")));
                return;
            }
        };
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        for row in rows {
            batch.push(row);
            if batch.len() == IMPORT_BATCH
                && tx
                    .blocking_send(Ok(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(IMPORT_BATCH),
                    )))
                    .is_err()
            {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(Ok(batch));
        }
    });
    let mut report = ImportReport::default();
    let mut failed = None;
    while let Some(batch) = rx.recv().await {
        match batch {
            Ok(rows) => {
                if let Err(e) = app
                    .import_batch(who, &a.list, rows, a.confirmed, now, &mut report)
                    .await
                {
                    failed = Some(anyhow!(e));
                    break;
                }
                if let Some(b) = &bar {
                    b.set_message(format!("{} rows", report.rows()));
                }
            }
            Err(e) => {
                failed = Some(anyhow!(e));
                break;
            }
        }
    }
    drop(rx);
    let _ = reader.join();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(e) = failed {
        if report.rows() > 0 {
            eprintln!(
                "etraq: the import stopped after {} rows ({} imported, {} updated, {} skipped); \
                 what was merged stays",
                report.rows(),
                report.imported,
                report.updated,
                report.skipped
            );
        }
        return Err(e);
    }
    if a.json {
        out.line(serde_json::to_string_pretty(&report)?)?;
    } else {
        out.line(format!(
            "{}: {} imported, {} updated, {} skipped, {} refused",
            a.list, report.imported, report.updated, report.skipped, report.error_count
        ))?;
        if report.confirmations > 0 {
            out.line(format!(
                "  {} confirmation mails queued: the new members stay unconfirmed until they follow their link (etraq serve sends the mails)",
                report.confirmations
            ))?;
        }
        for e in &report.errors {
            out.line(format!("  line {}: {}", e.line, e.reason))?;
        }
        if report.error_count > report.errors.len() as u64 {
            out.line(format!(
                "  … and {} more refused rows",
                report.error_count - report.errors.len() as u64
            ))?;
        }
    }
    Ok(())
}

fn progress_bar(size: Option<u64>, json: bool) -> Option<ProgressBar> {
    if json || !console::Term::stderr().is_term() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(size, ProgressDrawTarget::stderr());
    let template = if size.is_some() {
        "{spinner} importing [{wide_bar}] {bytes}/{total_bytes} {msg}"
    } else {
        "{spinner} importing {bytes} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

/// Advances the progress bar by the bytes read.
struct CountingReader {
    inner: Box<dyn Read + Send>,
    bar: Option<ProgressBar>,
}

impl CountingReader {
    fn new(inner: Box<dyn Read + Send>, bar: Option<ProgressBar>) -> Self {
        CountingReader { inner, bar }
    }
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}

async fn blocklist_command(app: &App, ctx: &Context, cmd: BlocklistCommand) -> Result<()> {
    let who = Actor::admin();
    let mut out = Out::new();
    match cmd {
        BlocklistCommand::Add(a) => {
            let e = app
                .block(&who, &a.address, reason(a.reason), Timestamp::now())
                .await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&e)?)?;
            } else {
                out.line(format!(
                    "{} blocklisted ({})",
                    e.address.key(),
                    e.reason.as_str()
                ))?;
            }
        }
        BlocklistCommand::Remove(a) => {
            app.unblock(&who, &a.address).await?;
            out.line(format!("{} removed from the blocklist", a.address.trim()))?;
        }
        BlocklistCommand::List(a) => {
            let entries = app.blocklist(&who).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&entries)?)?;
            } else {
                let tz = ctx.time_zone()?;
                let mut t = table(columns::BLOCKLIST);
                for e in &entries {
                    t.add_row(vec![
                        e.address.key(),
                        e.reason.as_str().to_string(),
                        crate::render::time(e.created_at, &tz),
                    ]);
                }
                out.line(t.to_string())?;
            }
        }
    }
    Ok(())
}
