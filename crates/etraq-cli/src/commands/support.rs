//! `etraq kb …` and `etraq autoreply …`: parse, call the use case as the administrator, print.

use std::io::Read;
use std::path::Path;

use anyhow::{Context as _, Result};
use etraq_core::HumanDuration;
use etraq_core::access::Actor;
use etraq_core::service::{App, RuleInput};
use etraq_core::support::autoreply::AutoReplyRule;
use etraq_core::support::kb::{Article, ArticleInput};

use crate::cli::{AutoreplyCommand, KbCommand};
use crate::commands::parse_address;
use crate::context::Context;
use crate::out::Out;
use crate::render;

/// Reads a text file given on the command line (`-`: standard input), naming it on error.
pub fn read_text(flag: &str, path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .with_context(|| format!("{flag}: cannot read standard input as UTF-8 text"))?;
        return Ok(s);
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("{flag} {}: cannot read it", path.display()))?;
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{flag} {}: not UTF-8 text", path.display()))
}

pub async fn run_kb(ctx: &Context, cmd: KbCommand) -> Result<()> {
    let app = ctx.app().await?;
    let result = kb(ctx, &app, cmd).await;
    app.store().close().await?;
    result
}

fn article_line(a: &Article) -> String {
    format!(
        "article {} v{}  {}{}",
        a.id,
        a.version,
        a.title,
        if a.public { "  (public)" } else { "" }
    )
}

async fn kb(ctx: &Context, app: &App, cmd: KbCommand) -> Result<()> {
    let who = Actor::admin();
    let now = jiff::Timestamp::now();
    let mut out = Out::new();
    match cmd {
        KbCommand::Add(a) => {
            let input = ArticleInput {
                title: Some(a.title),
                body: Some(read_text("--file", &a.file)?),
                tags: Some(a.tags),
                public: Some(a.public),
            };
            let art = app.kb_add(&who, &input, now).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&art)?)?;
            } else {
                out.line(format!("added {}", article_line(&art)))?;
            }
        }
        KbCommand::Set(a) => {
            let tags = if a.no_tags {
                Some(Vec::new())
            } else if a.tags.is_empty() {
                None
            } else {
                Some(a.tags)
            };
            let input = ArticleInput {
                title: a.title,
                body: a
                    .file
                    .as_deref()
                    .map(|f| read_text("--file", f))
                    .transpose()?,
                tags,
                public: if a.public {
                    Some(true)
                } else if a.private {
                    Some(false)
                } else {
                    None
                },
            };
            let art = app.kb_set(&who, a.id, &input, now).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&art)?)?;
            } else {
                out.line(format!("changed {}", article_line(&art)))?;
            }
        }
        KbCommand::List(a) => {
            let all = app.kb_list(&who).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&all)?)?;
            } else if all.is_empty() {
                out.line("no articles (add one with `etraq kb add TITLE --file F`)")?;
            } else {
                let tz = ctx.time_zone()?;
                let mut t = render::table(&[
                    "Id", "Title", "Tags", "Public", "Version", "Updated", "Author",
                ]);
                for x in &all {
                    t.add_row(vec![
                        x.id.to_string(),
                        render::visible(&x.title),
                        x.tags.join(", "),
                        if x.public { "yes" } else { "no" }.to_string(),
                        x.version.to_string(),
                        render::time(x.updated_at, &tz),
                        x.author.clone(),
                    ]);
                }
                out.line(t.to_string())?;
            }
        }
        KbCommand::Show(a) => {
            let d = app.kb_show(&who, a.id).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&serde_json::json!({
                    "article": d.article,
                    "history": d.history,
                }))?)?;
            } else {
                let tz = ctx.time_zone()?;
                let x = &d.article;
                out.line(format!("# {}", x.title))?;
                out.line(format!(
                    "article {}, version {}, {}, tags: {}",
                    x.id,
                    x.version,
                    if x.public { "public" } else { "private" },
                    if x.tags.is_empty() {
                        "-".to_string()
                    } else {
                        x.tags.join(", ")
                    }
                ))?;
                out.line("")?;
                out.line(render::visible(&x.body))?;
                out.line("")?;
                out.line("History:")?;
                for v in &d.history {
                    out.line(format!(
                        "  v{}  {}  {}  {}",
                        v.version,
                        render::time(v.updated_at, &tz),
                        v.author,
                        render::visible(&v.title)
                    ))?;
                }
            }
        }
        KbCommand::Search(a) => {
            let hits = app.kb_search(&who, &a.query, a.limit).await?;
            print_hits(&mut out, &hits, a.json)?;
        }
        KbCommand::Delete(a) => {
            app.kb_delete(&who, a.id).await?;
            out.line(format!("deleted article {}", a.id))?;
        }
    }
    Ok(())
}

