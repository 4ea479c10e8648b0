//! Campaign tracking: the mail's links turned into signed click links before it is sent, and
//! the public endpoints' use cases (the open pixel, a click's redirect, a reported purchase).
//! No actor: the signed token is the authority; one that does not verify, or names nothing,
//! is `NotFound` and changes nothing. A click only ever redirects to the URL stored in the
//! campaign's link book under the token's number: never an open redirect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::campaign::{
    Campaign, HONEYPOT, Hit, HitFacts, HitKind, HitOutcome, Rendered, Signer, Token, TokenKind,
    TrackLookup, TrackUrls, bot_reason, links_in, track_links,
};
use crate::error::{Error, Result};
use crate::service::{App, SendSettings};

/// A campaign's link book as a sender keeps it: URL → number, filled from the store and
/// written through to it, shared by the sender's workers.
#[derive(Clone, Default)]
pub struct LinkBook {
    known: Arc<Mutex<HashMap<String, u16>>>,
}

/// Who asked, as the web listener saw the request.
#[derive(Clone, Debug, Default)]
pub struct Visit {
    /// A `HEAD` request.
    pub head: bool,
    /// Its `User-Agent`.
    pub user_agent: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
}

/// A purchase reported for a click.
#[derive(Clone, Debug, Default)]
pub struct Purchase {
    /// Its value, in the currency's units.
    pub value: Option<f64>,
    /// The currency (ISO 4217).
    pub currency: Option<String>,
    /// The shop's order number: one order counts once.
    pub order_id: Option<String>,
}

fn nothing() -> Error {
    Error::NotFound {
        what: "tracking link",
        key: "this link".into(),
    }
}

/// `url` with the `etraq` conversion parameter added before its fragment.
pub fn with_conversion_param(url: &str, token: &str) -> String {
    let (base, fragment) = match url.find('#') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}etraq={token}{fragment}")
}

impl App {
    /// Turns the links of `rendered` into signed click links for recipient `recipient` of
    /// `c` (0 for a test copy), registering new URLs in the campaign's link book first, and
    /// adds the open pixel and the honeypot.
    pub async fn track_mail(
        &self,
        c: &Campaign,
        recipient: u64,
        rendered: &Rendered,
        signer: &Signer,
        settings: &SendSettings,
        book: &LinkBook,
    ) -> Result<Rendered> {
        let own = settings.public_url.as_str();
        let urls = links_in(rendered, own);
        let missing: Vec<String> = {
            let known = book
                .known
                .lock()
                .map_err(|_| Error::Internal("the link book's lock is poisoned".into()))?;
            urls.iter()
                .filter(|u| !known.contains_key(*u))
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            let numbers = self.store.add_campaign_links(c.id, missing.clone()).await?;
            let mut known = book
                .known
                .lock()
                .map_err(|_| Error::Internal("the link book's lock is poisoned".into()))?;
            for (u, n) in missing.into_iter().zip(numbers) {
                if let Some(n) = n {
                    known.insert(u, n);
                }
            }
        }
        let known = book
            .known
            .lock()
            .map_err(|_| Error::Internal("the link book's lock is poisoned".into()))?
            .clone();
        let sign = |kind, link| {
            signer.sign(&Token {
                kind,
                campaign: c.id,
                recipient,
                link,
            })
        };
        let click = |n: u16| format!("{own}/t/c/{}", sign(TokenKind::Click, n));
        let track = TrackUrls {
            click: &click,
            open: format!("{own}/t/o/{}", sign(TokenKind::Open, 0)),
            own_prefix: own,
        };
        Ok(track_links(
            rendered,
            &mut |u: &str| known.get(u).copied(),
            &track,
        ))
    }

    /// What a verified token names: its campaign, its recipient (`None` for a test copy's
    /// recipient 0), and for a click the link book and the recipient's earlier hits. A
    /// campaign or recipient that does not exist is `NotFound`.
    async fn token_target(&self, token: &Token, click: bool) -> Result<TrackLookup> {
        let found = self
            .store
            .track_lookup(token.campaign, token.recipient, click)
            .await?
            .ok_or_else(nothing)?;
        if token.recipient != 0 && found.recipient.is_none() {
            return Err(nothing());
        }
        Ok(found)
    }

    async fn verified(&self, text: &str, kind: TokenKind) -> Result<Token> {
        let t = self
            .token_signer()
            .await?
            .verify(text)
            .ok_or_else(nothing)?;
        if t.kind != kind {
            return Err(nothing());
        }
        Ok(t)
    }

    /// The open pixel was fetched (`GET /t/o/{token}`): records an open with its bot flag.
    pub async fn track_open(&self, token: &str, visit: &Visit, now: Timestamp) -> Result<()> {
        let t = self.verified(token, TokenKind::Open).await?;
        let TrackLookup {
            campaign: c,
            recipient: r,
            ..
        } = self.token_target(&t, false).await?;
        let Some(r) = r else {
            return Ok(()); // a test copy: not counted
        };
        let facts = HitFacts {
            head: visit.head,
            user_agent: visit.user_agent.as_deref(),
            sent_at: r.sent_at,
            ..HitFacts::default()
        };
        let bot = bot_reason(&facts, now, 0);
        self.store
            .record_hit(Hit {
                campaign: c.id,
                recipient: r.id,
                subscriber: r.subscriber,
                kind: HitKind::Open,
                link: None,
                at: now,
                user_agent: visit.user_agent.clone(),
                ip: visit.ip.clone(),
                detail: bot.as_ref().map(|b| format!("bot: {}", b.reason)),
                bot,
                value: None,
                currency: None,
                order_id: None,
            })
            .await?;
        Ok(())
    }

