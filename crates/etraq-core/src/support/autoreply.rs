//! Automatic acknowledgements: the rules (`autoreply add …`), which rule answers a mail, and
//! the acknowledgement itself. Pure; the tracker asks [`choose`] and the loop guard
//! ([`crate::support::ack`]) when a customer's mail opens a DR, and queues the message it
//! renders in the DR's own transaction.
//!
//! Rules live in the key-value space (`autoreply:NAME`), in the order they were added; the
//! first rule that matches answers. A rule matches on the recipient (any of `to`), the DR's
//! department and a subject pattern (a regular expression, case-insensitive); an empty
//! condition matches everything. Its template is rendered with the same engine as campaign
//! templates (minijinja, sandboxed: no loader, a fuel limit, HTML auto-escaping), with the DR's
//! fields instead of a subscriber's. A template that fails disables its rule with the error
//! shown on the rule; the mail is tracked all the same.

use jiff::{SignedDuration, Timestamp};
use minijinja::Value;
use serde::{Deserialize, Serialize};

use crate::address::EmailAddress;
use crate::campaign::{Template, TemplateError};
use crate::error::{Error, Result};
use crate::model::{Decision, Direction, Dr, MailRecord, MailType};
use crate::outbox::OutMessage;

/// The key-value prefix of rules.
pub const RULE_PREFIX: &str = "autoreply:";

/// The name of the built-in acknowledgement template (used unless a custom template of that
/// name exists).
pub const BUILTIN_TEMPLATE: &str = "acknowledgement";

/// The most rules.
pub const MAX_RULES: usize = 200;

/// An acknowledgement rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoReplyRule {
    /// Its name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The template it renders (a custom template's name, or `acknowledgement`).
    pub template: String,
    /// Only mail to one of these addresses (empty: any).
    #[serde(default)]
    pub to: Vec<EmailAddress>,
    /// Only DRs of this department.
    #[serde(default)]
    pub department: Option<String>,
    /// Only subjects matching this regular expression (case-insensitive).
    #[serde(default)]
    pub subject_matches: Option<String>,
    /// A sender answered within this long is not answered again.
    pub window_secs: i64,
    /// Its place: rules are tried in this order.
    pub position: u64,
    /// When it was added, and by whom.
    pub created_at: Timestamp,
    /// Who added it.
    pub author: String,
    /// Why it is disabled (a template that failed), if it is.
    #[serde(default)]
    pub error: Option<String>,
}

impl AutoReplyRule {
    /// The key of this rule in the key-value space.
    pub fn key(&self) -> String {
        format!("{RULE_PREFIX}{}", self.name.to_lowercase())
    }

    /// The window as a duration.
    pub fn window(&self) -> SignedDuration {
        SignedDuration::from_secs(self.window_secs)
    }

    /// Checks the name, the pattern and the window.
    pub fn check(&self) -> Result<()> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(Error::InvalidField {
                field: "name",
                reason: format!("{n:?}: a rule's name is 1 to 64 letters, digits, '-', '_' or '.'"),
            });
        }
        if let Some(p) = &self.subject_matches {
            subject_regex(p)?;
        }
        if self.window_secs < 60 {
            return Err(Error::InvalidField {
                field: "window",
                reason: "the window is at least a minute".into(),
            });
        }
        Ok(())
    }

    /// Whether the rule answers a mail to `recipients` about a DR of `department` with this
    /// subject. A disabled rule answers nothing.
    pub fn matches(
        &self,
        recipients: &[EmailAddress],
        department: Option<&str>,
        subject: &str,
    ) -> bool {
        if self.error.is_some() {
            return false;
        }
        if !self.to.is_empty() && !recipients.iter().any(|r| self.to.contains(r)) {
            return false;
        }
        if let Some(d) = &self.department
            && !department.is_some_and(|x| x.eq_ignore_ascii_case(d))
        {
            return false;
        }
        if let Some(p) = &self.subject_matches {
            return subject_regex(p).is_ok_and(|r| r.is_match(subject));
        }
        true
    }
}

fn subject_regex(p: &str) -> Result<regex::Regex> {
    regex::RegexBuilder::new(p)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| Error::InvalidField {
            field: "subject-matches",
            reason: format!("{p:?} is not a regular expression: {e}"),
        })
}

/// The first rule (in `position` order) that answers; `rules` may be in any order.
pub fn choose<'a>(
    rules: &'a [AutoReplyRule],
    recipients: &[EmailAddress],
    department: Option<&str>,
    subject: &str,
) -> Option<&'a AutoReplyRule> {
    let mut ordered: Vec<&AutoReplyRule> = rules.iter().collect();
    ordered.sort_by_key(|r| (r.position, r.name.clone()));
    ordered
        .into_iter()
        .find(|r| r.matches(recipients, department, subject))
}

