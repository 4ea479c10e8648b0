//! Campaign use cases: create (checked against its audience), freeze the recipients, and the
//! per-recipient steps a sender takes, so that every frontend and sender applies the same rules.
//! The sending loop itself (connections, rate, concurrency) lives with the SMTP client.

use jiff::Timestamp;

use crate::access::Actor;
use crate::address::EmailAddress;
use crate::campaign::{
    Campaign, CampaignStatus, MergeData, Named, Recipient, RecipientCounts, RecipientState,
    Renderer, Signer, SubscriberFields, Token, TokenKind, check_campaign_name, is_blocked,
    new_secret,
};
use crate::config::CampaignsConfig;
use crate::error::{Error, Result};
use crate::service::App;

/// The key-value entry holding the token secret (hex).
const SECRET_KEY: &str = "campaigns:secret";

/// Recipients frozen per store transaction: a 100,000-recipient freeze keeps one batch in
/// memory and never holds the store's writer for long.
pub const FREEZE_BATCH: usize = 5000;

/// Recipients a new campaign's template is tried on before it is accepted.
pub const TRIAL_RECIPIENTS: usize = 100;

/// What `campaign create` gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignDraft {
    /// The name.
    pub name: String,
    /// The lists.
    pub lists: Vec<String>,
    /// The template's name.
    pub template: String,
    /// A subject replacing the template's.
    pub subject: Option<String>,
    /// The From mailbox; `None`: `campaigns.from`.
    pub from: Option<String>,
    /// Reply-To.
    pub reply_to: Option<String>,
    /// The owner (a user).
    pub owner: Option<EmailAddress>,
    /// The segment.
    pub segment: Option<String>,
    /// Mails per second.
    pub rate: Option<u32>,
    /// Schedule it: a running `etraq serve` starts sending at this time (`--at`).
    pub send_at: Option<Timestamp>,
}

/// Where a campaign's links and return paths point, from `[campaigns]` with its defaults
/// filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendSettings {
    /// The base of links, without a trailing `/`.
    pub public_url: String,
    /// The VERP and Message-ID domain.
    pub bounce_domain: String,
    /// The default From.
    pub from: String,
    /// Mails per second.
    pub rate_per_second: u32,
    /// Mails in flight.
    pub concurrency: u32,
    /// Resend recipients left in doubt.
    pub resend: bool,
}

/// One recipient's mail, ready for the relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The envelope sender (VERP).
    pub mail_from: String,
    /// The recipient's address.
    pub to: String,
    /// Their name.
    pub to_name: String,
    /// The From header.
    pub from: String,
    /// Reply-To.
    pub reply_to: Option<String>,
    /// The Message-ID (no brackets).
    pub message_id: String,
    /// The rendered parts.
    pub rendered: crate::campaign::Rendered,
    /// The contract header fields (List-Unsubscribe and the rest).
    pub headers: Vec<(String, String)>,
}

/// What a sender checks each recipient against: the campaign's lists and the blocklist, read
/// once and refreshed by the sender (every second), not once per recipient.
#[derive(Clone, Debug, Default)]
pub struct SendContext {
    /// The campaign's lists, as stored now.
    pub lists: Vec<crate::campaign::MailingList>,
    /// The blocklist, as stored now.
    pub blocklist: Vec<crate::campaign::BlockEntry>,
}

/// What to do with a recipient at send time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Send this.
    Send(Box<OutgoingMail>),
    /// Record it in this final state with this reason (unsubscribed or blocklisted after the
    /// freeze: `skipped`; a template that fails for them: `failed`).
    Close(RecipientState, String),
}

impl SendSettings {
    /// The settings of `cfg`, defaults filled in from the local domains and the console.
    pub fn from_config(cfg: &crate::config::Config) -> SendSettings {
        let c: &CampaignsConfig = &cfg.campaigns;
        let domain = if c.bounce_domain.trim().is_empty() {
            cfg.local_domains
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".into())
        } else {
            c.bounce_domain.trim().to_lowercase()
        };
        let public_url = if !c.public_url.trim().is_empty() {
            c.public_url.trim().trim_end_matches('/').to_string()
        } else if !cfg.web.public_listen.trim().is_empty() {
            format!("http://{}", cfg.web.public_listen.trim())
        } else {
            format!("http://{}", cfg.web.listen)
        };
        let from = if c.from.trim().is_empty() {
            format!("newsletter@{domain}")
        } else {
            c.from.trim().to_string()
        };
        SendSettings {
            public_url,
            bounce_domain: domain,
            from,
            rate_per_second: c.rate_per_second,
            concurrency: c.concurrency,
            resend: c.on_restart == crate::config::OnRestart::Resend,
        }
    }
}

