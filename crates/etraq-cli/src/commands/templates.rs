//! `etraq template list|show|add|delete|preview`: parse, call the template use cases as the
//! administrator, print. A preview is the whole message, as a mail client would receive it.

use anyhow::{Context as _, Result};
use etraq_core::access::Actor;
use etraq_core::campaign::{Template, TemplateKind};
use etraq_core::service::App;
use jiff::Timestamp;

use crate::cli::{TemplateCommand, TemplateKindArg};
use crate::commands::parse_address;
use crate::context::Context;
use crate::out::Out;
use crate::render::table;

/// Runs `etraq template …`.
pub async fn run(ctx: &Context, cmd: TemplateCommand) -> Result<()> {
    let app = ctx.app().await?;
    let result = command(&app, ctx, cmd).await;
    app.store().close().await?;
    result
}

fn kind(k: TemplateKindArg) -> TemplateKind {
    match k {
        TemplateKindArg::Newsletter => TemplateKind::Newsletter,
        TemplateKindArg::Promotion => TemplateKind::Promotion,
        TemplateKindArg::Announcement => TemplateKind::Announcement,
        TemplateKindArg::PressRelease => TemplateKind::PressRelease,
        TemplateKindArg::CustomerLetter => TemplateKind::CustomerLetter,
        TemplateKindArg::Custom => TemplateKind::Custom,
        TemplateKindArg::Acknowledgement => TemplateKind::Acknowledgement,
    }
}

fn read(path: &std::path::Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 (at byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

async fn command(app: &App, ctx: &Context, cmd: TemplateCommand) -> Result<()> {
    let who = Actor::admin();
    let mut out = Out::new();
    match cmd {
        TemplateCommand::List(a) => {
            let all = app.templates(&who).await?;
            if a.json {
                let rows: Vec<etraq_core::views::TemplateRow> =
                    all.iter().map(Into::into).collect();
                out.line(serde_json::to_string_pretty(&rows)?)?;
            } else {
                let mut t = table(&["Name", "Kind", "Subject", "Built-in"]);
                for tpl in &all {
                    t.add_row(vec![
                        tpl.name.clone(),
                        tpl.kind.as_str().to_string(),
                        tpl.subject.clone(),
                        if tpl.builtin { "yes" } else { "no" }.to_string(),
                    ]);
                }
                out.line(t.to_string())?;
            }
        }
        TemplateCommand::Show(a) => {
            let t = app.template(&who, &a.name).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&t)?)?;
            } else {
                out.line(format!("name:    {}", t.name))?;
                out.line(format!("kind:    {}", t.kind.as_str()))?;
                out.line(format!("subject: {}", t.subject))?;
                out.line(format!("builtin: {}", if t.builtin { "yes" } else { "no" }))?;
                out.line("--- html")?;
                out.line(&t.html)?;
                if let Some(text) = &t.text {
                    out.line("--- text")?;
                    out.line(text)?;
                }
            }
        }
        TemplateCommand::Add(a) => {
            let draft = Template {
                name: a.name,
                kind: kind(a.kind),
                subject: a.subject,
                html: read(&a.html)?,
                text: a.text.as_deref().map(read).transpose()?,
                builtin: false,
                created_at: Timestamp::now(),
            };
            let t = app.save_template(&who, draft, Timestamp::now()).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(
                    &etraq_core::views::TemplateRow::from(&t),
                )?)?;
            } else {
                out.line(format!("template {:?} saved", t.name))?;
            }
        }
        TemplateCommand::Delete(a) => {
            app.delete_template(&who, &a.name).await?;
            out.line(format!("template {:?} deleted", a.name))?;
        }
        TemplateCommand::Preview(a) => {
            let email = a
                .subscriber
                .as_deref()
                .map(|s| parse_address("--subscriber", s))
                .transpose()?;
            let p = app
                .preview_template(&who, &a.name, email.as_ref(), a.campaign.as_deref())
                .await?;
            // The From a campaign would carry (campaigns.from, or newsletter@ the bounce domain).
            let settings = etraq_core::service::SendSettings::from_config(&ctx.config);
            let from = settings.from.clone();
            let message_id = format!(
                "preview.{}@{}",
                Timestamp::now().as_millisecond(),
                settings.bounce_domain
            );
            let bytes = etraq_smtp::format_campaign(&etraq_smtp::CampaignMail {
                from: &from,
                reply_to: None,
                to: &p.to,
                to_name: &p.to_name,
                message_id: &message_id,
                rendered: &p.rendered,
                headers: &[],
            })
            .map_err(|e| anyhow::anyhow!("cannot format the preview: {e}"))?;
            out.text(String::from_utf8_lossy(&bytes))?;
        }
    }
    Ok(())
}
