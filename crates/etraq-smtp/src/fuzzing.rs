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
        max_recipients: 4,
        max_errors: 64,
        tls_available: first & 1 == 0,
        ..SessionConfig::default()
    };
    let mut s = Session::new(cfg, vec!["example.com".into()], first & 2 == 0, false);
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
                Event::Rcpt { .. } => s.rcpt_result(replies::ok()),
                Event::Message { data, rcpts, .. } => {
                    assert!(
                        !rcpts.is_empty(),
                        "a message without recipients was accepted"
                    );
                    assert!(
                        data.len() <= 2048,
                        "a message over the size limit was accepted"
                    );
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