/// The built-in acknowledgement: says the mail arrived, gives the DR's number to quote, and
/// lists public articles that may already answer.
pub fn builtin_template() -> Template {
    Template {
        name: BUILTIN_TEMPLATE.into(),
        kind: crate::campaign::TemplateKind::Acknowledgement,
        subject: "Re: {{ dr.subject }}".into(),
        html: "<p>Hello,</p>\n<p>thank you for writing to us. We received your message and {{ owner.name | default(\"our team\") }} will answer it{% if business_hours %} during our business hours ({{ business_hours }}){% endif %}.</p>\n<p>Your reference is <b>{{ dr.id }}</b>; please keep it in the subject when you write about this again.</p>\n{% if suggestions %}<p>These articles may already answer your question:</p>\n<ul>{% for s in suggestions %}<li><b>{{ s.title }}</b><br>{{ s.summary }}</li>{% endfor %}</ul>\n{% endif %}<p>This is an automatic acknowledgement; you do not need to answer it.</p>\n".into(),
        text: Some("Hello,\n\nthank you for writing to us. We received your message and {{ owner.name | default(\"our team\") }} will answer it{% if business_hours %} during our business hours ({{ business_hours }}){% endif %}.\n\nYour reference is {{ dr.id }}; please keep it in the subject when you write about this again.\n{% if suggestions %}\nThese articles may already answer your question:\n{% for s in suggestions %}\n* {{ s.title }}\n  {{ s.summary }}\n{% endfor %}{% endif %}\nThis is an automatic acknowledgement; you do not need to answer it.\n".into()),
        builtin: true,
        created_at: Timestamp::UNIX_EPOCH,
    }
}

/// A suggested article, as a template sees it (`suggestions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SuggestionField {
    /// Its id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// Its first paragraph as text (at most 300 characters).
    pub summary: String,
}

/// Everything an acknowledgement template may use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AckData {
    /// `dr.id`, `dr.subject`.
    pub dr: DrFields,
    /// `customer`: the customer's address.
    pub customer: String,
    /// `owner.name`, `owner.email`.
    pub owner: OwnerFields,
    /// `department` (empty when none).
    pub department: String,
    /// `business_hours`: the DR's business hours in words (empty: always open).
    pub business_hours: String,
    /// `suggestions`: the top public articles for the mail.
    pub suggestions: Vec<SuggestionField>,
}

/// `dr.*`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DrFields {
    /// `dr.id`.
    pub id: String,
    /// `dr.subject`.
    pub subject: String,
}

/// `owner.*`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OwnerFields {
    /// `owner.name` (empty when the owner has none).
    pub name: String,
    /// `owner.email`.
    pub email: String,
}

/// The fields an acknowledgement template may name (and minijinja's own globals).
const FIELDS: &[&str] = &[
    "dr",
    "dr.id",
    "dr.subject",
    "customer",
    "owner",
    "owner.name",
    "owner.email",
    "department",
    "business_hours",
    "suggestions",
    "range",
    "dict",
    "namespace",
    "cycler",
    "joiner",
];

fn known(name: &str) -> bool {
    FIELDS.contains(&name) || name.starts_with("suggestions.") || name.starts_with("loop.")
}

/// A compiled acknowledgement template: the campaign templates' sandbox
/// ([`crate::campaign::template::Compiled`]) with the DR's fields.
pub struct AckRenderer {
    compiled: crate::campaign::template::Compiled,
    /// The template names `suggestions` (a knowledge-base search per acknowledgement).
    pub needs_suggestions: bool,
}

impl AckRenderer {
    /// Compiles a template and checks the fields it names.
    pub fn new(t: &Template) -> std::result::Result<AckRenderer, TemplateError> {
        let compiled = crate::campaign::template::Compiled::new(
            t,
            &known,
            "dr.id, dr.subject, customer, owner.name, owner.email, department, business_hours, suggestions",
        )?;
        let needs_suggestions = compiled.names_top("suggestions");
        Ok(AckRenderer {
            compiled,
            needs_suggestions,
        })
    }

    /// Renders the acknowledgement: (subject, text, html).
    pub fn render(
        &self,
        data: &AckData,
    ) -> std::result::Result<(String, String, String), TemplateError> {
        let ctx = minijinja::context! {
            dr => Value::from(minijinja::value::Serde(&data.dr)),
            customer => Value::from(data.customer.clone()),
            owner => Value::from(minijinja::value::Serde(&data.owner)),
            department => Value::from(data.department.clone()),
            business_hours => Value::from(data.business_hours.clone()),
            suggestions => Value::from(minijinja::value::Serde(&data.suggestions)),
        };
        let r = self.compiled.render(&ctx)?;
        Ok((r.subject, r.text, r.html))
    }
}

