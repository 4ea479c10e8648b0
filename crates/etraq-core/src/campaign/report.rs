//! Reading what comes back to a campaign's return path: delivery status notifications
//! (RFC 3464: `multipart/report; report-type=delivery-status`, a `message/delivery-status`
//! part of header-like blocks with a per-recipient `Action` and `Status`) and feedback reports
//! (RFC 5965, ARF: `report-type=feedback-report`, a spam complaint). mail-parser parses the
//! MIME structure but has no DSN parser, so the blocks are read here, each as a header section
//! through mail-parser. Pure; never panics on any input.

use mail_parser::{MessageParser, MimeHeaders, PartType};

/// The most bytes of a report that are read (a report is small; the rest is the returned
/// original, which is not needed).
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;

/// The most bytes of a `message/delivery-status` or `message/feedback-report` part: real ones
/// are a few hundred bytes per recipient; a bigger one is junk and is not read.
pub const MAX_STATUS_PART_BYTES: usize = 64 * 1024;

/// The most per-recipient blocks read from one DSN.
pub const MAX_DSN_RECIPIENTS: usize = 100;

/// What a DSN says happened to a message for one recipient (RFC 3464 §2.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DsnAction {
    /// It could not be delivered.
    Failed,
    /// It is not delivered yet; the reporting MTA keeps trying.
    Delayed,
    /// It was delivered.
    Delivered,
    /// It was relayed on to an MTA that does not send DSNs.
    Relayed,
    /// It was delivered to a list and expanded.
    Expanded,
    /// Another or a missing action.
    Other,
}

/// One recipient's block of a DSN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsnRecipient {
    /// `Final-Recipient`, its address part.
    pub final_recipient: Option<String>,
    /// `Action`.
    pub action: DsnAction,
    /// `Status` (`5.1.1`).
    pub status: Option<String>,
    /// `Diagnostic-Code`, its text part.
    pub diagnostic: Option<String>,
}

/// A feedback report (RFC 5965).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedbackReport {
    /// `Feedback-Type` (`abuse`, `fraud`, `not-spam`, …).
    pub feedback_type: String,
    /// `User-Agent` of the reporting system.
    pub user_agent: Option<String>,
    /// `Original-Rcpt-To`.
    pub original_rcpt_to: Option<String>,
}

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// A delivery status notification.
    Dsn(Vec<DsnRecipient>),
    /// A feedback report (a complaint, unless its type is `not-spam`).
    Feedback(FeedbackReport),
    /// Anything else: an out-of-office reply, a person's answer to the return path, a
    /// `multipart/report` without the part it needs.
    Other(String),
}

/// How a DSN recipient counts for the campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bounce {
    /// A permanent failure: the address goes on the blocklist.
    Hard,
    /// A temporary failure (a 4.x.x status, or 5.2.2 mailbox full): it counts towards the soft
    /// bounce limit.
    Soft,
    /// Not a bounce (delayed, delivered, relayed, expanded).
    None,
}

/// How one DSN recipient counts: `Action: failed` with a 5.x.x status is hard, except 5.2.2
/// (mailbox full), which like 4.x.x is soft; anything but `failed` is no bounce (`Action:
/// delayed` is the reporting MTA still trying). A failure without a valid status (RFC 3464
/// requires one) is a malformed report and counts as nothing: no address is blocklisted on
/// a guess.
pub fn classify_bounce(r: &DsnRecipient) -> Bounce {
    if r.action != DsnAction::Failed {
        return Bounce::None;
    }
    match r.status.as_deref().map(str::trim) {
        Some("5.2.2") => Bounce::Soft,
        Some(s) if s.starts_with('4') => Bounce::Soft,
        Some(s) if s.starts_with('5') => Bounce::Hard,
        _ => Bounce::None,
    }
}

