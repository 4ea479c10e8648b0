//! Sending a campaign: `concurrency` workers take recipients one at a time (each durably
//! `sending` before its message goes to the relay), paced to the campaign's rate across all of
//! them, and record each relay answer durably. At most `concurrency` recipients are ever
//! `sending`, so a crash leaves at most that many in doubt.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etraq_core::Error;
use etraq_core::access::Actor;
use etraq_core::campaign::{
    RecipientCounts, RecipientState, SendOutcome, after_attempt, retry_delay,
};
use etraq_core::service::{App, NextStep, SendSettings};
use jiff::Timestamp;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::Tls;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::campaign_mail::{CampaignMail, format_campaign};
use crate::transport::deliver_to_maildir;

/// Where campaign mail goes.
#[async_trait]
pub trait CampaignRelay: Send + Sync {
    /// Hands one message to the relay; the outcome is its verdict.
    async fn send(&self, mail_from: &str, to: &str, message: Vec<u8>) -> SendOutcome;
}

/// A relay over SMTP: lettre's pooled client, many messages per connection.
pub struct SmtpRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpRelay {
    /// A client for `host:port` keeping up to `connections` sessions open.
    pub fn new(
        host: &str,
        port: u16,
        helo: &str,
        connections: u32,
        timeout: Duration,
    ) -> SmtpRelay {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(Tls::None)
            .hello_name(ClientId::Domain(helo.to_string()))
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(connections.max(1)))
            .build();
        SmtpRelay { transport }
    }
}

#[async_trait]
impl CampaignRelay for SmtpRelay {
    async fn send(&self, mail_from: &str, to: &str, message: Vec<u8>) -> SendOutcome {
        let envelope = match (mail_from.parse(), to.parse()) {
            (Ok(f), Ok(t)) => match lettre::address::Envelope::new(Some(f), vec![t]) {
                Ok(e) => e,
                Err(e) => return SendOutcome::Refused(format!("bad envelope: {e}")),
            },
            _ => return SendOutcome::Refused(format!("bad envelope address: {mail_from} or {to}")),
        };
        match self.transport.send_raw(&envelope, &message).await {
            Ok(_) => SendOutcome::Accepted,
            Err(e) if e.is_permanent() => SendOutcome::Refused(e.to_string()),
            Err(e) => SendOutcome::Retry(e.to_string()),
        }
    }
}

/// Evaluation mode: campaign mail goes into the Maildir, fsynced, like the gateway's.
pub struct MaildirRelay {
    dir: Arc<PathBuf>,
}

impl MaildirRelay {
    /// A relay into the Maildir at `dir`.
    pub fn new(dir: PathBuf) -> MaildirRelay {
        MaildirRelay { dir: Arc::new(dir) }
    }
}

#[async_trait]
impl CampaignRelay for MaildirRelay {
    async fn send(&self, mail_from: &str, _to: &str, message: Vec<u8>) -> SendOutcome {
        let mut bytes = format!("Return-Path: <{mail_from}>\r\n").into_bytes();
        bytes.extend_from_slice(&message);
        match deliver_to_maildir(self.dir.clone(), bytes).await {
            Ok(_) => SendOutcome::Accepted,
            Err(e) => SendOutcome::Retry(format!("cannot write into the Maildir: {e}")),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// Recipients a crash had left `sending`, found at the start.
    pub found_in_doubt: u64,
    /// The counts at the end.
    pub counts: RecipientCounts,
    /// Whether every recipient has an outcome now.
    pub finished: bool,
}

/// Paces sends to `rate` per second across every worker.
struct Pacer {
    next: tokio::sync::Mutex<tokio::time::Instant>,
    gap: Duration,
}

impl Pacer {
    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let at = (*next).max(now);
            *next = at + self.gap;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Sends a campaign until every recipient has an outcome (or `stop` resolves, leaving the
/// rest queued). Resumable: run it again after a crash or a stop. `progress` is called after
/// each recipient with the number done in this run.
pub async fn run_campaign(
    app: &App,
    name: &str,
    relay: Arc<dyn CampaignRelay>,
    settings: &SendSettings,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<RunReport, Error> {
    let who = Actor::admin();
    let (mut campaign, found_in_doubt) = app
        .start_campaign(&who, name, settings.resend, Timestamp::now())
        .await?;
    let renderer = Arc::new(app.campaign_renderer(&who, &campaign).await?);
    let signer = Arc::new(app.token_signer().await?);
    let rate = campaign.rate.unwrap_or(settings.rate_per_second).max(1);
    let pacer = Arc::new(Pacer {
        next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        gap: Duration::from_secs_f64(1.0 / f64::from(rate)),
    });
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency.max(1) {
        let (app, relay, renderer, signer, pacer, done, progress) = (
            app.clone(),
            relay.clone(),
            renderer.clone(),
            signer.clone(),
            pacer.clone(),
            done.clone(),
            progress.clone(),
        );
        let (c, settings) = (campaign.clone(), settings.clone());
        workers.spawn(async move {
            loop {
                let Some(mut r) = app.store().take_queued(c.id, 1).await?.pop() else {
                    return Ok::<(), Error>(());
                };
                match app.next_step(&c, &r, &renderer, &signer, &settings).await? {
                    NextStep::Close(state, why) => {
                        r.state = state;
                        r.error = Some(why);
                    }
                    NextStep::Send(mail) => {
                        let bytes = format_campaign(&CampaignMail {
                            from: &mail.from,
                            reply_to: mail.reply_to.as_deref(),
                            to: &mail.to,
                            to_name: &mail.to_name,
                            message_id: &mail.message_id,
                            rendered: &mail.rendered,
                            headers: &mail.headers,
                        });
                        r.message_id = Some(mail.message_id.clone());
                        match bytes {
                            Err(e) => {
                                r.state = RecipientState::Failed;
                                r.error = Some(e);
                            }
                            Ok(bytes) => loop {
                                pacer.wait().await;
                                r.attempts += 1;
                                let outcome =
                                    relay.send(&mail.mail_from, &mail.to, bytes.clone()).await;
                                let (state, error) = after_attempt(&outcome, r.attempts);
                                r.error = error;
                                if state == RecipientState::Sending {
                                    // A temporary refusal: the row stays `sending` (it is this
                                    // worker's) while it waits to try again.
                                    tokio::time::sleep(retry_delay(r.attempts)).await;
                                    continue;
                                }
                                r.state = state;
                                if state == RecipientState::Sent {
                                    r.sent_at = Some(Timestamp::now());
                                }
                                break;
                            },
                        }
                    }
                }
                app.store().update_recipient(&r).await?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(n);
            }
        });
    }
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        let outcome = joined.map_err(|e| Error::Internal(format!("a sender task failed: {e}")));
        if let Err(e) = outcome.and_then(|r| r)
            && first_error.is_none()
        {
            first_error = Some(e);
            // The others stop; a recipient one of them had in hand stays `sending` and is
            // found in doubt by the next run, as after a crash.
            workers.abort_all();
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let counts = app
        .finish_campaign_if_done(&mut campaign, Timestamp::now())
        .await?;
    Ok(RunReport {
        found_in_doubt,
        finished: counts.queued == 0 && counts.sending == 0,
        counts,
    })
}
