//! The SMTP envelope of a mail, and its defaults when a mail comes from a file.
//!
//! At the gateway the envelope is what the client said in MAIL FROM and RCPT TO. For `etraq
//! ingest` there is no envelope, so each part left unset is taken from the headers:
//! `Return-Path` (else From) for the sender, To + Cc + Bcc for the recipients.

use serde::{Deserialize, Serialize};

use crate::address::EmailAddress;
use crate::mail::ParsedMail;

/// The envelope sender: an address, or the null sender `<>` that bounces and auto-replies use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReversePath {
    /// `MAIL FROM:<>`.
    Null,
    /// `MAIL FROM:<addr>`.
    Address(EmailAddress),
}

impl ReversePath {
    /// The address, unless this is the null sender.
    pub fn address(&self) -> Option<&EmailAddress> {
        match self {
            ReversePath::Null => None,
            ReversePath::Address(a) => Some(a),
        }
    }
}

/// An envelope as given by the caller; unset parts are filled from the headers by
/// [`Envelope::resolve`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// `None`: take it from the headers.
    pub mail_from: Option<ReversePath>,
    /// Empty: take the recipients from the headers.
    pub rcpt_to: Vec<EmailAddress>,
}

/// A complete envelope, after defaults were applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedEnvelope {
    /// The envelope sender.
    pub mail_from: ReversePath,
    /// The recipients; may be empty only if the headers name nobody.
    pub rcpt_to: Vec<EmailAddress>,
}

impl Envelope {
    /// An envelope as the gateway sees it.
    pub fn new(mail_from: ReversePath, rcpt_to: Vec<EmailAddress>) -> Self {
        Envelope {
            mail_from: Some(mail_from),
            rcpt_to,
        }
    }

    /// Fills unset parts from the headers of `mail`.
    pub fn resolve(&self, mail: &ParsedMail) -> ResolvedEnvelope {
        let mail_from = match &self.mail_from {
            Some(rp) => rp.clone(),
            None => match &mail.return_path {
                Some(None) => ReversePath::Null,
                Some(Some(a)) => ReversePath::Address(a.clone()),
                None => match &mail.from {
                    Some(a) => ReversePath::Address(a.clone()),
                    // No sender anywhere: not the null sender (which marks automatic mail), just
                    // unknown. Use an address that is never local or excluded.
                    None => ReversePath::Address(unknown_sender()),
                },
            },
        };
        let rcpt_to = if self.rcpt_to.is_empty() {
            let mut v: Vec<EmailAddress> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for a in mail.to.iter().chain(&mail.cc).chain(&mail.bcc) {
                if seen.insert(a) {
                    v.push(a.clone());
                }
            }
            v
        } else {
            self.rcpt_to.clone()
        };
        ResolvedEnvelope { mail_from, rcpt_to }
    }
}

/// The placeholder sender of a mail that names none at all.
pub fn unknown_sender() -> EmailAddress {
    // A reserved name (RFC 6761 `.invalid`) so it can never match a real domain.
    EmailAddress::parse("unknown-sender@unknown.invalid").unwrap_or_else(|_| unreachable!())
}
