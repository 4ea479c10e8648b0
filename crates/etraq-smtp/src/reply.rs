//! SMTP replies: a code, an enhanced status code (RFC 3463) and text, and the ones the gateway
//! gives itself.

use std::fmt;

/// One SMTP reply. Multi-line text is written as a multi-line reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The enhanced status code (`[5, 7, 1]` for 5.7.1), when there is one.
    pub esc: Option<[u8; 3]>,
    /// Human-readable text; lines separated by `\n`.
    pub text: String,
}

impl Reply {
    /// A reply with an enhanced status code.
    pub fn new(code: u16, esc: [u8; 3], text: impl Into<String>) -> Self {
        Reply {
            code,
            esc: Some(esc),
            text: text.into(),
        }
    }

    /// A reply without an enhanced status code (greeting, HELO, 354).
    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            esc: None,
            text: text.into(),
        }
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The reply as it goes on the wire, CRLF-terminated, one line per text line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let lines: Vec<&str> = self
            .text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .collect();
        let mut out = Vec::with_capacity(self.text.len() + 16 * lines.len());
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{sep}", self.code).as_bytes());
            if let Some([a, b, c]) = self.esc {
                out.extend_from_slice(format!("{a}.{b}.{c} ").as_bytes());
            }
            // Control characters from an upstream must not reach the client as protocol.
            out.extend(
                line.bytes()
                    .map(|b| if b.is_ascii_control() { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// A reply received from an upstream server.
    pub fn from_upstream(r: &smtp_proto::Response<String>) -> Self {
        let esc = (r.esc[0] != 0).then_some(r.esc);
        Reply {
            code: r.code,
            esc,
            text: r.message.clone(),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some([a, b, c]) = self.esc {
            write!(f, " {a}.{b}.{c}")?;
        }
        write!(f, " {}", self.text.replace('\n', " / "))
    }
}

/// The replies the gateway makes itself.
pub mod replies {
    use super::Reply;

    /// 250 2.0.0 OK.
    pub fn ok() -> Reply {
        Reply::new(250, [2, 0, 0], "OK")
    }
    /// 221 2.0.0 closing.
    pub fn bye() -> Reply {
        Reply::new(221, [2, 0, 0], "Bye")
    }
    /// 354 start mail input.
    pub fn start_data() -> Reply {
        Reply::plain(354, "Start mail input; end with <CRLF>.<CRLF>")
    }
    /// 252 VRFY refused politely.
    pub fn cannot_vrfy() -> Reply {
        Reply::new(
            252,
            [2, 5, 0],
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }
    /// 214 help.
    pub fn help() -> Reply {
        Reply::new(
            214,
            [2, 0, 0],
            "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY STARTTLS QUIT",
        )
    }
    /// 220 ready for TLS.
    pub fn tls_ready() -> Reply {
        Reply::new(220, [2, 0, 0], "Ready to start TLS")
    }
    /// 421 shutting down.
    pub fn shutting_down() -> Reply {
        Reply::new(421, [4, 3, 2], "Service shutting down, try again later")
    }
    /// 421 too many connections.
    pub fn too_busy() -> Reply {
        Reply::new(421, [4, 3, 2], "Too many connections, try again later")
    }
    /// 421 paused by an administrator (the console's services control).
    pub fn paused() -> Reply {
        Reply::new(
            421,
            [4, 3, 2],
            "Service paused by the administrator, try again later",
        )
    }
    /// 421 timeout.
    pub fn timeout() -> Reply {
        Reply::new(421, [4, 4, 2], "Timeout exceeded, closing connection")
    }
    /// 421 too many errors.
    pub fn too_many_errors() -> Reply {
        Reply::new(421, [4, 7, 0], "Too many errors, closing connection")
    }
    /// 451 local error (nothing was recorded; the client retries).
    pub fn local_error() -> Reply {
        Reply::new(
            451,
            [4, 3, 0],
            "Local error in processing, please try again later",
        )
    }
    /// 451 the upstream cannot be reached.
    pub fn upstream_unavailable() -> Reply {
        Reply::new(
            451,
            [4, 4, 1],
            "Upstream mail server unavailable, try again later",
        )
    }
    /// 451 the upstream failed during the transaction.
    pub fn upstream_failed() -> Reply {
        Reply::new(
            451,
            [4, 4, 2],
            "Upstream mail server failed, try again later",
        )
    }
    /// 452 too many recipients.
    pub fn too_many_recipients() -> Reply {
        Reply::new(452, [4, 5, 3], "Too many recipients")
    }
    /// 454 TLS not available.
    pub fn tls_unavailable() -> Reply {
        Reply::new(454, [4, 7, 0], "TLS not available")
    }
    /// 500 syntax error.
    pub fn syntax_error() -> Reply {
        Reply::new(500, [5, 5, 2], "Syntax error, command unrecognized")
    }
    /// 500 line too long.
    pub fn line_too_long() -> Reply {
        Reply::new(500, [5, 5, 2], "Line too long")
    }
    /// 502 not implemented.
    pub fn not_implemented() -> Reply {
        Reply::new(502, [5, 5, 1], "Command not implemented")
    }
    /// 503 bad sequence.
    pub fn bad_sequence(what: &str) -> Reply {
        Reply::new(503, [5, 5, 1], what.to_string())
    }
    /// 501 bad sender address.
    pub fn bad_sender() -> Reply {
        Reply::new(501, [5, 1, 7], "Bad sender address syntax")
    }
    /// 501 bad recipient address.
    pub fn bad_recipient() -> Reply {
        Reply::new(501, [5, 1, 3], "Bad recipient address syntax")
    }
    /// 550 relaying denied.
    pub fn relay_denied() -> Reply {
        Reply::new(550, [5, 7, 1], "Relaying denied")
    }
    /// 550 an address of etraq's own (a campaign's bounce or unsubscribe address) whose token
    /// does not verify: forged, damaged or from another installation.
    pub fn unknown_own_address() -> Reply {
        Reply::new(550, [5, 1, 1], "No such campaign address")
    }
    /// 250 a recipient that is one of etraq's own addresses: the message stays here.
    pub fn own_recipient() -> Reply {
        Reply::new(250, [2, 1, 5], "Campaign address OK")
    }
    /// 250 a message to etraq's own addresses only, taken (recorded and acted on).
    pub fn own_mail_taken(what: &str) -> Reply {
        Reply::new(250, [2, 0, 0], format!("OK [etraq: {what}]"))
    }
    /// 552 message too big.
    pub fn too_big() -> Reply {
        Reply::new(
            552,
            [5, 3, 4],
            "Message size exceeds fixed maximum message size",
        )
    }
    /// 552 the header section is over `smtp.max_header_bytes`.
    pub fn header_too_big() -> Reply {
        Reply::new(
            552,
            [5, 3, 4],
            "Message header section exceeds fixed maximum size",
        )
    }
    /// 552 a header line is over `smtp.max_header_line`.
    pub fn header_line_too_long() -> Reply {
        Reply::new(
            552,
            [5, 3, 4],
            "Message header line exceeds fixed maximum length",
        )
    }
    /// 550 sender-specified routing (`%`, `!`, a quoted `@`, a source route) from a client that
    /// may not relay.
    pub fn routing_denied() -> Reply {
        Reply::new(
            550,
            [5, 7, 1],
            "Sender-specified routing is not allowed: relaying denied",
        )
    }
    /// 553 a non-ASCII address without the SMTPUTF8 parameter (RFC 6531 §3.4).
    pub fn utf8_address_without_smtputf8() -> Reply {
        Reply::new(
            553,
            [5, 6, 7],
            "Non-ASCII addresses need the SMTPUTF8 parameter on MAIL FROM",
        )
    }
    /// 421 too many connections from one client address.
    pub fn too_many_from_address() -> Reply {
        Reply::new(
            421,
            [4, 7, 0],
            "Too many connections from your address, try again later",
        )
    }
    /// 421 the session lasted longer than `smtp.session_timeout`.
    pub fn session_too_long() -> Reply {
        Reply::new(
            421,
            [4, 4, 2],
            "Session time limit exceeded, closing connection",
        )
    }
    /// 451 the upstream did not answer after the message data. It may still have accepted and
    /// delivered it: the client's retry can then deliver it twice (see `upstream.data_timeout`).
    pub fn upstream_data_timeout() -> Reply {
        Reply::new(
            451,
            [4, 4, 2],
            "Upstream mail server timed out after the message data, try again later",
        )
    }
    /// 554 no valid recipients.
    pub fn no_recipients() -> Reply {
        Reply::new(554, [5, 5, 1], "No valid recipients")
    }
    /// 553 SMTPUTF8 needed but the upstream lacks it.
    pub fn utf8_unsupported() -> Reply {
        Reply::new(
            553,
            [5, 6, 7],
            "SMTPUTF8 is required but not supported by the upstream server",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_single_and_multi_line_replies() {
        assert_eq!(replies::ok().to_bytes(), b"250 2.0.0 OK\r\n");
        let r = Reply::new(250, [2, 0, 0], "one\ntwo");
        assert_eq!(r.to_bytes(), b"250-2.0.0 one\r\n250 2.0.0 two\r\n");
        assert_eq!(Reply::plain(354, "go").to_bytes(), b"354 go\r\n");
        let evil = Reply::new(550, [5, 0, 0], "bad\r\n250 injected");
        assert_eq!(
            evil.to_bytes(),
            b"550-5.0.0 bad\r\n550 5.0.0 250 injected\r\n"
        );
    }
}
