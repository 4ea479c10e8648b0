//! `etraq serve`: the SMTP gateway, until SIGINT or SIGTERM.

use std::sync::Arc;

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
    let result = gateway.run(rx).await;
    signals.abort();
    store.close().await.context("closing the store")?;
    result?;
    eprintln!("etraq serve: stopped");
    Ok(())
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
