//! The loop guard of automatic acknowledgements (RFC 3834 and what help desks learned the hard
//! way): one pure function, [`may_acknowledge`], says whether a mail may get an automatic
//! answer, and if not, why. Every rule is one [`Refusal`]:
//!
//! - mail classified automatic (the tracker's `Auto-generated` and `Bounce`, see
//!   docs/tracking.md: `Auto-Submitted`, `Precedence`, auto-reply headers,
//!   daemon senders, our own `X-Etraq-Loop`, reports, DSNs, a null envelope sender);
//! - a blocklisted or excluded sender;
//! - a `noreply`-like address ([`is_noreply`]);
//! - mailing-list mail (`List-Id`, `List-Unsubscribe`), `X-Loop`, and
//!   `X-Auto-Response-Suppress: All|AutoReply` (Microsoft's way of saying "no auto-replies");
//! - a sender already answered within the rule's window;
//! - past the cap per sender (a day) or per DR.
//!
//! The caller gathers the facts (the tracker's decision, the headers with
//! [`AckHeaders::read`], the history of acknowledgements) and passes `now`.

use jiff::{SignedDuration, Timestamp};

use crate::EmailAddress;

/// The headers the guard reads that classification does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckHeaders {
    /// `List-Id` is present.
    pub list_id: bool,
    /// `List-Unsubscribe` is present.
    pub list_unsubscribe: bool,
    /// `X-Loop` is present.
    pub x_loop: bool,
    /// `X-Auto-Response-Suppress` names `All` or `AutoReply`.
    pub suppress: bool,
}

impl AckHeaders {
    /// Reads them from a raw message (its header block only; never fails).
    pub fn read(raw: &[u8]) -> AckHeaders {
        let Some(msg) = mail_parser::MessageParser::new().parse_headers(raw) else {
            return AckHeaders::default();
        };
        let mut h = AckHeaders::default();
        for header in msg.headers() {
            let name = header.name().to_ascii_lowercase();
            match name.as_str() {
                "list-id" => h.list_id = true,
                "list-unsubscribe" => h.list_unsubscribe = true,
                "x-loop" => h.x_loop = true,
                "x-auto-response-suppress" => {
                    let v = header
                        .value()
                        .as_text()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    h.suppress |= v
                        .split([',', ' ', ';'])
                        .any(|t| matches!(t.trim(), "all" | "autoreply"));
                }
                _ => {}
            }
        }
        h
    }
}

/// What was already sent automatically, as the store knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckHistory {
    /// When this sender was last answered automatically (any rule, any DR).
    pub last_to_sender: Option<Timestamp>,
    /// Acknowledgements to this sender in the 24 hours before `now`.
    pub to_sender_last_day: u32,
    /// Acknowledgements already sent on this DR.
    pub on_dr: u32,
}

/// A rule's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckLimits {
    /// A sender answered within this long is not answered again (`--window`, default 1 day).
    pub window: SignedDuration,
    /// At most this many acknowledgements to one sender a day.
    pub per_sender_per_day: u32,
    /// At most this many on one DR.
    pub per_dr: u32,
}

impl Default for AckLimits {
    fn default() -> Self {
        AckLimits {
            window: SignedDuration::from_hours(24),
            per_sender_per_day: 3,
            per_dr: 1,
        }
    }
}

/// Why a mail gets no automatic answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No usable sender address.
    #[error("the mail has no sender address to answer")]
    NoSender,
    /// Classified automatic by the tracker.
    #[error("the mail is automatic (an auto-reply, a bounce, list or bulk mail)")]
    Automatic,
    /// On the blocklist.
    #[error("the sender is blocklisted")]
    Blocklisted,
    /// On `tracking.exclude_senders`.
    #[error("the sender is excluded")]
    Excluded,
    /// `noreply@`, `mailer-daemon@` and the like.
    #[error("the sender does not take replies")]
    NoReplyAddress,
    /// `List-Id` or `List-Unsubscribe`.
    #[error("the mail came through a mailing list")]
    MailingList,
    /// `X-Loop`.
    #[error("the mail carries X-Loop")]
    Loop,
    /// `X-Auto-Response-Suppress: All|AutoReply`.
    #[error("the sender asked for no automatic replies")]
    Suppressed,
    /// Answered within the window.
    #[error("the sender was answered automatically within the rule's window")]
    AnsweredRecently,
    /// The daily cap per sender.
    #[error("the sender reached the daily cap of automatic answers")]
    SenderCap,
    /// The cap per DR.
    #[error("the DR reached its cap of automatic answers")]
    DrCap,
}

