//! Consent from the person themself: the public subscribe form of a public list, the double
//! opt-in confirmation it (or an admin adding someone to a double opt-in list) sends, and the
//! confirmation link. No actor: the token, or the public list, is the authority.
//!
//! Answers never tell a stranger whether an address is on a list: the form says "check your
//! inbox" for every address on a double opt-in list, blocklisted or not.

use jiff::Timestamp;

use crate::address::EmailAddress;
use crate::campaign::{
    MailingList, MemberStatus, OptIn, Subscriber, SubscriberInput, SubscriberQuery, Token,
    TokenKind, confirmation_message, list_key, list_tag, random_hex,
};
use crate::error::{Error, Result};
use crate::outbox::{Delivery, QueuedMail};
use crate::service::{App, SendSettings};

/// The outbox kind of confirmation mails.
pub const CONFIRM_KIND: &str = "confirm";

/// What the subscribe form did, as the person is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subscribed {
    /// A single opt-in list: the address is on it now.
    Done,
    /// A confirmation mail is on its way (or, for an address that may not be mailed, the same
    /// words are said and nothing is sent).
    CheckInbox,
}

/// Whom a confirmation token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmTarget {
    /// The address.
    pub email: EmailAddress,
    /// The list's name.
    pub list: String,
    /// Confirmed already.
    pub already: bool,
}

fn no_such_list(name: &str) -> Error {
    Error::NotFound {
        what: "list",
        key: name.to_string(),
    }
}

fn invalid_link() -> Error {
    Error::NotFound {
        what: "confirmation link",
        key: "this link".into(),
    }
}

impl App {
    /// A public list by name (the subscribe form's); `NotFound` for a private or missing one,
    /// alike.
    pub async fn public_list(&self, name: &str) -> Result<MailingList> {
        match self.store.get_list(name).await? {
            Some(l) if l.public => Ok(l),
            _ => Err(no_such_list(name)),
        }
    }

    /// The public lists, by name (the subscribe form's index).
    pub async fn public_lists(&self) -> Result<Vec<MailingList>> {
        Ok(self
            .store
            .list_lists()
            .await?
            .into_iter()
            .map(|s| s.list)
            .filter(|l| l.public)
            .collect())
    }

    /// The subscribe form of a public list: someone asks for `email` to join. On a single
    /// opt-in list a new address joins at once. Everywhere else the address is (or stays)
    /// `unconfirmed` and a confirmation mail is queued: on a double opt-in list, and for an
    /// address that once unsubscribed (only the person, through that mail, can take them back).
    /// A blocklisted address is told the same and sent nothing. A name is kept only for a new
    /// subscriber: a stranger cannot rename someone through the form.
    pub async fn subscribe_form(
        &self,
        list: &str,
        email: &EmailAddress,
        name: Option<String>,
        now: Timestamp,
    ) -> Result<Subscribed> {
        let l = self.public_list(list).await?;
        let existing = self.store.get_subscriber(email).await?;
        let input = SubscriberInput {
            email: email.clone(),
            name: if existing.is_none() { name } else { None },
            attribs: serde_json::Map::new(),
        };
        let single = l.opt_in == OptIn::Single;
        let was = existing
            .as_ref()
            .and_then(|s| s.membership(&l.name))
            .map(|m| m.status);
        if self.store.blocked(email).await?.is_some() {
            tracing::info!(list = %l.name, "subscribe form: a blocklisted address asked; nothing sent");
            return Ok(if single {
                Subscribed::Done
            } else {
                Subscribed::CheckInbox
            });
        }
        // The one merge rule: a new member joins (confirmed on a single opt-in list,
        // unconfirmed otherwise); an unsubscribed one stays unsubscribed until they confirm.
        self.store
            .merge_subscribers(&l.name, false, vec![input], now)
            .await?;
        let Some(s) = self.store.get_subscriber(email).await? else {
            return Err(Error::Internal("a merged subscriber is missing".into()));
        };
        let now_status = s.membership(&l.name).map(|m| m.status);
        match now_status {
            Some(MemberStatus::Confirmed) if single => Ok(Subscribed::Done),
            Some(MemberStatus::Confirmed) => Ok(Subscribed::CheckInbox),
            _ => {
                if single && was.is_none() {
                    return Ok(Subscribed::Done);
                }
                self.queue_confirmations(&l, std::slice::from_ref(&s), now)
                    .await?;
                Ok(if single && was != Some(MemberStatus::Unsubscribed) {
                    Subscribed::Done
                } else {
                    Subscribed::CheckInbox
                })
            }
        }
    }

