//! `etraq status`: the counters and counts, and whether a server is running (from the state file
//! `etraq serve` keeps in the data directory).

use std::path::{Path, PathBuf};

use anyhow::Result;
use etraq_core::views::StatusView;
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
    #[serde(default)]
    pub web: Option<String>,
    pub mode: String,
}

/// The state file of a data directory.
pub fn state_file(data_dir: &Path) -> PathBuf {
    data_dir.join("etraq-serve.json")
}

fn running(state: &ServerState) -> bool {
    Path::new(&format!("/proc/{}", state.pid)).exists()
}

/// The pid of the `etraq serve` running on `data_dir`, if one is.
pub fn running_server(data_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(state_file(data_dir))
        .ok()
        .and_then(|t| serde_json::from_str::<ServerState>(&t).ok())
        .filter(running)
        .map(|s| s.pid)
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
    let mut s = StatusView::from_stats(&stats, crate::context::describe(&ctx.store_url));
    s.running = state.is_some();
    s.listening = state
        .iter()
        .flat_map(|st| {
            std::iter::once(format!("smtp {}", st.smtp))
                .chain(st.web.iter().map(|w| format!("web {w}")))
        })
        .collect();
    s.mode = state.as_ref().map(|st| st.mode.clone());
    s.started_at = state.as_ref().map(|st| st.started_at);
    s.uptime_secs = state
        .as_ref()
        .map(|st| now.as_second() - st.started_at.as_second());
    let mut out = Out::new();
    if a.json {
        out.line(serde_json::to_string_pretty(&s)?)?;
        return Ok(());
    }
    match &state {
        Some(st) => out.line(format!(
            "Listening... SMTP {} ({}){}, up {}   ESCALATED : {}, WARNED : {}",
            st.smtp,
            st.mode,
            st.web
                .as_ref()
                .map(|w| format!(", console {w}"))
                .unwrap_or_default(),
            etraq_core::format_seconds(s.uptime_secs.unwrap_or(0)),
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
