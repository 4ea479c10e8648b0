//! `etraq campaign create|run|list|show|recipients`: parse, call the campaign use cases and the
//! sender as the administrator, print.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow};
use etraq_core::access::Actor;
use etraq_core::campaign::{Campaign, RecipientState};
use etraq_core::service::{App, CampaignAction, CampaignDraft, SendSettings};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::Timestamp;

use crate::cli::{CampaignCommand, CampaignNameArgs};
use crate::commands::{parse_address, parse_time};
use crate::context::Context;
use crate::out::{JsonArray, Out};
use crate::render::{table, time};

/// Runs `etraq campaign …`.
pub async fn run(ctx: &Context, cmd: CampaignCommand) -> Result<()> {
    let app = ctx.app().await?;
    let result = command(&app, ctx, cmd).await;
    app.store().close().await?;
    result
}

/// The contract JSON of a campaign, tracking counts included.
async fn campaign_json(app: &App, c: &Campaign) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(
        app.campaign_report(&Actor::admin(), &c.name).await?,
    )?)
}

async fn command(app: &App, ctx: &Context, cmd: CampaignCommand) -> Result<()> {
    let who = Actor::admin();
    let mut out = Out::new();
    match cmd {
        CampaignCommand::Create(a) => {
            let draft = CampaignDraft {
                name: a.name,
                lists: a.lists,
                template: a.template,
                subject: a.subject,
                from: a.from,
                reply_to: a.reply_to,
                owner: a
                    .owner
                    .as_deref()
                    .map(|o| parse_address("--owner", o))
                    .transpose()?,
                segment: a.segment,
                rate: a.rate,
                send_at: a.at.as_deref().map(|t| parse_time("--at", t)).transpose()?,
            };
            let c = app.create_campaign(&who, draft, Timestamp::now()).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(
                    &campaign_json(app, &c).await?,
                )?)?;
            } else if let Some(at) = c.send_at {
                out.line(format!(
                    "campaign {:?} created (template {}, lists {}), scheduled: a running etraq serve sends it at {at}",
                    c.name,
                    c.template,
                    c.lists.join(", "),
                ))?;
            } else {
                out.line(format!(
                    "campaign {:?} created (template {}, lists {}); send it with: etraq campaign start {:?} (a running etraq serve sends it) or etraq campaign run {:?}",
                    c.name,
                    c.template,
                    c.lists.join(", "),
                    c.name,
                    c.name
                ))?;
            }
        }
        CampaignCommand::Run(a) => {
            let settings = SendSettings::from_config(&ctx.config);
            let relay = ctx.campaign_relay(settings.concurrency)?;
            let c = app.campaign(&who, &a.name).await?;
            let total = app.store().recipient_counts(c.id).await?;
            let bar = (!a.json && console::Term::stderr().is_term()).then(|| {
                let bar = ProgressBar::with_draw_target(
                    (total.recipients > 0).then_some(total.queued),
                    ProgressDrawTarget::stderr(),
                );
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} sending [{wide_bar}] {pos}/{len} ({per_sec}, {eta} left)",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.enable_steady_tick(Duration::from_millis(200));
                bar
            });
            let b = bar.clone();
            let progress: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n| {
                if let Some(b) = &b {
                    b.set_position(n);
                }
            });
            // Ctrl-C (or SIGTERM) stops the sender cleanly: each worker records the recipient
            // in hand and takes no other, so nobody is left in doubt; run again to resume.
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let on_signal = {
                let stop = stop.clone();
                tokio::spawn(async move {
                    crate::commands::interrupted().await;
                    tracing::warn!("stopping the campaign sender: finishing the mail in hand");
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                })
            };
            let report =
                etraq_smtp::run_campaign(app, &a.name, relay, &settings, progress, stop.clone())
                    .await;
            on_signal.abort();
            let interrupted = stop.load(std::sync::atomic::Ordering::Relaxed);
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            let report = report?;
            let c = app.campaign(&who, &a.name).await?;
            if a.json {
                let mut v = campaign_json(app, &c).await?;
                v["found_in_doubt"] = report.found_in_doubt.into();
                out.line(serde_json::to_string_pretty(&v)?)?;
            } else {
                if report.found_in_doubt > 0 {
                    out.line(format!(
                        "{} recipients were being sent to when the last run stopped; {} (see: etraq campaign recipients {:?} --state in_doubt)",
                        report.found_in_doubt,
                        if settings.resend { "they are sent again (campaigns.on_restart = \"resend\")" } else { "they are not sent again" },
                        c.name
                    ))?;
                }
                let n = &report.counts;
                out.line(format!(
                    "{}: {} — {} sent, {} failed, {} in doubt, {} skipped, {} queued of {}",
                    c.name,
                    c.status.as_str(),
                    n.sent,
                    n.failed,
                    n.in_doubt,
                    n.skipped,
                    n.queued,
                    n.recipients
                ))?;
            }
            if interrupted {
                eprintln!(
                    "etraq: stopped by a signal; every recipient in hand was recorded. Run `etraq campaign run {:?}` again to send the rest.",
                    c.name
                );
                return Err(crate::commands::Interrupted.into());
            }
        }
        CampaignCommand::Test(a) => {
            let settings = SendSettings::from_config(&ctx.config);
            let to = parse_address("--to", &a.to)?;
            let mail = app.test_mail(&who, &a.name, &to, &settings).await?;
            let bytes = etraq_smtp::format_campaign(&etraq_smtp::CampaignMail {
                from: &mail.from,
                reply_to: mail.reply_to.as_deref(),
                to: &mail.to,
                to_name: &mail.to_name,
                message_id: &mail.message_id,
                rendered: &mail.rendered,
                headers: &mail.headers,
            })
            .map_err(|e| anyhow!("cannot format the test mail: {e}"))?;
            match ctx
                .campaign_relay(1)?
                .send(&mail.mail_from, &mail.to, bytes)
                .await
            {
                etraq_core::campaign::SendOutcome::Accepted => {
                    out.line(format!("a test copy of {:?} went to {to}", a.name))?;
                }
                etraq_core::campaign::SendOutcome::Retry(e)
                | etraq_core::campaign::SendOutcome::Refused(e)
                | etraq_core::campaign::SendOutcome::Unavailable(e) => {
                    return Err(anyhow!(
                        "the relay did not take the test copy for {to}: {e}"
                    ));
                }
            }
        }
        CampaignCommand::Start(a) => {
            let at = a.at.as_deref().map(|t| parse_time("--at", t)).transpose()?;
            let args = CampaignNameArgs {
                name: a.name,
                json: a.json,
            };
            control(app, &mut out, &args, CampaignAction::Start { at }).await?
        }
        CampaignCommand::Pause(a) => control(app, &mut out, &a, CampaignAction::Pause).await?,
        CampaignCommand::Resume(a) => control(app, &mut out, &a, CampaignAction::Resume).await?,
        CampaignCommand::Cancel(a) => control(app, &mut out, &a, CampaignAction::Cancel).await?,
        CampaignCommand::List(a) => {
            let all = app.campaigns(&who).await?;
            if a.json {
                let mut arr = JsonArray::start(&mut out)?;
                for (c, _) in &all {
                    arr.push(&campaign_json(app, c).await?)?;
                }
                arr.finish()?;
            } else {
                let tz = ctx.time_zone()?;
                let mut t = table(&[
                    "Name",
                    "Status",
                    "Lists",
                    "Template",
                    "Recipients",
                    "Sent",
                    "Failed",
                    "In doubt",
                    "Created",
                ]);
                for (c, n) in &all {
                    t.add_row(vec![
                        c.name.clone(),
                        c.status.as_str().to_string(),
                        c.lists.join(", "),
                        c.template.clone(),
                        n.recipients.to_string(),
                        n.sent.to_string(),
                        n.failed.to_string(),
                        n.in_doubt.to_string(),
                        time(c.created_at, &tz),
                    ]);
                }
                out.line(t.to_string())?;
            }
        }
        CampaignCommand::Show(a) => {
            let c = app.campaign(&who, &a.name).await?;
            let v = campaign_json(app, &c).await?;
            if a.json {
                out.line(serde_json::to_string_pretty(&v)?)?;
            } else if let Some(map) = v.as_object() {
                for (k, v) in map {
                    out.line(format!(
                        "{k:>12}: {}",
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    ))?;
                }
            }
        }
        CampaignCommand::Recipients(a) => {
            let state = a.state.as_deref().map(RecipientState::parse).transpose()?;
            let mut after = None;
            let mut rows = Vec::new();
            loop {
                let (page, next) = app
                    .recipient_rows(
                        &who,
                        &a.name,
                        state,
                        after,
                        etraq_core::store::MAX_PAGE_SIZE,
                    )
                    .await?;
                rows.extend(page);
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            if a.json {
                let mut arr = JsonArray::start(&mut out)?;
                for r in &rows {
                    arr.push(r)?;
                }
                arr.finish()?;
            } else {
                let tz = ctx.time_zone()?;
                let mut t = table(&[
                    "Email",
                    "State",
                    "Message-ID",
                    "Sent At",
                    "Opened",
                    "Clicked",
                    "Bounced",
                    "Error",
                ]);
                let yes = |b: bool| if b { "yes" } else { "" }.to_string();
                for r in &rows {
                    t.add_row(vec![
                        r.email.clone(),
                        r.state.to_string(),
                        r.message_id.clone().unwrap_or_default(),
                        r.sent_at.map(|s| time(s, &tz)).unwrap_or_default(),
                        yes(r.opened),
                        yes(r.clicked),
                        yes(r.bounced),
                        r.error.clone().unwrap_or_default(),
                    ]);
                }
                out.line(t.to_string())?;
            }
        }
    }
    Ok(())
}

async fn control(
    app: &App,
    out: &mut Out,
    a: &CampaignNameArgs,
    action: CampaignAction,
) -> Result<()> {
    let who = Actor::admin();
    let c = app
        .control_campaign(&who, &a.name, action, Timestamp::now())
        .await?;
    if a.json {
        out.line(serde_json::to_string_pretty(
            &campaign_json(app, &c).await?,
        )?)?;
    } else if let (CampaignAction::Start { .. }, Some(at)) = (action, c.send_at) {
        out.line(format!(
            "campaign {:?} is scheduled for {at}; a running etraq serve sends it then (etraq campaign show {:?} follows it)",
            c.name, c.name
        ))?;
    } else {
        out.line(format!("campaign {:?} is {}", c.name, c.status.as_str()))?;
    }
    Ok(())
}
