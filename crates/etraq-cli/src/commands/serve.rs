//! `etraq serve`: the SMTP gateway, the web console, the escalation scheduler and the alert
//! notifier in one process, until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use etraq_core::switches::{Service, Services};
use etraq_core::{LiveConfig, Tracker};
use etraq_smtp::{Gateway, GatewayConfig, Target, reconcile_journal};
use etraq_web::{AppState, ServerInfo, WebDeps};

use crate::cli::ServeArgs;
use crate::context::{Context, EVALUATION_DOMAIN, describe};

pub async fn run(mut ctx: Context, args: ServeArgs) -> Result<()> {
    if let Some(listen) = args.smtp_listen {
        ctx.config.smtp.listen = listen;
    }
    if let Some(listen) = args.web_listen {
        ctx.config.web.listen = listen;
    }
    let ctx = &ctx;
    let data_dir = ctx.config.data_dir()?;
    // An embedded store creates it; with a database server nothing else would before the
    // state file and the logs are written there.
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
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
    let services = Services::new();
    let live = LiveConfig::new(ctx.config.clone());
    // Campaign bounces, complaints and mailto unsubscribes come back through the gateway.
    let own_mail = Arc::new(etraq_core::service::App::new(
        store.clone(),
        tracker.clone(),
        live.clone(),
        ctx.logs_dir()?,
    ));
    let gateway = Gateway::bind(gw_cfg.clone(), tracker.clone())
        .await?
        .with_services(services.clone())
        .with_own_mail(own_mail);
    let addr = gateway.local_addr()?;
    let web_listener = tokio::net::TcpListener::bind(&ctx.config.web.listen)
        .await
        .with_context(|| format!("cannot listen on {} (web.listen)", ctx.config.web.listen))?;
    let web_addr = web_listener.local_addr()?;
    let public_listener = match ctx.config.web.public_listen.trim() {
        "" => None,
        addr => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (web.public_listen)"))?,
        ),
    };
    let web_tls = match (&ctx.config.web.tls_cert, &ctx.config.web.tls_key) {
        (Some(cert), Some(key)) => Some(etraq_smtp::tls_acceptor(
            &ctx.config.base_dir.join(cert),
            &ctx.config.base_dir.join(key),
        )?),
        _ => None,
    };
    if let Some(pw) = etraq_web::credentials::ensure_admin_password(store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("setting the first admin password: {e}"))?
    {
        eprintln!("==================================================================");
        eprintln!(" First start: the console's admin password is");
        eprintln!("   {pw}");
        eprintln!(" Sign in as `admin`. It is shown only this once; change it on the");
        eprintln!(" Password page or with `etraq admin passwd`.");
        eprintln!("==================================================================");
    }

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
    let web_url = format!(
        "{}://{web_addr}",
        if web_tls.is_some() { "https" } else { "http" }
    );
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    tracing::info!(smtp = %addr, console = %web_url, store = %describe(&ctx.store_url), workers, "serving");
    eprintln!(
        "etraq serve: SMTP on {addr}{}, console on {web_url}, store {}",
        if gw_cfg.tls.is_some() {
            " (STARTTLS)"
        } else {
            ""
        },
        describe(&ctx.store_url)
    );
    if let Some(l) = &public_listener {
        let a = l.local_addr()?;
        tracing::info!(public = %a, "serving the public endpoints alone");
        eprintln!("etraq serve: public endpoints alone (web.public_listen) on {a}");
    }

    let (tx, rx) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(async move {
        crate::commands::interrupted().await;
        tracing::info!("shutdown requested; finishing sessions in flight");
        let _ = tx.send(true);
    });

    let state_path = crate::commands::status::state_file(&data_dir);
    let state = crate::commands::status::ServerState {
        pid: std::process::id(),
        started_at: jiff::Timestamp::now(),
        smtp: addr.to_string(),
        web: Some(web_url.clone()),
        mode: match &gw_cfg.target {
            Target::Maildir(_) => "evaluation".into(),
            Target::Upstream(u) => format!("relaying to {}:{}", u.host, u.port),
        },
    };
    let web_state = AppState::new(WebDeps {
        mailer: Some(ctx.outbound()?),
        store: store.clone(),
        tracker: tracker.clone(),
        config: live.clone(),
        config_path: ctx.config_path.clone(),
        services: services.clone(),
        logs_dir: ctx.logs_dir()?,
        server: ServerInfo {
            smtp: Some(addr.to_string()),
            web: web_url.clone(),
            mode: state.mode.clone(),
            started_at: state.started_at,
            store: describe(&ctx.store_url),
        },
        tls: web_tls.is_some(),
    });
    if let Err(e) = std::fs::write(&state_path, serde_json::to_vec_pretty(&state)?) {
        tracing::warn!(path = %state_path.display(), error = %e, "cannot write the server state file (etraq status will say not running)");
    }

    let node = etraq_core::cluster::node_name();
    let (lead_tx, leader) = tokio::sync::watch::channel(false);
    let leadership = tokio::spawn(leadership_loop(
        store.clone(),
        node.clone(),
        lead_tx,
        rx.clone(),
    ));
    let notify = Arc::new(tokio::sync::Notify::new());
    // Awaited at shutdown rather than aborted: its senders record the mail in hand first.
    let campaigns = tokio::spawn(campaign_loop(
        ctx.clone_for_tasks(),
        store.clone(),
        tracker.clone(),
        live.clone(),
        leader.clone(),
        rx.clone(),
    ));
    // Awaited at shutdown too: each job writes where it stopped.
    let jobs = tokio::spawn(crate::jobs::job_loop(
        store.clone(),
        live.clone(),
        services.clone(),
        leader.clone(),
        rx.clone(),
    ));
    let background = [
        tokio::spawn(escalation_loop(
            ctx.clone_for_tasks(),
            live.clone(),
            services.clone(),
            store.clone(),
            notify.clone(),
            leader.clone(),
            rx.clone(),
        )),
        tokio::spawn(notifier_loop(
            ctx.notifier(store.clone(), Some(&web_url))?,
            services.clone(),
            notify.clone(),
            leader.clone(),
            rx.clone(),
        )),
        tokio::spawn(web_state.clone().stats_loop(rx.clone())),
        tokio::spawn(retention_loop(
            ctx.logs_dir()?,
            ctx.config.logs.retention_days,
            rx.clone(),
        )),
    ];

    let public = public_listener.map(|listener| {
        tokio::spawn(etraq_web::serve(
            listener,
            etraq_web::public_app(web_state.clone()),
            web_tls.clone(),
            rx.clone(),
        ))
    });
    let web = tokio::spawn(etraq_web::serve(
        web_listener,
        etraq_web::app(web_state),
        web_tls,
        rx.clone(),
    ));
    let result = gateway.run(rx).await;
    signals.abort();
    match web.await {
        Ok(Err(e)) => tracing::error!(error = %e, "the console stopped with an error"),
        Err(e) => tracing::error!(error = %e, "the console task failed"),
        Ok(Ok(())) => {}
    }
    if let Some(public) = public {
        match public.await {
            Ok(Err(e)) => tracing::error!(error = %e, "the public listener stopped with an error"),
            Err(e) => tracing::error!(error = %e, "the public listener task failed"),
            Ok(Ok(())) => {}
        }
    }
    if tokio::time::timeout(Duration::from_secs(15), campaigns)
        .await
        .is_err()
    {
        tracing::warn!("campaign senders did not stop in time");
    }
    if tokio::time::timeout(Duration::from_secs(15), jobs)
        .await
        .is_err()
    {
        tracing::warn!("jobs did not stop in time");
    }
    for task in background {
        task.abort();
        let _ = task.await;
    }
    // It gives the lease up once the stop is seen, so another node takes over at once.
    if tokio::time::timeout(Duration::from_secs(5), leadership)
        .await
        .is_err()
    {
        tracing::warn!("the leader lease was not released in time");
    }
    let _ = std::fs::remove_file(&state_path);
    store.close().await.context("closing the store")?;
    result?;
    eprintln!("etraq serve: stopped");
    Ok(())
}

