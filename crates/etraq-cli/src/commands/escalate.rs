//! `etraq escalate --once`, `etraq alerts list|send`, `etraq dr remind`.

use anyhow::{Result, bail};
use etraq_core::DrId;
use etraq_core::access::Actor;
use etraq_core::service::{CycleReport, Escalator};
pub use etraq_core::views::AlertRow;
use serde::Serialize;

use crate::cli::{AlertListArgs, AlertsCommand, EscalateArgs, JsonFlag};
use crate::commands::listing::emit;
use crate::commands::{parse_address, parse_time};
use crate::context::Context;
use crate::out::Out;
use crate::render;

/// `escalate --once --json`.
#[derive(Serialize)]
struct CycleJson {
    cycle: u64,
    at: jiff::Timestamp,
    warned: u64,
    escalated: u64,
    reminded: u64,
    bypassed: u64,
    alerts: Vec<AlertRow>,
}

/// Runs one cycle; the escalator writes its `EscWarnings` log.
pub async fn cycle(
    ctx: &Context,
    store: std::sync::Arc<dyn etraq_core::Store>,
    now: jiff::Timestamp,
) -> Result<CycleReport> {
    Ok(Escalator::new(store, ctx.policies()?)
        .with_log(ctx.logs_dir()?, ctx.time_zone()?)
        .run_cycle(now)
        .await?)
}

pub async fn escalate(ctx: &Context, args: EscalateArgs) -> Result<()> {
    if !args.once {
        bail!(
            "use `etraq escalate --once` for a single cycle; `etraq serve` runs cycles every escalation.interval_minutes"
        );
    }
    let now = match &args.now {
        Some(t) => parse_time("--now", t)?,
        None => jiff::Timestamp::now(),
    };
    let store = ctx.open_store().await?;
    let result = cycle(ctx, store.clone(), now).await;
    store.close().await?;
    let report = result?;
    let r = &report.record;
    let mut out = Out::new();
    if args.json {
        let j = CycleJson {
            cycle: r.id,
            at: r.at,
            warned: r.warned,
            escalated: r.escalated,
            reminded: r.reminded,
            bypassed: r.bypassed,
            alerts: report.alerts.iter().map(AlertRow::from).collect(),
        };
        out.line(serde_json::to_string_pretty(&j)?)?;
    } else {
        for d in &r.decisions {
            match d.action.as_str() {
                "Problem" => out.line(format!("problem: {} ({})", d.detail, d.dr))?,
                _ => out.line(&d.detail)?,
            }
        }
        out.line(format!(
            "cycle {}: WARNED {}, ESCALATED {}, REMINDED {}, BYPASSED {}",
            r.id, r.warned, r.escalated, r.reminded, r.bypassed
        ))?;
    }
    Ok(())
}

pub async fn alerts(ctx: &Context, cmd: AlertsCommand) -> Result<()> {
    match cmd {
        AlertsCommand::List(a) => list(ctx, a).await,
        AlertsCommand::Send(a) => send(ctx, a).await,
    }
}

async fn list(ctx: &Context, a: AlertListArgs) -> Result<()> {
    let user = a
        .user
        .as_deref()
        .map(|u| parse_address("--user", u))
        .transpose()?;
    let dr = a.dr.as_deref().map(DrId::parse).transpose()?;
    let app = ctx.app().await?;
    let tz = ctx.time_zone()?;
    let fetch = |after, limit| {
        let (app, user, dr) = (app.clone(), user.clone(), dr.clone());
        async move {
            app.alerts(
                &Actor::admin(),
                user,
                dr,
                &crate::commands::listing::at(after, limit),
            )
            .await
        }
    };
    let result = emit(
        &a.paging,
        a.json,
        fetch,
        |x: &etraq_core::model::Alert| AlertRow::from(x),
        |rows| render::alert_table(rows, &tz),
        "alerts",
    )
    .await;
    app.store().close().await?;
    result
}

async fn send(ctx: &Context, a: JsonFlag) -> Result<()> {
    let store = ctx.open_store().await?;
    let notifier = ctx.notifier(store.clone(), None)?;
    let mut total = etraq_core::service::NotifyReport::default();
    loop {
        let r = notifier.run_once(jiff::Timestamp::now(), 200).await?;
        total.sent += r.sent;
        total.failed += r.failed;
        if r.sent + r.failed < 200 {
            break;
        }
    }
    store.close().await?;
    let mut out = Out::new();
    if a.json {
        out.line(format!(
            "{{\"sent\": {}, \"failed\": {}}}",
            total.sent, total.failed
        ))?;
    } else {
        out.line(format!(
            "sent {} alert mail(s); {} failed and stay in the outbox for a retry",
            total.sent, total.failed
        ))?;
    }
    Ok(())
}
