//! `etraq report unreplied|response-times|volume` and `etraq logs list|show`.

use anyhow::{Result, bail};
use etraq_core::HumanDuration;
use etraq_core::access::Actor;
use etraq_core::format_seconds;
use etraq_core::service::{UnrepliedQuery, UserResponses, VolumeDay};

use crate::cli::{
    JsonFlag, LogShowArgs, LogsCommand, ReportCommand, ResponseTimesArgs, UnrepliedArgs, VolumeArgs,
};
use crate::commands::{parse_address, parse_time};
use crate::context::Context;
use crate::out::Out;
use crate::render::{self, TableExt as _};

pub async fn run(ctx: &Context, cmd: ReportCommand) -> Result<()> {
    match cmd {
        ReportCommand::Unreplied(a) => unreplied(ctx, a).await,
        ReportCommand::ResponseTimes(a) => response_times(ctx, a).await,
        ReportCommand::Volume(a) => volume(ctx, a).await,
    }
}

async fn unreplied(ctx: &Context, a: UnrepliedArgs) -> Result<()> {
    let now = match &a.now {
        Some(t) => parse_time("--now", t)?,
        None => jiff::Timestamp::now(),
    };
    let older = match &a.older_than {
        Some(d) => HumanDuration::parse(d).map_err(|e| anyhow::anyhow!("--older-than: {e}"))?,
        None => HumanDuration::from_secs(0),
    };
    let owner = a
        .owner
        .as_deref()
        .map(|o| parse_address("--owner", o))
        .transpose()?;
    let q = UnrepliedQuery {
        older_than_secs: older.as_secs(),
        owner,
        department: a.department.clone(),
        limit: 0,
    };
    let app = ctx.app().await?;
    let rows = app.unreplied(&Actor::admin(), &q, now).await;
    app.store().close().await?;
    let out_rows = match rows {
        Err(etraq_core::Error::InvalidField { field, reason }) => bail!("--{field}: {reason}"),
        r => r?,
    };
    let mut out = Out::new();
    if a.json {
        out.line(serde_json::to_string_pretty(&out_rows)?)?;
        return Ok(());
    }
    let tz = ctx.time_zone()?;
    let mut t = render::table(&[
        "DR",
        "Owner",
        "Customer",
        "Subject",
        "Waiting since",
        "Waiting",
        "Level",
    ]);
    for r in &out_rows {
        t.add_text_row(vec![
            r.dr.id.clone(),
            r.dr.owner.clone(),
            r.dr.customer.clone(),
            r.dr.subject.clone(),
            r.dr.awaiting_since
                .map(|s| render::time(s, &tz))
                .unwrap_or_default(),
            format_seconds(r.waiting_secs),
            r.dr.escalation_level.to_string(),
        ]);
    }
    out.line(format!(
        "{} unreplied DR(s){}",
        out_rows.len(),
        a.older_than
            .map(|d| format!(" waiting longer than {d}"))
            .unwrap_or_default()
    ))?;
    if !out_rows.is_empty() {
        out.line(t.to_string())?;
    }
    Ok(())
}

async fn response_times(ctx: &Context, a: ResponseTimesArgs) -> Result<()> {
    let since = a
        .since
        .as_deref()
        .map(|t| parse_time("--since", t))
        .transpose()?;
    let user = a
        .owner
        .as_deref()
        .map(|o| parse_address("--owner", o))
        .transpose()?;
    let app = ctx.app().await?;
    let stats = app
        .response_times(&Actor::admin(), since, user, a.business_hours)
        .await;
    app.store().close().await?;
    let stats: Vec<UserResponses> = match stats {
        Err(etraq_core::Error::InvalidField {
            field: "business",
            reason,
        }) => bail!("--business-hours: {reason}"),
        r => r?,
    };
    let mut out = Out::new();
    if a.json {
        out.line(serde_json::to_string_pretty(&stats)?)?;
        return Ok(());
    }
    let mut t = render::table(&[
        "User",
        "First: count",
        "median",
        "p90",
        "max",
        "All: count",
        "median",
        "p90",
        "max",
    ]);
    for s in &stats {
        t.add_text_row(vec![
            s.user.to_string(),
            s.first.count.to_string(),
            format_seconds(s.first.median),
            format_seconds(s.first.p90),
            format_seconds(s.first.max),
            s.all.count.to_string(),
            format_seconds(s.all.median),
            format_seconds(s.all.p90),
            format_seconds(s.all.max),
        ]);
    }
    out.line(format!(
        "Response times ({} time){}",
        if a.business_hours {
            "business"
        } else {
            "wall-clock"
        },
        since.map(|s| format!(" since {s}")).unwrap_or_default()
    ))?;
    out.line(t.to_string())?;
    Ok(())
}

async fn volume(ctx: &Context, a: VolumeArgs) -> Result<()> {
    let until = match &a.until {
        Some(t) => parse_time("--until", t)?,
        // The range is half-open in whole seconds: reach past this second, so mail received a
        // moment ago is counted.
        None => {
            let now = jiff::Timestamp::now();
            now.checked_add(jiff::SignedDuration::from_secs(60))
                .unwrap_or(now)
        }
    };
    let since = match &a.since {
        Some(t) => parse_time("--since", t)?,
        None => until
            .checked_sub(jiff::SignedDuration::from_hours(24 * 30))
            .unwrap_or(until),
    };
    let app = ctx.app().await?;
    let days = app.volume(&Actor::admin(), since, until).await;
    app.store().close().await?;
    let days: Vec<VolumeDay> = match days {
        Err(etraq_core::Error::InvalidField { field, reason }) => bail!("--{field}: {reason}"),
        r => r?,
    };
    let mut out = Out::new();
    if a.json {
        out.line(serde_json::to_string_pretty(&days)?)?;
        return Ok(());
    }
    let mut t = render::table(&["Day", "Direction", "Tracked", "Untracked"]);
    for d in &days {
        t.add_text_row(vec![
            d.day.to_string(),
            d.direction.to_string(),
            d.tracked.to_string(),
            d.untracked.to_string(),
        ]);
    }
    out.line(t.to_string())?;
    Ok(())
}

pub async fn logs(ctx: &Context, cmd: LogsCommand) -> Result<()> {
    // The log files are read without opening the store (a running server holds sled's lock).
    let dir = ctx.logs_dir()?;
    let mut out = Out::new();
    match cmd {
        LogsCommand::List(JsonFlag { json }) => {
            let files = etraq_core::logs::list(&dir)?;
            if json {
                out.line(serde_json::to_string_pretty(&files)?)?;
                return Ok(());
            }
            let tz = ctx.time_zone()?;
            let mut t = render::table(&["Filename", "Size in Bytes", "Created On", "Modified On"]);
            for f in &files {
                t.add_text_row(vec![
                    f.name.clone(),
                    f.size.to_string(),
                    f.created.map(|c| render::time(c, &tz)).unwrap_or_default(),
                    f.modified.map(|c| render::time(c, &tz)).unwrap_or_default(),
                ]);
            }
            out.line(t.to_string())?;
        }
        LogsCommand::Show(LogShowArgs { name }) => {
            let bytes = etraq_core::logs::read(&dir, &name)?;
            out.text(String::from_utf8_lossy(&bytes))?;
        }
    }
    Ok(())
}