/// Holds or follows the leader lease (see [`etraq_core::cluster`]): tries every
/// [`RENEW_EVERY`](etraq_core::cluster::RENEW_EVERY), publishes whether this node leads, and
/// logs each change of leader. A renewal that fails or hangs steps down at once, well before
/// the lease can expire and another node take it. At the stop it gives the lease up.
async fn leadership_loop(
    store: Arc<dyn etraq_core::Store>,
    node: String,
    leads: tokio::sync::watch::Sender<bool>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use etraq_core::cluster::{LEADER, LEASE_TTL, RENEW_EVERY};
    let mut known: Option<String> = None;
    loop {
        let held =
            tokio::time::timeout(RENEW_EVERY, store.hold_lease(LEADER, &node, LEASE_TTL)).await;
        let mine = match held {
            Ok(Ok(h)) => {
                if known.as_deref() != Some(h.holder.as_str()) {
                    if h.mine {
                        tracing::info!(node = %node, "this node leads (escalation, notifier, campaigns, jobs)");
                    } else {
                        tracing::info!(node = %node, leader = %h.holder, "another node leads; this node serves mail and the console");
                    }
                    known = Some(h.holder.clone());
                }
                h.mine
            }
            Ok(Err(e)) => {
                if *leads.borrow() {
                    tracing::warn!(node = %node, error = %e, "cannot renew the leader lease; stepping down");
                }
                known = None;
                false
            }
            Err(_) => {
                if *leads.borrow() {
                    tracing::warn!(node = %node, "renewing the leader lease timed out; stepping down");
                }
                known = None;
                false
            }
        };
        leads.send_replace(mine);
        tokio::select! {
            _ = tokio::time::sleep(RENEW_EVERY) => {}
            _ = stop.changed() => break,
        }
    }
    if leads.send_replace(false)
        && let Err(e) = store.release_lease(LEADER, &node).await
    {
        tracing::warn!(error = %e, "cannot release the leader lease (it expires by itself)");
    }
}