/// A relevance for people: three decimals, or two significant digits for the tiny scores
/// bm25 gives in a knowledge base of a handful of articles.
fn score(s: f64) -> String {
    if s.abs() >= 0.001 || s == 0.0 {
        format!("{s:.3}")
    } else {
        format!("{s:.1e}")
    }
}

/// Prints knowledge-base hits: JSON rows (`id, title, score`) or a table.
pub fn print_hits(out: &mut Out, hits: &[etraq_core::support::KbHit], json: bool) -> Result<()> {
    if json {
        out.line(serde_json::to_string_pretty(hits)?)?;
    } else if hits.is_empty() {
        out.line("no matching articles")?;
    } else {
        let mut t = render::table(&["Id", "Title", "Score"]);
        for h in hits {
            t.add_row(vec![
                h.id.to_string(),
                render::visible(&h.title),
                score(h.score),
            ]);
        }
        out.line(t.to_string())?;
    }
    Ok(())
}

pub async fn run_autoreply(ctx: &Context, cmd: AutoreplyCommand) -> Result<()> {
    let app = ctx.app().await?;
    let result = autoreply(&app, cmd).await;
    app.store().close().await?;
    result
}

fn rule_lines(r: &AutoReplyRule) -> Vec<String> {
    let mut v = vec![format!(
        "rule {}  (template {}, window {})",
        r.name,
        r.template,
        etraq_core::format_seconds(r.window_secs)
    )];
    if !r.to.is_empty() {
        v.push(format!(
            "  to: {}",
            r.to.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(d) = &r.department {
        v.push(format!("  department: {d}"));
    }
    if let Some(p) = &r.subject_matches {
        v.push(format!("  subject matches: {p}"));
    }
    if let Some(e) = &r.error {
        v.push(format!(
            "  DISABLED: {e} (fix the template, then `etraq autoreply enable {}`)",
            r.name
        ));
    }
    v
}

async fn autoreply(app: &App, cmd: AutoreplyCommand) -> Result<()> {
    let who = Actor::admin();
    let mut out = Out::new();
    match cmd {
        AutoreplyCommand::Add(a) => {
            let to =
                a.to.iter()
                    .map(|t| parse_address("--to", t))
                    .collect::<Result<Vec<_>>>()?;
            let window =
                HumanDuration::parse(&a.window).map_err(|e| anyhow::anyhow!("--window: {e}"))?;
            let input = RuleInput {
                name: a.name,
                template: a.template,
                to,
                department: a.department,
                subject_matches: a.subject_matches,
                window: Some(jiff::SignedDuration::from_secs(window.as_secs())),
            };
            let r = app
                .add_autoreply(&who, &input, jiff::Timestamp::now())
                .await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&r)?)?;
            } else {
                out.line(format!("added {}", rule_lines(&r).join("\n")))?;
            }
        }
        AutoreplyCommand::List(a) => {
            let rules = app.autoreplies(&who).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&rules)?)?;
            } else if rules.is_empty() {
                out.line("no rules: no mail is acknowledged automatically")?;
            } else {
                for (i, r) in rules.iter().enumerate() {
                    let mut lines = rule_lines(r);
                    lines[0] = format!("{}. {}", i + 1, lines[0]);
                    out.line(lines.join("\n"))?;
                }
            }
        }
        AutoreplyCommand::Show(a) => {
            let r = app.autoreply(&who, &a.name).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&r)?)?;
            } else {
                out.line(rule_lines(&r).join("\n"))?;
            }
        }
        AutoreplyCommand::Delete(a) => {
            app.delete_autoreply(&who, &a.name).await?;
            out.line(format!("deleted rule {}", a.name))?;
        }
        AutoreplyCommand::Enable(a) => {
            let r = app.enable_autoreply(&who, &a.name).await?;
            out.line(format!("enabled {}", rule_lines(&r).join("\n")))?;
        }
    }
    Ok(())
}