/// Whether an address is one that takes no replies: `noreply`, `no-reply`, `do-not-reply`,
/// `donotreply` (with any separators, and as a prefix: `noreply-billing`), `mailer-daemon`,
/// `postmaster`, `bounce`/`bounces`.
pub fn is_noreply(address: &EmailAddress) -> bool {
    let local: String = address
        .local_part()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    local.starts_with("noreply")
        || local.starts_with("donotreply")
        || local.starts_with("dontreply")
        || matches!(
            local.as_str(),
            "mailerdaemon" | "postmaster" | "bounce" | "bounces"
        )
}

/// Whether a mail may be answered automatically. `automatic` is the tracker's verdict;
/// `blocked` and `excluded` are the sender's standing; `now` is the time of the decision.
#[allow(clippy::too_many_arguments)]
pub fn may_acknowledge(
    sender: Option<&EmailAddress>,
    automatic: bool,
    blocked: bool,
    excluded: bool,
    headers: &AckHeaders,
    history: &AckHistory,
    limits: &AckLimits,
    now: Timestamp,
) -> Result<(), Refusal> {
    let Some(sender) = sender else {
        return Err(Refusal::NoSender);
    };
    if automatic {
        return Err(Refusal::Automatic);
    }
    if blocked {
        return Err(Refusal::Blocklisted);
    }
    if excluded {
        return Err(Refusal::Excluded);
    }
    if is_noreply(sender) {
        return Err(Refusal::NoReplyAddress);
    }
    if headers.list_id || headers.list_unsubscribe {
        return Err(Refusal::MailingList);
    }
    if headers.x_loop {
        return Err(Refusal::Loop);
    }
    if headers.suppress {
        return Err(Refusal::Suppressed);
    }
    if let Some(last) = history.last_to_sender
        && now.duration_since(last) < limits.window
    {
        return Err(Refusal::AnsweredRecently);
    }
    if history.to_sender_last_day >= limits.per_sender_per_day {
        return Err(Refusal::SenderCap);
    }
    if history.on_dr >= limits.per_dr {
        return Err(Refusal::DrCap);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> EmailAddress {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    const NOW: &str = "2026-12-04T12:00:00Z";

    fn check(
        sender: &str,
        automatic: bool,
        blocked: bool,
        excluded: bool,
        headers: AckHeaders,
        history: AckHistory,
    ) -> Result<(), Refusal> {
        may_acknowledge(
            Some(&addr(sender)),
            automatic,
            blocked,
            excluded,
            &headers,
            &history,
            &AckLimits::default(),
            at(NOW),
        )
    }

    fn plain(sender: &str) -> Result<(), Refusal> {
        check(
            sender,
            false,
            false,
            false,
            AckHeaders::default(),
            AckHistory::default(),
        )
    }

    #[test]
    fn an_ordinary_first_mail_is_answered() {
        assert_eq!(plain("carol@customer.test"), Ok(()));
    }

    #[test]
    fn no_sender_is_never_answered() {
        let r = may_acknowledge(
            None,
            false,
            false,
            false,
            &AckHeaders::default(),
            &AckHistory::default(),
            &AckLimits::default(),
            at(NOW),
        );
        assert_eq!(r, Err(Refusal::NoSender));
    }

    #[test]
    fn automatic_blocklisted_and_excluded_mail_is_not_answered() {
        let h = AckHeaders::default;
        let none = AckHistory::default;
        assert_eq!(
            check("a@c.test", true, false, false, h(), none()),
            Err(Refusal::Automatic)
        );
        assert_eq!(
            check("a@c.test", false, true, false, h(), none()),
            Err(Refusal::Blocklisted)
        );
        assert_eq!(
            check("a@c.test", false, false, true, h(), none()),
            Err(Refusal::Excluded)
        );
    }

    #[test]
    fn noreply_like_addresses_are_not_answered() {
        for a in [
            "noreply@shop.test",
            "no-reply@shop.test",
            "No_Reply@shop.test",
            "do-not-reply@shop.test",
            "donotreply@shop.test",
            "noreply-billing@shop.test",
            "mailer-daemon@shop.test",
            "MAILER-DAEMON@shop.test",
            "postmaster@shop.test",
            "bounces@shop.test",
        ] {
            assert_eq!(plain(a), Err(Refusal::NoReplyAddress), "{a}");
        }
        for a in [
            "nora@shop.test",
            "reply@shop.test",
            "replies-to-ann@shop.test",
        ] {
            assert_eq!(plain(a), Ok(()), "{a}");
        }
    }

    #[test]
    fn list_loop_and_suppress_headers_stop_the_answer() {
        let raw = |h: &str| format!("From: a@c.test\r\n{h}\r\nSubject: x\r\n\r\nbody\r\n");
        let none = AckHistory::default;
        for (header, want) in [
            ("List-Id: <news.c.test>", Refusal::MailingList),
            ("List-Unsubscribe: <mailto:u@c.test>", Refusal::MailingList),
            ("X-Loop: helpdesk@c.test", Refusal::Loop),
            ("X-Auto-Response-Suppress: All", Refusal::Suppressed),
            (
                "X-Auto-Response-Suppress: DR, AutoReply",
                Refusal::Suppressed,
            ),
        ] {
            let h = AckHeaders::read(raw(header).as_bytes());
            assert_eq!(
                check("a@c.test", false, false, false, h, none()),
                Err(want),
                "{header}"
            );
        }
        // Suppressing only read receipts or out-of-office notices does not stop an answer.
        let h = AckHeaders::read(raw("X-Auto-Response-Suppress: DR, RN, NRN").as_bytes());
        assert_eq!(check("a@c.test", false, false, false, h, none()), Ok(()));
        assert_eq!(
            AckHeaders::read(b"\xff\xfe not a mail"),
            AckHeaders::default()
        );
    }

    #[test]
    fn a_sender_is_answered_once_per_window_and_within_the_caps() {
        let h = AckHeaders::default;
        let recent = AckHistory {
            last_to_sender: Some(at("2026-12-04T01:00:00Z")),
            to_sender_last_day: 1,
            on_dr: 0,
        };
        assert_eq!(
            check("a@c.test", false, false, false, h(), recent),
            Err(Refusal::AnsweredRecently)
        );
        let yesterday = AckHistory {
            last_to_sender: Some(at("2026-12-03T11:59:59Z")),
            to_sender_last_day: 0,
            on_dr: 0,
        };
        assert_eq!(
            check("a@c.test", false, false, false, h(), yesterday),
            Ok(())
        );
        // A short window lets more through, until the daily cap per sender.
        let short = AckLimits {
            window: SignedDuration::from_mins(5),
            ..AckLimits::default()
        };
        let busy = AckHistory {
            last_to_sender: Some(at("2026-12-04T11:00:00Z")),
            to_sender_last_day: 3,
            on_dr: 0,
        };
        let r = may_acknowledge(
            Some(&addr("a@c.test")),
            false,
            false,
            false,
            &h(),
            &busy,
            &short,
            at(NOW),
        );
        assert_eq!(r, Err(Refusal::SenderCap));
        let answered_dr = AckHistory {
            on_dr: 1,
            ..AckHistory::default()
        };
        assert_eq!(
            check("a@c.test", false, false, false, h(), answered_dr),
            Err(Refusal::DrCap)
        );
    }

    #[test]
    fn refusals_read_as_words() {
        assert_eq!(
            Refusal::Suppressed.to_string(),
            "the sender asked for no automatic replies"
        );
    }
}
