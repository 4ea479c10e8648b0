//! From probe facts to a verdict: pure, so every rule is tested without a network.
//!
//! The rules that the usual tools get wrong:
//! - the **enhanced status code** (RFC 3463) decides first, the reply text only when there is
//!   none: `5.1.1` is a bad mailbox, `5.7.1` is the server refusing *us* (a blocklisted IP, a
//!   policy) and says nothing about the address, so it is `unknown`, never `invalid`;
//! - a **4xx** is a deferral (greylisting, throttling): `unknown` with `deferred: true`, to be
//!   checked again later, not at once;
//! - a DNS timeout or SERVFAIL is `unknown`; only a domain that does not exist, has neither MX
//!   nor A records, or publishes a null MX (RFC 7505) makes an address `invalid`.

use serde::Serialize;

use super::syntax::Syntax;

/// Reacher's `is_reachable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachable {
    /// The mailbox exists and nothing about it is doubtful.
    Safe,
    /// It accepts mail, but: catch-all domain, full inbox, disposable, or a role account.
    Risky,
    /// It will bounce.
    Invalid,
    /// We could not tell (blocked, deferred, timeouts, DNS trouble).
    Unknown,
}

impl Reachable {
    /// The word printed in tables and summaries.
    pub fn label(self) -> &'static str {
        match self {
            Reachable::Safe => "safe",
            Reachable::Risky => "risky",
            Reachable::Invalid => "invalid",
            Reachable::Unknown => "unknown",
        }
    }
}

/// An SMTP reply: code, enhanced status code if the server sent one, text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The enhanced status code (`[5, 1, 1]`), if any.
    pub enhanced: Option<[u8; 3]>,
    /// The reply text, lines joined by spaces.
    pub text: String,
}

impl Reply {
    /// `550 5.1.1 text` for reasons.
    pub fn describe(&self) -> String {
        match self.enhanced {
            Some([a, b, c]) => format!("{} {a}.{b}.{c} {}", self.code, self.text),
            None => format!("{} {}", self.code, self.text),
        }
    }
}

/// What a reply to `RCPT TO` says about the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RcptClass {
    /// 2xx: accepted.
    Accepted,
    /// The mailbox does not exist (5.1.x, or a 550 saying so).
    NoMailbox,
    /// The mailbox is disabled (5.2.1).
    Disabled,
    /// The mailbox is full (x.2.2, 552).
    Full,
    /// Refused for policy or reputation (5.7.x, "blocked", "spam"): about us, not the address.
    Blocked,
    /// 4xx: try later.
    Deferred,
    /// Anything else: a system or protocol problem.
    Other,
}

/// Classifies a `RCPT TO` reply: enhanced code first, reply text only as a fallback.
pub fn classify_rcpt(reply: &Reply) -> RcptClass {
    let class = reply.code / 100;
    if class == 2 {
        return RcptClass::Accepted;
    }
    if let Some([c, subject, detail]) = reply.enhanced
        && (c == 4 || c == 5)
    {
        return match (c, subject, detail) {
            (_, 2, 2) => RcptClass::Full,
            (4, ..) => RcptClass::Deferred,
            (5, 1, _) => RcptClass::NoMailbox,
            (5, 2, 1) => RcptClass::Disabled,
            (5, 7, _) => RcptClass::Blocked,
            _ => RcptClass::Other,
        };
    }
    if class == 4 {
        return RcptClass::Deferred;
    }
    if class != 5 {
        return RcptClass::Other;
    }
    let text = reply.text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&[
        "spam",
        "block",
        "blacklist",
        "denylist",
        "listed",
        "policy",
        "reputation",
        "banned",
        "not allowed",
        "access denied",
        "relay",
    ]) {
        RcptClass::Blocked
    } else if reply.code == 552 || has(&["full", "quota", "storage"]) {
        RcptClass::Full
    } else if has(&["disabled", "deactivated", "suspended", "inactive"]) {
        RcptClass::Disabled
    } else if matches!(reply.code, 550 | 551 | 553)
        || has(&[
            "unknown",
            "no such",
            "not exist",
            "invalid",
            "not found",
            "unavailable",
        ])
    {
        RcptClass::NoMailbox
    } else {
        RcptClass::Other
    }
}