/// The record of a campaign mail the relay accepted, for [`Settled::mail`]: the mail as the
/// gateway would record it (outbound, untracked, reason `Campaign Mail`, its Message-ID
/// indexed so a customer's reply threads to it, in the customer's history) with the header
/// section as its archived copy. The body is not kept: it is the campaign's template rendered
/// for this subscriber, and a 100,000-recipient newsletter would otherwise fill the archive.
pub fn campaign_record(
    mail: &OutgoingMail,
    formatted: &[u8],
    now: Timestamp,
) -> crate::tracking::ChangeSet {
    use crate::model::{Decision, Direction, MailRecord, UntrackedReason};
    let head_len = memchr::memmem::find(formatted, b"\r\n\r\n")
        .map(|i| i + 2)
        .unwrap_or(formatted.len());
    let head = &formatted[..head_len];
    let parsed = crate::mail::ParsedMail::parse(head);
    let to = EmailAddress::parse(&mail.to).ok();
    // The archived copy starts with the VERP return path, as a delivered copy would.
    let mut raw = format!("Return-Path: <{}>\r\n", mail.mail_from).into_bytes();
    raw.extend_from_slice(head);
    raw.extend_from_slice(
        b"\r\n[etraq keeps the header of campaign mail; the body was the campaign's template rendered for this subscriber]\r\n",
    );
    crate::tracking::ChangeSet {
        mail: MailRecord {
            seq: 0,
            message_id: crate::mail::MessageId::from_trusted(mail.message_id.clone()),
            derived_message_id: false,
            direction: Direction::Outbound,
            // The per-recipient VERP address is in the archived copy and on the recipient's
            // row; the record names the campaign's sender, so the parties index holds people
            // and one sender, not 100,000 one-off return paths.
            mail_from: parsed.from.clone(),
            rcpt_to: to.iter().cloned().collect(),
            sender: parsed.from.clone(),
            sender_name: parsed.from_name.clone(),
            to: to.iter().cloned().collect(),
            cc: Vec::new(),
            subject: mail.rendered.subject.clone(),
            received_at: now,
            sent_at: Some(now),
            decision: Decision::Untracked {
                reason: UntrackedReason::CampaignMail,
            },
            dr: None,
            parties: to.into_iter().collect(),
            size: formatted.len() as u64,
        },
        raw: std::sync::Arc::new(raw),
        index_message_id: true,
        dr: None,
        link: Vec::new(),
        response: None,
        pending: None,
        queue: Vec::new(),
    }
}

/// The contract header fields of every campaign mail (docs/campaigns.md): the one-click
/// unsubscribe pair of RFC 8058, `List-Id`, `Precedence` and `X-Etraq-Campaign`.
fn contract_headers(
    campaign: &str,
    list: &str,
    unsubscribe_url: &str,
    unsubscribe_token: &str,
    domain: &str,
) -> Vec<(String, String)> {
    vec![
        (
            "List-Unsubscribe".to_string(),
            format!("<{unsubscribe_url}>, <mailto:unsubscribe+{unsubscribe_token}@{domain}>"),
        ),
        (
            "List-Unsubscribe-Post".to_string(),
            "List-Unsubscribe=One-Click".to_string(),
        ),
        (
            "List-Id".to_string(),
            format!(
                "\"{}\" <{}.{domain}>",
                list.replace(['"', '\\'], ""),
                list_label(list)
            ),
        ),
        ("Precedence".to_string(), "bulk".to_string()),
        ("X-Etraq-Campaign".to_string(), campaign.to_string()),
    ]
}

/// A name fit for a `List-Id` label: lower-case letters, digits and `-`.
fn list_label(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "list".into() } else { s }
}

impl App {
    /// The token signer, under the store's secret (made and kept at first use).
    pub async fn token_signer(&self) -> Result<Signer> {
        if let Some(s) = self.signer.get() {
            return Ok(s.clone());
        }
        if let Some(hex) = self.store.kv_get(SECRET_KEY).await?
            && let Ok(key) = data_encoding::HEXLOWER.decode(hex.as_bytes())
            && key.len() >= 32
        {
            // Kept only once read from the store, never straight after making it: a process
            // that raced this one to make it may have stored its own since.
            return Ok(self.signer.get_or_init(|| Signer::new(&key)).clone());
        }
        let key = new_secret().map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
        self.store
            .kv_put(SECRET_KEY, Some(&data_encoding::HEXLOWER.encode(&key)))
            .await?;
        // Read back: a second process that raced this one wrote its own, and the stored one
        // is the one every later process will use.
        match self.store.kv_get(SECRET_KEY).await? {
            Some(hex) => data_encoding::HEXLOWER
                .decode(hex.as_bytes())
                .map(|k| Signer::new(&k))
                .map_err(|e| Error::Internal(format!("the stored secret is not hex: {e}"))),
            None => Ok(Signer::new(&key)),
        }
    }

