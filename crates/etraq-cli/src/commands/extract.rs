//! `etraq extract`: crawl sites for addresses and say honestly how each site went.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use etraq_core::config::ExtractorConfig;
use etraq_core::extract::{CrawlPolicy, CrawlReport, Progress, SiteReport, SiteVerdict};
use etraq_crawl::{Crawl, FetchOptions, ReqwestFetch};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Interrupted;
use crate::cli::ExtractArgs;
use crate::context::Context;
use crate::out::{JsonArray, Out};
use crate::render::{self, TableExt as _};

/// Runs `etraq extract`.
pub async fn run(ctx: &Context, args: ExtractArgs) -> Result<()> {
    let config = settings(&ctx.config.extractor, &args)?;
    let seeds = seeds(&args)?;
    if seeds.is_empty() {
        bail!("no seed URL: give URLs as arguments or a file with --seeds FILE");
    }
    let crawl = build(&config)?;
    let bar = progress_bar(args.json || args.jsonl || args.csv);
    let started = Instant::now();
    let report = crawl
        .run(
            &seeds,
            |p: Progress, _: &[etraq_core::extract::FoundAddress]| {
                if let Some(bar) = &bar {
                    bar.set_message(format!(
                        "fetched {} · queued {} · addresses {}",
                        p.fetched, p.queued, p.addresses
                    ));
                }
            },
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print_addresses(&report, &args)?;
    eprint!("{}", summary(&report, started.elapsed()));
    if report.invalid_seeds.len() == seeds.len() {
        bail!("none of the seeds is a usable URL");
    }
    if report.interrupted {
        return Err(Interrupted.into());
    }
    Ok(())
}

/// The crawl `config` describes, over real HTTP. Shared by `etraq extract` and `serve`'s
/// extraction jobs.
pub(crate) fn build(config: &ExtractorConfig) -> Result<Crawl<ReqwestFetch>> {
    let fetch = ReqwestFetch::new(&FetchOptions {
        timeout: Duration::from_secs(config.timeout),
        max_redirects: config.max_redirects,
        max_body: usize::try_from(config.max_page_bytes).unwrap_or(usize::MAX),
        ..FetchOptions::default()
    })?;
    Ok(Crawl {
        policy: CrawlPolicy::from_config(config),
        fetch: Arc::new(fetch),
        threads: config.threads,
    })
}

/// `[extractor]` with the command line's flags on top, checked.
fn settings(base: &ExtractorConfig, args: &ExtractArgs) -> Result<ExtractorConfig> {
    let mut c = base.clone();
    overlay_flags!(
        c,
        args,
        threads,
        retries,
        links_per_domain,
        max_sites,
        follow_external,
        depth,
        no_robots,
        delay,
        timeout,
        max_page_bytes,
        max_redirects
    );
    if let Some(exts) = &args.exclude_ext {
        c.exclude_ext = exts
            .iter()
            .filter(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("none"))
            .cloned()
            .collect();
    }
    if let Err((key, why)) = c.check() {
        bail!("--{}: {why}", key.replace('_', "-"));
    }
    Ok(c)
}

/// The seeds from the arguments and the `--seeds` file, in that order.
fn seeds(args: &ExtractArgs) -> Result<Vec<String>> {
    let mut seeds = args.urls.clone();
    if let Some(path) = &args.seeds {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the seeds file {}", path.display()))?;
        seeds.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(seeds)
}

fn progress_bar(quiet: bool) -> Option<ProgressBar> {
    if quiet || !console::Term::stderr().is_term() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} crawling: {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

fn print_addresses(report: &CrawlReport, args: &ExtractArgs) -> Result<()> {
    let mut out = Out::new();
    if args.json {
        let mut array = JsonArray::start(&mut out)?;
        for a in &report.addresses {
            array.push(a)?;
        }
        array.finish()?;
    } else if args.jsonl {
        for a in &report.addresses {
            out.line(serde_json::to_string(a)?)?;
        }
    } else if args.csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["address", "source_url", "count"])?;
        for a in &report.addresses {
            w.write_record([
                a.address.as_str(),
                a.source_url.as_str(),
                &a.count.to_string(),
            ])?;
        }
        out.text(String::from_utf8_lossy(&w.into_inner()?))?;
    } else if !report.addresses.is_empty() {
        let mut t = render::table(&["Address", "Pages", "First seen on"]);
        for a in &report.addresses {
            t.add_text_row(vec![
                a.address.clone(),
                a.count.to_string(),
                a.source_url.clone(),
            ]);
        }
        out.line(t.to_string())?;
    }
    out.flush()?;
    Ok(())
}

/// The human summary: totals, then one line per site with its verdict and what went wrong.
pub fn summary(report: &CrawlReport, took: Duration) -> String {
    let mut s = format!(
        "{} {} page{} on {} site{} in {:.1} s: {} address{}.\n",
        if report.interrupted {
            "Interrupted after"
        } else {
            "Crawled"
        },
        report.pages_fetched,
        plural(report.pages_fetched),
        report.sites.len(),
        plural(report.sites.len() as u64),
        took.as_secs_f64(),
        report.addresses.len(),
        if report.addresses.len() == 1 {
            ""
        } else {
            "es"
        },
    );
    let width = report.sites.iter().map(|r| r.site.len()).max().unwrap_or(0);
    for site in &report.sites {
        s.push_str(&format!(
            "  {:width$}  {:13}  {}\n",
            site.site,
            site.verdict().label(),
            site_details(site)
        ));
    }
    for (seed, why) in &report.invalid_seeds {
        s.push_str(&format!("  invalid seed {seed:?}: {why}\n"));
    }
    let count = |v: SiteVerdict| report.sites.iter().filter(|r| r.verdict() == v).count();
    let (blocked, limited, unreachable) = (
        count(SiteVerdict::Blocked),
        count(SiteVerdict::RateLimited),
        count(SiteVerdict::Unreachable),
    );
    if blocked + limited + unreachable > 0 {
        s.push_str(&format!(
            "Not a \"nothing found\": {blocked} site(s) blocked the crawl, {limited} rate-limited it, \
             {unreachable} could not be reached.\n"
        ));
    }
    s
}

fn site_details(r: &SiteReport) -> String {
    let mut parts = vec![format!(
        "{} page{}, {} new address{}",
        r.pages_fetched,
        plural(r.pages_fetched),
        r.addresses,
        if r.addresses == 1 { "" } else { "es" }
    )];
    let mut add = |n: u64, what: &str| {
        if n > 0 {
            parts.push(format!("{what} {n}"));
        }
    };
    add(r.robots_disallowed, "robots.txt refused");
    add(r.forbidden, "HTTP 401/403");
    add(r.rate_limited, "HTTP 429");
    add(r.gave_up_rate_limited, "given up after 429");
    add(r.server_errors, "HTTP 5xx");
    add(r.not_found, "HTTP 404");
    add(r.other_status, "other HTTP status");
    add(r.not_html, "not HTML");
    add(r.excluded, "excluded links");
    add(r.over_budget, "links over the budget");
    for (kind, n) in &r.failures {
        parts.push(format!("{} error {n}", kind.label()));
    }
    if r.robots_unreachable {
        parts.push("robots.txt unreadable (5xx/429): nothing fetched".into());
    }
    parts.join("; ")
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
