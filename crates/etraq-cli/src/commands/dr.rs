//! `etraq dr list|show|close|reopen|assign`.

use anyhow::{Result, bail};
use etraq_core::access::Scope;
use etraq_core::format_seconds;
use etraq_core::service as queries;
use etraq_core::store::DrQuery;
use etraq_core::{Dr, DrId, DrStatus, Party, Tracker};

use crate::cli::{DrCommand, DrListArgs, StatusArg};
use crate::commands::listing::emit;
use crate::commands::parse_address;
use crate::context::Context;
use crate::out::Out;
use crate::render::{self, DrRow};

pub async fn run(ctx: &Context, cmd: DrCommand) -> Result<()> {
    let store = ctx.open_store().await?;
    let tracker = Tracker::new(store.clone(), ctx.config.tracking_rules()?);
    let now = jiff::Timestamp::now();
    let result = match cmd {
        DrCommand::List(a) => list(ctx, &tracker, a).await,
        DrCommand::Show(a) => show(ctx, &tracker, &parse_id(&a.id)?, a.json, None).await,
        DrCommand::Close(a) => {
            let dr = tracker.close_dr(&parse_id(&a.id)?, now).await?;
            show(ctx, &tracker, &dr.id, a.json, Some("closed")).await
        }
        DrCommand::Reopen(a) => {
            let dr = tracker.reopen_dr(&parse_id(&a.id)?, now).await?;
            show(ctx, &tracker, &dr.id, a.json, Some("reopened")).await
        }
        DrCommand::Remind(a) => crate::commands::escalate::remind(ctx, &tracker, a).await,
        DrCommand::Assign(a) => {
            let owner = parse_address("EMAIL", &a.email)?;
            let dr = tracker.assign_dr(&parse_id(&a.id)?, &owner, now).await?;
            show(ctx, &tracker, &dr.id, a.json, Some("assigned")).await
        }
    };
    store.close().await?;
    result
}

fn parse_id(s: &str) -> Result<DrId> {
    Ok(DrId::parse(s)?)
}

async fn list(ctx: &Context, tracker: &Tracker, a: DrListArgs) -> Result<()> {
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
    let store = tracker.store().clone();
    let tz = ctx.time_zone()?;
    let fetch = |after, limit| {
        let store = store.clone();
        let q = DrQuery {
            status,
            owner: owner.clone(),
            customer: customer.clone(),
            after,
            limit,
            ..DrQuery::default()
        };
        async move { store.list_drs(&q).await }
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

async fn show(
    ctx: &Context,
    tracker: &Tracker,
    id: &DrId,
    json: bool,
    did: Option<&str>,
) -> Result<()> {
    let store = tracker.store();
    let Some(detail) = queries::dr_detail(store.as_ref(), id, &Scope::All).await? else {
        bail!("no DR {id}");
    };
    let Some(dr) = store.get_dr(id).await? else {
        bail!("no DR {id}");
    };
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
    Ok(())
}