    /// Creates a campaign (supervisors). Its lists and template must exist, its segment must
    /// compile, and its template must render for the first recipients of its audience.
    pub async fn create_campaign(
        &self,
        who: &Actor,
        draft: CampaignDraft,
        now: Timestamp,
    ) -> Result<Campaign> {
        who.require_supervisor()?;
        let name = check_campaign_name(&draft.name)?.to_string();
        if draft.lists.is_empty() {
            return Err(Error::InvalidField {
                field: "list",
                reason: "a campaign needs at least one list".into(),
            });
        }
        let mut template = self.template(who, &draft.template).await?;
        if let Some(s) = &draft.subject {
            template.subject = s.clone();
        }
        let renderer = Renderer::new(&template)?;
        // The first recipients only: a cursor, so a list of 100,000 is not read whole.
        let mut cursor = self
            .audience_cursor(who, &draft.lists, draft.segment.as_deref(), &name)
            .await?;
        let settings = SendSettings::from_config(&self.config());
        let mut tried = 0;
        while tried < TRIAL_RECIPIENTS
            && let Some(page) = cursor.next_page(self).await?
        {
            for (s, list) in page.iter().take(TRIAL_RECIPIENTS - tried) {
                let data = self.merge_data(s, list, &name, "", "").await?;
                renderer.render(&data).map_err(|e| Error::InvalidField {
                    field: "template",
                    reason: format!("{e} (rendering for {})", s.email),
                })?;
                tried += 1;
            }
        }
        if let Some(owner) = &draft.owner
            && self.store.get_user(owner).await?.is_none()
        {
            return Err(Error::InvalidField {
                field: "owner",
                reason: format!("{owner} is not a user"),
            });
        }
        let campaign = Campaign {
            id: 0,
            name,
            owner: draft.owner,
            lists: draft.lists,
            template: template.name,
            subject: draft.subject,
            from: draft.from.unwrap_or(settings.from),
            reply_to: draft.reply_to,
            segment: draft.segment,
            rate: draft.rate,
            status: if draft.send_at.is_some() {
                CampaignStatus::Scheduled
            } else {
                CampaignStatus::Draft
            },
            created_at: now,
            send_at: draft.send_at,
            started_at: None,
            finished_at: None,
            lease: None,
        };
        self.store
            .create_campaign(campaign)
            .await
            .map_err(|e| match e {
                Error::Conflict(m) => Error::InvalidField {
                    field: "name",
                    reason: m,
                },
                e => e,
            })
    }