    /// A tracked link was followed (`GET|HEAD /t/c/{token}`): records the click with its bot
    /// flag and answers where to redirect: the link book's URL for the token's number, with
    /// the signed `etraq` parameter a shop reports a purchase with. The honeypot's click
    /// redirects to the campaign's public page base (it has no URL of its own).
    pub async fn track_click(&self, token: &str, visit: &Visit, now: Timestamp) -> Result<String> {
        let t = self.verified(token, TokenKind::Click).await?;
        let TrackLookup {
            campaign: c,
            recipient: r,
            links,
            hits: earlier,
        } = self.token_target(&t, true).await?;
        let honeypot = t.link == HONEYPOT;
        let target = if honeypot {
            SendSettings::from_config(&self.config()).public_url
        } else {
            links
                .into_iter()
                .nth(usize::from(t.link))
                .ok_or_else(nothing)?
        };
        let Some(r) = r else {
            return Ok(target); // a test copy: not counted
        };
        let clicks: Vec<(Timestamp, u16)> = earlier
            .iter()
            .filter(|h| h.kind == HitKind::Click)
            .filter_map(|h| h.link.map(|l| (h.at, l)))
            .collect();
        let facts = HitFacts {
            head: visit.head,
            user_agent: visit.user_agent.as_deref(),
            sent_at: r.sent_at,
            click: true,
            honeypot,
            earlier_clicks: &clicks,
            honeypot_seen: clicks.iter().any(|(_, l)| *l == HONEYPOT),
        };
        let bot = bot_reason(&facts, now, t.link);
        self.store
            .record_hit(Hit {
                campaign: c.id,
                recipient: r.id,
                subscriber: r.subscriber,
                kind: HitKind::Click,
                link: Some(t.link),
                at: now,
                user_agent: visit.user_agent.clone(),
                ip: visit.ip.clone(),
                detail: Some(match &bot {
                    Some(b) => format!("{target} (bot: {})", b.reason),
                    None => target.clone(),
                }),
                bot,
                value: None,
                currency: None,
                order_id: None,
            })
            .await?;
        if honeypot {
            return Ok(target);
        }
        let convert = self.token_signer().await?.sign(&Token {
            kind: TokenKind::Convert,
            ..t
        });
        Ok(with_conversion_param(&target, &convert))
    }

    /// A purchase was reported with the `etraq` parameter of a click's redirect (the
    /// conversion pixel `GET /t/v/{token}` or `POST /api/v1/conversions`). The same
    /// `order_id` counts once per campaign.
    pub async fn track_conversion(
        &self,
        token: &str,
        purchase: &Purchase,
        visit: &Visit,
        now: Timestamp,
    ) -> Result<HitOutcome> {
        let t = self.verified(token, TokenKind::Convert).await?;
        let TrackLookup {
            campaign: c,
            recipient: r,
            ..
        } = self.token_target(&t, false).await?;
        let Some(r) = r else {
            return Ok(HitOutcome::Recorded);
        };
        if let Some(v) = purchase.value
            && !(v.is_finite() && (0.0..1e12).contains(&v))
        {
            return Err(Error::InvalidField {
                field: "value",
                reason: format!("{v} is no amount"),
            });
        }
        let currency = purchase
            .currency
            .as_deref()
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty());
        if let Some(cur) = &currency
            && !(cur.len() == 3 && cur.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(Error::InvalidField {
                field: "currency",
                reason: format!("{cur:?} is not a three-letter ISO 4217 code"),
            });
        }
        let order_id = purchase
            .order_id
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| o.chars().take(200).collect::<String>());
        self.store
            .record_hit(Hit {
                campaign: c.id,
                recipient: r.id,
                subscriber: r.subscriber,
                kind: HitKind::Conversion,
                link: Some(t.link),
                at: now,
                user_agent: visit.user_agent.clone(),
                ip: visit.ip.clone(),
                bot: None,
                detail: Some(match (purchase.value, &currency) {
                    (Some(v), Some(cur)) => format!("{v:.2} {cur}"),
                    (Some(v), None) => format!("{v:.2}"),
                    _ => "a purchase".into(),
                }),
                value: purchase.value,
                currency,
                order_id,
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conversion_parameter_goes_before_the_fragment() {
        assert_eq!(
            with_conversion_param("https://s.example/a", "T"),
            "https://s.example/a?etraq=T"
        );
        assert_eq!(
            with_conversion_param("https://s.example/a?x=1#top", "T"),
            "https://s.example/a?x=1&etraq=T#top"
        );
    }
}
