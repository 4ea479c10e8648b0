//! `etraq validate`: check addresses and say, once, when SMTP cannot be checked at all.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use etraq_core::HumanDuration;
use etraq_core::config::ValidatorConfig;
use etraq_core::extract::{find_in_html, find_in_text};
use etraq_core::validate::{CheckResult, Exclusions, Reachable, input};
use etraq_smtp::{ProbeConfig, TcpProbe};
use etraq_validate::{HickoryDns, RunOptions, Summary, Validator, parse_server};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ValidateArgs;
use crate::context::Context;
use crate::out::{JsonArray, Out};
use crate::render::{self, TableExt as _};

/// Runs `etraq validate`.
pub async fn run(ctx: &Context, args: ValidateArgs) -> Result<()> {
    let config = settings(&ctx.config.validator, &args)?;
    let inputs = inputs(&args)?;
    if inputs.is_empty() {
        bail!("no address to check: give addresses, --list FILE or --extract-from FILE");
    }
    let timeout = Duration::from_secs(config.timeout);
    let validator = build(&config, !args.no_smtp)?;
    if let Err(why) = validator
        .preflight(&inputs, timeout.min(Duration::from_secs(10)))
        .await
    {
        bail!("{why}");
    }

    let bar = progress_bar(inputs.len() as u64, args.json || args.jsonl || args.csv);
    let started = Instant::now();
    let mut out = Out::new();
    let mut results: HashMap<String, CheckResult> = HashMap::new();
    let mut write_error = None;
    let summary = validator
        .run(inputs.clone(), |r| {
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            if args.jsonl {
                // Streamed as decided: a long list shows results at once.
                let line = serde_json::to_string(&r).map_err(anyhow::Error::from);
                if let Err(e) = line.and_then(|l| out.line(l).map_err(anyhow::Error::from)) {
                    write_error.get_or_insert(e);
                }
            } else {
                results.insert(r.input.clone(), r);
            }
        })
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = write_error {
        return Err(e);
    }
    let ordered: Vec<&CheckResult> = inputs.iter().filter_map(|i| results.get(i)).collect();
    if args.csv {
        print_csv(&mut out, &ordered)?;
    } else if args.json {
        let mut array = JsonArray::start(&mut out)?;
        for r in &ordered {
            array.push(r)?;
        }
        array.finish()?;
    } else if !args.jsonl {
        let mut t = render::table(&["Address", "Verdict", "Reason"]);
        for r in &ordered {
            t.add_text_row(vec![
                r.input.clone(),
                r.is_reachable.label().to_string(),
                r.reason.clone(),
            ]);
        }
        out.line(t.to_string())?;
    }
    out.flush()?;
    eprint!(
        "{}",
        summary_text(&summary, inputs.len(), started.elapsed())
    );
    Ok(())
}

/// The validator `config` describes (real DNS, real SMTP probes); `smtp` off checks syntax
/// and DNS only. Shared by `etraq validate` and `serve`'s validation jobs.
pub(crate) fn build(
    config: &ValidatorConfig,
    smtp: bool,
) -> Result<Validator<HickoryDns, TcpProbe>> {
    let servers = config
        .dns
        .iter()
        .map(|s| parse_server(s))
        .collect::<Result<Vec<_>, _>>()?;
    let timeout = Duration::from_secs(config.timeout);
    let dns = HickoryDns::new(&servers, timeout)?;
    let probe = TcpProbe::new(ProbeConfig {
        helo: config.helo.clone(),
        mail_from: config.mail_from.clone(),
        timeout,
    });
    let opts = RunOptions {
        threads: config.threads,
        per_domain: config.per_domain,
        per_mx: config.per_mx,
        top_mx_only: config.top_mx_only,
        smtp_port: config.smtp_port,
        smtp,
        allow_quoted: config.allow_quoted,
        recheck_after: config
            .recheck_after
            .map(|d| Duration::from_secs(u64::try_from(d.as_secs()).unwrap_or(0))),
        exclusions: Exclusions::new(
            &config.exclude,
            &config.exclude_user,
            &config.exclude_keyword,
        ),
    };
    Ok(Validator::new(Arc::new(dns), Arc::new(probe), opts))
}

/// `[validator]` with the flags on top, checked.
fn settings(base: &ValidatorConfig, args: &ValidateArgs) -> Result<ValidatorConfig> {
    let mut c = base.clone();
    overlay_flags!(
        c,
        args,
        threads,
        timeout,
        per_domain,
        per_mx,
        exclude_user,
        exclude_keyword,
        exclude,
        dns,
        helo,
        mail_from,
        top_mx_only,
        smtp_port
    );
    if let Some(d) = &args.recheck_after {
        c.recheck_after =
            Some(HumanDuration::parse(d).map_err(|e| anyhow::anyhow!("--recheck-after: {e}"))?);
    }
    if args.allow_quoted {
        c.allow_quoted = true;
    }
    if let Err((key, why)) = c.check() {
        let flag = key.split('[').next().unwrap_or(&key).replace('_', "-");
        bail!("--{flag}: {why}");
    }
    Ok(c)
}