/// Runs an escalation cycle at start and every `escalation.interval_minutes` (read from the
/// live configuration each time, so the console can change it), then wakes the notifier.
/// While the console pauses escalation, cycles are skipped; on a node that does not lead, too.
async fn escalation_loop(
    base: Context,
    live: LiveConfig,
    services: Services,
    store: Arc<dyn etraq_core::Store>,
    notify: Arc<tokio::sync::Notify>,
    mut leader: tokio::sync::watch::Receiver<bool>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if !*leader.borrow_and_update() {
            tokio::select! {
                _ = leader.changed() => continue,
                _ = stop.changed() => return,
            }
        }
        let mut ctx = base.clone_for_tasks();
        ctx.config = (*live.get()).clone();
        let every = Duration::from_secs(ctx.config.escalation.interval_minutes.max(1) * 60);
        if services.is_paused(Service::Escalation) {
            tracing::info!("escalation paused from the console; cycle skipped");
            tokio::select! {
                _ = tokio::time::sleep(every.min(Duration::from_secs(30))) => continue,
                _ = stop.changed() => return,
            }
        }
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

/// Mails the outbox (alerts, confirmation mails): after each cycle that raised alerts, and
/// every 2 seconds, so a confirmation mail leaves moments after someone subscribes. Each pass is
/// two index reads when there is nothing to send.
async fn notifier_loop(
    notifier: etraq_core::service::Notifier,
    services: Services,
    notify: Arc<tokio::sync::Notify>,
    leader: tokio::sync::watch::Receiver<bool>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if services.is_paused(Service::Notifications) || !*leader.borrow() {
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        match notifier.run_once(jiff::Timestamp::now(), 200).await {
            Ok(r) if r.sent + r.failed > 0 => {
                tracing::info!(sent = r.sent, failed = r.failed, "alert mail")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "alert notifier failed; retrying"),
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Sends campaigns: every second it looks for campaigns that are `running` (started, resumed,
/// or left running by a process that died) or `scheduled` for now, and runs a sender for each
/// one that no live sender holds. Pause and cancel stop a sender within a second; the lease in
/// the campaign record keeps a `campaign run` elsewhere and this loop from sending one campaign
/// twice.
async fn campaign_loop(
    ctx: Context,
    store: Arc<dyn etraq_core::Store>,
    tracker: Arc<etraq_core::Tracker>,
    live: LiveConfig,
    leader: tokio::sync::watch::Receiver<bool>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let logs = ctx.logs_dir().unwrap_or_default();
    let app = etraq_core::service::App::new(store, tracker, live, logs);
    let halt = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut running: std::collections::HashMap<u64, tokio::task::JoinHandle<bool>> =
        std::collections::HashMap::new();
    // A campaign whose sender stopped on an error (its relay is down) waits a minute before
    // the next try, instead of hammering the relay every second.
    let mut resting: std::collections::HashMap<u64, jiff::Timestamp> =
        std::collections::HashMap::new();
    loop {
        let now = jiff::Timestamp::now();
        let finished: Vec<u64> = running
            .iter()
            .filter(|(_, h)| h.is_finished())
            .map(|(id, _)| *id)
            .collect();
        let ended: Vec<(u64, tokio::task::JoinHandle<bool>)> = finished
            .into_iter()
            .filter_map(|id| running.remove(&id).map(|h| (id, h)))
            .collect();
        for (id, h) in ended {
            // A sender that ended on an error rests; one that finished or was paused does not
            // (a resume must take effect within a second).
            if !h.await.unwrap_or(false) {
                resting.insert(id, now + jiff::SignedDuration::from_secs(60));
            }
        }
        resting.retain(|_, until| *until > now);
        // Only the leader starts senders (a sender already running finishes: its campaign's
        // lease and the recipients' claims keep every mail single).
        let due = if *leader.borrow() {
            app.campaigns_due(now).await
        } else {
            Ok(Vec::new())
        };
        match due {
            Ok(due) => {
                for c in due {
                    if running.contains_key(&c.id)
                        || resting.contains_key(&c.id)
                        || etraq_smtp::held_by_another(c.lease.as_ref(), now)
                    {
                        continue;
                    }
                    let settings = etraq_core::service::SendSettings::from_config(&app.config());
                    let relay = match ctx.campaign_relay(settings.concurrency) {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::error!(campaign = %c.name, error = %e, "cannot send the campaign");
                            continue;
                        }
                    };
                    let (app, halt) = (app.clone(), halt.clone());
                    tracing::info!(campaign = %c.name, "sending campaign");
                    running.insert(
                        c.id,
                        tokio::spawn(async move {
                            let progress: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(|_| {});
                            match etraq_smtp::run_campaign(
                                &app, &c.name, relay, &settings, progress, halt,
                            )
                            .await
                            {
                                Ok(r) if r.finished => {
                                    tracing::info!(
                                        campaign = %c.name,
                                        sent = r.counts.sent,
                                        failed = r.counts.failed,
                                        in_doubt = r.counts.in_doubt,
                                        skipped = r.counts.skipped,
                                        "campaign finished"
                                    );
                                    true
                                }
                                Ok(r) => {
                                    tracing::info!(
                                        campaign = %c.name,
                                        queued = r.counts.queued,
                                        "campaign sender stopped (paused or cancelled)"
                                    );
                                    true
                                }
                                Err(e) => {
                                    tracing::warn!(campaign = %c.name, error = %e, "campaign sender stopped; it is tried again in a minute");
                                    false
                                }
                            }
                        }),
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the campaigns"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
    }
    // A shutdown: each sender finishes and records the recipient in hand, within a grace
    // period; one still waiting on a slow relay after it is aborted, and its recipient is
    // found in doubt at the next start, exactly as after a crash.
    halt.store(true, std::sync::atomic::Ordering::Relaxed);
    let grace = tokio::time::Instant::now() + Duration::from_secs(10);
    for (_, mut h) in running {
        if tokio::time::timeout_at(grace, &mut h).await.is_err() {
            h.abort();
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
