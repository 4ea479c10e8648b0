//! `etraq dr list|show|close|reopen|assign|remind`: parse, call the use case as the
//! administrator, print.

use anyhow::Result;
use etraq_core::access::Actor;
use etraq_core::format_seconds;
use etraq_core::service::{App, DrFilter, PageRequest};
use etraq_core::{Dr, DrId, DrStatus, Party};

use crate::cli::{DrCommand, DrListArgs, StatusArg};
use crate::commands::listing::emit;
use crate::commands::{parse_address, parse_time};
use crate::context::Context;
use crate::out::Out;
use crate::render::{self, DrRow};

pub async fn run(ctx: &Context, cmd: DrCommand) -> Result<()> {
    let app = ctx.app().await?;
    let result = command(ctx, &app, cmd).await;
    app.store().close().await?;
    result
}

async fn command(ctx: &Context, app: &App, cmd: DrCommand) -> Result<()> {
    let who = Actor::admin();
    let now = jiff::Timestamp::now();
    match cmd {
        DrCommand::List(a) => list(ctx, app, a).await,
        DrCommand::Show(a) => show(ctx, app, &parse_id(&a.id)?, a.json, None).await,
        DrCommand::Close(a) => {
            let send = if a.transcript {
                Some(true)
            } else if a.no_transcript {
                Some(false)
            } else {
                None
            };
            let dr = app
                .close_dr_with(&who, &parse_id(&a.id)?, send, now)
                .await?;
            show(ctx, app, &dr.id, a.json, Some("closed")).await
        }
        DrCommand::Reply(a) => {
            let id = parse_id(&a.id)?;
            let body = crate::commands::support::read_text("--body-file", &a.body_file)?;
            let cc =
                a.cc.iter()
                    .map(|c| parse_address("--cc", c))
                    .collect::<Result<Vec<_>>>()?;
            let as_user = a
                .as_user
                .as_deref()
                .map(|u| parse_address("--as", u))
                .transpose()?;
            let input = etraq_core::service::ReplyInput { body, cc, as_user };
            let sent = app.reply_dr(&who, &id, &input, now).await?;
            let mut out = Out::new();
            if a.json {
                out.line(serde_json::to_string_pretty(&serde_json::json!({
                    "dr": id.to_string(),
                    "to": sent.to.to_string(),
                    "subject": sent.subject,
                    "message_id": sent.tracked.message_id.as_str(),
                    "mail_type": sent.tracked.decision.mail_type().map(|t| t.as_str()),
                }))?)?;
            } else {
                out.line(format!(
                    "replied to {} on {}: {} ({})",
                    sent.to,
                    id,
                    sent.subject,
                    sent.tracked
                        .decision
                        .mail_type()
                        .map(|t| t.as_str())
                        .unwrap_or("untracked")
                ))?;
            }
            Ok(())
        }
        DrCommand::Suggest(a) => {
            let hits = app.suggest(&who, &parse_id(&a.id)?).await?;
            let mut out = Out::new();
            crate::commands::support::print_hits(&mut out, &hits, a.json)
        }
        DrCommand::Transcript(a) => {
            let t = app.transcript(&who, &parse_id(&a.id)?).await?;
            let mut out = Out::new();
            if a.html {
                out.line(t.html)?;
            } else {
                out.line(format!("Subject: {}\n", t.subject))?;
                out.line(t.text)?;
            }
            Ok(())
        }
        DrCommand::Reopen(a) => {
            let dr = app.reopen_dr(&who, &parse_id(&a.id)?, now).await?;
            show(ctx, app, &dr.id, a.json, Some("reopened")).await
        }
        DrCommand::Remind(a) => {
            let id = parse_id(&a.id)?;
            let at = parse_time("--at", &a.at)?;
            let dr = app.remind_dr(&who, &id, at).await?;
            let mut out = Out::new();
            if a.json {
                out.line(serde_json::to_string_pretty(&DrRow::from(&dr))?)?;
            } else {
                out.line(format!(
                    "reminder for {} set at {}",
                    dr.id,
                    render::time(at, &ctx.time_zone()?)
                ))?;
            }
            Ok(())
        }
        DrCommand::Assign(a) => {
            let owner = parse_address("EMAIL", &a.email)?;
            let dr = app.assign_dr(&who, &parse_id(&a.id)?, &owner, now).await?;
            show(ctx, app, &dr.id, a.json, Some("assigned")).await
        }
    }
}