/// The addresses to check: arguments, then `--list`, then `--extract-from`; each once.
fn inputs(args: &ValidateArgs) -> Result<Vec<String>> {
    let mut all = args.addresses.clone();
    if let Some(path) = &args.list {
        let text = read(path)?;
        all.extend(input::list_addresses(&text, is_csv(path)));
    }
    if let Some(path) = &args.extract_from {
        all.extend(extract_from(path)?);
    }
    input::dedup_inputs(&mut all);
    Ok(all)
}

fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_csv(path: &Path) -> bool {
    matches!(extension(path).as_str(), "csv" | "tsv")
}

/// Addresses found in a text, HTML, CSV or .eml file (by extension; .eml also by content).
fn extract_from(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let base = url::Url::parse("file:///").map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(match extension(path).as_str() {
        "html" | "htm" | "xhtml" => find_in_html(&text, &base).addresses,
        "csv" | "tsv" => input::csv_fields(&text)
            .iter()
            .flat_map(|f| find_in_text(f))
            .collect(),
        "eml" | "msg" => addresses_in_mail(&bytes),
        _ => find_in_text(&text),
    })
}

/// The addresses of a mail: its From, Sender, Reply-To, To and Cc, then those in its bodies.
fn addresses_in_mail(raw: &[u8]) -> Vec<String> {
    let Some(mail) = mail_parser::MessageParser::default().parse(raw) else {
        return find_in_text(&String::from_utf8_lossy(raw));
    };
    let mut found = Vec::new();
    for header in [
        mail.from(),
        mail.sender(),
        mail.reply_to(),
        mail.to(),
        mail.cc(),
    ]
    .into_iter()
    .flatten()
    {
        found.extend(
            header
                .iter()
                .filter_map(|a| a.address())
                .map(str::to_string),
        );
    }
    let base = url::Url::parse("file:///").ok();
    for i in 0.. {
        let Some(text) = mail.body_text(i) else { break };
        found.extend(find_in_text(&text));
    }
    if let Some(base) = base {
        for i in 0.. {
            let Some(html) = mail.body_html(i) else { break };
            found.extend(find_in_html(&html, &base).addresses);
        }
    }
    found
}

fn progress_bar(total: u64, quiet: bool) -> Option<ProgressBar> {
    if quiet || !console::Term::stderr().is_term() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} validating [{wide_bar}] {pos}/{len} ({eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

fn print_csv(out: &mut Out, rows: &[&CheckResult]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "input",
        "is_reachable",
        "reason",
        "deferred",
        "address",
        "is_valid_syntax",
        "accepts_mail",
        "mx_records",
        "can_connect_smtp",
        "is_deliverable",
        "is_catch_all",
        "has_full_inbox",
        "is_disabled",
        "is_disposable",
        "is_role_account",
    ])?;
    for r in rows {
        let b = |v: bool| v.to_string();
        w.write_record([
            r.input.clone(),
            r.is_reachable.label().to_string(),
            r.reason.clone(),
            b(r.deferred),
            r.syntax.address.clone().unwrap_or_default(),
            b(r.syntax.is_valid_syntax),
            b(r.mx.accepts_mail),
            r.mx.records.join(" "),
            b(r.smtp.can_connect_smtp),
            b(r.smtp.is_deliverable),
            b(r.smtp.is_catch_all),
            b(r.smtp.has_full_inbox),
            b(r.smtp.is_disabled),
            b(r.misc.is_disposable),
            b(r.misc.is_role_account),
        ])?;
    }
    out.text(String::from_utf8_lossy(&w.into_inner()?))?;
    Ok(())
}

fn summary_text(s: &Summary, total: usize, took: Duration) -> String {
    let n = |v: Reachable| s.by_verdict.get(&v).copied().unwrap_or(0);
    let mut text = format!(
        "Checked {total} address{} in {:.1} s: safe {}, risky {}, invalid {}, unknown {}",
        if total == 1 { "" } else { "es" },
        took.as_secs_f64(),
        n(Reachable::Safe),
        n(Reachable::Risky),
        n(Reachable::Invalid),
        n(Reachable::Unknown),
    );
    if s.deferred > 0 {
        text.push_str(&format!(
            " ({} deferred by greylisting; --recheck-after asks again later)",
            s.deferred
        ));
    }
    text.push('.');
    if s.excluded > 0 {
        text.push_str(&format!(" {} excluded, not probed.", s.excluded));
    }
    text.push_str(&format!(
        " {} SMTP session{}.\n",
        s.sessions,
        if s.sessions == 1 { "" } else { "s" }
    ));
    text
}