/// Reads a message that came back to a campaign's return path.
pub fn read_report(raw: &[u8]) -> Report {
    let raw = &raw[..raw.len().min(MAX_REPORT_BYTES)];
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Report::Other("not a mail message".into());
    };
    let report_type = msg.content_type().and_then(|ct| {
        (ct.c_type.eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report")))
        .then(|| {
            ct.attribute("report-type")
                .map(|r| r.to_ascii_lowercase())
                .unwrap_or_default()
        })
    });
    let Some(report_type) = report_type else {
        return Report::Other("not a multipart/report".into());
    };
    let wanted = match report_type.as_str() {
        "delivery-status" => "delivery-status",
        "feedback-report" => "feedback-report",
        other => return Report::Other(format!("a report of type {other:?}")),
    };
    let part = msg.parts.iter().find(|p| {
        p.content_type().is_some_and(|ct| {
            ct.c_type.eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case(wanted))
        })
    });
    let Some(part) = part else {
        return Report::Other(format!(
            "a {report_type} report without its message/{wanted} part"
        ));
    };
    let body: &[u8] = match &part.body {
        PartType::Text(t) => t.as_bytes(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b,
        _ => part.contents(),
    };
    if body.len() > MAX_STATUS_PART_BYTES {
        return Report::Other(format!(
            "a message/{wanted} part of {} bytes, over the {MAX_STATUS_PART_BYTES} a real one needs",
            body.len()
        ));
    }
    let blocks = blocks(body);
    if wanted == "feedback-report" {
        let Some(first) = blocks.first() else {
            return Report::Other("an empty feedback report".into());
        };
        let get = |n: &str| field(first, n);
        return Report::Feedback(FeedbackReport {
            feedback_type: get("Feedback-Type")
                .map(|t| t.to_ascii_lowercase())
                .unwrap_or_else(|| "abuse".into()),
            user_agent: get("User-Agent"),
            original_rcpt_to: get("Original-Rcpt-To"),
        });
    }
    // The first block is about the message; each further one is about a recipient.
    let recipients: Vec<DsnRecipient> = blocks
        .iter()
        .skip(1)
        .filter(|b| field(b, "Action").is_some() || field(b, "Final-Recipient").is_some())
        .take(MAX_DSN_RECIPIENTS)
        .map(|b| DsnRecipient {
            final_recipient: field(b, "Final-Recipient").map(|v| after_type(&v)),
            action: match field(b, "Action")
                .map(|a| a.to_ascii_lowercase())
                .as_deref()
            {
                Some("failed") => DsnAction::Failed,
                Some("delayed") => DsnAction::Delayed,
                Some("delivered") => DsnAction::Delivered,
                Some("relayed") => DsnAction::Relayed,
                Some("expanded") => DsnAction::Expanded,
                _ => DsnAction::Other,
            },
            status: field(b, "Status")
                .and_then(|s| s.split_whitespace().next().map(str::to_string))
                .filter(|s| s.split('.').count() == 3),
            diagnostic: field(b, "Diagnostic-Code").map(|v| after_type(&v)),
        })
        .collect();
    if recipients.is_empty() {
        return Report::Other("a delivery-status report with no recipient".into());
    }
    Report::Dsn(recipients)
}

/// The blank-line separated blocks of a report part, each parsed as a header section:
/// (name, unfolded value) pairs.
fn blocks(body: &[u8]) -> Vec<Vec<(String, String)>> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let block = block.trim_matches('\n');
        if block.trim().is_empty() {
            continue;
        }
        let section = format!("{}\r\n\r\n", block.replace('\n', "\r\n"));
        let Some(h) = MessageParser::default().parse_headers(section.as_bytes()) else {
            continue;
        };
        let fields: Vec<(String, String)> = h
            .headers_raw()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect();
        if !fields.is_empty() {
            out.push(fields);
        }
    }
    out
}