/// What DNS said about the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MxFacts {
    /// Mail exchangers in preference order (the domain itself when it has only A/AAAA).
    Hosts(Vec<String>),
    /// RFC 7505 null MX: the domain accepts no mail.
    NullMx,
    /// The domain does not exist, or has neither MX nor address records.
    NoMail(String),
    /// DNS did not answer usefully (timeout, SERVFAIL).
    Unknown(String),
}

/// What the SMTP probe learnt about one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmtpFacts {
    /// The probe was not made (excluded, SMTP checks off, DNS said no).
    NotChecked(String),
    /// No mail exchanger accepted a connection or answered its greeting.
    NoConnection(String),
    /// A session ran.
    Session {
        /// The answer to the random-address probe: `Some(true)` if it was accepted.
        catch_all: Option<bool>,
        /// The reply to `RCPT TO` for this address, if the session got that far.
        rcpt: Option<Reply>,
        /// Why the session stopped early (a refused `MAIL FROM`, a timeout, garbage).
        error: Option<String>,
        /// The server offered SMTPUTF8 in its EHLO reply. Without it the probe never sends a
        /// UTF-8 address (the server could not take mail for it anyway).
        smtputf8: bool,
    },
}

/// The `mx` object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MxResult {
    /// Whether the domain accepts mail at all.
    pub accepts_mail: bool,
    /// The mail exchangers, in preference order.
    pub records: Vec<String>,
}

/// The `smtp` object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SmtpResult {
    /// A mail exchanger answered.
    pub can_connect_smtp: bool,
    /// The mailbox is over quota.
    pub has_full_inbox: bool,
    /// The domain accepts any local part.
    pub is_catch_all: bool,
    /// `RCPT TO` was accepted.
    pub is_deliverable: bool,
    /// The mailbox exists but is disabled.
    pub is_disabled: bool,
}

/// The `misc` object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MiscResult {
    /// A throw-away mail provider.
    pub is_disposable: bool,
    /// A function account (`info@`, `sales@`).
    pub is_role_account: bool,
}

/// One address's result, with check-if-email-exists' field names plus `reason` and `deferred`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The address as given.
    pub input: String,
    /// The verdict.
    pub is_reachable: Reachable,
    /// Disposable and role-account flags.
    pub misc: MiscResult,
    /// What DNS said.
    pub mx: MxResult,
    /// What the SMTP probe said.
    pub smtp: SmtpResult,
    /// Syntax and normal form.
    pub syntax: Syntax,
    /// Why, in words, with the server's reply when there was one.
    pub reason: String,
    /// A 4xx deferred the answer: check again later.
    pub deferred: bool,
}

