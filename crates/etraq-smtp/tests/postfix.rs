//! etraq in front of a real Postfix, as in production: the relay attacks of the black-box review
//! and the interop findings, against Debian's Postfix 3.7 started by the test itself (a private
//! instance in a temporary directory; the system's Postfix is never touched).
//!
//! Postfix is set up as a default company mail server would be: `example.com` is its own
//! destination (`mydestination`), loopback is trusted (`mynetworks = 127.0.0.0/8`, so it trusts
//! etraq), and `allow_percent_hack`, `swap_bangpath` and `resolve_dequoted_address` keep their
//! default `yes`. Local mail goes to an "inside" recording server and everything else, through
//! `relayhost`, to an "outside" one: whatever reaches the outside was relayed to the world.
//!
//! Postfix's master must start as root; without root (or without Postfix) the tests say so and
//! skip. `.ci/run` installs Postfix and CI runs as root.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use etraq_core::{Config, Store, Tracker};
use etraq_smtp::testing::FakeUpstream;
use etraq_smtp::{Gateway, GatewayConfig};
use etraq_store_sqlite::SqliteStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

mod common;
use common::{Postfix, unavailable};

/// etraq's gateway in front of `upstream`, with no trusted client networks.
struct Etraq {
    addr: SocketAddr,
    _store: Arc<dyn Store>,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn etraq(upstream: SocketAddr) -> Etraq {
    let text = format!(
        "local_domains = [\"example.com\"]\ntimezone = \"UTC\"\ntimeout_secs = 10\n\
         [smtp]\nlisten = \"127.0.0.1:0\"\nhostname = \"etraq.example.com\"\nrelay_networks = []\n\
         [upstream]\nhost = \"127.0.0.1\"\nport = {}\n",
        upstream.port()
    );
    let mut config = Config::from_toml(&text, "t.toml".as_ref()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.base_dir = dir.path().to_path_buf();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("e.db")).await.unwrap());
    let tracker = Arc::new(Tracker::new(
        store.clone(),
        config.tracking_rules().unwrap(),
    ));
    let gw = Gateway::bind(
        GatewayConfig::from_config(&config, dir.path().join("maildir")).unwrap(),
        tracker,
    )
    .await
    .unwrap();
    let addr = gw.local_addr().unwrap();
    let (stop, rx) = watch::channel(false);
    tokio::spawn(async move {
        let _ = gw.run(rx).await;
    });
    Etraq {
        addr,
        _store: store,
        _stop: stop,
        _dir: dir,
    }
}

/// One SMTP session: sends each line and reads its reply; returns the replies.
async fn session(addr: SocketAddr, lines: &[&str]) -> Vec<String> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut replies = vec![reply(&mut s).await];
    for l in lines {
        s.write_all(l.as_bytes()).await.unwrap();
        replies.push(reply(&mut s).await);
    }
    let _ = s.write_all(b"QUIT\r\n").await;
    replies
}

/// Reads one (possibly multi-line) reply.
async fn reply(s: &mut TcpStream) -> String {
    let mut got = String::new();
    let mut b = [0u8; 1];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut b)).await {
            Ok(Ok(1)) => got.push(b[0] as char),
            _ => return got,
        }
        if got.ends_with("\r\n") {
            let last = got.trim_end().rsplit("\r\n").next().unwrap_or("");
            if last.len() >= 4 && &last[3..4] == " " {
                return got;
            }
        }
    }
}

fn message(to: &str, subject: &str, id: &str) -> String {
    format!(
        "From: Mallory <mallory@evil.test>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\r\nBuy now.\r\n.\r\n"
    )
}

