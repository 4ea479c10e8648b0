//! `etraq ingest FILE...|-`: tracks mail from files, in batches of one commit each.
//!
//! A reader thread streams messages from the inputs while the tracker classifies and commits the
//! previous batch. Batches are ordered, so a reply later in an mbox threads to what it answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use etraq_core::{Envelope, Incoming, ReceivedAt, ReversePath, Tracked, Tracker};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::IngestArgs;
use crate::commands::{parse_address, parse_time};
use crate::context::Context;
use crate::input::{self, RawMail, Source};
use crate::out::Out;

/// Most raw bytes held in one batch.
const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// One ingest result line (contract fields first).
#[derive(Serialize)]
struct Line<'a> {
    message_id: &'a str,
    decision: &'static str,
    dr: Option<String>,
    mail_type: Option<String>,
    reason: Option<String>,
    direction: String,
    seq: u64,
    source: &'a str,
}

pub async fn run(ctx: &Context, args: IngestArgs) -> Result<()> {
    let mail_from = match args.mail_from.as_deref().map(str::trim) {
        None => None,
        Some("<>") | Some("") => Some(ReversePath::Null),
        Some(a) => Some(ReversePath::Address(parse_address("--mail-from", a)?)),
    };
    let mut rcpt_to = Vec::new();
    for r in &args.rcpt {
        rcpt_to.push(parse_address("--rcpt", r)?);
    }
    let envelope = Envelope { mail_from, rcpt_to };
    let received = match &args.now {
        Some(t) => ReceivedAt::At(parse_time("--now", t)?),
        None => ReceivedAt::DateHeaderOr(jiff::Timestamp::now()),
    };
    let sources = input::inspect(&args.inputs)?;
    let rules = ctx.config.tracking_rules()?;
    if rules.local_domains.is_empty() {
        tracing::warn!(
            "local_domains is empty: every mail will be untracked (Not Local); set it in etraq.toml"
        );
    }

    let store = ctx.open_store().await?;
    let tracker = Arc::new(Tracker::new(store.clone(), rules));
    // On a terminal: a progress bar and the summary; one line per message only with
    // `--verbose`, or when standard output is a file or a pipe (scripts read those lines).
    let progress = progress_bar(&sources, args.json);
    let lines = args.json || args.verbose || !console::Term::stdout().is_term();

    // The reader thread does the blocking file I/O and hands messages over a bounded channel.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RawMail>>(1024);
    let reader = std::thread::Builder::new()
        .name("etraq-ingest-reader".into())
        .spawn(move || {
            for source in &sources {
                let iter = match input::messages(source) {
                    Ok(it) => it,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                for m in iter {
                    let failed = m.is_err();
                    if tx.blocking_send(m).is_err() || failed {
                        return;
                    }
                }
            }
        })
        .context("cannot start the reader thread")?;

    let mut out = Out::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    let mut batch: Vec<Incoming> = Vec::new();
    let mut origins: Vec<String> = Vec::new();
    let mut bytes = 0usize;
    let mut failure = None;
    loop {
        let next = rx.recv().await;
        let done = next.is_none();
        match next {
            Some(Ok(m)) => {
                bytes += m.bytes.len();
                origins.push(m.origin);
                batch.push(Incoming {
                    raw: m.bytes,
                    envelope: envelope.clone(),
                    received,
                });
            }
            Some(Err(e)) => failure = Some(e),
            None => {}
        }
        let full = batch.len() >= args.batch as usize || bytes >= MAX_BATCH_BYTES;
        if !batch.is_empty() && (full || done || failure.is_some()) {
            let items = std::mem::take(&mut batch);
            let names = std::mem::take(&mut origins);
            let size = bytes as u64;
            bytes = 0;
            let results = tracker.track_batch(items).await?;
            for (t, origin) in results.iter().zip(&names) {
                total += 1;
                *counts.entry(label(t)).or_default() += 1;
                if lines {
                    report(&mut out, t, origin, args.json, progress.as_ref())?;
                }
            }
            if let Some(p) = &progress {
                p.inc(size);
                p.set_message(format!("{total} messages"));
            }
            out.flush()?;
        }
        if done || failure.is_some() {
            break;
        }
    }
    drop(rx);
    let _ = reader.join();
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    store.close().await?;
    if !args.json {
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        out.line(format!(
            "ingested {total} message{}: {}",
            if total == 1 { "" } else { "s" },
            if parts.is_empty() {
                "nothing".into()
            } else {
                parts.join(", ")
            }
        ))?;
    }
    match failure {
        Some(e) => Err(e.context(format!("stopped after {total} messages"))),
        None => Ok(()),
    }
}

fn label(t: &Tracked) -> String {
    match (t.decision.mail_type(), t.decision.reason()) {
        (Some(mt), _) => format!("tracked ({mt})"),
        (_, Some(r)) => format!("untracked ({r})"),
        _ => "?".into(),
    }
}

fn report(
    out: &mut Out,
    t: &Tracked,
    origin: &str,
    json: bool,
    progress: Option<&ProgressBar>,
) -> Result<()> {
    if json {
        let line = Line {
            message_id: t.message_id.as_str(),
            decision: t.decision.kind(),
            dr: t.dr.as_ref().map(|d| d.to_string()),
            mail_type: t.decision.mail_type().map(|m| m.to_string()),
            reason: t.decision.reason().map(|r| r.to_string()),
            direction: t.direction.to_string(),
            seq: t.seq,
            source: origin,
        };
        out.line(serde_json::to_string(&line).map_err(|e| anyhow!(e))?)?;
        return Ok(());
    }
    let what = match (t.decision.mail_type(), t.decision.reason()) {
        (Some(mt), _) => format!(
            "tracked   {} ({mt})",
            t.dr.as_ref().map(|d| d.to_string()).unwrap_or_default()
        ),
        (_, Some(r)) => match &t.dr {
            Some(d) => format!("untracked ({r}), kept in the history of {d}"),
            None => format!("untracked ({r})"),
        },
        _ => String::new(),
    };
    let line = format!("{origin}: {what}  <{}>", t.message_id);
    match progress {
        // Printed above the bar, which then redraws below it.
        Some(p) => Ok(p.suspend(|| out.line(line))?),
        None => Ok(out.line(line)?),
    }
}

/// A bar on standard error when it is a terminal (never with `--json`): bytes read of the
/// inputs' total, messages so far, rate and time left. Standard input has no known size: then a
/// spinner with the count.
fn progress_bar(sources: &[Source], json: bool) -> Option<ProgressBar> {
    if json || !console::Term::stderr().is_term() {
        return None;
    }
    let total: Option<u64> = sources.iter().map(|s| s.size()).sum::<Option<u64>>();
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let template = if total.is_some() {
        "{spinner} ingesting [{wide_bar}] {bytes}/{total_bytes} · {msg} · {bytes_per_sec} ({eta} left)"
    } else {
        "{spinner} ingesting {bytes} · {msg} · {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("0 messages");
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}
