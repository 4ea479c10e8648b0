//! `etraq status`: the counters and counts, and whether a server is running (from the state file
//! `etraq serve` keeps in the data directory).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::cli::JsonFlag;
use crate::context::Context;
use crate::out::Out;

/// What a running `etraq serve` writes about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerState {
    pub pid: u32,
    pub started_at: jiff::Timestamp,
    pub smtp: String,
    pub mode: String,
}

/// The state file of a data directory.
pub fn state_file(data_dir: &Path) -> PathBuf {
    data_dir.join("etraq-serve.json")
}

fn running(state: &ServerState) -> bool {
    Path::new(&format!("/proc/{}", state.pid)).exists()
}

#[derive(Serialize)]
struct StatusJson {
    running: bool,
    listening: Vec<String>,
    mode: Option<String>,
    started_at: Option<jiff::Timestamp>,
    uptime_secs: Option<i64>,
    tracked: u64,
    untracked: u64,
    open: u64,
    replied: u64,
    closed: u64,
    users: u64,
    #[serde(rename = "ESCALATED")]
    escalated: u64,
    #[serde(rename = "WARNED")]
    warned: u64,
    outbox: u64,
    store: String,
}

pub async fn run(ctx: &Context, a: JsonFlag) -> Result<()> {
    let data_dir = ctx.config.data_dir()?;
    let state: Option<ServerState> = std::fs::read_to_string(state_file(&data_dir))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(running);
    let store = ctx.open_store().await?;
    let stats = store.stats().await;
    store.close().await?;
    let stats = stats?;
    let now = jiff::Timestamp::now();
    let s = StatusJson {
        running: state.is_some(),
        listening: state.iter().map(|s| format!("smtp {}", s.smtp)).collect(),
        mode: state.as_ref().map(|s| s.mode.clone()),
        started_at: state.as_ref().map(|s| s.started_at),
        uptime_secs: state
            .as_ref()
            .map(|s| now.as_second() - s.started_at.as_second()),
        tracked: stats.tracked,
        untracked: stats.untracked,
        open: stats.open,
        replied: stats.replied,
        closed: stats.closed,
        users: stats.users,
        escalated: stats.escalated,
        warned: stats.warned,
        outbox: stats.outbox,
        store: crate::context::describe(&ctx.store_url),
    };
    let mut out = Out::new();
    if a.json {
        out.line(serde_json::to_string_pretty(&s)?)?;
        return Ok(());
    }
    match &state {
        Some(st) => out.line(format!(
            "Listening... SMTP {} ({}), up {}   ESCALATED : {}, WARNED : {}",
            st.smtp,
            st.mode,
            etraq_core::duration::format_seconds(s.uptime_secs.unwrap_or(0)),
            s.escalated,
            s.warned
        ))?,
        None => out.line(format!(
            "Not running.   ESCALATED : {}, WARNED : {}",
            s.escalated, s.warned
        ))?,
    }
    out.line(format!(
        "Tracked mails: {}   Untracked mails: {}",
        s.tracked, s.untracked
    ))?;
    out.line(format!(
        "DRs open: {}   replied: {}   closed: {}",
        s.open, s.replied, s.closed
    ))?;
    out.line(format!(
        "Users: {}   Alerts waiting to be mailed: {}",
        s.users, s.outbox
    ))?;
    out.line(format!("Store: {}", s.store))?;
    Ok(())
}