/// The first paragraph of a Markdown article as plain text, at most 300 characters.
pub fn summary(markdown: &str) -> String {
    let para = markdown
        .split("\n\n")
        .map(str::trim)
        .find(|p| !p.is_empty() && !p.starts_with('#'))
        .unwrap_or("");
    let plain: String = para
        .chars()
        .filter(|c| !matches!(c, '*' | '_' | '`' | '#'))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if plain.chars().count() > 300 {
        let cut: String = plain.chars().take(297).collect();
        format!("{cut}…")
    } else {
        plain
    }
}

/// The acknowledgement of the mail `answered` (Message-ID without brackets) on `dr`, from
/// `from` to the customer: the DR tag in the subject, threaded to the customer's mail, and
/// marked automatic (`Auto-Submitted: auto-replied`, `X-Etraq-Loop`) so no auto-responder,
/// etraq included, answers it.
pub fn ack_message(
    dr: &Dr,
    answered: &str,
    rendered: (String, String, String),
    from: &EmailAddress,
    from_name: Option<String>,
    message_id: String,
) -> OutMessage {
    let (subject, text, html) = rendered;
    let subject = if subject.trim().is_empty() {
        format!("Re: {}", dr.subject)
    } else {
        subject
    };
    OutMessage {
        from: from.clone(),
        from_name,
        to: dr.customer.clone(),
        cc: Vec::new(),
        subject: crate::mail::add_tag(&subject, &dr.id),
        text,
        html: Some(html),
        message_id,
        headers: vec![
            ("In-Reply-To".into(), format!("<{answered}>")),
            ("References".into(), format!("<{answered}>")),
            ("Auto-Submitted".into(), "auto-replied".into()),
            ("X-Etraq-Loop".into(), from.domain().to_string()),
        ],
    }
}

/// The acknowledgement as the DR's history keeps it: an outbound `Auto Reply` on the DR, and
/// its archived copy (the header fields etraq sets and the text part, UTF-8).
pub fn ack_record(dr: &Dr, msg: &OutMessage, now: Timestamp) -> (MailRecord, Vec<u8>) {
    let mut raw = String::new();
    let from = match &msg.from_name {
        Some(n) => format!("\"{}\" <{}>", n.replace('"', "'"), msg.from),
        None => format!("<{}>", msg.from),
    };
    raw.push_str(&format!("From: {from}\r\nTo: <{}>\r\n", msg.to));
    raw.push_str(&format!(
        "Subject: {}\r\n",
        msg.subject.replace(['\r', '\n'], " ")
    ));
    raw.push_str(&format!(
        "Date: {}\r\n",
        jiff::fmt::rfc2822::to_string(&now.to_zoned_datetime(jiff::tz::TimeZone::UTC))
            .unwrap_or_default()
    ));
    raw.push_str(&format!("Message-ID: <{}>\r\n", msg.message_id));
    for (k, v) in &msg.headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    raw.push_str(&msg.text.replace("\r\n", "\n").replace('\n', "\r\n"));
    let record = MailRecord {
        seq: 0,
        message_id: crate::mail::MessageId::from_trusted(msg.message_id.clone()),
        derived_message_id: false,
        direction: Direction::Outbound,
        mail_from: Some(msg.from.clone()),
        rcpt_to: vec![msg.to.clone()],
        sender: Some(msg.from.clone()),
        sender_name: msg.from_name.clone(),
        to: vec![msg.to.clone()],
        cc: Vec::new(),
        subject: msg.subject.clone(),
        received_at: now,
        sent_at: Some(now),
        decision: Decision::Tracked {
            mail_type: MailType::AutoReply,
        },
        dr: Some(dr.id.clone()),
        parties: vec![msg.to.clone()],
        size: raw.len() as u64,
    };
    (record, raw.into_bytes())
}

/// What the loop guard needs to know of earlier acknowledgements, from a sender's recent
/// history (newest first): when the last `Auto Reply` to them went, and how many in the day
/// before `now`.
pub fn history(recent: &[MailRecord], now: Timestamp) -> crate::support::AckHistory {
    let day_ago = now - SignedDuration::from_hours(24);
    let acks: Vec<&MailRecord> = recent
        .iter()
        .filter(|m| m.decision.mail_type() == Some(MailType::AutoReply))
        .collect();
    crate::support::AckHistory {
        last_to_sender: acks.iter().map(|m| m.received_at).max(),
        to_sender_last_day: acks.iter().filter(|m| m.received_at > day_ago).count() as u32,
        on_dr: 0,
    }
}
