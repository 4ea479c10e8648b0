//! `etraq escalate --once`, `etraq alerts list|send`, `etraq dr remind`.

use anyhow::{Result, bail};
use etraq_core::service::{CycleReport, Escalator};
use etraq_core::store::AlertQuery;
pub use etraq_core::views::AlertRow;
use etraq_core::{DrId, Tracker};
use serde::Serialize;

use crate::cli::{AlertListArgs, AlertsCommand, DrRemindArgs, EscalateArgs, JsonFlag};
use crate::commands::listing::emit;
use crate::commands::{parse_address, parse_time};
use crate::context::Context;
use crate::logfiles;
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

/// Runs one cycle and writes its `EscWarnings` log.
pub async fn cycle(
    ctx: &Context,
    store: std::sync::Arc<dyn etraq_core::Store>,
    now: jiff::Timestamp,
) -> Result<CycleReport> {
    let report = Escalator::new(store, ctx.policies()?)
        .run_cycle(now)
        .await?;
    logfiles::write_cycle_log(&ctx.logs_dir()?, &report.record, &ctx.time_zone()?)?;
    for d in report
        .record
        .decisions
        .iter()
        .filter(|d| d.action == "Problem")
    {
        tracing::warn!(dr = %d.dr, "{}", d.detail);
    }
    Ok(report)
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
    let store = ctx.open_store().await?;
    let tz = ctx.time_zone()?;
    let fetch = |after, limit| {
        let store = store.clone();
        let q = AlertQuery {
            user: user.clone(),
            dr: dr.clone(),
            after,
            limit,
            ..AlertQuery::default()
        };
        async move { store.list_alerts(&q).await }
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
    store.close().await?;
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

pub async fn remind(ctx: &Context, tracker: &Tracker, a: DrRemindArgs) -> Result<()> {
    let id = DrId::parse(&a.id)?;
    let at = parse_time("--at", &a.at)?;
    let dr = tracker.remind_dr(&id, at).await?;
    let mut out = Out::new();
    if a.json {
        out.line(serde_json::to_string_pretty(&render::DrRow::from(&dr))?)?;
    } else {
        out.line(format!(
            "reminder for {} set at {}",
            dr.id,
            render::time(at, &ctx.time_zone()?)
        ))?;
    }
    Ok(())
}
