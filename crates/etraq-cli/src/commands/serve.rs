//! `etraq serve`: the SMTP gateway, until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use etraq_core::Tracker;
use etraq_smtp::{Gateway, GatewayConfig, Target, reconcile_journal};

use crate::cli::ServeArgs;
use crate::context::{Context, EVALUATION_DOMAIN, describe};

pub async fn run(mut ctx: Context, args: ServeArgs) -> Result<()> {
    if let Some(listen) = args.smtp_listen {
        ctx.config.smtp.listen = listen;
    }
    let ctx = &ctx;
    let data_dir = ctx.config.data_dir()?;
    let gw_cfg = GatewayConfig::from_config(&ctx.config, data_dir.join("maildir"))?;
    let rules = ctx.config.tracking_rules()?;
    let store = ctx.open_store().await?;
    let interrupted = reconcile_journal(&store).await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "deliveries interrupted by the last shutdown were reconciled (their clients retry them)"
        );
    }
    let tracker = Arc::new(Tracker::new(store.clone(), rules));
    let gateway = Gateway::bind(gw_cfg.clone(), tracker).await?;
    let addr = gateway.local_addr()?;

    match &gw_cfg.target {
        Target::Maildir(dir) => {
            let why = if ctx.config_found {
                "no [upstream] in the configuration"
            } else {
                "no etraq.toml"
            };
            eprintln!("==================================================================");
            eprintln!(" etraq is running in EVALUATION MODE ({why}).");
            eprintln!(" Accepted mail is NOT relayed: it is delivered into");
            eprintln!("   {}", dir.display());
            if !ctx.config_found {
                eprintln!(
                    " Local domain: {} (try: swaks --server {} --to support@{})",
                    EVALUATION_DOMAIN, gw_cfg.listen, EVALUATION_DOMAIN
                );
                eprintln!(" Run `etraq init --local-domain YOURDOMAIN` to configure etraq.");
            } else {
                eprintln!(" Add an [upstream] section to etraq.toml to relay to your mail server.");
            }
            eprintln!("==================================================================");
        }
        Target::Upstream(u) => {
            tracing::info!(upstream = %format!("{}:{}", u.host, u.port), "relaying to the upstream");
        }
    }
    if ctx.config.tracking_rules()?.local_domains.is_empty() {
        tracing::warn!("local_domains is empty: no mail will be tracked; set it in etraq.toml");
    }
    eprintln!(
        "etraq serve: SMTP on {addr}{}, store {}",
        if gw_cfg.tls.is_some() {
            " (STARTTLS)"
        } else {
            ""
        },
        describe(&ctx.store_url)
    );

    let (tx, rx) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; finishing sessions in flight");
        let _ = tx.send(true);
    });

    let state_path = crate::commands::status::state_file(&data_dir);
    let state = crate::commands::status::ServerState {
        pid: std::process::id(),
        started_at: jiff::Timestamp::now(),
        smtp: addr.to_string(),
        mode: match &gw_cfg.target {
            Target::Maildir(_) => "evaluation".into(),
            Target::Upstream(u) => format!("relaying to {}:{}", u.host, u.port),
        },
    };
    if let Err(e) = std::fs::write(&state_path, serde_json::to_vec_pretty(&state)?) {
        tracing::warn!(path = %state_path.display(), error = %e, "cannot write the server state file (etraq status will say not running)");
    }

    let notify = Arc::new(tokio::sync::Notify::new());
    let background = [
        tokio::spawn(escalation_loop(
            ctx.clone_for_tasks(),
            store.clone(),
            notify.clone(),
            rx.clone(),
        )),
        tokio::spawn(notifier_loop(
            ctx.notifier(store.clone())?,
            notify.clone(),
            rx.clone(),
        )),
        tokio::spawn(retention_loop(
            ctx.logs_dir()?,
            ctx.config.logs.retention_days,
            rx.clone(),
        )),
    ];

    let result = gateway.run(rx).await;
    signals.abort();
    for task in background {
        task.abort();
        let _ = task.await;
    }
    let _ = std::fs::remove_file(&state_path);
    store.close().await.context("closing the store")?;
    result?;
    eprintln!("etraq serve: stopped");
    Ok(())
}

/// Runs an escalation cycle at start and every `escalation.interval_minutes`, then wakes the
/// notifier.
async fn escalation_loop(
    ctx: Context,
    store: Arc<dyn etraq_core::Store>,
    notify: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let every = Duration::from_secs(ctx.config.escalation.interval_minutes.max(1) * 60);
    loop {
        match crate::commands::escalate::cycle(&ctx, store.clone(), jiff::Timestamp::now()).await {
            Ok(r) => {
                let rec = &r.record;
                tracing::info!(
                    cycle = rec.id,
                    warned = rec.warned,
                    escalated = rec.escalated,
                    reminded = rec.reminded,
                    bypassed = rec.bypassed,
                    "escalation cycle"
                );
                if !r.alerts.is_empty() {
                    notify.notify_one();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "escalation cycle failed; retrying at the next interval")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Mails alerts from the outbox: after each cycle that raised some, and every 30 seconds for
/// retries.
async fn notifier_loop(
    notifier: etraq_core::escalator::Notifier,
    notify: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match notifier.run_once(jiff::Timestamp::now(), 200).await {
            Ok(r) if r.sent + r.failed > 0 => {
                tracing::info!(sent = r.sent, failed = r.failed, "alert mail")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "alert notifier failed; retrying"),
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Deletes log files older than `logs.retention_days`, daily.
async fn retention_loop(
    dir: std::path::PathBuf,
    days: u32,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match crate::logfiles::prune(&dir, days, jiff::Timestamp::now()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "old log files removed"),
            Err(e) => tracing::warn!(error = %e, "cannot prune log files"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(86_400)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