    /// A campaign by name.
    pub async fn campaign(&self, _who: &Actor, name: &str) -> Result<Campaign> {
        self.store
            .get_campaign(name)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "campaign",
                key: name.to_string(),
            })
    }

    /// A campaign by name with its recipient counts.
    pub async fn campaign_with_counts(
        &self,
        who: &Actor,
        name: &str,
    ) -> Result<(Campaign, RecipientCounts)> {
        let c = self.campaign(who, name).await?;
        let n = self.store.recipient_counts(c.id).await?;
        Ok((c, n))
    }

    /// A campaign's report: the campaign, its recipients' counts, and its tracking counts
    /// (opens, clicks per link, bounces, complaints, unsubscribes, replies, conversions).
    pub async fn campaign_report(
        &self,
        who: &Actor,
        name: &str,
    ) -> Result<crate::views::CampaignView> {
        let (c, n) = self.campaign_with_counts(who, name).await?;
        let t = self.tracking_counts(c.id).await?;
        Ok(crate::views::CampaignView::new(&c, &n).with_tracking(&t))
    }

    /// A campaign's tracking counts.
    pub async fn tracking_counts(&self, campaign: u64) -> Result<crate::campaign::TrackingCounts> {
        let hits = self.store.campaign_hits(campaign).await?;
        if hits.is_empty() {
            return Ok(Default::default());
        }
        let links = self.store.campaign_links(campaign).await?;
        Ok(crate::campaign::count_hits(&hits, &links))
    }

    /// Opens and clicks over time for a campaign's report chart, in buckets of
    /// `bucket_secs`.
    pub async fn campaign_series(
        &self,
        who: &Actor,
        name: &str,
        bucket_secs: i64,
    ) -> Result<Vec<crate::campaign::HitBucket>> {
        let c = self.campaign(who, name).await?;
        let hits = self.store.campaign_hits(c.id).await?;
        Ok(crate::campaign::hit_series(&hits, bucket_secs))
    }

    /// Every campaign's report, oldest first (the comparison table).
    pub async fn campaign_reports(&self, who: &Actor) -> Result<Vec<crate::views::CampaignView>> {
        let mut out = Vec::new();
        for c in self.store.list_campaigns().await? {
            out.push(self.campaign_report(who, &c.name).await?);
        }
        Ok(out)
    }

    /// Every campaign with its recipient counts.
    pub async fn campaigns(&self, _who: &Actor) -> Result<Vec<(Campaign, RecipientCounts)>> {
        let mut out = Vec::new();
        for c in self.store.list_campaigns().await? {
            let counts = self.store.recipient_counts(c.id).await?;
            out.push((c, counts));
        }
        Ok(out)
    }

    /// Starts sending (supervisors): the first time, freezes the recipients (one row each,
    /// `queued`) and marks the campaign running; after a crash, turns the recipients left
    /// `sending` into `in_doubt` (or `queued` with `resend`). Returns the campaign and how
    /// many recipients were found in doubt now.
    pub async fn start_campaign(
        &self,
        who: &Actor,
        name: &str,
        resend: bool,
        now: Timestamp,
    ) -> Result<(Campaign, u64)> {
        who.require_supervisor()?;
        let mut c = self.campaign(who, name).await?;
        match c.status {
            CampaignStatus::Finished | CampaignStatus::Cancelled => Err(Error::InvalidField {
                field: "name",
                reason: format!(
                    "the campaign {:?} is {}; nothing is left to send",
                    c.name,
                    c.status.as_str()
                ),
            }),
            CampaignStatus::Draft | CampaignStatus::Scheduled => {
                // A freeze a crash interrupted left some rows and no running campaign: nothing
                // was sent from them, so they go and the freeze starts over.
                let left = self.store.discard_recipients(c.id).await?;
                if left > 0 {
                    tracing::info!(campaign = %c.name, rows = left, "an interrupted freeze is done again");
                }
                let mut cursor = self
                    .audience_cursor(who, &c.lists, c.segment.as_deref(), &c.name)
                    .await?;
                let mut rows = Vec::with_capacity(FREEZE_BATCH);
                let mut next_id = 1u64;
                c.status = CampaignStatus::Running;
                c.started_at = Some(now);
                while let Some(page) = cursor.next_page(self).await? {
                    for (s, list) in page {
                        rows.push(Recipient {
                            campaign: c.id,
                            id: next_id,
                            email: s.email,
                            subscriber: s.id,
                            list,
                            state: RecipientState::Queued,
                            message_id: None,
                            sent_at: None,
                            error: None,
                            attempts: 0,
                        });
                        next_id += 1;
                    }
                    if rows.len() >= FREEZE_BATCH {
                        let batch = std::mem::replace(&mut rows, Vec::with_capacity(FREEZE_BATCH));
                        self.store.freeze_recipients(&c, batch, false).await?;
                    }
                }
                // The last batch and the campaign's new status in one transaction: the freeze
                // is done exactly when the campaign says running.
                self.store.freeze_recipients(&c, rows, true).await?;
                Ok((c, 0))
            }
            CampaignStatus::Paused => Err(Error::InvalidField {
                field: "name",
                reason: format!(
                    "the campaign {:?} is paused; resume it first (etraq campaign resume)",
                    c.name
                ),
            }),
            CampaignStatus::Running => {
                let n = self.store.recover_sending(c.id, resend).await?;
                Ok((c, n))
            }
        }
    }

    /// Pauses, resumes or cancels a campaign (supervisors). A running sender sees the change
    /// within a second and stops taking recipients; the ones in hand are finished and
    /// recorded, so nobody is sent to twice. Returns the campaign as it is now.
    pub async fn control_campaign(
        &self,
        who: &Actor,
        name: &str,
        action: CampaignAction,
        now: Timestamp,
    ) -> Result<Campaign> {
        who.require_supervisor()?;
        let mut c = self.campaign(who, name).await?;
        let next = match (action, c.status) {
            (CampaignAction::Start { at }, CampaignStatus::Draft | CampaignStatus::Scheduled) => {
                c.send_at = Some(at.unwrap_or(now));
                CampaignStatus::Scheduled
            }
            (CampaignAction::Start { .. }, CampaignStatus::Paused) => {
                return Err(Error::InvalidField {
                    field: "name",
                    reason: format!(
                        "the campaign {:?} is paused; resume it (etraq campaign resume)",
                        c.name
                    ),
                });
            }
            (CampaignAction::Pause, CampaignStatus::Running) => CampaignStatus::Paused,
            (CampaignAction::Resume, CampaignStatus::Paused) => CampaignStatus::Running,
            (
                CampaignAction::Cancel,
                CampaignStatus::Draft
                | CampaignStatus::Scheduled
                | CampaignStatus::Running
                | CampaignStatus::Paused,
            ) => CampaignStatus::Cancelled,
            (a, s) => {
                return Err(Error::InvalidField {
                    field: "name",
                    reason: format!(
                        "the campaign {:?} is {}: it cannot be {}",
                        c.name,
                        s.as_str(),
                        a.done()
                    ),
                });
            }
        };
        c.status = next;
        if next == CampaignStatus::Cancelled {
            c.finished_at = Some(now);
        }
        self.store.save_campaign(&c).await?;
        Ok(c)
    }

    /// The campaigns a running `etraq serve` should be sending at `now`: `running` ones (the
    /// sender's lease keeps two senders apart) and `scheduled` ones whose time has come.
    pub async fn campaigns_due(&self, now: Timestamp) -> Result<Vec<Campaign>> {
        Ok(self
            .store
            .list_campaigns()
            .await?
            .into_iter()
            .filter(|c| match c.status {
                CampaignStatus::Running => true,
                CampaignStatus::Scheduled => c.send_at.is_none_or(|t| t <= now),
                _ => false,
            })
            .collect())
    }

    /// Marks a running campaign finished when nobody is left queued or sending.
    pub async fn finish_campaign_if_done(
        &self,
        c: &mut Campaign,
        now: Timestamp,
    ) -> Result<RecipientCounts> {
        let counts = self.store.recipient_counts(c.id).await?;
        if counts.queued == 0 && counts.sending == 0 && c.status == CampaignStatus::Running {
            c.status = CampaignStatus::Finished;
            c.finished_at = Some(now);
            self.store.save_campaign(c).await?;
        }
        Ok(counts)
    }

    /// The lists and blocklist a sender checks recipients against (see [`SendContext`]).
    pub async fn send_context(&self, c: &Campaign) -> Result<SendContext> {
        let mut lists = Vec::with_capacity(c.lists.len());
        for l in &c.lists {
            if let Some(l) = self.store.get_list(l).await? {
                lists.push(l);
            }
        }
        Ok(SendContext {
            lists,
            blocklist: self.store.blocklist().await?,
        })
    }

    async fn merge_data(
        &self,
        s: &crate::campaign::Subscriber,
        list: &str,
        campaign: &str,
        unsubscribe_url: &str,
        view_url: &str,
    ) -> Result<MergeData> {
        let mut data = self.merge_fields(s, list, campaign, unsubscribe_url, view_url);
        data.customer = self.customer_facts(&s.email).await?;
        data.subscriber.score = self.score_of(s.id, Timestamp::now()).await?;
        Ok(data)
    }

    fn merge_fields(
        &self,
        s: &crate::campaign::Subscriber,
        list: &str,
        campaign: &str,
        unsubscribe_url: &str,
        view_url: &str,
    ) -> MergeData {
        MergeData {
            subscriber: SubscriberFields {
                email: s.email.to_string(),
                name: s.name.clone(),
                attribs: s.attribs.clone(),
                score: 0.0,
            },
            campaign: Named {
                name: campaign.to_string(),
            },
            list: Named {
                name: list.to_string(),
            },
            unsubscribe_url: unsubscribe_url.to_string(),
            view_in_browser_url: view_url.to_string(),
            customer: Default::default(),
        }
    }

    /// What to do with a recipient just taken for sending: its message, or the final state to
    /// record (it left its list or was blocklisted since the freeze; the template fails for
    /// it). `renderer` is the campaign's compiled template; `subscriber` the recipient's record
    /// as [`CampaignStore::settle_and_take`](crate::campaign::CampaignStore::settle_and_take)
    /// read it.
    #[allow(clippy::too_many_arguments)]
    pub async fn next_step(
        &self,
        c: &Campaign,
        r: &Recipient,
        subscriber: Option<crate::campaign::Subscriber>,
        renderer: &Renderer,
        signer: &Signer,
        settings: &SendSettings,
        context: &SendContext,
        book: &crate::service::LinkBook,
    ) -> Result<NextStep> {
        let Some(s) = subscriber else {
            return Ok(NextStep::Close(
                RecipientState::Skipped,
                "no longer a subscriber".into(),
            ));
        };
        if crate::campaign::receiving_list(&s, &context.lists).is_none() {
            return Ok(NextStep::Close(
                RecipientState::Skipped,
                "unsubscribed since the campaign started".into(),
            ));
        }
        if is_blocked(&s.email, &context.blocklist) {
            return Ok(NextStep::Close(
                RecipientState::Skipped,
                "blocklisted since the campaign started".into(),
            ));
        }
        let at = |kind| Token {
            kind,
            campaign: c.id,
            recipient: r.id,
            link: 0,
        };
        let token = |kind| signer.sign(&at(kind));
        // Tokens in addresses take the case-proof form.
        let address_token = |kind| signer.address_token(&at(kind));
        let unsubscribe = token(TokenKind::Unsubscribe);
        let unsubscribe_url = format!("{}/u/{unsubscribe}", settings.public_url);
        let view_url = format!("{}/v/{}", settings.public_url, token(TokenKind::View));
        let mut data = self.merge_fields(&s, &r.list, &c.name, &unsubscribe_url, &view_url);
        if renderer.needs_customer() {
            data.customer = self.customer_facts(&s.email).await?;
        }
        if renderer.needs_score() {
            data.subscriber.score = self.score_of(s.id, Timestamp::now()).await?;
        }
        let rendered = match renderer.render(&data) {
            Ok(r) => r,
            Err(e) => return Ok(NextStep::Close(RecipientState::Failed, e.to_string())),
        };
        let rendered = self
            .track_mail(c, r.id, &rendered, signer, settings, book)
            .await?;
        let random = crate::campaign::random_hex(6)
            .map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
        let domain = &settings.bounce_domain;
        let headers = contract_headers(
            &c.name,
            &r.list,
            &unsubscribe_url,
            &address_token(TokenKind::Unsubscribe),
            domain,
        );
        Ok(NextStep::Send(Box::new(OutgoingMail {
            mail_from: format!("bounce+{}@{domain}", address_token(TokenKind::Bounce)),
            to: s.email.to_string(),
            to_name: s.name.clone(),
            from: c.from.clone(),
            reply_to: c.reply_to.clone(),
            message_id: format!("{}.{}.{random}@{domain}", c.id, r.id),
            rendered,
            headers,
        })))
    }

    /// A permanent refusal at send time (the relay's 5xx): a `bounce` event for the subscriber,
    /// and when the reply says the address itself is bad ([`is_hard_bounce`]), a hard bounce:
    /// the address goes on the blocklist (reason `hard-bounce`), so no campaign mails it again.
    pub async fn record_refusal(&self, r: &Recipient, reply: &str, now: Timestamp) -> Result<()> {
        let hard = crate::campaign::is_hard_bounce(reply);
        // Every permanent refusal counts as a hard bounce of the campaign; only one that says
        // the address itself is bad blocklists it.
        self.store
            .record_hit(crate::campaign::Hit {
                campaign: r.campaign,
                recipient: r.id,
                subscriber: r.subscriber,
                kind: crate::campaign::HitKind::BounceHard,
                link: None,
                at: now,
                user_agent: None,
                ip: None,
                bot: None,
                value: None,
                currency: None,
                order_id: None,
                detail: Some(format!("refused at send time: {reply}")),
            })
            .await?;
        if hard && self.store.blocked(&r.email).await?.is_none() {
            self.store
                .block(crate::campaign::BlockEntry {
                    address: crate::campaign::Blocked::Address(r.email.clone()),
                    reason: crate::campaign::BlockReason::HardBounce,
                    created_at: now,
                })
                .await?;
            tracing::info!(email = %r.email, %reply, "hard bounce at send time: blocklisted");
        }
        Ok(())
    }

    /// The compiled template of a campaign (its subject override applied).
    pub async fn campaign_renderer(&self, who: &Actor, c: &Campaign) -> Result<Renderer> {
        let mut t = self.template(who, &c.template).await?;
        if let Some(s) = &c.subject {
            t.subject = s.clone();
        }
        Ok(Renderer::new(&t)?)
    }

    /// A campaign's recipients as listing rows, their `opened`, `clicked` and `bounced` flags
    /// filled in from the campaign's hits; a keyset page.
    pub async fn recipient_rows(
        &self,
        who: &Actor,
        name: &str,
        state: Option<RecipientState>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<crate::views::RecipientRow>, Option<u64>)> {
        let c = self.campaign(who, name).await?;
        let page = self
            .store
            .list_recipients(c.id, state, after, limit)
            .await?;
        let hits = self.store.campaign_hits(c.id).await?;
        let mut flags: std::collections::HashMap<u64, (bool, bool, bool)> = Default::default();
        for h in &hits {
            let f = flags.entry(h.recipient).or_default();
            match h.kind {
                crate::campaign::HitKind::Open => f.0 = true,
                crate::campaign::HitKind::Click if h.link != Some(crate::campaign::HONEYPOT) => {
                    f.1 = true
                }
                crate::campaign::HitKind::BounceHard | crate::campaign::HitKind::BounceSoft => {
                    f.2 = true
                }
                _ => {}
            }
        }
        let rows = page
            .items
            .iter()
            .map(|r| {
                let mut row = crate::views::RecipientRow::from(r);
                if let Some((o, cl, b)) = flags.get(&r.id) {
                    row.opened = *o;
                    row.clicked = *cl;
                    row.bounced |= *b;
                }
                row
            })
            .collect();
        Ok((rows, page.next))
    }

    /// A campaign's recipients, optionally in one state; a keyset page.
    pub async fn campaign_recipients(
        &self,
        who: &Actor,
        name: &str,
        state: Option<RecipientState>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<crate::model::Page<Recipient>> {
        let c = self.campaign(who, name).await?;
        self.store.list_recipients(c.id, state, after, limit).await
    }
}