fn parse_id(s: &str) -> Result<DrId> {
    Ok(DrId::parse(s)?)
}

async fn list(ctx: &Context, app: &App, a: DrListArgs) -> Result<()> {
    let status = match a.status {
        StatusArg::All => None,
        StatusArg::Open => Some(DrStatus::Open),
        StatusArg::Replied => Some(DrStatus::Replied),
        StatusArg::Closed => Some(DrStatus::Closed),
    };
    let owner = a
        .owner
        .as_deref()
        .map(|o| parse_address("--owner", o))
        .transpose()?;
    let customer = a
        .customer
        .as_deref()
        .map(|c| Party::parse(c).map_err(|e| anyhow::anyhow!("--customer: {e}")))
        .transpose()?;
    let tz = ctx.time_zone()?;
    let filter = DrFilter {
        status,
        owner,
        customer,
        ..DrFilter::default()
    };
    let who = Actor::admin();
    let fetch = |after, limit| {
        let (app, filter, who) = (app.clone(), filter.clone(), who.clone());
        async move {
            let at = PageRequest {
                after,
                after_key: None,
                limit,
            };
            app.list_drs(&who, &filter, &at).await.map(|p| p.page)
        }
    };
    emit(
        &a.paging,
        a.json,
        fetch,
        |d: &Dr| DrRow::from(d),
        |rows| render::dr_table(rows, &tz),
        "DRs",
    )
    .await
}

async fn show(ctx: &Context, app: &App, id: &DrId, json: bool, did: Option<&str>) -> Result<()> {
    let who = Actor::admin();
    let (detail, _) = app.dr_detail(&who, id).await?;
    let dr = app.visible_dr(&who, id).await?;
    let messages = &detail.messages;
    let mut out = Out::new();
    if json {
        out.line(serde_json::to_string_pretty(&detail)?)?;
        return Ok(());
    }
    let tz = ctx.time_zone()?;
    let t = |ts| render::time(ts, &tz);
    if let Some(did) = did {
        out.line(format!("{did} {}", dr.id))?;
    }
    out.line(format!("DR {}  [{}]", dr.id, dr.status))?;
    out.line(format!("  Subject:      {}", dr.subject))?;
    out.line(format!("  Customer:     {}", dr.customer))?;
    out.line(format!("  Owner:        {}", dr.owner))?;
    if let Some(c) = &detail.campaign {
        out.line(format!(
            "  Campaign:     {c} (a reply to its mail opened this DR)"
        ))?;
    }
    if !dr.cc_users.is_empty() {
        let cc: Vec<String> = dr.cc_users.iter().map(|c| c.to_string()).collect();
        out.line(format!("  CC users:     {}", cc.join(", ")))?;
    }
    out.line(format!("  Assigned on:  {}", t(dr.assigned_on)))?;
    if let Some(since) = dr.awaiting_since {
        let waited = jiff::Timestamp::now().as_second() - since.as_second();
        out.line(format!(
            "  Waiting since {} ({})",
            t(since),
            format_seconds(waited.max(0))
        ))?;
    }
    match dr.first_response_at {
        Some(f) => out.line(format!("  First reply:  {}", t(f)))?,
        None => out.line("  First reply:  none yet")?,
    }
    out.line(format!("  Escalation:   level {}", dr.escalation_level))?;
    out.line(render::mail_table(messages, &tz, false).to_string())?;
    if detail.truncated {
        out.line(format!(
            "(only the first {} mails of this DR are listed)",
            etraq_core::service::MAX_THREAD
        ))?;
    }
    Ok(())
}