fn field(block: &[(String, String)], name: &str) -> Option<String> {
    block
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `rfc822; ann@x` → `ann@x` (the part after the address or diagnostic type).
fn after_type(v: &str) -> String {
    match v.split_once(';') {
        Some((_, rest)) => rest.trim().to_string(),
        None => v.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3464 appendix C, "Simple DSN" (one failed recipient).
    const RFC3464_SIMPLE: &str = r#"Date: Thu, 7 Jul 1994 17:16:05 -0400
From: Mail Delivery Subsystem <MAILER-DAEMON@CS.UTK.EDU>
Message-Id: <199407072116.RAA14128@CS.UTK.EDU>
Subject: Returned mail: Cannot send message for 5 days
To: <owner-info-mime@cs.utk.edu>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
      boundary="RAA14128.773615765/CS.UTK.EDU"

--RAA14128.773615765/CS.UTK.EDU

The original message was received at Sat, 2 Jul 1994 17:10:28 -0400

   ----- The following addresses had delivery problems -----
<louisl@larry.slip.umd.edu>  (unrecoverable error)

--RAA14128.773615765/CS.UTK.EDU
content-type: message/delivery-status

Reporting-MTA: dns; cs.utk.edu

Original-Recipient: rfc822;louisl@larry.slip.umd.edu
Final-Recipient: rfc822;louisl@larry.slip.umd.edu
Action: failed
Status: 4.0.0
Diagnostic-Code: smtp; 426 connection timed out
Last-Attempt-Date: Thu, 7 Jul 1994 17:15:49 -0400

--RAA14128.773615765/CS.UTK.EDU
content-type: message/rfc822

[original message goes here]

--RAA14128.773615765/CS.UTK.EDU--
"#;

    /// RFC 3464 appendix C, "Multi-Recipient DSN" (trimmed to its report part's essentials).
    const RFC3464_MULTI: &str = r#"From: Mail Delivery Subsystem <MAILER-DAEMON@cs.utk.edu>
Content-Type: multipart/report; report-type="delivery-status"; boundary="B"

--B
Content-Type: text/plain

Problems.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; cs.utk.edu

Original-Recipient: rfc822;arathib@vnet.ibm.com
Final-Recipient: rfc822;arathib@vnet.ibm.com
Action: failed
Status: 5.0.0 (permanent failure)
Diagnostic-Code: smtp;  550 'arathib@vnet.IBM.COM' is not a
  registered gateway user
Remote-MTA: dns; vnet.ibm.com

Original-Recipient: rfc822;johnh@hpnjld.njd.hp.com
Final-Recipient: rfc822;johnh@hpnjld.njd.hp.com
Action: delayed
Status: 4.0.0 (hpnjld.njd.jp.com: host name lookup failure)

Original-Recipient: rfc822;wsnell@sdcc13.ucsd.edu
Final-Recipient: rfc822;wsnell@sdcc13.ucsd.edu
Action: failed
Status: 5.2.2

--B--
"#;

    const ARF: &str = r#"From: <abusedesk@example.com>
To: <bounce+T@example.net>
Subject: FW: Earn money
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for an email message received from IP
192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.
--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <somespammer@example.net>
Original-Rcpt-To: <user@example.com>

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822

From: <somespammer@example.net>
Subject: Earn money

Spam Spam Spam
--part1_13d.2e68ed54_boundary--
"#;

    fn crlf(s: &str) -> String {
        s.replace('\n', "\r\n")
    }

    #[test]
    fn the_rfc_3464_examples_are_read() {
        let Report::Dsn(r) = read_report(crlf(RFC3464_SIMPLE).as_bytes()) else {
            panic!("a DSN")
        };
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].final_recipient.as_deref(),
            Some("louisl@larry.slip.umd.edu")
        );
        assert_eq!(
            (r[0].action, r[0].status.as_deref()),
            (DsnAction::Failed, Some("4.0.0"))
        );
        assert_eq!(r[0].diagnostic.as_deref(), Some("426 connection timed out"));
        assert_eq!(classify_bounce(&r[0]), Bounce::Soft);

        let Report::Dsn(r) = read_report(crlf(RFC3464_MULTI).as_bytes()) else {
            panic!("a DSN")
        };
        assert_eq!(r.len(), 3);
        assert_eq!(classify_bounce(&r[0]), Bounce::Hard);
        assert!(
            r[0].diagnostic
                .as_deref()
                .unwrap()
                .contains("not a registered gateway user")
        );
        assert_eq!(
            (r[1].action, classify_bounce(&r[1])),
            (DsnAction::Delayed, Bounce::None)
        );
        assert_eq!(
            classify_bounce(&r[2]),
            Bounce::Soft,
            "5.2.2 mailbox full is soft"
        );
    }

    #[test]
    fn an_arf_report_is_a_complaint() {
        assert_eq!(
            read_report(crlf(ARF).as_bytes()),
            Report::Feedback(FeedbackReport {
                feedback_type: "abuse".into(),
                user_agent: Some("SomeGenerator/1.0".into()),
                original_rcpt_to: Some("<user@example.com>".into()),
            })
        );
    }

    #[test]
    fn anything_else_is_other_and_nothing_panics() {
        let ooo = b"From: ann@customer.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n";
        assert!(matches!(read_report(ooo), Report::Other(_)));
        let missing = crlf(RFC3464_SIMPLE).replace(
            "content-type: message/delivery-status",
            "content-type: text/plain",
        );
        assert!(
            matches!(read_report(missing.as_bytes()), Report::Other(w) if w.contains("without"))
        );
        let no_recipient = crlf(RFC3464_SIMPLE)
            .replace("Action: failed", "X: y")
            .replace("Final-Recipient", "Y");
        assert!(matches!(
            read_report(no_recipient.as_bytes()),
            Report::Other(_)
        ));
        for junk in [
            &b""[..],
            b"\r\n\r\n",
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x",
            &[0xff; 300],
        ] {
            let _ = read_report(junk);
        }
        let huge = format!(
            "{}{}",
            crlf(RFC3464_SIMPLE),
            "x".repeat(3 * MAX_REPORT_BYTES)
        );
        assert!(matches!(read_report(huge.as_bytes()), Report::Dsn(_)));
    }
}