/// What `campaign start|pause|resume|cancel` asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignAction {
    /// Have a running `etraq serve` send it, now or at a time (`scheduled`).
    Start {
        /// When; `None`: now.
        at: Option<Timestamp>,
    },
    /// Stop taking recipients, resumably.
    Pause,
    /// Go on after a pause.
    Resume,
    /// Stop for good; the recipients not sent to stay queued and are never sent.
    Cancel,
}

impl CampaignAction {
    fn done(self) -> &'static str {
        match self {
            CampaignAction::Start { .. } => "started",
            CampaignAction::Pause => "paused",
            CampaignAction::Resume => "resumed",
            CampaignAction::Cancel => "cancelled",
        }
    }
}

/// Whom an unsubscribe token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubscribeTarget {
    /// The campaign the mail came from.
    pub campaign: String,
    /// The recipient.
    pub email: EmailAddress,
    /// The list they would leave (the one the mail came through).
    pub list: String,
    /// Whether they have left it already.
    pub already: bool,
}

impl App {
    /// What an unsubscribe token (`/u/{token}`, `unsubscribe+TOKEN@`) names, without changing
    /// anything: a GET must not unsubscribe, because link scanners follow GETs. `NotFound` for a
    /// token that does not verify or names nothing.
    pub async fn unsubscribe_target(&self, token: &str) -> Result<UnsubscribeTarget> {
        let nothing = || Error::NotFound {
            what: "unsubscribe link",
            key: "this link".into(),
        };
        let t = self
            .token_signer()
            .await?
            .verify(token)
            .ok_or_else(nothing)?;
        if t.kind != TokenKind::Unsubscribe {
            return Err(nothing());
        }
        let c = self
            .store
            .list_campaigns()
            .await?
            .into_iter()
            .find(|c| c.id == t.campaign)
            .ok_or_else(nothing)?;
        let r = self
            .store
            .list_recipients(c.id, None, Some(t.recipient.saturating_sub(1)), 1)
            .await?
            .items
            .into_iter()
            .find(|r| r.id == t.recipient)
            .ok_or_else(nothing)?;
        let already = self
            .store
            .get_subscriber(&r.email)
            .await?
            .and_then(|s| s.membership(&r.list).map(|m| m.status))
            .is_none_or(|s| s == crate::campaign::MemberStatus::Unsubscribed);
        Ok(UnsubscribeTarget {
            campaign: c.name,
            email: r.email,
            list: r.list,
            already,
        })
    }