/// The verdict from all facts about one address.
pub fn verdict(
    input: &str,
    syntax: Syntax,
    misc: MiscResult,
    mx: &MxFacts,
    smtp: &SmtpFacts,
) -> CheckResult {
    let mut r = CheckResult {
        input: input.to_string(),
        is_reachable: Reachable::Unknown,
        misc,
        mx: MxResult::default(),
        smtp: SmtpResult::default(),
        syntax,
        reason: String::new(),
        deferred: false,
    };
    if !r.syntax.is_valid_syntax {
        r.is_reachable = Reachable::Invalid;
        r.reason = format!(
            "syntax: {}",
            r.syntax.error.clone().unwrap_or_else(|| "invalid".into())
        );
        return r;
    }
    match mx {
        MxFacts::Hosts(hosts) => {
            r.mx = MxResult {
                accepts_mail: true,
                records: hosts.clone(),
            }
        }
        MxFacts::NullMx => {
            r.is_reachable = Reachable::Invalid;
            r.reason = "the domain publishes a null MX: it accepts no mail".into();
            return r;
        }
        MxFacts::NoMail(why) => {
            r.is_reachable = Reachable::Invalid;
            r.reason = format!("the domain accepts no mail: {why}");
            return r;
        }
        MxFacts::Unknown(why) => {
            r.reason = format!("DNS: {why}");
            return r;
        }
    }
    let (catch_all, rcpt, error, smtputf8) = match smtp {
        SmtpFacts::NotChecked(why) => {
            r.reason = why.clone();
            return r;
        }
        SmtpFacts::NoConnection(why) => {
            r.reason = format!("no mail exchanger could be reached: {why}");
            return r;
        }
        SmtpFacts::Session {
            catch_all,
            rcpt,
            error,
            smtputf8,
        } => (*catch_all, rcpt, error, *smtputf8),
    };
    r.smtp.can_connect_smtp = true;
    r.smtp.is_catch_all = catch_all == Some(true);
    if r.syntax.requires_smtputf8 && !smtputf8 {
        // RFC 6531 §3.4: a client must not send this address to such a server, and any mail
        // to it would bounce on the way.
        r.is_reachable = Reachable::Invalid;
        r.reason = "the mail exchanger does not offer SMTPUTF8, which this UTF-8 address \
                    needs: mail to it would bounce"
            .into();
        return r;
    }
    let Some(reply) = rcpt else {
        r.reason = error
            .clone()
            .unwrap_or_else(|| "the session ended before RCPT TO".into());
        return r;
    };
    let said = reply.describe();
    match classify_rcpt(reply) {
        RcptClass::Accepted => {
            r.smtp.is_deliverable = true;
            let doubts: Vec<&str> = [
                (
                    r.smtp.is_catch_all,
                    "the domain accepts any address (catch-all)",
                ),
                (r.misc.is_disposable, "a disposable mail provider"),
                (r.misc.is_role_account, "a role account, not a person"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, why)| *why)
            .collect();
            if doubts.is_empty() {
                r.is_reachable = Reachable::Safe;
                r.reason = format!("accepted: {said}");
            } else {
                r.is_reachable = Reachable::Risky;
                r.reason = format!("accepted, but {}", doubts.join("; "));
            }
        }
        RcptClass::NoMailbox => {
            r.is_reachable = Reachable::Invalid;
            r.reason = format!("no such mailbox: {said}");
        }
        RcptClass::Disabled => {
            r.smtp.is_disabled = true;
            r.is_reachable = Reachable::Invalid;
            r.reason = format!("mailbox disabled: {said}");
        }
        RcptClass::Full => {
            r.smtp.has_full_inbox = true;
            r.is_reachable = Reachable::Risky;
            r.reason = format!("mailbox full: {said}");
        }
        RcptClass::Blocked => {
            r.reason = format!(
                "the server refused our probe (policy or reputation), not the address: {said}"
            );
        }
        RcptClass::Deferred => {
            r.deferred = true;
            r.reason = format!("deferred (greylisting or throttling), check again later: {said}");
        }
        RcptClass::Other => {
            r.reason = format!("the server could not say: {said}");
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::syntax::check_syntax;

    fn reply(code: u16, enhanced: Option<[u8; 3]>, text: &str) -> Reply {
        Reply {
            code,
            enhanced,
            text: text.into(),
        }
    }

    #[test]
    fn enhanced_codes_decide_before_text() {
        assert_eq!(
            classify_rcpt(&reply(550, Some([5, 1, 1]), "blocked words")),
            RcptClass::NoMailbox
        );
        assert_eq!(
            classify_rcpt(&reply(550, Some([5, 7, 1]), "user unknown")),
            RcptClass::Blocked
        );
        assert_eq!(
            classify_rcpt(&reply(
                554,
                Some([5, 7, 1]),
                "Service unavailable; client host blocked"
            )),
            RcptClass::Blocked
        );
        assert_eq!(
            classify_rcpt(&reply(552, Some([5, 2, 2]), "")),
            RcptClass::Full
        );
        assert_eq!(
            classify_rcpt(&reply(452, Some([4, 2, 2]), "")),
            RcptClass::Full
        );
        assert_eq!(
            classify_rcpt(&reply(451, Some([4, 7, 1]), "greylisted")),
            RcptClass::Deferred
        );
        assert_eq!(
            classify_rcpt(&reply(550, Some([5, 2, 1]), "")),
            RcptClass::Disabled
        );
        // Fallback on text.
        assert_eq!(
            classify_rcpt(&reply(550, None, "rejected: listed at spamhaus")),
            RcptClass::Blocked
        );
        assert_eq!(
            classify_rcpt(&reply(550, None, "No such user here")),
            RcptClass::NoMailbox
        );
        assert_eq!(
            classify_rcpt(&reply(552, None, "Requested mail action aborted")),
            RcptClass::Full
        );
        assert_eq!(
            classify_rcpt(&reply(421, None, "try later")),
            RcptClass::Deferred
        );
        assert_eq!(
            classify_rcpt(&reply(250, Some([2, 1, 5]), "ok")),
            RcptClass::Accepted
        );
    }

    fn check(input: &str, mx: MxFacts, smtp: SmtpFacts) -> CheckResult {
        verdict(
            input,
            check_syntax(input, false),
            MiscResult::default(),
            &mx,
            &smtp,
        )
    }

    fn session(rcpt: Reply, catch_all: bool) -> SmtpFacts {
        SmtpFacts::Session {
            catch_all: Some(catch_all),
            rcpt: Some(rcpt),
            error: None,
            smtputf8: false,
        }
    }

    #[test]
    fn a_utf8_address_needs_a_server_that_offers_smtputf8() {
        let mx = || MxFacts::Hosts(vec!["mx.acme.test".into()]);
        let without = SmtpFacts::Session {
            catch_all: Some(false),
            rcpt: None,
            error: None,
            smtputf8: false,
        };
        let r = check("josé@acme.test", mx(), without);
        assert_eq!(r.is_reachable, Reachable::Invalid);
        assert!(r.reason.contains("SMTPUTF8"), "{}", r.reason);
        let with = SmtpFacts::Session {
            catch_all: Some(false),
            rcpt: Some(reply(250, Some([2, 1, 5]), "ok")),
            error: None,
            smtputf8: true,
        };
        assert_eq!(
            check("josé@acme.test", mx(), with).is_reachable,
            Reachable::Safe
        );
        // An ASCII address does not care what the server offers.
        assert_eq!(
            check(
                "jose@acme.test",
                mx(),
                session(reply(250, None, "ok"), false)
            )
            .is_reachable,
            Reachable::Safe
        );
    }

    #[test]
    fn every_verdict_class() {
        let mx = || MxFacts::Hosts(vec!["mx.acme.test".into()]);
        let ok = reply(250, Some([2, 1, 5]), "ok");
        assert_eq!(
            check("a@acme.test", mx(), session(ok.clone(), false)).is_reachable,
            Reachable::Safe
        );
        assert_eq!(
            check("a@acme.test", mx(), session(ok, true)).is_reachable,
            Reachable::Risky
        );
        let r = check(
            "a@acme.test",
            mx(),
            session(reply(550, Some([5, 1, 1]), "no"), false),
        );
        assert_eq!(r.is_reachable, Reachable::Invalid);
        let r = check(
            "a@acme.test",
            mx(),
            session(reply(554, Some([5, 7, 1]), "blocked"), false),
        );
        assert_eq!(r.is_reachable, Reachable::Unknown);
        assert!(r.reason.contains("not the address"));
        let r = check(
            "a@acme.test",
            mx(),
            session(reply(451, Some([4, 7, 1]), "grey"), false),
        );
        assert_eq!((r.is_reachable, r.deferred), (Reachable::Unknown, true));
        let r = check(
            "a@acme.test",
            mx(),
            session(reply(552, Some([5, 2, 2]), "full"), false),
        );
        assert_eq!(
            (r.is_reachable, r.smtp.has_full_inbox),
            (Reachable::Risky, true)
        );
        assert_eq!(
            check(
                "a@acme.test",
                MxFacts::NullMx,
                SmtpFacts::NotChecked(String::new())
            )
            .is_reachable,
            Reachable::Invalid
        );
        assert_eq!(
            check(
                "a@acme.test",
                MxFacts::Unknown("timeout".into()),
                SmtpFacts::NotChecked(String::new())
            )
            .is_reachable,
            Reachable::Unknown
        );
        assert_eq!(
            check(
                "a@acme.test",
                mx(),
                SmtpFacts::NoConnection("timeout".into())
            )
            .is_reachable,
            Reachable::Unknown
        );
        assert_eq!(
            check("not-an-address", mx(), SmtpFacts::NotChecked(String::new())).is_reachable,
            Reachable::Invalid
        );
    }
}