    /// Queues one confirmation mail per subscriber for `list` (in one store transaction).
    pub(crate) async fn queue_confirmations(
        &self,
        list: &MailingList,
        subscribers: &[Subscriber],
        now: Timestamp,
    ) -> Result<()> {
        if subscribers.is_empty() {
            return Ok(());
        }
        let settings = SendSettings::from_config(&self.config());
        let signer = self.token_signer().await?;
        let (from, from_name) = sender_mailbox(&settings)?;
        let tag = list_tag(&list.key());
        let mut mails = Vec::with_capacity(subscribers.len());
        for s in subscribers {
            let token = signer.sign(&Token {
                kind: TokenKind::Confirm,
                campaign: tag,
                recipient: s.id,
                link: 0,
            });
            let random =
                random_hex(6).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
            let message = confirmation_message(
                list,
                &s.email,
                &s.name,
                &format!("{}/s/confirm/{token}", settings.public_url),
                &from,
                from_name.clone(),
                format!("confirm.{}.{random}@{}", s.id, settings.bounce_domain),
            );
            mails.push(QueuedMail {
                id: 0,
                kind: CONFIRM_KIND.into(),
                message,
                created_at: now,
                delivery: Delivery::due(now),
            });
        }
        self.store.queue_mails(mails).await?;
        Ok(())
    }

    /// Queues confirmation mails for the members of `list` among `emails` who are
    /// `unconfirmed` on it (after `subscriber add` or an import into a double opt-in list).
    pub(crate) async fn confirm_new_members(
        &self,
        list: &str,
        emails: &[EmailAddress],
        now: Timestamp,
    ) -> Result<u64> {
        let Some(l) = self.store.get_list(list).await? else {
            return Ok(0);
        };
        if l.opt_in != OptIn::Double || emails.is_empty() {
            return Ok(0);
        }
        let mut waiting = Vec::new();
        for e in emails {
            if let Some(s) = self.store.get_subscriber(e).await?
                && s.membership(&l.name).map(|m| m.status) == Some(MemberStatus::Unconfirmed)
            {
                waiting.push(s);
            }
        }
        self.queue_confirmations(&l, &waiting, now).await?;
        Ok(waiting.len() as u64)
    }

    /// What a confirmation token names, without changing anything (the GET of the link).
    /// `NotFound` for a token that does not verify, of another kind, or naming nothing.
    pub async fn confirm_target(&self, token: &str) -> Result<ConfirmTarget> {
        let t = self
            .token_signer()
            .await?
            .verify(token)
            .ok_or_else(invalid_link)?;
        if t.kind != TokenKind::Confirm {
            return Err(invalid_link());
        }
        let list = self
            .store
            .list_lists()
            .await?
            .into_iter()
            .map(|s| s.list)
            .find(|l| list_tag(&list_key(&l.name)) == t.campaign)
            .ok_or_else(invalid_link)?;
        let s = self
            .store
            .list_subscribers(&SubscriberQuery {
                after: Some(t.recipient.saturating_sub(1)),
                limit: 1,
                ..SubscriberQuery::default()
            })
            .await?
            .items
            .into_iter()
            .find(|s| s.id == t.recipient)
            .ok_or_else(invalid_link)?;
        let status = s
            .membership(&list.name)
            .map(|m| m.status)
            .ok_or_else(invalid_link)?;
        Ok(ConfirmTarget {
            email: s.email,
            list: list.name,
            already: status == MemberStatus::Confirmed,
        })
    }

    /// Confirms the membership a confirmation token names (the POST of the link's page).
    /// Doing it twice is fine.
    pub async fn confirm_by_token(&self, token: &str, now: Timestamp) -> Result<ConfirmTarget> {
        let mut target = self.confirm_target(token).await?;
        if !target.already {
            self.store
                .set_member_status(&target.email, &target.list, MemberStatus::Confirmed, now)
                .await?;
            tracing::info!(email = %target.email, list = %target.list, "subscription confirmed");
        }
        target.already = true;
        Ok(target)
    }
}

/// The campaigns' From as an address and a display name (`"News" <news@example.com>` or a bare
/// address), read by the mail parser; the bounce domain's `newsletter@` when it does not parse.
fn sender_mailbox(settings: &SendSettings) -> Result<(EmailAddress, Option<String>)> {
    let parsed = crate::mail::ParsedMail::parse(
        format!("From: {}\r\n\r\n", settings.from.replace(['\r', '\n'], " ")).as_bytes(),
    );
    match parsed.from {
        Some(a) => Ok((a, parsed.from_name)),
        None => EmailAddress::parse(&format!("newsletter@{}", settings.bounce_domain))
            .map(|a| (a, None))
            .map_err(|_| Error::InvalidField {
                field: "campaigns.from",
                reason: format!("{:?} is not a mailbox", settings.from),
            }),
    }
}