    /// Unsubscribes the recipient an unsubscribe token names from the list the mail came
    /// through (the one-click POST of RFC 8058, or the button of the unsubscribe page).
    /// Doing it twice is fine.
    pub async fn unsubscribe_by_token(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<UnsubscribeTarget> {
        let mut target = self.unsubscribe_target(token).await?;
        if !target.already {
            self.store
                .set_member_status(
                    &target.email,
                    &target.list,
                    crate::campaign::MemberStatus::Unsubscribed,
                    now,
                )
                .await?;
            if let Some(t) = self.token_signer().await?.verify(token)
                && t.recipient != 0
                && let Some(r) = self
                    .store
                    .list_recipients(t.campaign, None, Some(t.recipient - 1), 1)
                    .await?
                    .items
                    .into_iter()
                    .find(|r| r.id == t.recipient)
            {
                self.store
                    .record_hit(crate::campaign::Hit {
                        campaign: t.campaign,
                        recipient: r.id,
                        subscriber: r.subscriber,
                        kind: crate::campaign::HitKind::Unsubscribe,
                        link: None,
                        at: now,
                        user_agent: None,
                        ip: None,
                        bot: None,
                        value: None,
                        currency: None,
                        order_id: None,
                        detail: Some(format!("left {} through the mail", target.list)),
                    })
                    .await?;
            }
            tracing::info!(email = %target.email, list = %target.list, campaign = %target.campaign, "unsubscribed by link");
        }
        target.already = true;
        Ok(target)
    }
}

impl App {
    /// The HTML part of a campaign mail as its recipient got it, for the mail's
    /// view-in-browser link (`GET /v/{token}`, no sign-in: the token is the authority). It is
    /// rendered again from the campaign's template and the subscriber's data as they are now,
    /// with the same links. Recipient 0 is a `campaign test` copy, rendered as for someone
    /// without data. `NotFound` for a token that does not verify, of another kind, or naming
    /// nothing.
    pub async fn view_in_browser(&self, token: &str) -> Result<String> {
        let nothing = || Error::NotFound {
            what: "campaign mail",
            key: "this link".into(),
        };
        let signer = self.token_signer().await?;
        let t = signer.verify(token).ok_or_else(nothing)?;
        if t.kind != TokenKind::View {
            return Err(nothing());
        }
        let c = self
            .store
            .list_campaigns()
            .await?
            .into_iter()
            .find(|c| c.id == t.campaign)
            .ok_or_else(nothing)?;
        let settings = SendSettings::from_config(&self.config());
        let sign = |kind| {
            signer.sign(&Token {
                kind,
                campaign: c.id,
                recipient: t.recipient,
                link: 0,
            })
        };
        let unsubscribe_url = format!("{}/u/{}", settings.public_url, sign(TokenKind::Unsubscribe));
        let view_url = format!("{}/v/{token}", settings.public_url);
        let renderer = self
            .campaign_renderer(&crate::access::Actor::admin(), &c)
            .await?;
        let list = c.lists.first().cloned().unwrap_or_default();
        let data = if t.recipient == 0 {
            MergeData {
                campaign: Named {
                    name: c.name.clone(),
                },
                list: Named { name: list },
                unsubscribe_url,
                view_in_browser_url: view_url,
                ..MergeData::default()
            }
        } else {
            let r = self
                .store
                .list_recipients(c.id, None, Some(t.recipient.saturating_sub(1)), 1)
                .await?
                .items
                .into_iter()
                .find(|r| r.id == t.recipient)
                .ok_or_else(nothing)?;
            match self.store.get_subscriber(&r.email).await? {
                Some(s) => {
                    self.merge_data(&s, &r.list, &c.name, &unsubscribe_url, &view_url)
                        .await?
                }
                None => {
                    let mut d = MergeData {
                        campaign: Named {
                            name: c.name.clone(),
                        },
                        list: Named { name: r.list },
                        unsubscribe_url,
                        view_in_browser_url: view_url,
                        ..MergeData::default()
                    };
                    d.subscriber.email = r.email.to_string();
                    d
                }
            }
        };
        let rendered = renderer.render(&data)?;
        let tracked = self
            .track_mail(
                &c,
                t.recipient,
                &rendered,
                &signer,
                &settings,
                &crate::service::LinkBook::default(),
            )
            .await?;
        Ok(tracked.html)
    }

