//! Entry points shared by the cargo-fuzz target `smtp_session` and the tests that replay its
//! corpus.

use crate::reply::{Reply, replies};
use crate::session::{Event, Session, SessionConfig};

/// Feeds arbitrary client bytes to a session, in chunks whose size comes from the first byte,
/// answering every question positively. It must never panic, never loop, and never hand over a
/// message without a complete DATA (or a last BDAT chunk).
pub fn session(data: &[u8]) {
    let (&first, data) = match data.split_first() {
        Some(x) => x,
        None => return,
    };
    let chunk = usize::from(first % 64) + 1;
    let cfg = SessionConfig {
        max_message_bytes: 2048,
        max_header_bytes: 1024,
        max_header_line: 200,
        max_recipients: 4,
        max_errors: 64,
        tls_available: first & 1 == 0,
        ..SessionConfig::default()
    };
    let relay = first & 2 == 0;
    let mut s = Session::new(cfg, vec!["example.com".into()], relay, false);
    let mut fed: Vec<u8> = Vec::new();
    for piece in data.chunks(chunk) {
        s.push_input(piece);
        fed.extend_from_slice(piece);
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 100_000, "the session does not make progress");
            match s.poll() {
                Event::NeedMore => break,
                Event::Reply(r) => check_reply(&r),
                Event::Mail { .. } => s.mail_result(replies::ok()),
                Event::Rcpt { to, raw } => {
                    // A client that may not relay never gets a routed or non-local path through.
                    assert!(
                        relay || !crate::path::has_sender_routing(&raw),
                        "a routed path reached the upstream: {raw:?}"
                    );
                    assert!(
                        relay || to.domain() == "example.com",
                        "relayed for a stranger: {to}"
                    );
                    s.rcpt_result(replies::ok())
                }
                Event::Message { data, rcpts, .. } => {
                    assert!(
                        !rcpts.is_empty(),
                        "a message without recipients was accepted"
                    );
                    assert!(
                        data.len() <= 2048,
                        "a message over the size limit was accepted"
                    );
                    check_header_limits(&data, 1024, 200);
                    let upper = String::from_utf8_lossy(&fed).to_ascii_uppercase();
                    // The terminator is ".<CRLF>" at a line start; the line before may be the DATA
                    // command itself, which smtp-proto (like Postfix) accepts ending in a bare LF.
                    // With BDAT a message is complete by length, which smtp-proto counts.
                    let ended = fed.windows(4).any(|w| w == b"\n.\r\n") || upper.contains("BDAT");
                    assert!(ended, "a message was accepted without a complete DATA");
                    s.message_result(replies::ok());
                }
                Event::Reset => {}
                Event::StartTls(r) => {
                    check_reply(&r);
                    s.tls_started();
                }
                Event::Close(_) => return,
            }
        }
    }
}

fn check_reply(r: &Reply) {
    assert!((200..600).contains(&r.code), "bad reply code {}", r.code);
    let wire = r.to_bytes();
    assert!(wire.ends_with(b"\r\n"));
}

/// Arbitrary bytes as everything a mail exchanger says to the validator's probe, and as an
/// address for the syntax checker. The probe must stop cleanly (EOF, garbage, over-long
/// replies), never panic, and keep one answer slot per address.
pub fn probe_replies(data: &[u8]) {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::probe::{ProbeConfig, TcpProbe};
    use etraq_core::validate::{ProbeSession, check_syntax};

    // The syntax checker on the same bytes: total, and a valid address re-checks to itself.
    let text = String::from_utf8_lossy(data);
    for quoted in [false, true] {
        let s = check_syntax(&text, quoted);
        if let Some(addr) = &s.address {
            let again = check_syntax(addr, quoted);
            assert_eq!(again.address.as_deref(), Some(addr.as_str()), "{addr:?}");
        }
    }

    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let script = data.to_vec();
        let server_side = tokio::spawn(async move {
            let _ = server.write_all(&script).await;
            let _ = server.shutdown().await;
            let mut sink = [0u8; 4096];
            while let Ok(n) = server.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        });
        let probe = TcpProbe::new(ProbeConfig {
            helo: "probe.test".into(),
            mail_from: "postmaster@probe.test".into(),
            timeout: Duration::from_millis(200),
        });
        let addresses = vec!["a@x.test".to_string(), "b@x.test".to_string()];
        let out = probe
            .over(
                client,
                "fuzz",
                "x.test",
                Some("random"),
                &addresses,
                ProbeSession {
                    rcpt: vec![None; addresses.len()],
                    ..ProbeSession::default()
                },
            )
            .await;
        assert_eq!(out.rcpt.len(), addresses.len());
        server_side.abort();
    });
}

/// The header section of an accepted message is within the limits: at most `max_section` bytes
/// up to its blank line, no line longer than `max_line` (line ends not counted).
fn check_header_limits(data: &[u8], max_section: usize, max_line: usize) {
    let mut line = 0;
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'\n' if line == 0 => return,
            b'\n' => line = 0,
            b'\r' => {}
            _ => {
                line += 1;
                assert!(
                    line <= max_line,
                    "a header line over the limit was accepted"
                );
            }
        }
        assert!(
            i < max_section,
            "a header section over the limit was accepted"
        );
    }
}