const ROUTED: [&str; 4] = [
    "victim%other.com@example.com",
    "other.com!victim@example.com",
    "\"victim@other.com\"@example.com",
    "@example.com:victim@other.com",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_routed_address_reaches_the_outside_through_postfix() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let inside = FakeUpstream::start().await;
    let outside = FakeUpstream::start().await;
    let pf = Postfix::start(inside.addr, outside.addr).await;

    // The test can see relaying: the same attack sent straight to Postfix (which trusts
    // loopback, as it trusts etraq) reaches the outside.
    let direct = session(
        pf.addr(),
        &[
            "EHLO attacker.test\r\n",
            "MAIL FROM:<mallory@evil.test>\r\n",
            "RCPT TO:<victim%other.com@example.com>\r\n",
            "DATA\r\n",
            &message("x@example.com", "direct", "direct@evil.test"),
        ],
    )
    .await;
    assert!(direct[5].starts_with("250"), "{direct:?}");
    pf.drain().await;
    let relayed = outside.received();
    assert_eq!(
        relayed.len(),
        1,
        "Postfix did not relay the control: {}",
        pf.log()
    );
    assert_eq!(relayed[0].rcpt_to, vec!["victim@other.com"]);

    // Through etraq, every form is refused before Postfix sees it.
    let gw = etraq(pf.addr()).await;
    for (i, routed) in ROUTED.iter().enumerate() {
        let rcpt = format!("RCPT TO:<{routed}>\r\n");
        let replies = session(
            gw.addr,
            &[
                "EHLO attacker.test\r\n",
                "MAIL FROM:<mallory@evil.test>\r\n",
                &rcpt,
                "DATA\r\n",
            ],
        )
        .await;
        assert!(replies[3].starts_with("550 5.7.1"), "{routed}: {replies:?}");
        assert!(replies[4].starts_with("554"), "{routed}: {replies:?}");
        // Pipelined, with a good recipient beside it: only the good one goes on.
        let pipelined = format!(
            "MAIL FROM:<mallory@evil.test>\r\nRCPT TO:<{routed}>\r\nRCPT TO:<sales@example.com>\r\nDATA\r\n"
        );
        let replies = session(
            gw.addr,
            &[
                "EHLO attacker.test\r\n",
                &pipelined,
                "",
                "",
                "",
                &message("sales@example.com", "pipelined", &format!("p{i}@evil.test")),
            ],
        )
        .await;
        assert!(
            replies.iter().any(|r| r.starts_with("550 5.7.1")),
            "{routed}: {replies:?}"
        );
    }
    // An honest mail through etraq arrives inside, its recipient path exactly as written.
    let replies = session(
        gw.addr,
        &[
            "EHLO customer.test\r\n",
            "MAIL FROM:<Ann@Customer.test>\r\n",
            "RCPT TO:<\"Support Desk\"@example.com>\r\n",
            "DATA\r\n",
            &message(
                "\"Support Desk\"@example.com",
                "honest",
                "honest@customer.test",
            ),
        ],
    )
    .await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    pf.drain().await;
    assert_eq!(
        outside.received().len(),
        1,
        "something reached the outside through etraq: {:?}\n{}",
        outside
            .received()
            .iter()
            .map(|m| &m.rcpt_to)
            .collect::<Vec<_>>(),
        pf.log()
    );
    let got = inside.received();
    let honest: Vec<_> = got
        .iter()
        .filter(|m| String::from_utf8_lossy(&m.data).contains("Subject: [SUPP-"))
        .collect();
    assert!(
        !honest.is_empty(),
        "the honest mail did not arrive inside: {}",
        pf.log()
    );
    assert!(
        pf.log().contains("to=<\"Support Desk\"@example.com>"),
        "Postfix did not get the quoted path as written: {}",
        pf.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_receives_a_trace_field_a_folded_subject_and_smtputf8() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let inside = FakeUpstream::start().await;
    let outside = FakeUpstream::start().await;
    let pf = Postfix::start(inside.addr, outside.addr).await;
    let gw = etraq(pf.addr()).await;
    // A 989-character subject of words: tagged, it must be folded, not broken by Postfix.
    let words: Vec<String> = (0..200).map(|i| format!("w{i:03}")).collect();
    let subject = words.join(" ");
    let subject = &subject[..989];
    let replies = session(
        gw.addr,
        &[
            "EHLO customer.test\r\n",
            "MAIL FROM:<ann@customer.test>\r\n",
            "RCPT TO:<support@example.com>\r\n",
            "DATA\r\n",
            &message("support@example.com", subject, "long@customer.test"),
        ],
    )
    .await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    // SMTPUTF8 used by the client goes on to Postfix, which passes it to the mailbox server.
    let replies = session(
        gw.addr,
        &[
            "EHLO customer.test\r\n",
            "MAIL FROM:<ann@customer.test> SMTPUTF8\r\n",
            "RCPT TO:<jos\u{e9}@example.com>\r\n",
            "DATA\r\n",
            &message("jos\u{e9}@example.com", "utf8", "utf8@customer.test"),
        ],
    )
    .await;
    assert!(replies[5].starts_with("250"), "{replies:?}\n{}", pf.log());
    pf.drain().await;
    let got = inside.received();
    let long = got
        .iter()
        .find(|m| String::from_utf8_lossy(&m.data).contains("long@customer.test"))
        .unwrap_or_else(|| panic!("the long mail did not arrive: {}", pf.log()));
    let data = String::from_utf8_lossy(&long.data).to_string();
    let header = data.split("\r\n\r\n").next().unwrap();
    for line in header.split("\r\n") {
        assert!(
            line.len() <= 998,
            "a {}-character header line: {line:?}",
            line.len()
        );
    }
    // Postfix's own trace field on top, etraq's below it.
    let received: Vec<&str> = header
        .split("\r\n")
        .filter(|l| l.starts_with("Received:"))
        .collect();
    assert!(received.len() >= 2, "{header}");
    assert!(
        header.contains("by etraq.example.com (etraq) with ESMTP id"),
        "no etraq trace field: {header}"
    );
    // Unfolded, the subject is the tag and the original words, none broken.
    let unfolded = header.replace("\r\n ", " ").replace("\r\n\t", "\t");
    let subj = unfolded
        .split("\r\n")
        .find(|l| l.starts_with("Subject:"))
        .unwrap();
    let tag_end = subj.find("] ").unwrap() + 2;
    assert_eq!(&subj[tag_end..], subject, "the subject changed in transit");
    let utf8 = got
        .iter()
        .find(|m| String::from_utf8_lossy(&m.data).contains("utf8@customer.test"))
        .unwrap_or_else(|| panic!("the SMTPUTF8 mail did not arrive: {}", pf.log()));
    assert!(
        utf8.commands[0].contains("SMTPUTF8"),
        "Postfix did not pass SMTPUTF8 on: {:?}",
        utf8.commands
    );
    assert_eq!(utf8.rcpt_to, vec!["jos\u{e9}@example.com"]);
    assert!(outside.received().is_empty());
}