    /// One copy of a campaign for `to`, as a recipient would get it, for `campaign test`: not a
    /// recipient row, not counted, its subject marked `[test]`. Rendered with `to`'s own data
    /// when it is a subscriber, else as for someone with no name or attributes. Its links carry
    /// recipient 0, which no unsubscribe accepts.
    pub async fn test_mail(
        &self,
        who: &Actor,
        name: &str,
        to: &EmailAddress,
        settings: &SendSettings,
    ) -> Result<OutgoingMail> {
        who.require_supervisor()?;
        let c = self.campaign(who, name).await?;
        let renderer = self.campaign_renderer(who, &c).await?;
        let signer = self.token_signer().await?;
        let at = |kind| Token {
            kind,
            campaign: c.id,
            recipient: 0,
            link: 0,
        };
        let token = |kind| signer.sign(&at(kind));
        // Tokens in addresses take the case-proof form.
        let address_token = |kind| signer.address_token(&at(kind));
        let unsubscribe = token(TokenKind::Unsubscribe);
        let unsubscribe_url = format!("{}/u/{unsubscribe}", settings.public_url);
        let view_url = format!("{}/v/{}", settings.public_url, token(TokenKind::View));
        let list = c.lists.first().cloned().unwrap_or_default();
        let (data, to_name) = match self.store.get_subscriber(to).await? {
            Some(s) => (
                self.merge_data(&s, &list, &c.name, &unsubscribe_url, &view_url)
                    .await?,
                s.name.clone(),
            ),
            None => {
                let mut d = MergeData {
                    campaign: Named {
                        name: c.name.clone(),
                    },
                    list: Named { name: list.clone() },
                    unsubscribe_url: unsubscribe_url.clone(),
                    view_in_browser_url: view_url,
                    ..MergeData::default()
                };
                d.subscriber.email = to.to_string();
                (d, String::new())
            }
        };
        let mut rendered = renderer.render(&data)?;
        rendered = self
            .track_mail(
                &c,
                0,
                &rendered,
                &signer,
                settings,
                &crate::service::LinkBook::default(),
            )
            .await?;
        rendered.subject = format!("[test] {}", rendered.subject);
        let random = crate::campaign::random_hex(6)
            .map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
        let domain = &settings.bounce_domain;
        Ok(OutgoingMail {
            mail_from: format!("bounce+{}@{domain}", address_token(TokenKind::Bounce)),
            to: to.to_string(),
            to_name,
            from: c.from.clone(),
            reply_to: c.reply_to.clone(),
            message_id: format!("{}.test.{random}@{domain}", c.id),
            rendered,
            headers: contract_headers(
                &c.name,
                &list,
                &unsubscribe_url,
                &address_token(TokenKind::Unsubscribe),
                domain,
            ),
        })
    }
}
