//! The e-mail validator's core (docs/cli.md#cleaning-a-list-etraq-validate): syntax, the shipped lists, exclusions, and the
//! verdict from DNS and SMTP facts — all pure. The [`Dns`] and [`SmtpProbe`] traits are what
//! the async run in `etraq-validate` drives; their adapters are hickory-resolver (there) and a
//! RCPT-only SMTP client (in `etraq-smtp`).

pub mod input;
mod lists;
mod syntax;
mod verdict;

use std::net::{IpAddr, SocketAddr};

pub use lists::{Exclusions, is_disposable, is_role_account};
pub use syntax::{Syntax, check_syntax};
pub use verdict::{
    CheckResult, MiscResult, MxFacts, MxResult, RcptClass, Reachable, Reply, SmtpFacts, SmtpResult,
    classify_rcpt, verdict,
};

/// Why a DNS question got no usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsFailure {
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// The name exists but has no record of that type.
    NoRecords,
    /// No answer in time.
    Timeout,
    /// SERVFAIL, REFUSED, a network error: the answer is not known.
    Failed(String),
}

/// DNS as the validator needs it.
#[async_trait::async_trait]
pub trait Dns: Send + Sync {
    /// MX records of `domain` as (preference, exchange without the trailing dot).
    async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsFailure>;
    /// A and AAAA addresses of `host`.
    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure>;
}

/// What one SMTP session with a mail exchanger produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeSession {
    /// Whether the server greeted us with 220.
    pub connected: bool,
    /// Why the session failed or stopped early.
    pub error: Option<String>,
    /// The reply to the random-address probe, if it was asked.
    pub catch_all: Option<Reply>,
    /// The `RCPT TO` reply for each address, in order; `None` past an early stop.
    pub rcpt: Vec<Option<Reply>>,
    /// The server ended the session with 421 (many limit recipients per connection): the
    /// unanswered addresses may be asked in a new session.
    pub closed_by_server: bool,
    /// The server offered SMTPUTF8 (RFC 6531) in its EHLO reply. A probe sends a UTF-8 address
    /// only then (with `MAIL FROM:<…> SMTPUTF8`); otherwise its `rcpt` stays `None`.
    pub smtputf8: bool,
}

/// The SMTP dialogue of a validation: EHLO, MAIL FROM, an optional random-address probe, one
/// `RCPT TO` per address with `RSET` and `MAIL FROM` between, QUIT. Never sends DATA, and never
/// sends an address with a UTF-8 local part to a server that did not offer SMTPUTF8.
#[async_trait::async_trait]
pub trait SmtpProbe: Send + Sync {
    /// One session with `target` for addresses of `domain`. `catch_all_local` is the random
    /// local part to probe first, if the domain's catch-all status is not known yet.
    async fn session(
        &self,
        target: SocketAddr,
        domain: &str,
        catch_all_local: Option<&str>,
        addresses: &[String],
    ) -> ProbeSession;
}

/// The MX facts from a DNS answer: null MX (RFC 7505: one record, exchange "."), real hosts in
/// preference order, or — with no MX at all — the implicit MX of the domain itself.
pub fn mx_facts(
    domain: &str,
    mx: Result<Vec<(u16, String)>, DnsFailure>,
    has_address: Option<bool>,
) -> MxFacts {
    match mx {
        Ok(mut records) if !records.is_empty() => {
            if records.iter().any(|(_, h)| h.is_empty() || h == ".") {
                return MxFacts::NullMx;
            }
            records.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            MxFacts::Hosts(records.into_iter().map(|(_, h)| h).collect())
        }
        Ok(_) | Err(DnsFailure::NoRecords) => match has_address {
            Some(true) => MxFacts::Hosts(vec![domain.to_string()]),
            Some(false) => MxFacts::NoMail("no MX and no A/AAAA record".into()),
            None => MxFacts::Unknown("no MX, and the A/AAAA lookup failed".into()),
        },
        Err(DnsFailure::NxDomain) => MxFacts::NoMail("the domain does not exist (NXDOMAIN)".into()),
        Err(DnsFailure::Timeout) => MxFacts::Unknown("timeout".into()),
        Err(DnsFailure::Failed(why)) => MxFacts::Unknown(why),
    }
}
